"""Evidence: the run directory packed into one verifiable file.

* :mod:`relgate.evidence.manifest` — the manifest and the bundle digest (the one number to cite);
* :mod:`relgate.evidence.pack` — deterministic, streaming packing with an in-line secret scan;
* :mod:`relgate.evidence.bundle` — safe, read-only access and verification of a bundle;
* :mod:`relgate.evidence.meta` — who, what, when: ``meta.json`` from ``GITHUB_*`` or git;
* :mod:`relgate.evidence.archive` — the ``archive`` stage that ties them together.

Nothing is re-exported here, so ``import relgate.evidence.bundle`` stays cheap.
"""
