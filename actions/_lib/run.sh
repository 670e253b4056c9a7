#!/usr/bin/env bash
# The one script every relgate composite action runs:
#
#   bash "$GITHUB_ACTION_PATH/../_lib/run.sh" <relgate command...>
#
# 1. finds a Python >= 3.11 (the one actions/setup-python put on PATH, or the runner's own);
# 2. makes a venv with relgate's hash-pinned dependencies (installed by a hash-pinned uv) that imports
#    relgate from the action's own source tree, under $RUNNER_TEMP (or $RELGATE_ACTION_CACHE on a
#    self-hosted runner that keeps it between jobs), keyed by the source and the locks, so a job that
#    uses five relgate actions installs once and the others reuse it;
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

# What gets installed is pinned twice over: relgate's runtime dependencies come from
# requirements.lock (every version pinned, every distribution's sha256 listed) and the installer, uv,
# from uv.lock.txt — both with --require-hashes and wheels only, so nothing unpinned is fetched or
# built. relgate itself is not installed at all: the venv imports it from the action's own checked-out
# source (a .pth file), so the venv depends only on the lock and the source and is made once per
# runner (or per $RELGATE_ACTION_CACHE on a self-hosted runner that keeps it between jobs).
lock=$lib/requirements.lock
uv_lock=$lib/uv.lock.txt
[[ -f $lock && -f $uv_lock ]] || die "the action's dependency locks are missing ($lock, $uv_lock)"

# The source key: the action's commit when the runner tells us (a SHA pin), else a digest of the
# source tree as checked out (a tag, a branch or a local ./ action: same content, same venv).
if [[ ${RELGATE_ACTION_REF:-} =~ ^[0-9a-f]{40}$ ]]; then
    key=$RELGATE_ACTION_REF
else
    key=$("$python" - "$root" <<'PY'
import hashlib, pathlib, sys
root = pathlib.Path(sys.argv[1])
digest = hashlib.sha256()
for top in ("pyproject.toml", "relgate", "templates", "schema", "actions/_lib"):
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
lock_key=$(cat "$lock" "$uv_lock" | sha256sum | cut -c1-16)
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cache=${RELGATE_ACTION_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}
venv="$cache/relgate-venv-py$pyver-${key:0:12}-$lock_key"

# A heartbeat while installing: a cold install must not leave the log silent (every 4 s).
heartbeat() {
    local what=$1 t0=$SECONDS
    while sleep 4; do echo "… $what: still installing ($((SECONDS - t0))s)"; done
}

install_venv() {
    local started=$EPOCHREALTIME uv_home="$cache/relgate-uv-$(sha256sum "$uv_lock" | cut -c1-16)"
    # uv's downloads are verified against the lock; its cache makes the next venv a local copy.
    export UV_CACHE_DIR="$cache/relgate-uv-cache" UV_NO_PROGRESS=1
    # The platform's trust store, like curl, git and the runner itself: a self-hosted runner behind
    # a TLS-inspecting proxy trusts its CA there (uv's bundled roots would not).
    export UV_NATIVE_TLS=1
    if [[ -z ${SSL_CERT_FILE:-} && -n ${PIP_CERT:-} ]]; then export SSL_CERT_FILE=$PIP_CERT; fi
    if [[ ! -x $uv_home/bin/uv ]]; then  # pip --target puts the wheel's binary in bin/
        rm -rf "$uv_home.tmp"
        "$python" -m pip install --require-hashes --only-binary :all: --no-deps -q \
            --disable-pip-version-check --no-input --target "$uv_home.tmp" -r "$uv_lock" \
            || die "could not install the pinned uv from $uv_lock (see the log above)"
        rm -rf "$uv_home" && mv "$uv_home.tmp" "$uv_home"
    fi
    local uv=("$uv_home/bin/uv")
    rm -rf "$venv.tmp"
    "${uv[@]}" venv -q --python "$python" "$venv.tmp" \
        || die "could not create a venv with $python"
    "${uv[@]}" pip install --require-hashes --only-binary :all: --no-deps -q \
        --python "$venv.tmp/bin/python" -r "$lock" \
        || die "installing relgate's pinned dependencies from $lock failed (see the log above)"
    # relgate from the action's own source, nothing else from it: a symlink to the package only,
    # so the checkout's tests/ or scripts/ never shadow anything.
    local site
    site=$("$venv.tmp/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    mkdir -p "$venv.tmp/relgate-src"
    ln -s "$root/relgate" "$venv.tmp/relgate-src/relgate"
    echo "$venv/relgate-src" >"$site/relgate-src.pth"
    touch "$venv.tmp/.relgate-complete"
    rm -rf "$venv" && mv "$venv.tmp" "$venv"
    echo "relgate: installed in $(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')s"
}

if [[ -f $venv/.relgate-complete ]]; then
    echo "relgate: reusing $venv"
else
    echo "::group::install relgate (${key:0:12}, lock $lock_key) into $venv"
    heartbeat "relgate install" &
    beat=$!
    trap 'kill "$beat" 2>/dev/null || true' EXIT
    install_venv
    kill "$beat" 2>/dev/null || true
    trap - EXIT
    echo "::endgroup::"
fi

exec "$venv/bin/python" "$lib/invoke.py" "$@"
