"""The smoke stage: run the scenario against the environment and record the evidence."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relgate.errors import UsageError
from relgate.fields import require_https
from relgate.results import StageName, Status
from relgate.run import run_stage
from relgate.secrets import looks_secret_name, url_credentials
from relgate.smoke.redact import Redactor
from relgate.smoke.report import (
    FailedStep,
    SmokeReport,
    StepReport,
    artifact_name,
    console_line,
    exchange_artifact,
    junit_xml,
    step_report,
    summary,
    verdict,
)
from relgate.smoke.runner import Context, Runner, StepOutcome, open_client
from relgate.smoke.scenario import LoadedScenario, load_scenario
from relgate.smoke.template import MissingReference, references, render

if TYPE_CHECKING:
    import httpx

    from relgate.config import RelgateConfig
    from relgate.run import Run

__all__ = ["Places", "check", "smoke"]

JUNIT = "artifacts/smoke/junit.xml"
LOG = "logs/smoke/smoke.log"


@dataclass(frozen=True)
class Places:
    """Where one smoke run writes. The smoke stage's own run writes ``results/smoke.json``; a
    smoke run as a check of another stage (after a rollback) writes under that stage's area, so
    the run's smoke result keeps describing the version the smoke stage tested, never another."""

    artifacts: str = "artifacts/smoke"
    log: str = LOG
    result: str | None = None  # None: results/smoke.json (the smoke stage's own)

    @classmethod
    def under(cls, area: str) -> Places:
        """``area`` e.g. ``deploy/rollback``: logs/<area>/smoke.log, artifacts/<area>/smoke/."""
        return cls(
            f"artifacts/{area}/smoke", f"logs/{area}/smoke.log", f"artifacts/{area}/smoke.json"
        )

    @property
    def own(self) -> bool:
        return self.result is None


def check(path: Path) -> LoadedScenario:
    """Static validation only (``relgate smoke --check``): raises ConfigError, sends nothing."""
    loaded = load_scenario(path)
    _ca_bundle(loaded, None)
    return loaded


def smoke(
    config: RelgateConfig | None,
    run: Run,
    *,
    environment: str,
    scenario: Path | None = None,
    base_url: str | None = None,
    version: str | None = None,
    transport: httpx.BaseTransport | None = None,
    monotonic: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    places: Places | None = None,
) -> SmokeReport:
    """Run the smoke scenario; a failed step is *returned* (status failed, exit code 1).

    ``version`` (else the run's) is what ``{{ run.version }}`` and ``expect_version`` compare the
    served version with; a scenario that references it without one is refused (exit 2).
    ``places`` other than the default run it as another stage's check (:class:`Places`): the
    report goes to ``places.result``, and errors (bad input) propagate to that caller."""
    at = places or Places()
    saved = run.version
    if version:
        run.version = version

    def body() -> SmokeReport:
        loaded = load_scenario(_scenario_file(config, scenario), env=run.env)
        facts = {"id": run.id, "environment": environment, "version": run.version}
        _require_run_facts(loaded, facts)
        ca_bundle = _ca_bundle(loaded, config)
        secrets = _secrets(loaded, run)
        allow_http = _allow_http(loaded, config, environment)
        target = _target(
            loaded,
            config=config,
            environment=environment,
            flag=base_url,
            run=run,
            secrets=secrets,
            allow_http=allow_http,
        )
        report = _new_report(loaded, target, run)
        context = Context(
            env=run.env,
            secrets=secrets,
            run=facts,
            base_url=target,
        )
        with (
            open_client(loaded.scenario, transport=transport, ca_bundle=ca_bundle) as client,
            # A slow answer or a poll leaves no line for a while: the heartbeat fills the gap.
            run.reporter.waiting(f"smoke {loaded.scenario.name}"),
        ):
            Runner(
                loaded,
                context,
                client,
                registry=run.secrets,
                allow_insecure_http=allow_http,
                on_step=_Recorder(run, loaded, report, at),
                monotonic=monotonic,
                sleep=sleep,
            ).run()
        _conclude(report, run, at, junit=config.smoke.junit if config is not None else True)
        return report

    if at.own:
        return run_stage(run, StageName.SMOKE, body)
    try:
        return body()
    finally:  # a check of another stage's version: the run's own version stays what it was
        run.version = saved


