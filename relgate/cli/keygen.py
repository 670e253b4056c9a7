"""``relgate keygen``: a new Ed25519 key pair for signing gate statements (docs/evidence.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from relgate.actions_context import ActionsContext
from relgate.cli import command_parser
from relgate.cli._app import App
from relgate.errors import BadInputError, UsageError

EXAMPLES = """\
  relgate keygen --id prod-2026-12
  relgate keygen --id prod-2026-12 --private-key-file ~/prod-signing.key
  relgate --json keygen
"""

_ID_HELP = "the key id relgate.yml will name it by (default: relgate-<8 hex of its sha256>)"


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = command_parser(
        sub,
        common,
        "keygen",
        "print a new Ed25519 key pair for signing the gate statement",
        EXAMPLES,
        description=(
            "Make a new Ed25519 key pair. The public key (ed25519:<base64>) goes in relgate.yml "
            "under evidence.keys with its id; the private key (ed25519-private:<base64>) becomes "
            "the secret RELGATE_SIGNING_KEY of the gate's GitHub environment, and nowhere else. "
            "Without --private-key-file it is printed: run this on a trusted machine, not in CI."
        ),
    )
    parser.add_argument("--id", dest="key_id", metavar="ID", help=_ID_HELP)
    parser.add_argument(
        "--private-key-file",
        metavar="FILE",
        help="write the private key to FILE (created 0600, must not exist) instead of printing it",
    )
    parser.set_defaults(handler=handle)


def handle(app: App, args: argparse.Namespace) -> int:
    from relgate.config import PublicKeyConfig
    from relgate.evidence.keys import generate

    if ActionsContext.from_env(app.env).in_actions and not args.private_key_file:
        # A job log keeps the key for every reader of the repository's Actions: never print it.
        raise UsageError(
            "relgate keygen prints a private key: run it on a trusted machine, not in a CI job "
            "(or pass --private-key-file FILE)"
        )
    pair = generate(args.key_id)
    try:
        PublicKeyConfig(id=pair.id, public_key=pair.public_key)
    except ValueError:
        raise UsageError(
            f"--id {args.key_id}: use letters, digits and . _ : @ - (64 at most)"
        ) from None
    private_file = Path(args.private_key_file).expanduser() if args.private_key_file else None
    if private_file is not None:
        _write_private(private_file, pair.private_key)
    doc = {
        "id": pair.id,
        "public_key": pair.public_key,
        "fingerprint": pair.fingerprint,
        "private_key": None if private_file else pair.private_key,
        "private_key_file": str(private_file) if private_file else None,
    }
    app.emit(doc)
    if not app.json:
        out = app.stdout
        out.write("# relgate.yml (commit it): the public key release and verify-release trust\n")
        out.write("evidence:\n  keys:\n")
        out.write(f"    - id: {pair.id}\n      public_key: {pair.public_key}\n")
        out.write(f"# fingerprint {pair.fingerprint}\n\n")
        if private_file is None:
            out.write(
                "# the private key: store it as the secret RELGATE_SIGNING_KEY of the gate's GitHub\n"
                "# environment (gh secret set RELGATE_SIGNING_KEY --env staging); never commit it\n"
            )
            out.write(f"RELGATE_SIGNING_KEY={pair.private_key}\n")
        else:
            out.write(f"# private key written to {private_file} (mode 0600)\n")
        out.flush()
    return 0


def _write_private(path: Path, text: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise BadInputError(f"--private-key-file {path}: already exists; not overwritten") from None
    except OSError as exc:
        raise BadInputError(f"--private-key-file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text + "\n")
