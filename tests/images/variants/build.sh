#!/usr/bin/env bash
# Build the deploy tests' app variants from relgate-test/busybox:1 (tests/images/build.sh makes it):
#
#   relgate-test/app:v1, :v2           healthy httpd printing "version <tag>"
#   relgate-test/app:v3-unhealthy      healthcheck never passes
#   relgate-test/app:degrade           healthy for ~3 s, then unhealthy
#   relgate-test/app:crashloop         exits 1 after 1 s (crash loop under a restart policy)
#   relgate-test/app:exits             exits 3 at once
#   relgate-test/app:slow              serves after $SLOW_S s (default 4)
#
# (Services without a healthcheck are tested with compose's `healthcheck: {disable: true}`.)
#
# Each image is labelled with a hash of its inputs, so a re-run only builds what changed.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export DOCKER_BUILDKIT=0
LABEL=org.relgate.test-app.hash
variants=(
    "v1 v1 ok Dockerfile"
    "v2 v2 ok Dockerfile"
    "v3-unhealthy v3-unhealthy unhealthy Dockerfile"
    "degrade degrade degrade Dockerfile"
    "crashloop crashloop crash Dockerfile"
    "exits exits exits Dockerfile"
    "slow slow slow Dockerfile"
)
base=$(docker image inspect -f '{{.Id}}' relgate-test/busybox:1)
for v in "${variants[@]}"; do
    read -r tag version mode dockerfile <<<"$v"
    hash=$(cat "$HERE/$dockerfile" "$HERE/app.sh" <(echo "$base $tag $version $mode") | sha256sum | cut -c1-64)
    have=$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "relgate-test/app:$tag" 2>/dev/null || true)
    [[ $have == "$hash" ]] && continue
    echo "building relgate-test/app:$tag (mode $mode)"
    if ! out=$(docker build -q --pull=false -f "$HERE/$dockerfile" --label "$LABEL=$hash" \
        --build-arg "VERSION=$version" --build-arg "MODE=$mode" -t "relgate-test/app:$tag" "$HERE" 2>&1); then
        echo "$out" >&2
        exit 1
    fi
done
