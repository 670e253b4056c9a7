"""The release manifest: validation, atomic writes, verification, CLI exit codes, schema."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import IO

import jsonschema
import pytest

from relgate.cli import main
from relgate.errors import BadInputError, ConfigError
from relgate.manifest import (
    build_manifest,
    manifest_schema,
    read_manifest,
    verify_asset,
    write_manifest,
)

REPO = Path(__file__).resolve().parents[2]
URL = "https://downloads.example.com/app-1.2.0.tar.gz"
GOOD = "a" * 64


def cli(*argv: str, cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    os.chdir(cwd)
    try:
        code = main(list(argv), env={"PATH": os.environ["PATH"]}, stdout=out, stderr=err)
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("sha", "accepted"),
    [
        pytest.param(GOOD, True, id="64-hex"),
        pytest.param("A" * 64, True, id="uppercase-normalized"),
        pytest.param("a" * 63, False, id="63-hex"),
        pytest.param("a" * 65, False, id="65-hex"),
        pytest.param("g" * 64, False, id="not-hex"),
        pytest.param("", False, id="empty"),
    ],
)
def test_sha256_must_be_64_hex(sha: str, accepted: bool) -> None:
    if accepted:
        assert build_manifest(version="1.2.0", asset_url=URL, sha256=sha).sha256 == GOOD
    else:
        with pytest.raises(BadInputError, match="sha256"):
            build_manifest(version="1.2.0", asset_url=URL, sha256=sha)


@pytest.mark.parametrize(
    "url",
    [pytest.param("http://example.com/a", id="plain-http"), pytest.param("ftp://x/a", id="ftp")],
)
def test_asset_url_must_be_https(url: str) -> None:
    with pytest.raises(BadInputError, match="asset_url"):
        build_manifest(version="1", asset_url=url, sha256=GOOD)


def test_asset_computes_digest_and_refuses_a_contradicting_sha(tmp_path: Path) -> None:
    asset = tmp_path / "app.tgz"
    asset.write_bytes(b"x" * 1000)
    m = build_manifest(version="1.2.0", asset_url=URL, asset=asset, notes_url=URL + ".md")
    assert (m.size, m.sha256) == (1000, hashlib.sha256(b"x" * 1000).hexdigest())
    with pytest.raises(BadInputError, match="does not match"):
        build_manifest(version="1.2.0", asset_url=URL, asset=asset, sha256=GOOD)


def test_written_manifest_follows_the_exported_schema(tmp_path: Path) -> None:
    shipped = json.loads((REPO / "schema" / "manifest.schema.json").read_text())
    assert shipped == json.loads(json.dumps(manifest_schema())), (
        "regenerate schema/manifest.schema.json"
    )
    path = write_manifest(
        build_manifest(version="1.2.0", asset_url=URL, sha256=GOOD), tmp_path / "latest.json"
    )
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, shipped)
    assert set(doc) == {
        "version",
        "channel",
        "asset_url",
        "sha256",
        "size",
        "notes_url",
        "generated_at",
    }
    assert doc["generated_at"].endswith("Z") and oct(path.stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(b"different", "sha256 mismatch", id="content-differs"),
        pytest.param(b"payload!!", "size mismatch", id="size-differs"),
    ],
)
def test_verify_reports_mismatch(tmp_path: Path, content: bytes, problem: str) -> None:
    asset = tmp_path / "app.tgz"
    asset.write_bytes(b"payload")
    manifest = write_manifest(
        build_manifest(version="1", asset_url=URL, asset=asset), tmp_path / "m.json"
    )
    asset.write_bytes(content)
    check = verify_asset(manifest, asset)
    assert not check.ok and any(problem in p for p in check.problems)


def test_manifest_with_bad_field_is_located(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    doc = {
        "version": "1",
        "asset_url": URL,
        "sha256": "nope",
        "generated_at": "2026-01-01T00:00:00Z",
    }
    path.write_text(json.dumps(doc, indent=2))
    with pytest.raises(ConfigError) as info:
        read_manifest(path)
    assert len(info.value.problems) == 1
    assert (info.value.problems[0].line, info.value.problems[0].field) == (4, "sha256")


def test_failing_write_leaves_old_manifest_intact(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    write_manifest(build_manifest(version="1.0.0", asset_url=URL, sha256=GOOD), path)
    before = path.read_bytes()

    def crash_half_way(fh: IO[bytes], data: bytes) -> None:
        fh.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_manifest(
            build_manifest(version="2.0.0", asset_url=URL, sha256=GOOD), path, write=crash_half_way
        )
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json"]


def test_killed_writer_leaves_old_manifest_intact(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    write_manifest(build_manifest(version="1.0.0", asset_url=URL, sha256=GOOD), path)
    before = path.read_bytes()
    child = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from relgate.manifest import build_manifest, write_manifest
        def stall(fh, data):
            fh.write(data[: len(data) // 2]); fh.flush()
            print("half", flush=True)
            time.sleep(60)
        write_manifest(build_manifest(version="2.0.0", asset_url={URL!r}, sha256={GOOD!r}),
                       Path({str(path)!r}), write=stall)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "half"
        assert path.read_bytes() == before  # mid-write: readers still see the old manifest
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert read_manifest(path).version == "1.0.0"


def test_cli_write_then_verify_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "app.tgz").write_bytes(b"release")
    code, _, err = cli("manifest", "write", "--version", "1.2.0", "--asset", "app.tgz",
                       "--asset-url", URL, "--output", "pub/latest.json", cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    assert (
        cli(
            "manifest",
            "verify",
            "--allow-unsigned",
            "--manifest",
            "pub/latest.json",
            "app.tgz",
            cwd=tmp_path,
        )[0]
        == 0
    )
    (tmp_path / "app.tgz").write_bytes(b"tampered")
    code, out, _ = cli(
        "--json",
        "manifest",
        "verify",
        "--allow-unsigned",
        "--manifest",
        "pub/latest.json",
        "app.tgz",
        cwd=tmp_path,
    )
    assert code == 1
    assert json.loads(out)["result"]["ok"] is False
    code, _, err = cli("manifest", "write", "--version", "1", "--asset-url", URL, "--sha256", "abc",
                       "--output", "x.json", cwd=tmp_path)  # fmt: skip
    assert code == 2 and "64 hexadecimal digits" in err
    assert not (tmp_path / "x.json").exists()
