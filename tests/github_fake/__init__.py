"""A stateful fake of the GitHub REST API for tests, checked against GitHub's OpenAPI description.

Use :class:`FakeGitHub` as a context manager (or ``install`` it on a
``responses.RequestsMock``) and drive it through a real PyGithub client::

    with FakeGitHub(owner="acme", repo="app") as fake:
        repo = fake.client().get_repo("acme/app")
        ...

See ``_fake.py`` for the contract checks, ``_api.py`` for the modelled semantics and
``scripts/extract_github_openapi.py`` for where the description comes from.
"""

from ._contract import Contract, Operation
from ._fake import FakeGitHub, RecordedRequest, SimulatedCrash
from ._state import State

__all__ = ["Contract", "FakeGitHub", "Operation", "RecordedRequest", "SimulatedCrash", "State"]
