"""A real OCI distribution registry on 127.0.0.1, for tests where pulls and digests must be real.

``/usr/local/bin/registry`` is CNCF distribution v3 (``go install
github.com/distribution/distribution/v3/cmd/registry@v3.1.2``, done by
scripts/install-system-tools.sh). :func:`start_registry` runs it on a free loopback port with a
throwaway storage directory and waits until ``GET /v2/`` answers. The shared Docker Engine treats
registries on 127.0.0.0/8 as insecure by default, so ``docker push 127.0.0.1:<port>/name:tag`` works
over plain HTTP with no daemon flag.

Use the session fixture ``registry`` (declared in tests/conftest.py) rather than starting your own:
one process serves every test, each test pushing images under names of its own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REGISTRY_BIN", "Registry", "push", "start_registry"]

REGISTRY_BIN = os.environ.get("RELGATE_REGISTRY_BIN", "/usr/local/bin/registry")


@dataclass
class Registry:
    """A running registry: ``host`` is what goes in image references (``127.0.0.1:<port>``)."""

    host: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def ref(self, name: str, tag: str) -> str:
        return f"{self.host}/{name}:{tag}"

    def manifest_digest(self, name: str, tag: str) -> str:
        """The registry's own digest of ``name:tag`` (Docker-Content-Digest), asked over HTTP."""
        request = urllib.request.Request(
            f"http://{self.host}/v2/{name}/manifests/{tag}",
            method="HEAD",
            headers={
                "Accept": ", ".join(
                    [
                        "application/vnd.oci.image.index.v1+json",
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.list.v2+json",
                        "application/vnd.docker.distribution.manifest.v2+json",
                    ]
                )
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.headers["Docker-Content-Digest"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
"""


def start_registry(root: Path, *, binary: str = REGISTRY_BIN, wait_s: float = 30) -> Registry:
    """Start a registry storing under ``root``; retry on another port if the first was taken."""
    last = ""
    for _ in range(3):
        port = _free_port()
        root.mkdir(parents=True, exist_ok=True)
        config = root / "config.yml"
        config.write_text(
            _CONFIG.format(root=root / "data", port=port, secret=secrets.token_hex(16))
        )
        log = root / "registry.log"
        # No tracing exporter: the registry must not try to send anything anywhere.
        env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "true"}
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT, env=env
            )
        registry = Registry(f"127.0.0.1:{port}", root, process, log)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and process.poll() is None:
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=2) as r,
            ):
                if r.status == 200:
                    return registry
            time.sleep(0.1)
        last = log.read_text(errors="replace")[-2000:]
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    raise RuntimeError(f"the registry did not start: {last}")


def push(registry: Registry, local: str, name: str, tag: str, *, keep_tag: bool = False) -> str:
    """Push the local image ``local`` as ``<registry>/name:tag``; return the full reference.

    The registry tag is removed from the engine afterwards (unless ``keep_tag``), so relgate's
    ``compose pull`` has to ask the registry for it: the pull, and the RepoDigests it records, are
    real. The image's layers stay, so the pull is cheap.
    """
    ref = registry.ref(name, tag)
    for argv in (["docker", "tag", local, ref], ["docker", "push", "--quiet", ref]):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    if not keep_tag:
        subprocess.run(["docker", "rmi", ref], capture_output=True, check=False)
    return ref
