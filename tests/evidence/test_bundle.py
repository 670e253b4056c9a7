"""Packing is deterministic, the digest is what an auditor computes by hand, and tampering or a
hostile bundle is refused, naming the file."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from relgate.evidence.bundle import (
    BundleLimits,
    BundleTampered,
    open_bundle,
    verify_bundle,
)
from relgate.evidence.manifest import Manifest, ManifestError
from relgate.evidence.pack import FORMATS, pack_directory
from relgate.run import Run

FORMATS_IDS = [pytest.param(f, id=f) for f in FORMATS]


def _pack(run: Run, dest: Path, fmt: str, **kw: object) -> Path:
    pack_directory(run.dir, dest, fmt=fmt, prefix="bundle", **kw)  # type: ignore[arg-type]
    return dest


@pytest.mark.parametrize("fmt", FORMATS_IDS)
def test_the_same_run_packs_to_the_same_bytes(filled_run: Run, tmp_path: Path, fmt: str) -> None:
    first = _pack(filled_run, tmp_path / f"a.{fmt}", fmt)
    # Touch every file: mtimes and atimes change, the bytes of the bundle must not.
    for path in filled_run.dir.rglob("*"):
        if path.is_file():
            path.touch()
    second = _pack(filled_run, tmp_path / f"b.{fmt}", fmt, threads=1)
    assert first.read_bytes() == second.read_bytes()


def test_headers_carry_no_machine_facts(filled_run: Run, tmp_path: Path) -> None:
    bundle = _pack(filled_run, tmp_path / "x.tar.gz", "tar.gz", mtime=1_700_000_000)
    raw = bundle.read_bytes()
    assert raw[4:8] == b"\0\0\0\0", "gzip header mtime must be 0"
    assert raw[3] & 0x08 == 0, "gzip header must carry no file name"
    with tarfile.open(bundle) as tf:
        members = tf.getmembers()
    assert {(m.uid, m.gid, m.uname, m.gname, m.mode, m.mtime) for m in members} == {
        (0, 0, "", "", 0o644, 1_700_000_000)
    }
    names = [m.name for m in members]
    assert names[-2:] == ["bundle/SHA256SUMS", "bundle/manifest.json"]
    assert names[:-2] == sorted(names[:-2], key=lambda n: n.encode())


def test_digest_is_sha256_of_the_stored_manifest(filled_run: Run, tmp_path: Path) -> None:
    bundle = _pack(filled_run, tmp_path / "x.tar.zst", "tar.zst")
    report = verify_bundle(bundle)
    with zstandard.open(bundle, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tf:
        for member in tf:
            if member.name == "bundle/manifest.json":
                stored = tf.extractfile(member).read()  # type: ignore[union-attr]
    assert report.digest == "sha256:" + hashlib.sha256(stored).hexdigest()
    assert Manifest.parse(stored).canonical_bytes() == stored


def test_an_auditor_verifies_by_hand_with_tar_and_sha256sum(
    filled_run: Run, tmp_path: Path
) -> None:
    if not (shutil.which("tar") and shutil.which("sha256sum")):
        pytest.skip("needs GNU tar and coreutils")
    bundle = _pack(filled_run, tmp_path / "x.tar.gz", "tar.gz")
    out = tmp_path / "extracted"
    out.mkdir()
    subprocess.run(["tar", "-xzf", str(bundle), "-C", str(out)], check=True)
    root = out / "bundle"
    check = subprocess.run(
        ["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=root, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    by_hand = subprocess.run(
        ["sha256sum", "manifest.json"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert verify_bundle(bundle).digest == f"sha256:{by_hand}"


def test_manifest_rejects_non_canonical_bytes() -> None:
    good = Manifest.of([]).canonical_bytes()
    pretty = json.dumps(json.loads(good), indent=2).encode()
    with pytest.raises(ManifestError, match="canonical"):
        Manifest.parse(pretty)


# -- tampering ------------------------------------------------------------------------------------
def _rewrite(
    bundle: Path, edit: dict[str, bytes | None], add: dict[str, bytes] | None = None
) -> None:
    """Repack ``bundle`` (tar.gz) with some members' bytes replaced (None: removed)."""
    members: list[tuple[tarfile.TarInfo, bytes]] = []
    with tarfile.open(bundle) as tf:
        for m in tf.getmembers():
            data = tf.extractfile(m).read()  # type: ignore[union-attr]
            rel = m.name.split("/", 1)[1]
            if rel in edit:
                if edit[rel] is None:
                    continue
                data = edit[rel]  # type: ignore[assignment]
                m.size = len(data)
            members.append((m, data))
    for rel, data in (add or {}).items():
        info = tarfile.TarInfo(f"bundle/{rel}")
        info.size = len(data)
        members.append((info, data))
    with tarfile.open(bundle, "w:gz") as tf:
        for m, data in members:
            tf.addfile(m, io.BytesIO(data))


