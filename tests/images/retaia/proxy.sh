#!/bin/sh
# One HTTP/1.0 exchange on stdin/stdout (run by `nc -ll -e`): /api/* is fetched from core, the rest
# answers the front's own health. Debian's busybox httpd has no reverse-proxy support, hence this.
read -r method path proto
while read -r line; do line=$(echo "$line" | tr -d '\r'); [ -z "$line" ] && break; done
case "$path" in
    /api/*)
        if body=$(wget -q -T 5 -O - "http://${CORE_HOST:-core}:8080$path" 2>/dev/null); then
            status="200 OK"
        else
            status="502 Bad Gateway" body='{"status":"error","reason":"core unreachable"}'
        fi
        ;;
    *) status="200 OK" body="caddy ok" ;;
esac
printf 'HTTP/1.0 %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s\n' \
    "$status" "$((${#body} + 1))" "$body"
