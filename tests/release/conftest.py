"""A real evidence bundle for a real commit, and a contract-checked fake GitHub holding it."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from relgate.config import RelgateConfig, load_config
from relgate.evidence.keys import KeyPair, generate
from relgate.gha import Reporter
from relgate.github.client import GitHubClient
from relgate.results import StageResult, Status
from relgate.run import Run
from relgate.secrets import SecretRegistry
from tests._evidence import deploy_result, smoke_result
from tests.github_fake._fake import FakeGitHub
from tests.notes.conftest import GitRepo

TOKEN = "ghp_fake0000000000000000000000000000000000"

CONFIG = """\
project:
  name: app
  repository: acme/app
  repo_path: app
environments:
  staging: {base_url: "http://127.0.0.1:8000"}
archive: {format: tar.gz}
notes:
  output: RELEASE_NOTES_{version}.md
"""
KEYS = """\
evidence:
  keys:
    - id: {id}
      public_key: {public_key}
"""


@dataclass
class Setup:
    """Everything one release test needs; ``bundle()`` packs a fresh evidence bundle."""

    tmp: Path
    repo: GitRepo
    config: RelgateConfig
    fake: FakeGitHub
    env: dict[str, str]
    keys: KeyPair | None = None
    sleeps: list[float] = field(default_factory=list)
    runs: int = 0

    def new_run(self, env: dict[str, str] | None = None) -> Run:
        self.runs += 1
        env = self.env if env is None else env
        reporter = Reporter(io.StringIO(), env, SecretRegistry())
        return Run.open(
            env=env,
            reporter=reporter,
            run_dir=self.tmp / f"run-{self.runs}",
            environment="staging",
        )

    def bundle(
        self,
        *,
        smoke: Status = Status.PASSED,
        deploy: Status = Status.PASSED,
        version: str = "v1.0.0",
        config: RelgateConfig | None = None,
        env: dict[str, str] | None = None,
    ) -> Path:
        """A bundle, made by the real archive stage, for the repository's HEAD with the given
        deploy and smoke verdicts (signed with the setup's key when the environment has it)."""
        from relgate.evidence.archive import archive

        run = self.new_run(env)
        run.version = version
        results: list[StageResult] = [deploy_result(deploy), smoke_result(smoke)]
        for result in results:
            run.write_result(result)
        packed = archive(config or self.config, run, output_dir=self.tmp / "bundles")
        assert packed.bundle_path, packed
        return Path(packed.bundle_path)

    def load(self, text: str, name: str = "relgate.yml") -> RelgateConfig:
        (self.tmp / name).write_text(text, encoding="utf-8")
        return load_config(self.tmp / name, env=self.env)

    def without_keys(self) -> None:
        """relgate.yml without evidence.keys: the evidence is unauthenticated."""
        self.config = self.load(CONFIG)

    def client(self) -> GitHubClient:
        # The fake dates rate-limit resets on the wall clock; sleeps are only recorded.
        return GitHubClient.from_env(self.config, self.env, sleep=self.sleeps.append)


@pytest.fixture
def setup(request: pytest.FixtureRequest, tmp_path: Path, repo: GitRepo) -> Iterator[Setup]:
    """``@pytest.mark.parametrize("setup", ["https://ghe.example.com"], indirect=True)`` serves
    GitHub Enterprise Server at that URL instead of github.com."""
    enterprise = getattr(request, "param", None)
    repo.commit("chore: init")
    repo.tag("v0.9.0")
    repo.commit("feat: grading (#3)")
    repo.commit("fix: pdf export")
    keys = generate("gate-test")
    text = CONFIG + KEYS.format(id=keys.id, public_key=keys.public_key)
    text += f"github: {{api_url: {enterprise}/api/v3}}\n" if enterprise else ""
    (tmp_path / "relgate.yml").write_text(text, encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "RELGATE_"))
    }
    env |= {"GITHUB_TOKEN": TOKEN, "NO_COLOR": "1", "RELGATE_SIGNING_KEY": keys.private_key}
    config = load_config(tmp_path / "relgate.yml", env=env)
    with FakeGitHub(owner="acme", repo="app", enterprise_url=enterprise) as fake:
        fake.seed_commit("chore: init", sha=repo.git("rev-parse", "HEAD~2"), branch="main")
        fake.seed_commit("feat: grading (#3)", sha=repo.git("rev-parse", "HEAD~1"), branch="main")
        fake.seed_commit("fix: pdf export", sha=repo.head(), branch="main")
        yield Setup(tmp_path, repo, config, fake, env, keys)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    from tests._tools import require_tool

    require_tool("git")
    return GitRepo(tmp_path / "app")
