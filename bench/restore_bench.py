"""Full-rollback restore: relgate's fresh-database restore vs an in-place ``pg_restore --clean``.

Measures, on a throwaway PostgreSQL cluster (scripts/pg-test-cluster.sh), the time to restore a
custom-format backup of N rows after a "v2 migration" (a new table + updated rows):

* in place: ``pg_restore --clean --if-exists --single-transaction`` into the live database — what a
  hand-written runbook does; the v2 table SURVIVES (reported);
* relgate: :func:`relgate.database.restore_fresh` (scratch database, restore, swap, drop old).

Prints the median of R rounds and the ratio relgate / in-place. Run on demand:

    .venv/bin/python bench/restore_bench.py [ROWS] [ROUNDS]
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relgate import database as db  # noqa: E402
from relgate import proc  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def psql(port: int, database: str, sql: str) -> str:
    return subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port),
         "-U", "postgres", "-d", database, "-c", sql],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    folder = tempfile.mkdtemp(prefix="relgate-restore-bench-", dir="/tmp")
    os.chmod(folder, 0o755)
    port = free_port()
    script = ROOT / "scripts" / "pg-test-cluster.sh"
    subprocess.run(
        ["bash", str(script), "start", folder, str(port)], check=True, capture_output=True
    )
    try:
        psql(port, "postgres", "CREATE DATABASE app")
        psql(port, "app", f"CREATE TABLE copies AS SELECT g AS id, 'READY'::text AS status, "
                          f"md5(g::text) AS body FROM generate_series(1, {rows}) g; "
                          "ALTER TABLE copies ADD PRIMARY KEY (id)")  # fmt: skip
        conn = db.Connection("app", env={**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(port),
                                         "PGUSER": "postgres"}, label="app")  # fmt: skip
        backup = Path(folder) / "v1.dump"
        record = db.take_backup(conn, backup, fmt="custom", kind="manual", project="bench",
                                environment="bench", app_version="v1", run_id=None)  # fmt: skip
        migrate = "CREATE TABLE IF NOT EXISTS v2_table (id int); UPDATE copies SET status = 'V2' WHERE id % 10 = 0"
        timings: dict[str, list[float]] = {
            "in place (pg_restore --clean)": [],
            "relgate (fresh + swap)": [],
        }
        survived = False
        for _ in range(rounds):
            psql(port, "app", migrate)
            t0 = time.perf_counter()
            with open(backup, "rb") as fh:
                done = proc.run(conn.argv("pg_restore", "--clean", "--if-exists",
                                                "--single-transaction", "--exit-on-error"),
                                      env=conn.env, stdin=fh)  # fmt: skip
            timings["in place (pg_restore --clean)"].append(time.perf_counter() - t0)
            assert done.ok, done.err
            survived = psql(port, "app", "SELECT to_regclass('public.v2_table')") != ""
            psql(port, "app", "DROP TABLE IF EXISTS v2_table")
            psql(port, "app", migrate)
            t0 = time.perf_counter()
            db.restore_fresh(conn, backup, "custom", safety_hint="-")
            timings["relgate (fresh + swap)"].append(time.perf_counter() - t0)
            assert psql(port, "app", "SELECT to_regclass('public.v2_table')") == ""
        print(
            f"restore of {rows} rows ({record.size / 1e6:.1f} MB custom dump), median of {rounds}:"
        )
        medians = {name: statistics.median(values) for name, values in timings.items()}
        for name, value in medians.items():
            print(f"  {name:32s} {value:7.2f} s")
        ratio = medians["relgate (fresh + swap)"] / medians["in place (pg_restore --clean)"]
        print(f"  ratio relgate / in place: {ratio:.2f}")
        print(f"  v2 table survives the in-place restore: {survived}; relgate's: False")
    finally:
        subprocess.run(["bash", str(script), "stop", folder], check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
