"""DSSE (Dead Simple Signing Envelope) v1, Ed25519 only.

The signature covers ``PAE(payloadType, payload)``, never the JSON of the envelope::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with ``LEN`` the byte length in ASCII decimal and ``SP`` one space. The envelope is
``{"payload": <base64>, "payloadType": <type>, "signatures": [{"keyid": <id>, "sig": <base64>}]}``;
``keyid`` is an unauthenticated hint, so a verifier tries the key it names first and every other
configured key after it (a renamed key still verifies, under its configured id).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from relgate.evidence.keys import SigningKey

__all__ = [
    "INTOTO_PAYLOAD_TYPE",
    "Envelope",
    "EnvelopeError",
    "EnvelopeSignature",
    "TrustedKey",
    "Verified",
    "pae",
    "sign",
    "verify",
]

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class EnvelopeError(ValueError):
    """The envelope is not a readable DSSE envelope."""


class EnvelopeSignature(BaseModel):
    model_config = ConfigDict(extra="ignore")

    keyid: str = ""
    sig: str


class Envelope(BaseModel):
    """A DSSE envelope. Unknown fields are ignored, as the DSSE spec asks of consumers."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    payload: str
    payload_type: str = Field(alias="payloadType")
    signatures: list[EnvelopeSignature] = Field(default_factory=list)

    def payload_bytes(self) -> bytes:
        try:
            return base64.b64decode(self.payload, validate=True)
        except (binascii.Error, ValueError):
            raise EnvelopeError("payload is not valid base64") from None

    def to_bytes(self) -> bytes:
        doc = self.model_dump(by_alias=True)
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("ascii") + b"\n"

    @classmethod
    def parse(cls, data: bytes) -> Envelope:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "envelope"
            raise EnvelopeError(f"not a DSSE envelope: {where}: {first['msg']}") from None


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding: what is signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign(
    payload: bytes, key: SigningKey | None, key_id: str, payload_type: str = INTOTO_PAYLOAD_TYPE
) -> Envelope:
    """An envelope for ``payload``; signed when ``key`` is given, else with no signature at all
    (an unsigned statement still says what the gate saw; a verifier with keys refuses it)."""
    signatures = []
    if key is not None:
        raw = key.sign(pae(payload_type, payload))
        signatures.append(
            EnvelopeSignature(keyid=key_id, sig=base64.b64encode(raw).decode("ascii"))
        )
    return Envelope(
        payload=base64.b64encode(payload).decode("ascii"),
        payload_type=payload_type,
        signatures=signatures,
    )


@dataclass(frozen=True)
class TrustedKey:
    id: str
    key: Ed25519PublicKey


@dataclass(frozen=True)
class Verified:
    """Which trusted key made a valid signature (``None``: none did) and what was tried."""

    key_id: str | None
    signature_count: int
    named: list[str]


def verify(envelope: Envelope, keys: Sequence[TrustedKey]) -> Verified:
    """Check every signature against the trusted keys (the named one first)."""
    from cryptography.exceptions import InvalidSignature

    message = pae(envelope.payload_type, envelope.payload_bytes())
    for signature in envelope.signatures:
        try:
            raw = base64.b64decode(signature.sig, validate=True)
        except (binascii.Error, ValueError):
            continue
        ordered = sorted(keys, key=lambda k: k.id != signature.keyid)
        for trusted in ordered:
            try:
                trusted.key.verify(raw, message)
            except InvalidSignature:
                continue
            return Verified(trusted.id, len(envelope.signatures), [signature.keyid])
    return Verified(None, len(envelope.signatures), [s.keyid for s in envelope.signatures])
