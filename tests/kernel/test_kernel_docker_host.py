"""A real Docker 20.10 (Debian's docker.io) seen by the host scope, and by ``scope --host``.

The fixture starts /usr/sbin/dockerd inside a network namespace and a mount namespace of its
own (``unshare --mount`` then ``nsenter --net``: ``ip netns exec`` would remount /sys and
dockerd would find no cgroups), on its own data root, exec root, pidfile and socket, with its
containers under the cgroup parent ``/dockerscope/<test>`` so the leak check sees them go.
docker0, Docker's chains and its containers' mounts exist only in those namespaces: to the
observer run inside them (``nsenter -t <dockerd> --net --mount``), they are the host. The
real host's network set-up is never touched.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockerscope.kernel.model import Owner, Snapshot
from dockerscope.kernel.setns import in_netns

pytestmark = pytest.mark.kernel

DOCKERD = "/usr/sbin/dockerd"
NEEDED = (DOCKERD, "containerd", "runc", "unshare", "nsenter")
ROOT = Path(__file__).resolve().parents[2]
CGROOT = Path("/sys/fs/cgroup")
HOST_PORT, CONTAINER_PORT = 18080, 8080
APPLETS = ("sh", "httpd", "sleep", "cat", "ls")


def _missing() -> list[str]:
    return [p for p in NEEDED if not (os.path.exists(p) or shutil.which(p))]


@dataclass
class RealDocker:
    """A running dockerd in namespaces of its own."""

    netns: str  # name under /run/netns
    pid: int  # dockerd's pid (its namespaces are the "host" here)
    socket: str
    cgroup_parent: str  # "dockerscope/<test>"
    data_root: Path
    image: str

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"

    def enter(self) -> list[str]:
        """A command prefix that runs inside dockerd's network and mount namespaces."""
        return ["nsenter", "-t", str(self.pid), "--net", "--mount"]

    def api(self):  # noqa: ANN201 - docker.APIClient, imported lazily
        import docker

        return docker.APIClient(base_url=f"unix://{self.socket}", timeout=60)


