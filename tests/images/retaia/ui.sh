#!/bin/sh
mkdir -p /www
echo "retaia ui $VERSION" >/www/index.html
echo ok >/www/health
echo "ui $VERSION starting"
exec httpd -f -p 8080 -h /www
