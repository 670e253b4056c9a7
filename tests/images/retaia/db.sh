#!/bin/sh
# db: holds the "database" (a volume at $DB_DIR) and says when it is ready.
DB=${DB_DIR:-/var/lib/db}
mkdir -p "$DB"
touch "$DB/migrations"
touch "$DB/ready"
echo "db ready ($DB)"
while :; do sleep 3600; done