def _new_report(loaded: LoadedScenario, target: str, run: Run) -> SmokeReport:
    run.reporter.line(
        f"smoke {loaded.scenario.name}: {len(loaded.scenario.run_steps())} steps against {target}"
    )
    return SmokeReport(
        status=Status.PASSED,
        started_at=run.clock(),
        scenario=loaded.file,
        scenario_name=loaded.scenario.name,
        scenario_digest=loaded.digest,
        base_url=target,
        total=len(loaded.scenario.run_steps()),
    )


def _require_run_facts(loaded: LoadedScenario, facts: dict[str, str | None]) -> None:
    """Every ``{{ run.* }}`` the scenario uses has a value, or nothing is sent (exit 2): an empty
    ``run.version`` once let a wrong build pass a version assertion and get released."""
    from relgate.smoke.runner import RUN_FACTS

    problems = [
        f"{where} uses {{{{ {ref} }}}}, which has no value: {RUN_FACTS[ref.split('.', 1)[1]]}"
        for where, ref in loaded.run_refs
        if not facts.get(ref.split(".", 1)[1])
    ]
    if problems:
        raise UsageError(f"{loaded.file}: " + "; ".join(dict.fromkeys(problems)))


def _ca_bundle(loaded: LoadedScenario, config: RelgateConfig | None) -> str | None:
    """The scenario's CA bundle (relative to the scenario file), else relgate.yml's; loaded
    once here, so a file that is not a PEM bundle is a bad input (exit 2), never a crash later."""
    if loaded.scenario.tls.ca_bundle:
        path = Path(loaded.file).parent / Path(loaded.scenario.tls.ca_bundle).expanduser()
        return _pem_bundle(path, f"{loaded.file} tls.ca_bundle")
    if config is not None and config.smoke.ca_bundle:
        return _pem_bundle(config.resolve_path(config.smoke.ca_bundle), "smoke.ca_bundle")
    return None


def _pem_bundle(path: Path, field: str) -> str:
    import ssl

    try:
        text = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{field}: cannot read {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN CERTIFICATE-----" not in text:
        raise UsageError(f"{field}: {path} is not a PEM CA bundle (no BEGIN CERTIFICATE block)")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, ValueError) as exc:
        raise UsageError(f"{field}: {path} is not a usable PEM CA bundle: {exc}") from None
    return str(path)


class _Recorder:
    """Writes each step's artifact and console line the moment the step ends."""

    def __init__(self, run: Run, loaded: LoadedScenario, report: SmokeReport, at: Places) -> None:
        self.run = run
        self.report = report
        self.at = at
        self.policy = loaded.scenario.defaults.artifact
        r = loaded.scenario.redact
        self.redactor = Redactor(
            headers=r.headers,
            json_keys=r.json_keys,
            query_params=r.query_params,
            secrets=run.secrets,
        )

    def __call__(self, outcome: StepOutcome) -> None:
        name = None
        if outcome.status != "skipped" or outcome.exchanges:
            name = artifact_name(outcome, self.at.artifacts)
            policy = outcome.step.artifact or self.policy
            self.run.write_json(name, exchange_artifact(outcome, self.redactor, policy))
        step = step_report(outcome, self.redactor, name)
        self.report.steps.append(step)
        line = console_line(step, self.report.total)
        self.run.append_log(self.at.log, line + "\n")
        if step.status == "passed":
            self.run.reporter.ok(line)
        elif step.status == "skipped":
            self.run.reporter.line(line)
        else:
            self.run.reporter.line(line)
            if step.hint:
                self.run.reporter.line(f"   hint: {step.hint}")


