#!/bin/sh
# core: the API (busybox httpd) serving /api/v1/health with its version.
mkdir -p /www/api/v1
printf '{"status":"ok","service":"core","version":"%s"}\n' "$VERSION" >/www/api/v1/health
echo "core $VERSION starting (mode $MODE, migrations: $MIGRATIONS)"
exec httpd -f -p 8080 -h /www