def _member(bundle: Path, rel: str) -> bytes:
    with tarfile.open(bundle) as tf:
        return tf.extractfile(f"bundle/{rel}").read()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "rel",
    [
        pytest.param("logs/deploy/compose-up.log", id="log"),
        pytest.param("results/smoke.json", id="result"),
        pytest.param("artifacts/smoke/page.png", id="binary"),
        pytest.param("meta.json", id="meta"),
    ],
)
def test_one_flipped_byte_in_a_file_is_named(filled_run: Run, tmp_path: Path, rel: str) -> None:
    bundle = _pack(filled_run, tmp_path / "x.tar.gz", "tar.gz")
    data = bytearray(_member(bundle, rel))
    data[len(data) // 2] ^= 0x01
    _rewrite(bundle, {rel: bytes(data)})
    with pytest.raises(BundleTampered) as caught:
        verify_bundle(bundle)
    assert caught.value.problems == [f"{rel}: content differs from the manifest (modified)"]


@pytest.mark.parametrize("fmt", FORMATS_IDS)
@pytest.mark.parametrize("where", [0.3, 0.5, 0.8], ids=["early", "middle", "late"])
def test_one_flipped_byte_in_the_compressed_file_is_detected(
    filled_run: Run, tmp_path: Path, fmt: str, where: float
) -> None:
    bundle = _pack(filled_run, tmp_path / f"x.{fmt}", fmt)
    data = bytearray(bundle.read_bytes())
    data[int(len(data) * where)] ^= 0x10
    bundle.write_bytes(bytes(data))
    with pytest.raises(BundleTampered) as caught:
        verify_bundle(bundle)
    # Damage in the compressed stream is found where decompression or a digest fails: the message
    # says in (or after) which member, or the per-file digest names the modified file.
    assert any(
        w in str(caught.value)
        for w in ("in bundle/", "after bundle/", "the first member", ": content differs")
    ), str(caught.value)


def test_added_and_removed_files_are_named(filled_run: Run, tmp_path: Path) -> None:
    bundle = _pack(filled_run, tmp_path / "x.tar.gz", "tar.gz")
    _rewrite(bundle, {"artifacts/smoke/04-lock.json": None}, add={"logs/extra.log": b"hi\n"})
    with pytest.raises(BundleTampered) as caught:
        verify_bundle(bundle)
    assert caught.value.problems == [
        "artifacts/smoke/04-lock.json: listed in the manifest but missing from the bundle",
        "logs/extra.log: present in the bundle but not in the manifest (added)",
    ]


def test_a_rewritten_manifest_changes_the_digest_or_is_refused(
    filled_run: Run, tmp_path: Path
) -> None:
    bundle = _pack(filled_run, tmp_path / "x.tar.gz", "tar.gz")
    original = verify_bundle(bundle).digest
    # The attacker edits a log and fixes up the manifest and sums: the bundle verifies, but its
    # digest is no longer the one the tag message cites.
    log = b"all good\n"
    manifest = Manifest.parse(_member(bundle, "manifest.json"))
    entries = [
        f
        if f.path != "logs/deploy/compose-up.log"
        else type(f)(f.path, len(log), hashlib.sha256(log).hexdigest())
        for f in manifest.files
        if f.path != "SHA256SUMS"
    ]
    sums = Manifest.of(entries).sums_bytes()
    from relgate.evidence.manifest import FileEntry

    fixed = Manifest.of(
        [*entries, FileEntry("SHA256SUMS", len(sums), hashlib.sha256(sums).hexdigest())]
    )
    _rewrite(
        bundle,
        {
            "logs/deploy/compose-up.log": log,
            "SHA256SUMS": sums,
            "manifest.json": fixed.canonical_bytes(),
        },
    )
    report = verify_bundle(bundle, expect_digest=original)
    assert report.digest != original
    assert report.problems == [f"digest is {report.digest}, expected {original}"]


# -- hostile bundles ----------------------------------------------------------------------------
def _hostile(tmp_path: Path, *members: tarfile.TarInfo) -> Path:
    path = tmp_path / "hostile.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        ok = tarfile.TarInfo("bundle/meta.json")
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b"{}"))
        for m in members:
            tf.addfile(m, io.BytesIO(b"x" * m.size) if m.isreg() else None)
    return path


