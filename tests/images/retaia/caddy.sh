#!/bin/sh
# caddy: the front on :8080; /api/ is proxied to core (see proxy.sh).
echo "caddy (stand-in) listening on :8080, /api/ -> ${CORE_HOST:-core}:8080"
exec nc -ll -p 8080 -e /opt/retaia/proxy.sh
