"""GitHub access: the only package that imports PyGithub (see :mod:`relgate.github.client`)."""
