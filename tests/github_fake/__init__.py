"""A stateful fake of the GitHub REST API for tests, checked against GitHub's OpenAPI description.

Drive it through a real PyGithub client::

    with FakeGitHub(owner="acme", repo="app", immutable_releases=True) as fake:
        sha = fake.seed_commit("feat: x", branch="main")
        repo = fake.client().get_repo("acme/app")
        ...                                  # relgate code under test
        assert fake.release("v1.0.0").immutable
        assert fake.count("POST", "/repos/{owner}/{repo}/releases") == 1

* seeding: ``seed_commit``/``seed_file``/``seed_branch``/``seed_tag``/``seed_release``,
  ``seed_user``/``seed_team``, ``seed_environment``, ``seed_status``/``seed_check_run``,
  ``seed_workflow_run``/``seed_approval``/``seed_pending_deployment``;
* reading: ``fake.state`` (dataclasses), ``head()``, ``ref()``, ``release()``;
* faults: ``fail_next``, ``secondary_rate_limit_next``, ``primary_rate_limit_next``,
  ``crash_after`` (raises :class:`SimulatedCrash` after the request was applied);
* log: ``fake.requests`` (:class:`RecordedRequest`), ``count()``, ``violations``.

Every request and response is validated against ``openapi-subset.json`` (see
``_contract.py``); ``scripts/extract_github_openapi.py`` regenerates that file from the
pinned ``@octokit/openapi`` package.
"""

from ._contract import Contract, Operation
from ._fake import FakeGitHub, RecordedRequest, SimulatedCrash
from ._state import State

__all__ = ["Contract", "FakeGitHub", "Operation", "RecordedRequest", "SimulatedCrash", "State"]
