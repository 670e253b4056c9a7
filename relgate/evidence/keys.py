"""Ed25519 keys for the gate statement: the documented text formats, key ids, and ``keygen``.

Formats (one line each, so they fit a GitHub secret, an environment variable and relgate.yml):

* public key — ``ed25519:<base64 of the 32 raw public key bytes>``, committed in relgate.yml under
  ``evidence.keys`` with an ``id`` of your choice (several keys: rotation);
* private key — ``ed25519-private:<base64 of the 32-byte seed>``, only ever in the environment
  variable named by ``evidence.signing_key_env`` (``RELGATE_SIGNING_KEY``): in GitHub, an
  *environment secret* of the gate's environment. A PKCS#8 PEM Ed25519 key (``openssl genpkey
  -algorithm ed25519``) is accepted too.

The **fingerprint** of a public key is ``SHA256:`` + the unpadded base64 of the sha256 of its raw
bytes (the style of ``ssh-keygen -l``); ``relgate keygen`` proposes ``relgate-<first 8 hex of that
sha256>`` as the id.

``cryptography`` is imported inside the functions that need it, so the CLI starts fast.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relgate.errors import BadInputError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "PRIVATE_PREFIX",
    "PUBLIC_PREFIX",
    "KeyPair",
    "SigningKey",
    "fingerprint",
    "generate",
    "load_private",
    "load_public",
    "public_text",
]

PUBLIC_PREFIX = "ed25519:"
PRIVATE_PREFIX = "ed25519-private:"
_RAW_LEN = 32


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadInputError(f"{what}: not valid base64") from None
    if len(raw) != _RAW_LEN:
        raise BadInputError(f"{what}: {len(raw)} bytes, an Ed25519 key has {_RAW_LEN}")
    return raw


def load_public(text: str, *, what: str = "public key") -> Ed25519PublicKey:
    """``ed25519:<base64>`` → key, or :class:`BadInputError` naming ``what``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not text.startswith(PUBLIC_PREFIX):
        raise BadInputError(f"{what}: must start with {PUBLIC_PREFIX!r} (see relgate keygen)")
    return Ed25519PublicKey.from_public_bytes(_b64decode(text[len(PUBLIC_PREFIX) :], what))


def public_raw(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_text(key: Ed25519PublicKey) -> str:
    return PUBLIC_PREFIX + base64.b64encode(public_raw(key)).decode("ascii")


def fingerprint(key: Ed25519PublicKey) -> str:
    digest = hashlib.sha256(public_raw(key)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def suggested_id(key: Ed25519PublicKey) -> str:
    return "relgate-" + hashlib.sha256(public_raw(key)).hexdigest()[:8]


@dataclass(frozen=True)
class SigningKey:
    """A private key loaded from the environment, and the name of the variable it came from."""

    key: Ed25519PrivateKey
    source: str

    @property
    def public(self) -> Ed25519PublicKey:
        return self.key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)


def load_private(text: str, *, source: str) -> SigningKey:
    """Parse a private key (``ed25519-private:<base64>`` or PKCS#8 PEM); errors never quote it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    value = text.strip()
    if value.startswith(PRIVATE_PREFIX):
        seed = _b64decode(value[len(PRIVATE_PREFIX) :], source)
        return SigningKey(Ed25519PrivateKey.from_private_bytes(seed), source)
    if value.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(value.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError):
            raise BadInputError(f"{source}: not a readable unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise BadInputError(f"{source}: the PEM key is not an Ed25519 key")
        return SigningKey(key, source)
    raise BadInputError(
        f"{source}: not an Ed25519 private key (expected {PRIVATE_PREFIX}<base64> or a PEM key; "
        "make one with relgate keygen)"
    )


@dataclass(frozen=True)
class KeyPair:
    """What ``relgate keygen`` prints: the id to put in relgate.yml and both halves, as text."""

    id: str
    public_key: str
    private_key: str
    fingerprint: str


def generate(key_id: str | None = None) -> KeyPair:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key()
    return KeyPair(
        id=key_id or suggested_id(public),
        public_key=public_text(public),
        private_key=PRIVATE_PREFIX + base64.b64encode(seed).decode("ascii"),
        fingerprint=fingerprint(public),
    )
