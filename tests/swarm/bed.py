"""A real multi-node Docker Swarm on one machine, built and torn down by the tests themselves.

Each node is its own ``dockerd`` (own data-root, exec-root, pid file, socket, ``--bip``, address
pools, vfs storage, cgroup parent) running in its **own network namespace** and its own UTS namespace
(distinct hostnames). The namespaces hang off a bridge in a *hub* namespace; the root namespace only
gets one veth leg (``rgswhost0``) so the tests can reach the nodes' host-mode ports. Nothing here
touches the shared Docker daemon's swarm state or its iptables:

* a second dockerd in the root namespace would rewrite the shared daemon's DOCKER chains, and a bridge
  in the root namespace would be eaten by its FORWARD DROP policy (br_netfilter is on) — hence the hub;
* ``nsenter --net=`` and never ``ip netns exec``, which remounts ``/sys`` and hides the cgroup mounts
  dockerd needs ("Devices cgroup isn't mounted");
* no default route anywhere: nothing a node or a container sends can leave the machine.

Names and subnets are fixed (``rgsw-*``, 10.241.0.0/16 and two pools next to it), so one bed at a time:
:class:`SwarmBed` holds ``flock /tmp/relgate-swarm-bed.lock`` for its whole life, and :meth:`cleanup`
removes whatever a killed run left behind before building (idempotent; also the finalizer).

Topology::

    root netns: rgswhost0 10.241.0.1/24 ──veth──┐
    netns rgsw-hub: bridge rgswbr0 10.241.0.2/24 (the registry listens on :5000 here)
    netns rgsw-nN:  eth0 10.241.0.1N/24 ──veth──┘   dockerd on /tmp/relgate-swarm/dN.sock

The kernel here has no IPVS: the ingress routing mesh and VIP load balancing do not work, so test
stacks publish ``mode: host`` ports and use ``endpoint_mode: dnsrr``.

(Over 500 lines on purpose: network, nodes, registry, swarm and the idempotent teardown are one
life cycle; split apart, the teardown would no longer sit next to what it undoes.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BedError", "SwarmBed", "missing_capabilities"]

ROOT = Path("/tmp/relgate-swarm")
LOCK = Path("/tmp/relgate-swarm-bed.lock")
NET = "10.241.0"
HUB_IP = f"{NET}.2"
HOST_IP = f"{NET}.1"
REGISTRY_ADDR = f"{HUB_IP}:5000"
HUB = "rgsw-hub"
HOST_LEG = "rgswhost0"
BRIDGE = "rgswbr0"
LOCAL_POOL = "10.242.0.0/16"
SWARM_POOL = "10.243.0.0/16"
REGISTRY_BIN = Path("/usr/local/bin/registry")
REGISTRY_BUILD_LOCK = Path("/tmp/relgate-registry-build.lock")


class BedError(RuntimeError):
    """The test bed could not be built (the message says which step and shows the log tail)."""


def missing_capabilities(*, registry: bool = False) -> list[str]:
    """What this machine lacks to build a bed (empty: it can)."""
    missing = [
        f"{p} not found"
        for p in ("ip", "nsenter", "unshare", "dockerd", "docker")
        if shutil.which(p) is None
    ]
    if os.geteuid() != 0:
        missing.append("not root (network namespaces and dockerd need it)")
    if registry and not _registry_ready():
        missing.append(f"{REGISTRY_BIN} missing (scripts/install-system-tools.sh builds it)")
    return missing


def _registry_ready() -> bool:
    """The registry binary, waiting for a build in progress (under its flock) rather than racing."""
    if REGISTRY_BIN.exists():
        return True
    if REGISTRY_BUILD_LOCK.exists():
        with open(REGISTRY_BUILD_LOCK) as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)  # released by the builder when it is done
            fcntl.flock(fh, fcntl.LOCK_UN)
    return REGISTRY_BIN.exists()


def _run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    input_file: Path | None = None,
) -> str:
    stdin = open(input_file, "rb") if input_file else subprocess.DEVNULL  # noqa: SIM115
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            stdin=stdin,
        )
    finally:
        if input_file:
            stdin.close()  # type: ignore[union-attr]
    if check and done.returncode != 0:
        raise BedError(f"{shlex.join(argv)} exited {done.returncode}: {done.stderr[-800:]}")
    return done.stdout


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _stop_pid(pid: int | None, *, grace_s: float = 15) -> None:
    if pid is None or not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + grace_s
    while time.monotonic() < end and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class Node:
    index: int
    ip: str
    dir: Path
    node_id: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"rgsw-n{self.index}"

    @property
    def host(self) -> str:
        return f"unix://{ROOT}/d{self.index}.sock"

    @property
    def netns(self) -> str:
        return f"/var/run/netns/{self.name}"

    @property
    def pidfile(self) -> Path:
        return self.dir / "dockerd.pid"


@dataclass
class SwarmBed:
    """``nodes`` dockerds joined into one swarm (node 1 the manager), optionally with a registry."""

    nodes_wanted: int = 1
    registry: bool = False
    images: tuple[str, ...] = ()
    nodes: list[Node] = field(default_factory=list)
    _lock: int | None = None
    _registry: subprocess.Popen[bytes] | None = None

    # -- the public surface tests use ----------------------------------------------------------
    @property
    def manager(self) -> Node:
        return self.nodes[0]

    @property
    def registry_addr(self) -> str:
        return REGISTRY_ADDR

    def docker(self, node: Node | int, *args: str, timeout: float = 120, check: bool = True) -> str:
        """Run the docker CLI against one node (never the shared daemon)."""
        n = self.nodes[node - 1] if isinstance(node, int) else node
        return _run(["docker", "-H", n.host, *args], timeout=timeout, check=check)

    def env(self) -> dict[str, str]:
        """What a relgate process needs to talk to this swarm's manager."""
        return {"DOCKER_HOST": self.manager.host}

    # -- life cycle ---------------------------------------------------------------------------
    def __enter__(self) -> SwarmBed:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        LOCK.touch()
        self._lock = os.open(LOCK, os.O_RDWR)
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # one bed at a time: the names are fixed
        try:
            self.cleanup()
            self._network()
            for i in range(1, self.nodes_wanted + 1):
                self.start_node(self._new_node(i))
            for node in self.nodes:
                self._wait_node(node)
            if self.registry:
                self._start_registry()
            self._load_images()
            self._form_swarm()
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        try:
            self.cleanup()
        finally:
            if self._lock is not None:
                os.close(self._lock)  # releases the flock
                self._lock = None

    # -- network -----------------------------------------------------------------------------
    def _network(self) -> None:
        ns = ["nsenter", f"--net=/var/run/netns/{HUB}"]
        _run(["ip", "netns", "add", HUB])
        _run(["ip", "-n", HUB, "link", "set", "lo", "up"])
        _run(["ip", "-n", HUB, "link", "add", BRIDGE, "type", "bridge"])
        _run(["ip", "-n", HUB, "addr", "add", f"{HUB_IP}/24", "dev", BRIDGE])
        _run(["ip", "-n", HUB, "link", "set", BRIDGE, "up"])
        # Bridged frames in the hub must not go through iptables (br_netfilter is on machine-wide).
        _run(
            [
                *ns,
                "sysctl",
                "-qw",
                "net.bridge.bridge-nf-call-iptables=0",
                "net.bridge.bridge-nf-call-ip6tables=0",
            ],
            check=False,
        )
        _run(
            ["ip", "link", "add", HOST_LEG, "type", "veth", "peer", "name", "h-host", "netns", HUB]
        )
        _run(["ip", "addr", "add", f"{HOST_IP}/24", "dev", HOST_LEG])
        _run(["ip", "link", "set", HOST_LEG, "up"])
        _run(["ip", "-n", HUB, "link", "set", "h-host", "master", BRIDGE, "up"])
        for i in range(1, self.nodes_wanted + 1):
            name = f"rgsw-n{i}"
            _run(["ip", "netns", "add", name])
            _run(["ip", "-n", name, "link", "set", "lo", "up"])
            _run(
                [
                    "ip",
                    "link",
                    "add",
                    f"h-n{i}",
                    "netns",
                    HUB,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    name,
                ]
            )
            _run(["ip", "-n", HUB, "link", "set", f"h-n{i}", "master", BRIDGE, "up"])
            _run(["ip", "-n", name, "addr", "add", f"{NET}.1{i}/24", "dev", "eth0"])
            _run(["ip", "-n", name, "link", "set", "eth0", "up"])

    # -- nodes -------------------------------------------------------------------------------
    def _new_node(self, i: int) -> Node:
        node = Node(i, f"{NET}.1{i}", ROOT / f"n{i}")
        (node.dir / "data").mkdir(parents=True, exist_ok=True)
        (node.dir / "exec").mkdir(parents=True, exist_ok=True)
        (node.dir / "daemon.json").write_text("{}\n")  # never read /etc/docker/daemon.json
        self.nodes.append(node)
        return node

    def _dockerd_args(self, node: Node) -> list[str]:
        args = [
            "--config-file",
            str(node.dir / "daemon.json"),
            "--data-root",
            str(node.dir / "data"),
            "--exec-root",
            str(node.dir / "exec"),
            "--pidfile",
            str(node.pidfile),
            "-H",
            node.host,
            "--storage-driver",
            "vfs",
            "--bip",
            f"10.241.10{node.index}.1/24",
            "--default-address-pool",
            f"base={LOCAL_POOL},size=24",
            "--cgroup-parent",
            f"/relgate-swarm-n{node.index}",
        ]
        if self.registry:
            args += ["--insecure-registry", REGISTRY_ADDR]
        return args

    def start_node(self, node: Node | int) -> None:
        """Start (or restart, after :meth:`stop_node`) one node's dockerd; returns at once."""
        n = self.nodes[node - 1] if isinstance(node, int) else node
        # unshare --uts: its own hostname (what `docker node ls` shows); nsenter --net: its netns.
        inner = f'hostname {n.name} && exec nsenter --net={n.netns} dockerd "$@"'
        argv = ["unshare", "--uts", "--", "sh", "-c", inner, "dockerd", *self._dockerd_args(n)]
        log = open(n.dir / "dockerd.log", "ab")  # noqa: SIM115 - the child keeps it
        n.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def wait_node(self, node: Node | int) -> None:
        self._wait_node(self.nodes[node - 1] if isinstance(node, int) else node)

    def _wait_node(self, node: Node, timeout_s: float = 60) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            done = subprocess.run(
                ["docker", "-H", node.host, "info", "-f", "{{.ID}}"],
                capture_output=True,
                timeout=20,
                check=False,
            )
            if done.returncode == 0:
                return
            if node.process is not None and node.process.poll() is not None:
                break
            time.sleep(0.2)
        tail = (node.dir / "dockerd.log").read_text(errors="replace")[-2000:]
        raise BedError(f"dockerd {node.name} did not answer on {node.host}:\n{tail}")

    def stop_node(self, node: Node | int) -> None:
        """Stop one node's dockerd (SIGTERM, as a machine going away would): the node loss."""
        n = self.nodes[node - 1] if isinstance(node, int) else node
        _stop_pid(_read_pid(n.pidfile))
        if n.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                n.process.wait(timeout=15)

    # -- registry ----------------------------------------------------------------------------
    def _start_registry(self) -> None:
        if not _registry_ready():
            raise BedError(f"{REGISTRY_BIN} missing: run scripts/install-system-tools.sh")
        rdir = ROOT / "registry"
        (rdir / "data").mkdir(parents=True, exist_ok=True)
        (rdir / "config.yml").write_text(
            "version: 0.1\nlog: {level: warn}\n"
            f"storage:\n  filesystem: {{rootdirectory: {rdir / 'data'}}}\n"
            f'http: {{addr: "{REGISTRY_ADDR}"}}\n'
        )
        log = open(rdir / "registry.log", "ab")  # noqa: SIM115
        self._registry = subprocess.Popen(
            [
                "nsenter",
                f"--net=/var/run/netns/{HUB}",
                str(REGISTRY_BIN),
                "serve",
                str(rdir / "config.yml"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        (rdir / "registry.pid").write_text(str(self._registry.pid))
        import httpx

        end = time.monotonic() + 20
        while time.monotonic() < end:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{REGISTRY_ADDR}/v2/", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise BedError(f"registry not answering on {REGISTRY_ADDR}")

    def push(self, image: str) -> str:
        """Tag ``image`` as <registry>/<image> on the manager, push it; return the new name."""
        remote = f"{REGISTRY_ADDR}/{image}"
        self.docker(1, "tag", image, remote)
        self.docker(1, "push", "-q", remote, timeout=120)
        return remote

    # -- images: `docker save` from the shared daemon (read only), `docker load` into each node --
    def _load_images(self) -> None:
        if not self.images:
            return
        tar = ROOT / "images.tar"
        _run(["docker", "save", "-o", str(tar), *self.images], timeout=300)
        loads = [
            subprocess.Popen(
                ["docker", "-H", n.host, "load", "-q", "-i", str(tar)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for n in self.nodes
        ]
        for n, p in zip(self.nodes, loads, strict=True):
            _, err = p.communicate(timeout=300)
            if p.returncode != 0:
                raise BedError(f"docker load into {n.name} failed: {err.decode()[-500:]}")

    # -- the swarm ---------------------------------------------------------------------------
    def _form_swarm(self) -> None:
        m = self.manager
        self.docker(
            m,
            "swarm",
            "init",
            "--advertise-addr",
            m.ip,
            "--listen-addr",
            f"{m.ip}:2377",
            "--default-addr-pool",
            SWARM_POOL,
        )
        token = self.docker(m, "swarm", "join-token", "-q", "worker").strip()
        for n in self.nodes[1:]:
            self.docker(
                n,
                "swarm",
                "join",
                "--token",
                token,
                "--advertise-addr",
                n.ip,
                "--listen-addr",
                f"{n.ip}:2377",
                f"{m.ip}:2377",
            )
        for n in self.nodes:
            # all dockerds share /etc/docker/key.json, so the engine ID is the same everywhere:
            # Swarm.NodeID is the one that tells nodes apart.
            n.node_id = self.docker(n, "info", "-f", "{{.Swarm.NodeID}}").strip()
            self.docker(m, "node", "update", "--label-add", f"relgate.node=n{n.index}", n.node_id)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            states = self.docker(m, "node", "ls", "--format", "{{.Status}}").split()
            if len(states) == len(self.nodes) and all(s == "Ready" for s in states):
                return
            time.sleep(0.2)
        raise BedError(f"swarm nodes not all Ready: {states}")

    def node_state(self, node: Node | int) -> str:
        n = self.nodes[node - 1] if isinstance(node, int) else node
        return self.docker(1, "node", "inspect", "-f", "{{.Status.State}}", n.node_id).strip()

    # -- teardown (idempotent: also removes what a killed run left) -------------------------
    def cleanup(self) -> None:
        for sock in sorted(ROOT.glob("d*.sock")):
            host = f"unix://{sock}"
            _run(["docker", "-H", host, "swarm", "leave", "--force"], check=False, timeout=20)
            ids = _run(["docker", "-H", host, "ps", "-aq"], check=False, timeout=10).split()
            if ids:
                _run(["docker", "-H", host, "rm", "-f", *ids], check=False, timeout=60)
        for d in sorted(ROOT.glob("n*")):
            _stop_pid(_read_pid(d / "dockerd.pid"))
            _stop_pid(_read_pid(d / "exec" / "containerd" / "containerd.pid"))
            for f in d.glob("exec/containerd/daemon/io.containerd.runtime.v2.task/moby/*/init.pid"):
                pid = _read_pid(f)
                if pid is not None and _alive(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        _stop_pid(_read_pid(ROOT / "registry" / "registry.pid"))
        for n in self.nodes:
            if n.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    n.process.wait(timeout=5)
        if self._registry is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._registry.wait(timeout=5)
        for mount in _mounts_under(ROOT):  # deepest first
            _run(["umount", "-l", mount], check=False)
        listed = _run(["ip", "netns", "list"], check=False).split("\n")
        for ns in (line.split()[0] for line in listed if line.strip()):
            if ns == HUB or ns.startswith("rgsw-n"):
                _run(["ip", "netns", "del", ns], check=False)
        if _run(["ip", "link", "show", HOST_LEG], check=False):
            _run(["ip", "link", "del", HOST_LEG], check=False)
        for cg in (
            *Path("/sys/fs/cgroup").glob("*/relgate-swarm-n*"),
            *Path("/sys/fs/cgroup").glob("relgate-swarm-n*"),
        ):
            for sub in sorted(cg.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if sub.is_dir():
                    with contextlib.suppress(OSError):
                        sub.rmdir()
            with contextlib.suppress(OSError):
                cg.rmdir()
        shutil.rmtree(ROOT, ignore_errors=True)
        self.nodes.clear()
        self._registry = None

    def leftovers(self) -> list[str]:
        """What :meth:`cleanup` should have removed and did not (empty when clean)."""
        left = []
        listed = _run(["ip", "netns", "list"], check=False)
        if any(line.startswith(("rgsw-",)) for line in listed.splitlines()):
            left.append("netns")
        if _run(["ip", "link", "show", HOST_LEG], check=False):
            left.append(HOST_LEG)
        if _mounts_under(ROOT):
            left.append("mounts")
        left += [f"pid {pid}" for pid in _our_daemons()]
        return left


def _mounts_under(root: Path) -> list[str]:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    found = [line.split()[4] for line in lines if len(line.split()) > 4]
    return sorted((m for m in found if m.startswith(f"{root}/")), reverse=True)


def _our_daemons() -> Iterator[int]:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if f"{ROOT}/".encode() in cmdline and _alive(int(proc.name)):
            yield int(proc.name)
