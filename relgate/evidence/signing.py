"""Signing at archive time: the gate statement of a run, in a DSSE envelope, with the environment's key.

The private key is read from the environment variable ``evidence.signing_key_env``
(``RELGATE_SIGNING_KEY``) and nowhere else. Archive never fails for want of a key: the statement is
then written *unsigned*, and the signer's trouble is a warning — ``release`` refuses such a bundle
whenever relgate.yml lists public keys, so a missing key cannot turn into a quiet "proven".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from relgate.errors import BadInputError
from relgate.evidence.manifest import Manifest
from relgate.results import RunMeta, StageResult

if TYPE_CHECKING:
    from relgate.config import RelgateConfig
    from relgate.evidence.keys import SigningKey

__all__ = ["DEFAULT_KEY_ENV", "Signer", "signer_for"]

DEFAULT_KEY_ENV = "RELGATE_SIGNING_KEY"


@dataclass
class Signer:
    """Who signs (``key`` None: nobody, the statement stays unsigned) and under which id."""

    key: SigningKey | None
    key_id: str
    warnings: list[str] = field(default_factory=list)
    statement: dict[str, Any] | None = None

    def envelope(
        self,
        manifest: Manifest,
        *,
        bundle_name: str,
        meta: RunMeta,
        stages: Mapping[str, StageResult],
        verdicts: Mapping[str, str],
    ) -> bytes:
        from relgate.evidence.dsse import sign
        from relgate.evidence.statement import build_statement, statement_bytes

        self.statement = build_statement(
            bundle_name=bundle_name,
            digest=manifest.digest,
            meta=meta,
            stages=stages,
            verdicts=verdicts,
        )
        return sign(statement_bytes(self.statement), self.key, self.key_id).to_bytes()


def signer_for(config: RelgateConfig | None, env: Mapping[str, str]) -> Signer:
    """The signer this environment allows: its key, named as relgate.yml names it."""
    from relgate.evidence.keys import load_private, public_text, suggested_id

    name = config.evidence.signing_key_env if config else DEFAULT_KEY_ENV
    configured = {k.public_key: k.id for k in config.evidence.keys} if config else {}
    value = env.get(name)
    if not value:
        warnings = []
        if configured:
            warnings.append(
                f"{name} is not set: the gate statement is unsigned, and release refuses unsigned "
                "evidence (set it as a secret of this environment; see relgate keygen)"
            )
        return Signer(None, "", warnings)
    try:
        key = load_private(value, source=name)
    except BadInputError as exc:
        return Signer(None, "", [f"{exc.message}: the gate statement is unsigned"])
    public = public_text(key.public)
    key_id = configured.get(public)
    if key_id is not None:
        return Signer(key, key_id)
    key_id = suggested_id(key.public)
    if not configured:
        return Signer(key, key_id)  # nothing to check against: verifiers say "unauthenticated"
    why = (
        f"the key in {name} ({key_id}) is not in relgate.yml evidence.keys: release will refuse "
        "this evidence as signed by an unknown key"
    )
    return Signer(key, key_id, [why])
