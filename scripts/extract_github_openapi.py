"""Extract the part of GitHub's REST API description that relgate uses.

The GitHub fake in ``tests/github_fake`` validates every request it receives and every
response it sends against GitHub's own OpenAPI description, so the fake cannot drift
from the real API. The full description is ~13 MB; this script keeps only the
operations relgate calls plus every component they reference (transitively) and
writes them, with provenance, to ``tests/github_fake/openapi-subset.json``.

Source: the npm package ``@octokit/openapi`` (GitHub's description with Octokit's
extensions), pinned to an exact version below. We read ``generated/api.github.com.json``
-- the *bundled* variant that keeps ``$ref``s -- rather than ``api.github.com.deref.json``:

* with ``$ref``s the subset stays small (each component is stored once instead of
  being inlined at every use: the dereferenced file is 73 MB against 13 MB);
* the validator registers the subset once as a JSON Schema resource and lets
  ``referencing`` resolve ``#/components/schemas/...`` lazily, so each component is
  compiled once and error messages name the component that failed.

The output is deterministic (sorted keys, fixed indentation, trailing newline), so
``--check`` can assert that the committed file is exactly what the pinned package
produces. ``--check`` needs npm and the registry, so it is a script mode for CI or a
maintainer, not a unit test.

Usage::

    python scripts/extract_github_openapi.py            # fetch via npm, write the subset
    python scripts/extract_github_openapi.py --check    # exit 1 if the committed file is stale
    python scripts/extract_github_openapi.py --source path/to/package-or-tgz-or-json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
SOURCE_FILE = "generated/api.github.com.json"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "tests" / "github_fake" / "openapi-subset.json"

# (method, path template) exactly as spelled in the description. Keep this list in
# step with what relgate/github/ calls: an operation missing here makes the fake fail
# loudly ("operation not in GitHub's API"), which is the point.
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("get", "/rate_limit"),
    ("get", "/repos/{owner}/{repo}"),
    # git data
    ("get", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("get", "/repos/{owner}/{repo}/git/matching-refs/{ref}"),
    ("post", "/repos/{owner}/{repo}/git/refs"),
    ("patch", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("delete", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("post", "/repos/{owner}/{repo}/git/tags"),
    ("get", "/repos/{owner}/{repo}/git/tags/{tag_sha}"),
    ("get", "/repos/{owner}/{repo}/git/commits/{commit_sha}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}"),
    # releases and assets
    ("get", "/repos/{owner}/{repo}/releases"),
    ("post", "/repos/{owner}/{repo}/releases"),
    ("get", "/repos/{owner}/{repo}/releases/tags/{tag}"),
    ("get", "/repos/{owner}/{repo}/releases/{release_id}"),
    ("patch", "/repos/{owner}/{repo}/releases/{release_id}"),
    ("delete", "/repos/{owner}/{repo}/releases/{release_id}"),
    ("get", "/repos/{owner}/{repo}/releases/{release_id}/assets"),
    ("post", "/repos/{owner}/{repo}/releases/{release_id}/assets"),
    ("get", "/repos/{owner}/{repo}/releases/assets/{asset_id}"),
    ("delete", "/repos/{owner}/{repo}/releases/assets/{asset_id}"),
    # pull requests and contents (release-notes PR)
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("post", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("put", "/repos/{owner}/{repo}/contents/{path}"),
    # environments and their deployment branch policies
    ("get", "/repos/{owner}/{repo}/environments"),
    ("get", "/repos/{owner}/{repo}/environments/{environment_name}"),
    ("put", "/repos/{owner}/{repo}/environments/{environment_name}"),
    ("get", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies"),
    ("post", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies"),
    (
        "get",
        "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/{branch_policy_id}",
    ),
    (
        "delete",
        "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/{branch_policy_id}",
    ),
    # deployments: the record of what ran in each environment (relgate deploy / rollback)
    ("get", "/repos/{owner}/{repo}/deployments"),
    ("post", "/repos/{owner}/{repo}/deployments"),
    ("get", "/repos/{owner}/{repo}/deployments/{deployment_id}"),
    ("get", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("post", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    # checks and statuses
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/status"),
    # actions: the run and its approval history
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}/approvals"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}/pending_deployments"),
    # issues: one incident issue per environment (relgate ops)
    ("get", "/repos/{owner}/{repo}/issues"),
    ("post", "/repos/{owner}/{repo}/issues"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("patch", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    # reviewers
    ("get", "/users/{username}"),
    ("get", "/orgs/{org}/teams/{team_slug}"),
)

# Components every error path of the fake needs even when no listed operation
# references them: GitHub's generic error bodies.
EXTRA_SCHEMAS: tuple[str, ...] = ("basic-error", "validation-error")

# Keys dropped from the subset: media-type ``examples`` point at ``components/examples``
# (megabytes of sample payloads, irrelevant to validation); ``x-octokit`` is SDK metadata.
DROPPED_KEYS = frozenset({"examples", "x-octokit"})


def fetch_package(workdir: Path) -> Path:
    """Run ``npm pack`` for the pinned version and unpack it; return the package root."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is required to fetch the pinned @octokit/openapi (or pass --source)")
    subprocess.run(
        [npm, "pack", f"{PACKAGE}@{VERSION}", "--silent", "--pack-destination", str(workdir)],
        check=True,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise SystemExit(f"npm pack produced {len(tarballs)} tarballs in {workdir}")
    return unpack(tarballs[0], workdir)


def unpack(tarball: Path, workdir: Path) -> Path:
    """Extract the one file we need from an npm tarball (members are under ``package/``)."""
    with tarfile.open(tarball) as tar:
        tar.extractall(workdir, members=[tar.getmember(f"package/{SOURCE_FILE}")], filter="data")
        tar.extractall(workdir, members=[tar.getmember("package/package.json")], filter="data")
    return workdir / "package"


def locate_source(source: Path, workdir: Path) -> Path:
    """Accept a package directory, an npm ``.tgz`` or the JSON file itself."""
    if source.is_dir():
        return source / SOURCE_FILE
    if source.name.endswith(".tgz"):
        return unpack(source, workdir) / SOURCE_FILE
    return source


def check_package_version(json_file: Path) -> None:
    """Refuse a package directory of another version: the provenance would lie."""
    package_json = json_file.parent.parent / "package.json"
    if not package_json.is_file():
        return
    found = json.loads(package_json.read_text(encoding="utf-8")).get("version")
    if found != VERSION:
        raise SystemExit(f"{package_json}: version {found}, this script pins {VERSION}")


def iter_refs(node: Any) -> Iterator[str]:
    """Yield every ``$ref`` string below ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from iter_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)


def strip(node: Any) -> Any:
    """Copy ``node`` without the keys in DROPPED_KEYS (they carry no validation meaning)."""
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in DROPPED_KEYS}
    if isinstance(node, list):
        return [strip(item) for item in node]
    return node


def build_subset(description: dict[str, Any], source_sha256: str) -> dict[str, Any]:
    """Return the listed operations and the transitive closure of their components."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in OPERATIONS:
        try:
            operation = description["paths"][path][method]
        except KeyError:
            raise SystemExit(f"{method.upper()} {path} is not in {PACKAGE}@{VERSION}") from None
        paths.setdefault(path, {})[method] = strip(operation)

    components: dict[str, dict[str, Any]] = {}
    pending = [f"#/components/schemas/{name}" for name in EXTRA_SCHEMAS]
    pending += list(iter_refs(paths))
    while pending:
        ref = pending.pop()
        prefix, _, name = ref.rpartition("/")
        if not prefix.startswith("#/components/") or prefix.count("/") != 2:
            raise SystemExit(f"unsupported $ref {ref!r}")
        kind = prefix.removeprefix("#/components/")
        if name in components.get(kind, {}):
            continue
        target = strip(description["components"][kind][name])
        components.setdefault(kind, {})[name] = target
        pending.extend(iter_refs(target))

    return {
        "openapi": description["openapi"],
        "info": {
            "title": description["info"]["title"],
            "version": description["info"]["version"],
        },
        "servers": description["servers"],
        "paths": paths,
        "components": components,
        "x-relgate-source": {
            "package": PACKAGE,
            "version": VERSION,
            "file": SOURCE_FILE,
            "sha256": source_sha256,
            "generator": "scripts/extract_github_openapi.py",
        },
    }


def render(subset: dict[str, Any]) -> bytes:
    """Serialise deterministically; one key per line keeps diffs between versions readable."""
    return (json.dumps(subset, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def produce(source: Path | None) -> bytes:
    with tempfile.TemporaryDirectory(prefix="relgate-openapi-") as tmp:
        workdir = Path(tmp)
        json_file = fetch_package(workdir) / SOURCE_FILE if source is None else None
        if json_file is None:
            assert source is not None
            json_file = locate_source(source, workdir)
        check_package_version(json_file)
        raw = json_file.read_bytes()
        description = json.loads(raw)
        return render(build_subset(description, hashlib.sha256(raw).hexdigest()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        type=Path,
        help=f"{PACKAGE}@{VERSION} as a package directory, .tgz, or {SOURCE_FILE}; "
        "default: fetch it with npm pack",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the output file differs from what the source produces",
    )
    args = parser.parse_args(argv)

    produced = produce(args.source)
    if args.check:
        current = args.output.read_bytes() if args.output.exists() else b""
        if current != produced:
            print(f"{args.output} is stale: re-run {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{args.output} matches {PACKAGE}@{VERSION}")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(produced)
    print(f"wrote {args.output} ({len(produced):,} bytes) from {PACKAGE}@{VERSION}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
