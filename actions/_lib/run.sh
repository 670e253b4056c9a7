#!/usr/bin/env bash
# The one script every relgate composite action runs:
#
#   bash "$GITHUB_ACTION_PATH/../_lib/run.sh" <relgate command...>
#
# 1. finds a Python >= 3.11 (the one actions/setup-python put on PATH, or the runner's own);
# 2. installs relgate from the action's own source tree into a venv under $RUNNER_TEMP (or
#    $RELGATE_ACTION_CACHE on a self-hosted runner that wants to keep it between jobs), keyed by the
#    source's commit, so a job that uses five relgate actions installs once and the others reuse it;
# 3. hands over to invoke.py, which turns RELGATE_INPUT_* variables into CLI arguments.
#
# Inputs never reach this script as ${{ }} text: the action maps them to environment variables, and
# they are only ever read from there (quoted) or in Python. Nothing here is evaluated by a shell.
set -euo pipefail

lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$lib/../.." && pwd)

die() {
    printf '::error title=relgate action::%s\n' "$1"
    exit "${2:-3}"
}

python=${RELGATE_PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || die "no $python on PATH: set the action input setup-python to 'true'"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    die "relgate needs Python >= 3.11, found $("$python" -V 2>&1): set the action input setup-python to 'true'"
fi

# The cache key: the action's commit when the runner tells us (a SHA pin), else a digest of the
# source tree as checked out (a tag, a branch or a local ./ action: same content, same venv).
if [[ ${RELGATE_ACTION_REF:-} =~ ^[0-9a-f]{40}$ ]]; then
    key=$RELGATE_ACTION_REF
else
    key=$("$python" - "$root" <<'PY'
import hashlib, pathlib, sys
root = pathlib.Path(sys.argv[1])
digest = hashlib.sha256()
for top in ("pyproject.toml", "relgate", "templates", "schema"):
    base = root / top
    files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
    for path in files:
        if path.suffix != ".pyc" and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
print(digest.hexdigest()[:40])
PY
)
fi
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cache=${RELGATE_ACTION_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}
venv="$cache/relgate-venv-py$pyver-${key:0:16}"

if [[ -f $venv/.relgate-complete ]]; then
    echo "relgate: reusing $venv"
else
    echo "::group::install relgate (${key:0:12}) into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q "$root" \
        || die "pip install of relgate from $root failed (see the log above)"
    touch "$venv/.relgate-complete"
    echo "::endgroup::"
fi

exec "$venv/bin/python" "$lib/invoke.py" "$@"