def _busybox_tar() -> bytes:
    """A root filesystem of /bin/busybox and a few applet links, for ``docker import``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "etc"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add("/bin/busybox", arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return buf.getvalue()


def _wait_for_api(sock: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import docker

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd exited {proc.returncode}: {log.read_text()[-2000:]}")
        if os.path.exists(sock):
            with contextlib.suppress(Exception):
                client = docker.APIClient(base_url=f"unix://{sock}", timeout=5)
                try:
                    if client.ping():
                        return
                finally:
                    client.close()
        time.sleep(0.2)
    raise RuntimeError(f"dockerd did not answer on {sock}: {log.read_text()[-2000:]}")


def _cgroup_tops(parent: str) -> list[Path]:
    if (CGROOT / "cgroup.controllers").exists():
        return [CGROOT / parent]
    return [p / parent for p in CGROOT.iterdir() if p.is_dir() and not p.is_symlink()]


def _kill_leftovers(markers: list[str], cgroup_parent: str) -> None:
    """Processes of ours that outlived dockerd: in our cgroups, or naming our exec root."""
    pids: set[int] = set()
    for top in _cgroup_tops(cgroup_parent):
        if top.is_dir():
            for procs in top.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(x) for x in procs.read_text().split())
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                cmd = (p / "cmdline").read_bytes().decode(errors="replace")
                if any(m in cmd for m in markers):
                    pids.add(int(p.name))
    pids.discard(os.getpid())
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _remove_cgroups(parent: str) -> None:
    for top in _cgroup_tops(parent):
        if not top.is_dir():
            continue
        subs = sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts))
        for d in [*subs, top]:
            for _ in range(50):  # a killed process leaves its cgroup a moment later
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


@pytest.fixture
def real_docker(tmp_path: Path, lab_name: str) -> Iterator[RealDocker]:
    """dockerd in its own netns + mount namespace; always stopped and cleaned up."""
    missing = _missing()
    if missing:
        pytest.skip(f"a real Docker is not installed here (missing {', '.join(missing)})")
    ns = f"{lab_name}d"
    cgroup_parent = f"dockerscope/{lab_name}"
    # exec root and socket in a short dir: containerd's sockets live under the exec root and
    # a unix socket path must stay under 108 bytes.
    run = Path(tempfile.mkdtemp(prefix=f"{lab_name}-", dir="/tmp"))
    data = tmp_path / "docker-data"
    sock = str(run / "docker.sock")
    log = tmp_path / "dockerd.log"
    proc: subprocess.Popen[bytes] | None = None
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "nsenter",
                    f"--net=/run/netns/{ns}",
                    DOCKERD,
                    "--data-root",
                    str(data),
                    "--exec-root",
                    str(run / "exec"),
                    "--pidfile",
                    str(run / "dockerd.pid"),
                    "-H",
                    f"unix://{sock}",
                    # Docker's defaults otherwise (userland proxy on, as Debian ships it)
                    "--iptables=true",
                    "--ip-masq=true",
                    f"--cgroup-parent=/{cgroup_parent}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_for_api(sock, proc, log)
        image = f"dsbusybox:{lab_name}"
        client = RealDocker(ns, proc.pid, sock, cgroup_parent, data, image).api()
        try:
            client.import_image_from_data(_busybox_tar(), repository="dsbusybox", tag=lab_name)
        finally:
            client.close()
        yield RealDocker(ns, proc.pid, sock, cgroup_parent, data, image)
    finally:
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(Exception):
                client = RealDocker(ns, proc.pid, sock, cgroup_parent, data, "").api()
                for c in client.containers(all=True):
                    client.remove_container(c["Id"], force=True)
                client.close()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _kill_leftovers([str(run)], cgroup_parent)
        _remove_cgroups(cgroup_parent)
        subprocess.run(["ip", "netns", "del", ns], check=False)
        # The mounts lived in dockerd's own mount namespace, gone with its last process.
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)


@dataclass
class Web:
    id: str
    ip: str
    gateway: str
    pid: int
    upperdir: str


def _run_web(dk: RealDocker) -> Web:
    """``docker run -d --name web -p 18080:8080 <busybox> httpd -f -p 8080``."""
    client = dk.api()
    try:
        c = client.create_container(
            dk.image,
            ["/bin/httpd", "-f", "-p", str(CONTAINER_PORT)],
            name="web",
            ports=[CONTAINER_PORT],
            host_config=client.create_host_config(port_bindings={CONTAINER_PORT: HOST_PORT}),
        )
        client.start(c["Id"])
        info = client.inspect_container(c["Id"])
    finally:
        client.close()
    net = info["NetworkSettings"]
    return Web(
        info["Id"],
        net["IPAddress"],
        net["Gateway"],
        info["State"]["Pid"],
        info["GraphDriver"]["Data"]["UpperDir"],
    )


def _connect_through_dnat(dk: RealDocker, web: Web) -> bytes:
    """From dockerd's netns (the "host") to docker0's address on the published port."""

    def once() -> bytes:
        with socket.create_connection((web.gateway, HOST_PORT), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return s.recv(200)

    deadline = time.monotonic() + 10
    while True:
        try:
            return in_netns(dk.netns_path, once)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # httpd not listening yet


SNAPSHOT = """
import json, sys
from dockerscope.kernel.observer import Observer, Scope
with Observer(Scope.host(docker_socket=sys.argv[1])) as obs:
    snap = obs.snapshot()
