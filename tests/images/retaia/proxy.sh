#!/bin/sh
# One HTTP/1.0 exchange on stdin/stdout (run by `nc -ll -e`): /api/* is fetched from core, the rest
# answers the front's own health. Debian's busybox httpd has no reverse-proxy support, hence this.
# Static busybox's wget crashes on anything but loopback here (glibc NSS cannot load in a FROM scratch
# image), so the upstream is asked with nc, and its name resolved with busybox's own nslookup.
read -r method path proto
while read -r line; do line=$(echo "$line" | tr -d '\r'); [ -z "$line" ] && break; done
status="200 OK" body="caddy ok"
case "$path" in
    /api/*)
        core=$(nslookup "${CORE_HOST:-core}" 2>/dev/null | awk '/^Address: / {print $2; exit}')
        reply=""
        [ -n "$core" ] && reply=$(printf 'GET %s HTTP/1.0\r\n\r\n' "$path" | nc -w 5 "$core" 8080 2>/dev/null)
        code=$(printf '%s\n' "$reply" | head -n 1 | awk '{print $2}')
        if [ "$code" = 200 ]; then
            body=$(printf '%s\n' "$reply" | tr -d '\r' | awk 'body {print} /^$/ {body=1}')
        else
            status="502 Bad Gateway" body='{"status":"error","reason":"core unreachable"}'
        fi
        ;;
esac
printf 'HTTP/1.0 %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s\n' \
    "$status" "$((${#body} + 1))" "$body"
