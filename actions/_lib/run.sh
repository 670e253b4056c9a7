#!/usr/bin/env bash
# The one script every relgate composite action runs:
#
#   bash "$GITHUB_ACTION_PATH/../_lib/run.sh" <relgate command...>
#
# 1. finds a Python >= 3.11 (the one actions/setup-python put on PATH, or the runner's own);
# 2. makes a venv with relgate's hash-pinned dependencies (installed by a hash-pinned uv) under
#    $RUNNER_TEMP (or $RELGATE_ACTION_CACHE on a self-hosted runner that keeps it between jobs),
#    keyed by the locks, so a job that uses five relgate actions installs once and the others reuse
#    it; relgate itself is imported from the action's own source tree;
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
# built. relgate itself is not installed: it is imported from the action's own checked-out source,
# through a directory that holds nothing but a link to that source's relgate/ package (so the
# checkout's tests/ or scripts/ never shadow anything) and is keyed by the checkout's path (so a
# venv shared by jobs whose checkouts live elsewhere never points at another job's files). The venv
# therefore depends only on the locks and the Python version, and is made once per runner (or once
# per $RELGATE_ACTION_CACHE on a self-hosted runner that keeps it between jobs).
lock=$lib/requirements.lock
uv_lock=$lib/uv.lock.txt
[[ -f $lock && -f $uv_lock ]] || die "the action's dependency locks are missing ($lock, $uv_lock)"

lock_key=$(cat "$lock" "$uv_lock" | sha256sum | cut -c1-16)
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cache=${RELGATE_ACTION_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}
venv="$cache/relgate-venv-py$pyver-$lock_key"
src="$cache/relgate-src-$(printf '%s' "$root" | sha256sum | cut -c1-16)"

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
    touch "$venv.tmp/.relgate-complete"
    rm -rf "$venv" && mv "$venv.tmp" "$venv"
    echo "relgate: installed in $(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')s"
}

if [[ -f $venv/.relgate-complete ]]; then
    echo "relgate: reusing $venv"
else
    echo "::group::install relgate's dependencies (lock $lock_key) into $venv"
    heartbeat "relgate install" &
    beat=$!
    trap 'kill "$beat" 2>/dev/null || true' EXIT
    install_venv
    kill "$beat" 2>/dev/null || true
    trap - EXIT
    echo "::endgroup::"
fi

# Idempotent and the same for every job with this checkout path: concurrent jobs agree.
mkdir -p "$src"
ln -sfn "$root/relgate" "$src/relgate"
PYTHONPATH="$src${PYTHONPATH:+:$PYTHONPATH}" exec "$venv/bin/python" "$lib/invoke.py" "$@"
