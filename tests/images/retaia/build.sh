#!/usr/bin/env bash
# Build the stand-in of the media-ingest runbook's stack (tests/images/retaia/) from
# relgate-test/busybox:1 (tests/images/build.sh makes it). Nothing is pulled.
#
#   relgate-rb2/core:v1.0.0            passes; ships migrations 0001 0002 (ingest-cron runs this image too)
#   relgate-rb2/core:v1.0.1            passes; same migrations (a second good release)
#   relgate-rb2/core:v1.1.0-noready    adds migration 0003, then app:ops:readiness-check fails
#   relgate-rb2/core:v1.1.0-nopoll     no new migration; ingest-cron starts but never polls
#   relgate-rb2/core:v1.1.0-badmig     adds migration 0003, which fails
#   relgate-rb2/ui:v1.0.0, :v1.0.1     the UI
#   relgate-rb2/caddy:1, relgate-rb2/db:1   the front (proxies /api/ to core) and the "database"
#
# Each image carries a hash of its inputs, so a re-run only builds what changed. Tests push the images
# they need to a real registry on 127.0.0.1 (tests/_registry.py) and let relgate pull them by tag.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export DOCKER_BUILDKIT=0
LABEL=org.relgate.test-retaia.hash
images=(
    "core:v1.0.0 core v1.0.0 ok 0001,0002"
    "core:v1.0.1 core v1.0.1 ok 0001,0002"
    "core:v1.1.0-noready core v1.1.0-noready noready 0001,0002,0003"
    "core:v1.1.0-nopoll core v1.1.0-nopoll nopoll 0001,0002"
    "core:v1.1.0-badmig core v1.1.0-badmig badmigration 0001,0002,0003"
    "ui:v1.0.0 ui v1.0.0 ok -"
    "ui:v1.0.1 ui v1.0.1 ok -"
    "caddy:1 caddy 1 ok -"
    "db:1 db 1 ok -"
)
base=$(docker image inspect -f '{{.Id}}' relgate-test/busybox:1)
# The inputs of one role (the other roles' scripts ride along unused; they don't force a rebuild).
inputs() {
    local files=(Dockerfile)
    case $1 in
        core) files+=(console php core.sh ingest.sh) ;;
        caddy) files+=(caddy.sh proxy.sh) ;;
        *) files+=("$1.sh") ;;
    esac
    (cd "$HERE" && cat "${files[@]}" | sha256sum | cut -c1-64)
}
for spec in "${images[@]}"; do
    read -r tag role version mode migrations <<<"$spec"
    migrations=${migrations//,/ }
    [[ $migrations == - ]] && migrations=""
    hash=$(echo "$base $(inputs "$role") $tag $role $version $mode $migrations" | sha256sum | cut -c1-64)
    image=relgate-rb2/$tag
    have=$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$image" 2>/dev/null || true)
    [[ $have == "$hash" ]] && continue
    echo "building $image ($role, mode $mode)"
    if ! out=$(docker build -q --pull=false --label "$LABEL=$hash" --build-arg "ROLE=$role" \
        --build-arg "VERSION=$version" --build-arg "MODE=$mode" --build-arg "MIGRATIONS=$migrations" \
        -t "$image" "$HERE" 2>&1); then
        echo "$out" >&2
        exit 1
    fi
done
