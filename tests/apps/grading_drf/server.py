"""Start the grading DRF app under gunicorn on 127.0.0.1 (an OS-chosen port), seed it, stop it.

Used by the smoke tests' session fixture and by bench/smoke_bench.py. Everything runs in
subprocesses (``manage.py``, ``gunicorn``) with this directory as the working directory, as a
deployment would: the test process never imports Django.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["APP_DIR", "GradingApp"]

APP_DIR = Path(__file__).resolve().parent
_LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")


class GradingApp:
    """One SQLite database and one gunicorn master (1 worker, 4 threads)."""

    def __init__(self, workdir: Path, *, password: str, version: str = "v1.0.0-drf") -> None:
        self.workdir = workdir
        self.password = password
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "GRADING_DB": str(workdir / "grading.sqlite3"),
            "GRADING_VERSION": version,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "gunicorn.log"
        self.database = workdir / "grading.sqlite3"
        self.snapshot = workdir / "seeded.sqlite3"

    def manage(self, *argv: str) -> str:
        proc = subprocess.run(
            [sys.executable, "manage.py", *argv],
            cwd=APP_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(argv)} failed:\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def seed(self, *, ready: int = 3) -> None:
        self.manage("seed_e2e_data", "--ready", str(ready), "--password", self.password)

    def reset(self) -> None:
        """Back to the freshly seeded database, in milliseconds (a ``manage.py`` run takes
        seconds on a busy machine). Django closes its connection after every request
        (``CONN_MAX_AGE = 0``), so no connection holds the file between requests."""
        shutil.copyfile(self.snapshot, self.database)

    def start(self, *, login_rate: str | None = None) -> GradingApp:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--run-syncdb", "--verbosity", "0")
        self.seed()
        shutil.copyfile(self.database, self.snapshot)
        env = dict(self.env)
        if login_rate:
            env["GRADING_LOGIN_RATE"] = login_rate
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--bind",
                    "127.0.0.1:0",
                    "--workers",
                    "1",
                    "--threads",
                    "4",
                    "--worker-class",
                    "gthread",
                    "--graceful-timeout",
                    "5",
                    "project.wsgi:application",
                ],
                cwd=APP_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = self._wait_listening(time.monotonic() + 60)
        return self

    def _wait_listening(self, deadline: float) -> str:
        assert self.proc is not None
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            found = _LISTENING.search(text)
            # The master listens before the worker boots: wait for the worker too.
            if found and "Booting worker" in text:
                return found.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{text}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("gunicorn did not start within 60 s:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
