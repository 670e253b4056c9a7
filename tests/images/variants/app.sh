#!/bin/sh
# MODE: ok | unhealthy (health file never served) | degrade (healthy ~3 s, then unhealthy)
#       | crash (exits 1 after 1 s; with a restart policy: a crash loop) | exits (exits 3 at once)
#       | slow (starts serving after $SLOW_S seconds, default 4)
mkdir -p /www
echo "version $VERSION" > /www/index.html
echo ok > /www/health
echo "app $VERSION starting (mode $MODE)"
case "$MODE" in
    crash) sleep 1; echo "app $VERSION: fatal error, exiting"; exit 1 ;;
    exits) echo "app $VERSION: nothing to do"; exit 3 ;;
    slow) sleep "${SLOW_S:-4}" ;;
    unhealthy) rm -f /www/health ;;
    degrade) (sleep 3; rm -f /www/health; echo "app $VERSION: lost its database") & ;;
esac
exec httpd -f -p 8080 -h /www
