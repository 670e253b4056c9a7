#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, started by root on a loopback port.
#
#   scripts/pg-test-cluster.sh start DIR PORT   initdb (if DIR/data is new) + start; prints the URL
#   scripts/pg-test-cluster.sh stop  DIR        fast shutdown (DIR stays; rm -rf it yourself)
#   scripts/pg-test-cluster.sh status DIR       exit 0 when running
#
# Then: psql "postgresql://postgres@127.0.0.1:PORT/postgres" -c 'select 1'   (trust auth, no password)
#
# Facts behind it (Debian 12, PostgreSQL 15 from Debian's postgresql package):
# * The server binaries are /usr/lib/postgresql/<ver>/bin/{initdb,pg_ctl,postgres}; they are not on
#   PATH. (On this machine image /usr/local/bin/{initdb,pg_ctl,postgres} are symlinks to the 15 ones,
#   but `apt-get install postgresql` does not make them, so don't count on them.) Override with
#   PG_BINDIR. Client programs (psql, pg_dump, pg_restore, ...) are on PATH via /usr/bin wrappers.
# * postgres refuses to run as root ('"root" execution of the PostgreSQL server is not permitted'),
#   and initdb too. So everything server-side runs as the `postgres` system user (the package creates
#   it) through `runuser -u postgres --` (util-linux; no PAM/password, works for root without a tty).
# * That user must be able to reach DIR: every parent directory needs o+x. /tmp is fine
#   (mktemp -d /tmp/x.XXXX, then this script chowns DIR); pytest's tmp_path is NOT
#   (/tmp/pytest-of-root is mode 0700): use tempfile.mkdtemp() or similar.
# * The socket goes into DIR (-k), the server listens on 127.0.0.1 only, fsync is off (throwaway).
# * Debian's own cluster (pg_lsclusters: 15/main, port 5432) is left alone and stays down.
set -euo pipefail

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "pg-test-cluster: $*" >&2; exit 1; }

(($# >= 2)) || usage
cmd=$1 dir=$2 port=${3:-}
PG_BINDIR=${PG_BINDIR:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
[[ -x $PG_BINDIR/pg_ctl ]] || die "no PostgreSQL server binaries (PG_BINDIR=$PG_BINDIR); run scripts/install-system-tools.sh"
id -u postgres >/dev/null 2>&1 || die "no 'postgres' user"

as_pg() { (cd / && runuser -u postgres -- "$@"); }
data=$dir/data

case $cmd in
    start)
        [[ $port =~ ^[0-9]+$ ]] || usage
        mkdir -p "$dir"
        dir=$(cd "$dir" && pwd) data=$dir/data
        chown postgres: "$dir"
        as_pg test -w "$dir" || die "user postgres cannot write $dir (a parent directory without o+x? e.g. /tmp/pytest-of-root is 0700)"
        if [[ ! -s $data/PG_VERSION ]]; then
            as_pg "$PG_BINDIR/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
                || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
        fi
        as_pg "$PG_BINDIR/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null || { tail -n 20 "$dir/server.log" >&2 || true; die "pg_ctl start failed"; }
        echo "postgresql://postgres@127.0.0.1:$port/postgres"
        ;;
    stop)
        [[ -d $data ]] || die "no cluster in $dir"
        as_pg "$PG_BINDIR/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
        ;;
    status)
        [[ -d $data ]] || exit 3
        as_pg "$PG_BINDIR/pg_ctl" -D "$data" status >/dev/null
        ;;
    *) usage ;;
esac
