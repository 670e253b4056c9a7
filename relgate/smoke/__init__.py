"""The smoke stage: a declarative HTTP scenario (YAML) run against the deployed environment.

Modules: :mod:`~relgate.smoke.scenario` (format, loading, static checks), :mod:`~relgate.smoke.template`
(``{{ name }}``), :mod:`~relgate.smoke.query` (RFC 9535 JSONPath), :mod:`~relgate.smoke.assertions`
(operators), :mod:`~relgate.smoke.runner` (steps, retries, polls), :mod:`~relgate.smoke.transport`
(one try over httpx), :mod:`~relgate.smoke.judge` (checks, captures), :mod:`~relgate.smoke.redact` and
:mod:`~relgate.smoke.report` (evidence), :mod:`~relgate.smoke.stage` (the stage function).
Nothing heavy is imported here, so ``import relgate.smoke`` stays cheap.
"""
