#!/bin/sh
# ingest-cron: polls the inbox every $POLL_S seconds and says so; MODE=nopoll starts but never polls.
echo "ingest-cron $VERSION started"
if [ "$MODE" = nopoll ]; then
    echo "ingest-cron: scheduler disabled (missing RETAIA_INGEST_SCHEDULE)"
    while :; do sleep 3600; done
fi
while :; do
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) ingest poll: scanned /srv/inbox, 0 new assets"
    sleep "${POLL_S:-1}"
done