def _info(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 1
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = size if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    ("member", "why"),
    [
        pytest.param(_info("bundle/../../evil.sh"), "'..'", id="dotdot"),
        pytest.param(_info("/etc/cron.d/evil"), "absolute", id="absolute"),
        pytest.param(_info("other/evil"), "outside the bundle's root", id="second-root"),
        pytest.param(
            _info("bundle/link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link", id="symlink-out"
        ),
        pytest.param(
            _info("bundle/link", tarfile.SYMTYPE, "meta.json"), "symbolic link", id="symlink-in"
        ),
        pytest.param(
            _info("bundle/hard", tarfile.LNKTYPE, "/etc/shadow"), "hard link", id="hardlink"
        ),
        pytest.param(_info("bundle/dev", tarfile.CHRTYPE), "device", id="char-device"),
        pytest.param(_info("bundle/blk", tarfile.BLKTYPE), "device", id="block-device"),
        pytest.param(_info("bundle/fifo", tarfile.FIFOTYPE), "FIFO", id="fifo"),
        pytest.param(_info("bundle/meta.json"), "duplicate", id="duplicate"),
        pytest.param(_info("bundle\\..\\evil"), "non-POSIX", id="backslash"),
    ],
)
def test_hostile_members_are_refused(tmp_path: Path, member: tarfile.TarInfo, why: str) -> None:
    bundle = _hostile(tmp_path, member)
    with pytest.raises(BundleTampered, match=r"unsafe|duplicate") as caught:
        verify_bundle(bundle)
    assert why in str(caught.value)
    assert not (tmp_path / "evil.sh").exists()


def test_limits_stop_a_bomb_before_it_is_read(filled_run: Run, tmp_path: Path) -> None:
    bundle = _pack(filled_run, tmp_path / "x.tar.zst", "tar.zst")
    with pytest.raises(BundleTampered, match="more than 3 members"):
        verify_bundle(bundle, limits=BundleLimits(max_members=3))
    with pytest.raises(BundleTampered, match="larger than 100 bytes"):
        verify_bundle(bundle, limits=BundleLimits(max_member_size=100))


def test_not_a_bundle_is_bad_input(tmp_path: Path) -> None:
    from relgate.errors import BadInputError

    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"hello, not a tar")
    with pytest.raises(BadInputError, match="not an evidence bundle"):
        verify_bundle(junk)


def test_a_result_that_does_not_fit_its_model_is_refused(make_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = make_run()
    run.write_text("results/archive.json", json.dumps({"stage": "archive", "status": "exploded"}))
    bundle = _pack(run, tmp_path / "x.tar.gz", "tar.gz")
    with pytest.raises(
        BundleTampered, match=r"results/archive.json: not a valid ArchiveResult: status"
    ):
        verify_bundle(bundle)


# -- reading --------------------------------------------------------------------------------------
def test_open_bundle_reads_members_without_extracting(filled_run: Run, tmp_path: Path) -> None:
    bundle = _pack(filled_run, tmp_path / "x.tar.zst", "tar.zst")
    opened = open_bundle(bundle)
    assert opened.read("artifacts/smoke/page.png") == bytes(range(256)) * 40
    assert b"***" in opened.read("logs/deploy/compose-up.log")
    smoke = opened.result("smoke")
    assert smoke is not None and smoke.status.value == "failed"
    assert opened.meta.run_id == filled_run.id
    assert "logs/ünïcode name.log" in opened.names()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "x.tar.zst"]


def test_requirements_and_expectations(filled_run: Run, tmp_path: Path) -> None:
    bundle = _pack(filled_run, tmp_path / "x.tar.gz", "tar.gz")
    report = verify_bundle(bundle, require=["deploy", "smoke", "notes"], expect_sha="abc1234")
    assert report.verdicts["deploy"] == "passed"
    assert report.verdicts["smoke"] == "failed"
    assert report.verdicts["notes"] == "missing"
    assert report.problems == [
        "smoke: required to pass but failed: 8/9 passed",
        "notes: required but missing from the bundle",
        "commit is unknown, expected abc1234",
    ]
    assert verify_bundle(bundle, require=["deploy"]).ok


def test_extract_writes_verified_files_into_a_new_directory(
    filled_run: Run, tmp_path: Path
) -> None:
    from relgate.errors import BadInputError
    from relgate.evidence.bundle import extract_bundle

    bundle = _pack(filled_run, tmp_path / "x.tar.zst", "tar.zst")
    dest = tmp_path / "extracted"
    opened = extract_bundle(bundle, dest)
    for entry in opened.manifest.files:
        assert hashlib.sha256((dest / entry.path).read_bytes()).hexdigest() == entry.sha256
    assert (dest / "manifest.json").read_bytes() == opened.manifest.canonical_bytes()
    with pytest.raises(BadInputError, match="already exists"):
        extract_bundle(bundle, dest)


def test_extract_writes_nothing_from_a_hostile_bundle(tmp_path: Path) -> None:
    from relgate.evidence.bundle import extract_bundle

    bundle = _hostile(tmp_path, _info("bundle/../../evil.sh"))
    with pytest.raises(BundleTampered):
        extract_bundle(bundle, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.sh").exists()


def test_evidence_show_and_release_report_the_same_bundle(filled_run: Run, tmp_path: Path) -> None:
    """``verify_bundle`` (evidence show) and ``prove`` (release, verify-release, evidence verify)
    build one report and judge required stages with one rule; only ``prove`` names the check."""
    from relgate.evidence.proof import Expected, prove

    bundle = _pack(filled_run, tmp_path / "x.tar.gz", "tar.gz")
    require = ("preflight", "smoke", "notes")
    report = verify_bundle(bundle, require=require)
    proof = prove(bundle, Expected(require=require))
    assert proof.report is not None
    assert proof.report.model_dump(exclude={"problems"}) == report.model_dump(exclude={"problems"})
    assert report.problems == [
        "smoke: required to pass but failed: 8/9 passed",
        "notes: required but missing from the bundle",
    ]
    required = [p for p in proof.problems if p.startswith("required: ")]
    assert required == [f"required: {p}" for p in report.problems]
