"""minisign signatures (https://jedisct1.github.io/minisign/), written and checked with ``cryptography``.

The format self-updaters already verify (Tauri's updater reads a ``.minisig`` file's content from
``latest.json``), interoperable with the ``minisign`` CLI both ways (tests/operations/
test_manifest_signing.py runs it). An own implementation rather than a PyPI one: the format is four
lines and two Ed25519 signatures, ``cryptography`` is already a dependency (the evidence statement),
and BLAKE2b comes with ``hashlib``.

Formats (all integers little-endian, all lines base64 unless said otherwise):

* public key: ``untrusted comment: …`` then ``"Ed" || key_id[8] || public_key[32]``;
* secret key: ``untrusted comment: …`` then ``"Ed" || kdf[2] || "B2" || salt[32] || ops[8] || mem[8]
  || key_id[8] || secret_key[64] || checksum[32]``, where ``checksum = BLAKE2b-256("Ed" || key_id ||
  secret_key)`` and ``kdf`` is ``"\\0\\0"`` for a key without password (``minisign -G -W``);
* signature: ``untrusted comment: …``, ``"ED" || key_id[8] || Ed25519(BLAKE2b-512(file))`` (``"Ed"``:
  the legacy, non-prehashed Ed25519(file)), ``trusted comment: <text>``, then
  ``Ed25519(signature || text)``: the global signature, which makes the trusted comment tamper-proof.

A key protected by a password (scrypt) is refused with the way to make one without: relgate takes
its key from the environment (a CI secret), where a password would sit beside it anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from relgate.errors import BadInputError, VerificationError

__all__ = [
    "PublicKey",
    "SecretKey",
    "Signature",
    "parse_public_key",
    "parse_secret_key",
    "parse_signature",
    "sign",
    "verify",
]

_ED = b"Ed"
_PREHASHED = b"ED"
_NO_KDF = b"\0\0"
_SCRYPT = b"Sc"
_BLAKE2 = b"B2"


def _b64(line: str, what: str) -> bytes:
    try:
        return base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInputError(f"{what}: not base64 ({exc})") from exc


def _payload_line(text: str, what: str) -> str:
    """The base64 line of a key file (its comment line is optional)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("untrusted comment:"):
        lines = lines[1:]
    if len(lines) != 1:
        raise BadInputError(f"{what}: expected one base64 line (after an optional comment)")
    return lines[0]


@dataclass(frozen=True)
class PublicKey:
    key_id: bytes
    key: Ed25519PublicKey
    raw: bytes

    @property
    def key_id_hex(self) -> str:
        return self.key_id[::-1].hex().upper()

    def text(self) -> str:
        """The ``minisign.pub`` file."""
        line = base64.b64encode(_ED + self.key_id + self.raw).decode()
        return f"untrusted comment: minisign public key {self.key_id_hex}\n{line}\n"

    def line(self) -> str:
        """The one-line form ``minisign -P`` takes."""
        return base64.b64encode(_ED + self.key_id + self.raw).decode()


@dataclass(frozen=True)
class SecretKey:
    key_id: bytes
    key: Ed25519PrivateKey

    def public(self) -> PublicKey:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        pub = self.key.public_key()
        raw = pub.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return PublicKey(self.key_id, pub, raw)


@dataclass(frozen=True)
class Signature:
    algorithm: bytes  # b"ED" (prehashed) or b"Ed"
    key_id: bytes
    signature: bytes
    trusted_comment: str
    global_signature: bytes
    untrusted_comment: str = ""

    def text(self) -> str:
        """The ``.minisig`` file."""
        return (
            f"untrusted comment: {self.untrusted_comment}\n"
            f"{base64.b64encode(self.algorithm + self.key_id + self.signature).decode()}\n"
            f"trusted comment: {self.trusted_comment}\n"
            f"{base64.b64encode(self.global_signature).decode()}\n"
        )


def parse_public_key(text: str) -> PublicKey:
    """A ``minisign.pub`` file, or its base64 line alone (``RW…``)."""
    raw = _b64(_payload_line(text, "public key"), "public key")
    if len(raw) != 42 or raw[:2] != _ED:
        raise BadInputError("public key: not a minisign Ed25519 public key (RW…, 42 bytes)")
    return PublicKey(raw[2:10], Ed25519PublicKey.from_public_bytes(raw[10:]), raw[10:])


