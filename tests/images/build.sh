#!/usr/bin/env bash
# Build relgate's local base test image without any registry (nothing can be pulled here):
#
#   tests/images/build.sh            build relgate-test/busybox:1 unless it is already up to date
#   tests/images/build.sh --force    rebuild even if up to date
#   tests/images/build.sh --verify   build if needed, then check it: `docker run`, and a compose project
#                                    (httpd healthy under `up -d --wait`, reachable from the host on an
#                                    ephemeral 127.0.0.1 port and from a second service by name); cleans up
#
# The image is FROM scratch + Debian's statically linked /bin/busybox (package busybox-static, installed
# by scripts/install-system-tools.sh) + a symlink for every applet at its usual place (bin/sh,
# usr/sbin/httpd, usr/bin/wget, bin/sleep, ...), a minimal /etc/passwd and /etc/group, /tmp, and
# CMD ["sh"]. It is labelled org.relgate.test-image.content-hash = sha256 of the build context
# (Dockerfile + rootfs, as a normalised tar), so a re-run with the same busybox is a no-op.
#
# Using it: `FROM relgate-test/busybox:1` in a Dockerfile works (docker's classic builder; there is no
# buildx here). In compose files and `docker run`, never let docker try to pull: `pull_policy: never`,
# `docker run --pull never`.
#
# Env: RELGATE_TEST_IMAGE (default relgate-test/busybox:1), BUSYBOX (default /bin/busybox).
set -euo pipefail

IMAGE=${RELGATE_TEST_IMAGE:-relgate-test/busybox:1}
BUSYBOX=${BUSYBOX:-/bin/busybox}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABEL=org.relgate.test-image.content-hash
export DOCKER_BUILDKIT=0 # classic builder: no buildx plugin here (client 28 would warn and fall back anyway)

force=0 verify=0
for arg in "$@"; do
    case $arg in
        --force) force=1 ;;
        --verify) verify=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[images %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker not found: run scripts/install-system-tools.sh"
timeout 15 docker info >/dev/null 2>&1 || die "docker engine not answering: run scripts/install-system-tools.sh"
[[ -x $BUSYBOX ]] || die "$BUSYBOX missing: apt-get install busybox-static"
# A dynamically linked busybox (Debian's 'busybox' package) would not run in a FROM scratch image.
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is dynamically linked: install busybox-static"; fi

work=$(mktemp -d /tmp/relgate-images.XXXXXX)
project=""
cleanup() {
    local rc=$?
    if [[ -n $project ]]; then
        docker compose -p "$project" -f "$HERE/verify/compose.yml" down -v --remove-orphans -t 1 >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    return $rc
}
trap cleanup EXIT

# --- assemble the build context ---------------------------------------------------------------------
ctx=$work/ctx
root=$ctx/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp" "$root/var/www"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$BUSYBOX" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
while read -r applet; do
    [[ $applet == bin/busybox ]] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -s /bin/busybox "$root/$applet"
done < <("$BUSYBOX" --list-full | sort)
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
cp "$HERE/busybox.Dockerfile" "$ctx/Dockerfile"

hash=$({
    cat "$ctx/Dockerfile"
    tar -C "$ctx" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - rootfs
} | sha256sum | cut -c1-64)

have=$(docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null || true)
if [[ $have == "$hash" && $force == 0 ]]; then
    log "$IMAGE is up to date ($LABEL=${hash:0:12}…)"
else
    log "building $IMAGE (busybox $("$BUSYBOX" 2>&1 | head -n 1 | awk '{print $2}'), $("$BUSYBOX" --list | wc -l) applets, hash ${hash:0:12}…; had: ${have:-none})"
    if ! docker build --pull=false --build-arg "CONTENT_HASH=$hash" -t "$IMAGE" "$ctx" >"$work/build.log" 2>&1; then
        cat "$work/build.log" >&2
        die "docker build failed"
    fi
    log "built $IMAGE: $(docker image inspect --format '{{.Id}} {{.Size}} bytes' "$IMAGE")"
fi

((verify)) || exit 0

# --- verify ---------------------------------------------------------------------------------------
log "verify: docker run"
out=$(docker run --rm --pull never --network none "$IMAGE" sh -c 'echo ok')
[[ $out == ok ]] || die "docker run printed '$out', want 'ok'"

log "verify: compose project (httpd healthy, published on 127.0.0.1, reachable by service name)"
project=relgate-imgcheck-$$
export RELGATE_TEST_IMAGE=$IMAGE
docker compose -p "$project" -f "$HERE/verify/compose.yml" up -d --wait --wait-timeout 60 >"$work/up.log" 2>&1 \
    || { cat "$work/up.log" >&2; docker compose -p "$project" -f "$HERE/verify/compose.yml" logs >&2 || true; die "compose up --wait failed"; }
hostport=$(docker compose -p "$project" -f "$HERE/verify/compose.yml" port web 8080)
[[ $hostport == 127.0.0.1:* ]] || die "web:8080 published on '$hostport', want 127.0.0.1:<port>"
page=$(curl -fsS --max-time 10 "http://$hostport/") || die "curl http://$hostport/ failed"
[[ $page == relgate-busybox-ok ]] || die "curl http://$hostport/ got '$page'"
log "verify: ok (page served on http://$hostport/, both services healthy)"