def _conclude(report: SmokeReport, run: Run, at: Places, *, junit: bool) -> None:
    steps = report.steps
    report.passed_count = sum(1 for s in steps if s.status == "passed")
    report.warnings = sum(1 for s in steps if s.status == "warning")
    report.skipped = sum(1 for s in steps if s.status == "skipped")
    failed = next((s for s in steps if s.status == "failed"), None)
    report.failed_step = _failed(failed)
    report.verdict = verdict(steps)
    report.status = Status.FAILED if failed else Status.PASSED
    report.exit_code = 1 if failed else 0
    report.summary = f"smoke {report.scenario_name}: {report.verdict}"
    for step in steps:
        if step.status == "warning":
            run.reporter.warning(f"{step.name}: {step.message}", title="smoke (best effort)")
    if failed is not None:
        run.reporter.error(
            f"step {failed.index} '{failed.name}': {failed.message}", title="smoke failed"
        )
    report.finish(run.clock())
    if junit:
        report.junit = f"{at.artifacts}/junit.xml"
        run.write_text(report.junit, junit_xml(report, report.started_at, run.secrets))
    run.append_log(at.log, report.summary + "\n")
    if not at.own:  # another stage's check: that stage reports it and owns the step outputs
        run.write_json(at.result or "", report)
        (run.reporter.ok if report.passed else run.reporter.line)(report.summary)
        return
    run.reporter.write_summary(summary(report), echo=False)
    for key, value in (
        ("status", report.status.value),
        ("passed", report.passed_count),
        ("total", report.total),
        ("verdict", report.verdict),
    ):
        run.reporter.set_output(key, value)
    run.write_result(report)
    (run.reporter.ok if report.passed else run.reporter.line)(report.summary)


def _failed(step: StepReport | None) -> FailedStep | None:
    if step is None:
        return None
    return FailedStep(
        index=step.index,
        name=step.name,
        status_code=step.http_status,
        message=step.message,
        hint=step.hint,
    )


def _scenario_file(config: RelgateConfig | None, scenario: Path | None) -> Path:
    if scenario is not None:
        return scenario
    if config is not None and config.smoke.scenario:
        return config.resolve_path(config.smoke.scenario)
    raise UsageError("no smoke scenario: pass --scenario FILE or set smoke.scenario in relgate.yml")


def _secrets(loaded: LoadedScenario, run: Run) -> dict[str, str]:
    """Register every secret the scenario can reach before any I/O: declared secrets (load_scenario
    checked they are set), token/password-looking variables used as ``{{ env.NAME }}``, and
    credentials written in URLs. Registering the last two only at archive time would let them
    into every output of the run first."""
    values: dict[str, str] = {}
    for name in loaded.scenario.secrets:
        value = run.env.get(name, "")
        run.secrets.register(value, name)
        values[name] = value
    for text in _strings(loaded.scenario.model_dump(mode="json", by_alias=True)):
        for cred in url_credentials(text) if "@" in text else ():
            run.secrets.register(cred, "scenario URL credentials")
        for ref in references(text) if "{{" in text else ():
            head, _, name = ref.partition(".")
            if head == "env" and looks_secret_name(name):
                run.secrets.register(run.env.get(name), name)
    return values


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _allow_http(loaded: LoadedScenario, config: RelgateConfig | None, environment: str) -> bool:
    if loaded.scenario.allow_insecure_http:
        return True
    if config is None:
        return False
    env_cfg = config.environments.get(environment)
    return config.smoke.allow_insecure_http or bool(env_cfg and env_cfg.allow_insecure_http)


def _target(
    loaded: LoadedScenario,
    *,
    config: RelgateConfig | None,
    environment: str,
    flag: str | None,
    run: Run,
    secrets: dict[str, str],
    allow_http: bool,
) -> str:
    """--base-url, else the scenario's base_url, else the environment's base_url."""
    url: Any = flag
    if url is None and loaded.scenario.base_url:
        facts = {"id": run.id, "environment": environment, "version": run.version}
        ctx = Context(env=run.env, secrets=secrets, run=facts, base_url="")
        try:
            url = render(loaded.scenario.base_url, ctx.lookup)
        except MissingReference as exc:
            raise UsageError(f"{loaded.file} base_url: {exc.reason}") from None
    if url is None and config is not None and environment in config.environments:
        url = config.environments[environment].base_url
    if not url:
        raise UsageError(
            "no base URL: pass --base-url, set base_url in the scenario, "
            "or run with --env NAME of relgate.yml"
        )
    for cred in url_credentials(str(url)):
        run.secrets.register(cred, "base URL credentials")
    try:
        return require_https(str(url).rstrip("/"), allow_http=allow_http)
    except ValueError as exc:
        raise UsageError(f"base URL {run.secrets.redact(str(url))}: {exc}") from None