print(json.dumps(snap.to_json()))
"""


def _host_snapshot(dk: RealDocker, sock: str | None = None) -> Snapshot:
    """The observer's host scope, run where dockerd runs (asking ``sock``, else Docker's)."""
    out = subprocess.run(
        [*dk.enter(), sys.executable, "-c", SNAPSHOT, sock or dk.socket],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return Snapshot.from_json(json.loads(out.stdout))


def _run_on_network(dk: RealDocker, network: str, name: str) -> tuple[str, str]:
    """``docker network create <network>`` and a container on it: (network id, container id)."""
    client = dk.api()
    try:
        net = client.create_network(network, driver="bridge")
        c = client.create_container(
            dk.image,
            ["/bin/sleep", "600"],
            name=name,
            host_config=client.create_host_config(network_mode=network),
        )
        client.start(c["Id"])
    finally:
        client.close()
    return net["Id"], c["Id"]


def test_host_scope_shows_a_real_dockers_bridge_rules_container_and_flow(real_docker):
    dk = real_docker
    web = _run_web(dk)
    net_id, db_id = _run_on_network(dk, "appnet", "db")
    reply = _connect_through_dnat(dk, web)
    assert reply.startswith(b"HTTP/1."), reply
    snap = _host_snapshot(dk)
    me = Owner("container", "web", web.id)
    port = Owner("port", f"{HOST_PORT}/tcp -> web:{CONTAINER_PORT}", web.id)
    links = {lk.key: lk for lk in snap.links}

    # docker0 as brctl shows it, named after Docker's default network
    br = links["host/docker0"]
    assert br.kind == "bridge" and br.stp is False
    assert br.bridge_id == "8000." + br.mac.replace(":", "")
    assert br.owner is not None and (br.owner.kind, br.owner.name) == ("network", "bridge")
    assert [a.cidr for a in br.addresses if a.family == 4] == [f"{web.gateway}/16"]

    # the veth on docker0, its peer eth0 in the container's unnamed netns
    (veth,) = [lk for lk in snap.links if lk.netns == "host" and lk.master == "docker0"]
    assert veth.kind == "veth" and veth.owner == me
    eth0 = links[f"{veth.peer_netns}/eth0"]
    assert eth0.peer_netns == "host" and eth0.owner == me
    assert web.ip in [a.address for a in eth0.addresses]
    (ns,) = [n for n in snap.netns if n.label == veth.peer_netns]
    assert web.pid in ns.pids and ns.owner == me
    proc = next(p for p in snap.processes if p.pid == web.pid)
    assert proc.comm == "httpd" and proc.owner == me

    # Docker's chains and rules, with counters; each rule says who caused it
    chains = {(c.table, c.name) for c in snap.chains if c.netns == "host"}
    assert {("nat", "DOCKER"), ("filter", "DOCKER"), ("filter", "DOCKER-USER")} <= chains
    rules = [r for r in snap.rules if r.netns == "host"]
    (dnat,) = [r for r in rules if r.table == "nat" and "DNAT" in r.spec]
    assert f"--dport {HOST_PORT}" in dnat.spec
    assert f"--to-destination {web.ip}:{CONTAINER_PORT}" in dnat.spec
    assert dnat.chain == "DOCKER" and dnat.owner == port
    assert dnat.packets >= 1 and dnat.bytes > 0  # our connection's first packet
    accept = next(r for r in rules if r.table == "filter" and f"-d {web.ip}/32" in r.spec)
    assert accept.owner == port  # matches the container port, names the published one
    masq = next(r for r in rules if r.chain == "POSTROUTING" and "-s 172.17.0.0/16" in r.spec)
    assert masq.owner is not None and masq.owner.name == "bridge"
    user = next(r for r in rules if r.chain == "FORWARD" and r.spec == "-j DOCKER-USER")
    assert user.owner == Owner("docker", "dockerd")

    # its cgroup under Docker's (here: our) parent, with figures
    cg = next(c for c in snap.cgroups if c.path == f"/{dk.cgroup_parent}/{web.id}")
    assert cg.owner == me and (cg.pids_current or 0) >= 1 and (cg.memory_usage or 0) > 0

    # its overlay root in Docker's data root, named through the API (the dir is a layer id)
    mount = next(m for m in snap.mounts if m.upperdir == web.upperdir)
    assert mount.owner == me and mount.lowerdirs
    assert mount.upperdir.startswith(str(dk.data_root / "overlay2"))

    # the flow through the published port, destination rewritten on the way in
    flows = [f for f in snap.flows if f.netns == "host" and f.orig_dport == HOST_PORT]
    assert flows, [f for f in snap.flows if f.netns == "host"]
    flow = flows[0]
    assert flow.dnat and flow.orig_dst == web.gateway
    assert (flow.reply_src, flow.reply_sport) == (web.ip, CONTAINER_PORT)
    assert flow.owner == port

    # a user-defined network: br-<id12>, named by the API, with its rules and its container
    appnet = Owner("network", "appnet", net_id)
    assert links[f"host/br-{net_id[:12]}"].owner == appnet
    (db_veth,) = [lk for lk in snap.links if lk.master == f"br-{net_id[:12]}"]
    assert db_veth.owner == Owner("container", "db", db_id)
    isolation = [r for r in rules if r.chain.startswith("DOCKER-ISOLATION") and "br-" in r.spec]
    assert isolation and {r.owner for r in isolation} == {appnet}

    # dockerd's netns is named (/run/netns/<test>d) and is the observer's own: listed once
    assert dk.netns not in {n.label for n in snap.netns}
    assert not [e for e in snap.errors if "host" in e or "hints" in e], snap.errors


def test_host_scope_without_dockers_api_still_names_what_it_can(real_docker, tmp_path):
    """No answer on the socket: kernel facts and Docker's naming and layer store still speak."""
    dk = real_docker
    web = _run_web(dk)
    snap = _host_snapshot(dk, str(tmp_path / "absent.sock"))
    anon = Owner("container", web.id[:12], web.id)
    (veth,) = [lk for lk in snap.links if lk.netns == "host" and lk.master == "docker0"]
    assert veth.owner == anon  # its peer's netns is used by a process in a cgroup named <id>
    (dnat,) = [r for r in snap.rules if r.netns == "host" and "DNAT" in r.spec]
    assert dnat.owner == Owner("port", f"{HOST_PORT}/tcp -> {web.id[:12]}:{CONTAINER_PORT}", web.id)
    mount = next(m for m in snap.mounts if m.upperdir == web.upperdir)
    assert mount.owner == anon  # from Docker's layerdb: the dir's name is a layer id
    user = next(r for r in snap.rules if r.chain == "FORWARD" and r.spec == "-j DOCKER-USER")
    assert user.owner == Owner("docker", "dockerd")