def parse_secret_key(text: str) -> SecretKey:
    """A ``minisign.key`` file without password (``minisign -G -W``), or its base64 line."""
    raw = _b64(_payload_line(text, "secret key"), "secret key")
    if len(raw) != 158 or raw[:2] != _ED or raw[4:6] != _BLAKE2:
        raise BadInputError("secret key: not a minisign Ed25519 secret key")
    if raw[2:4] == _SCRYPT:
        raise BadInputError(
            "secret key: it is protected by a password, which relgate does not take; "
            "create a key without one (`minisign -G -W`) and keep it in a CI secret"
        )
    if raw[2:4] != _NO_KDF:
        raise BadInputError("secret key: unknown key derivation")
    key_id, secret, checksum = raw[54:62], raw[62:126], raw[126:158]
    # minisign 0.11 leaves the checksum of a password-less key zeroed; the public half of the
    # key is checked against its seed below either way.
    if checksum != bytes(32) and (
        hashlib.blake2b(_ED + key_id + secret, digest_size=32).digest() != checksum
    ):
        raise BadInputError("secret key: checksum mismatch (corrupted key)")
    key = Ed25519PrivateKey.from_private_bytes(secret[:32])
    found = SecretKey(key_id, key)
    if found.public().raw != secret[32:]:
        raise BadInputError("secret key: its public half does not match its seed")
    return found


def generate_secret_key_text(comment: str = "relgate secret key") -> tuple[str, PublicKey]:
    """A new password-less key in minisign's file format (for tests and ``relgate`` users)."""
    import os

    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    key = Ed25519PrivateKey.generate()
    key_id = os.urandom(8)
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = SecretKey(key_id, key).public()
    secret = seed + public.raw
    checksum = hashlib.blake2b(_ED + key_id + secret, digest_size=32).digest()
    raw = _ED + _NO_KDF + _BLAKE2 + bytes(48) + key_id + secret + checksum
    text = f"untrusted comment: {comment}\n{base64.b64encode(raw).decode()}\n"
    return text, public


def parse_signature(text: str) -> Signature:
    lines = text.splitlines()
    if len(lines) < 4 or not lines[0].startswith("untrusted comment:"):
        raise VerificationError("signature: not a minisign signature (4 lines expected)")
    if not lines[2].startswith("trusted comment: "):
        raise VerificationError("signature: the third line must be the trusted comment")
    try:
        head, glob = _b64(lines[1], "signature"), _b64(lines[3], "global signature")
    except BadInputError as exc:
        raise VerificationError(exc.message) from exc
    if len(head) != 74 or head[:2] not in (_PREHASHED, _ED) or len(glob) != 64:
        raise VerificationError("signature: unknown algorithm or wrong length")
    return Signature(
        algorithm=head[:2],
        key_id=head[2:10],
        signature=head[10:],
        trusted_comment=lines[2].removeprefix("trusted comment: "),
        global_signature=glob,
        untrusted_comment=lines[0].removeprefix("untrusted comment:").strip(),
    )


def sign(data: bytes, key: SecretKey, *, trusted_comment: str, untrusted_comment: str) -> Signature:
    """A prehashed (``ED``) signature of ``data``, as ``minisign -S`` makes by default."""
    if "\n" in trusted_comment or "\r" in trusted_comment:
        raise BadInputError("trusted comment: one line only")
    signature = key.key.sign(hashlib.blake2b(data, digest_size=64).digest())
    glob = key.key.sign(signature + trusted_comment.encode("utf-8"))
    return Signature(_PREHASHED, key.key_id, signature, trusted_comment, glob, untrusted_comment)


def verify(data: bytes, signature: Signature, key: PublicKey) -> str:
    """Check ``signature`` of ``data`` with ``key``; return the (now trusted) comment.

    Raises :class:`VerificationError` naming what does not hold.
    """
    if signature.key_id != key.key_id:
        raise VerificationError(
            f"signed with key {signature.key_id[::-1].hex().upper()}, "
            f"not with the given key {key.key_id_hex}"
        )
    message = (
        hashlib.blake2b(data, digest_size=64).digest()
        if signature.algorithm == _PREHASHED
        else data
    )
    try:
        key.key.verify(signature.signature, message)
    except InvalidSignature:
        raise VerificationError("the signature does not match the content") from None
    try:
        key.key.verify(
            signature.global_signature,
            signature.signature + signature.trusted_comment.encode("utf-8"),
        )
    except InvalidSignature:
        raise VerificationError("the trusted comment was tampered with") from None
    return signature.trusted_comment