FRAMES = """
import asyncio, json, signal, sys
from dockerscope.kernel.observer import Observer, Scope

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    obs = Observer(Scope.host(docker_socket=sys.argv[1]))
    try:
        async for frame in obs.updates(stop):
            if not frame.diff:
                print(json.dumps({"ready": True}), flush=True)
            for c in frame.diff.changes:
                o = getattr(c.after or c.before, "owner", None)
                own = [o.kind, o.name, o.id] if o else None
                out = {"c": c.collection, "a": c.action, "k": c.key, "o": own}
                print(json.dumps(out), flush=True)
    finally:
        obs.close()

asyncio.run(main())
"""


def test_live_frames_show_docker_run_with_owners(real_docker):
    """The observer running while Docker starts a container: the changes come as frames."""
    dk = real_docker
    proc = subprocess.Popen(
        [*dk.enter(), sys.executable, "-c", FRAMES, dk.socket],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines: queue.Queue[dict] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    try:
        assert lines.get(timeout=60) == {"ready": True}
        web = _run_web(dk)
        me = ["container", "web", web.id]
        port = ["port", f"{HOST_PORT}/tcp -> web:{CONTAINER_PORT}", web.id]
        owners: dict[tuple[str, str], list[str] | None] = {}

        def seen() -> bool:
            veth = [v for (c, k), v in owners.items() if c == "links" and k.startswith("host/veth")]
            dnat = [v for (c, k), v in owners.items() if c == "rules" and "DNAT" in k]
            cg = owners.get(("cgroups", f"/{dk.cgroup_parent}/{web.id}"))
            return veth == [me] and dnat == [port] and cg == me

        deadline = time.monotonic() + 30
        while not seen() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                ch = lines.get(timeout=0.5)
                if ch.get("a") == "removed":
                    owners.pop((ch["c"], ch["k"]), None)
                else:
                    owners[(ch["c"], ch["k"])] = ch["o"]
        assert seen(), owners
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert proc.returncode == 0, err[-3000:]


def _screen(server: str) -> str:
    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", server, *args], capture_output=True, text=True).stdout

    size = tmux("display", "-p", "-t", "scope", "#{window_width}x#{window_height}").strip()
    return f"[{size}]\n" + tmux("capture-pane", "-p", "-t", "scope")


def test_scope_host_in_tmux_shows_docker0_and_the_dnat_rule(real_docker, lab_name):
    """``DOCKER_HOST=unix://... dockerscope scope --host`` run as a person would, in tmux."""
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    dk = real_docker
    web = _run_web(dk)
    _connect_through_dnat(dk, web)
    server = f"{lab_name}-tmux"
    cmd = [
        *dk.enter(),
        "env",
        # pytest's process environment holds COLUMNS/LINES (set below os.environ, seen by
        # children), which would pin the app to 80x24 whatever the pane's size
        "-u",
        "COLUMNS",
        "-u",
        "LINES",
        f"DOCKER_HOST=unix://{dk.socket}",
        sys.executable,
        "-m",
        "dockerscope",
        "scope",
        "--host",
    ]
    # Tall and wide enough for the NAT panel to show Docker's whole nat table.
    subprocess.run(
        ["tmux", "-L", server, "new-session", "-d", "-s", "scope", "-x", "250", "-y", "110"]
        + ["-c", str(ROOT), " ".join(cmd), ";", "set-option", "-t", "scope", "remain-on-exit"]
        + ["on"],  # a crash stays on screen for the assertion message
        check=True,
    )
    screen = ""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            screen = _screen(server)
            if "DNAT" in screen and "◂ container web" in screen:
                break
            time.sleep(0.3)
        bridge_rows = [ln for ln in screen.splitlines() if "docker0 " in ln and "8000." in ln]
        assert bridge_rows, screen
        assert any("◂ container web" in ln and "veth" in ln for ln in screen.splitlines()), screen
        dnat = [ln for ln in screen.splitlines() if "DNAT" in ln]
        assert dnat and f"dpt:{HOST_PORT} to:{web.ip}:{CONTAINER_PORT}" in dnat[0], screen
        assert f"◂ port {HOST_PORT}/tcp -> web:{CONTAINER_PORT}" in dnat[0], screen
    finally:
        subprocess.run(["tmux", "-L", server, "send-keys", "-t", "scope", "q"], check=False)
        time.sleep(0.5)
        subprocess.run(["tmux", "-L", server, "kill-server"], check=False, capture_output=True)
