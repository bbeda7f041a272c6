"""The observer against real kernel objects: a lab-shaped set of namespaces built here.

The fixture builds what a lab holds: a lab netns with a bridge, a container netns (a file in
the lab's netns dir) joined by a veth pair, addresses and routes, Docker-shaped NAT rules with
a published port, a connection through it (counters and a DNAT conntrack entry), a process in
a cgroup under dockerscope/<lab> with an overlay root in its own mount namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockerscope.feed.live import LiveSource
from dockerscope.kernel import iptables
from dockerscope.kernel.model import Snapshot
from dockerscope.kernel.observer import Observer, Scope
from dockerscope.kernel.setns import in_netns

pytestmark = pytest.mark.kernel

CGROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
CID = "c0ffee" + "0" * 58
PUBLIC = "198.51.100.1"  # the lab's "host address" (TEST-NET-2), only inside the lab netns

NAT_RULES = f"""*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT -d {PUBLIC}/32 -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:8080
COMMIT
"""


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@dataclass
class LabSetup:
    name: str
    run_root: str
    web_ns: str  # path of the container netns file
    child: subprocess.Popen[bytes] | None = None
    upper: Path | None = None


def _v1() -> bool:
    return not (CGROOT / "cgroup.controllers").exists()


def _cg_dirs(lab: str) -> list[Path]:
    if _v1():
        return [
            CGROOT / c / "dockerscope" / lab / CID for c in CONTROLLERS if (CGROOT / c).is_dir()
        ]
    return [CGROOT / "dockerscope" / lab / CID]


def _serve_once(ns_path: str) -> threading.Thread:
    """A one-shot TCP responder on :8080 inside the container netns."""
    srv = in_netns(ns_path, lambda: socket.create_server(("0.0.0.0", 8080)))
    srv.settimeout(10)

    def run() -> None:
        try:
            conn, _ = srv.accept()
            with conn:
                conn.sendall(b"hello\n")
        except OSError:
            pass
        finally:
            srv.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _connect(lab_path: str) -> bytes:
    def talk() -> bytes:
        with socket.create_connection((PUBLIC, 8080), timeout=5) as s:
            return s.recv(100)

    return in_netns(lab_path, talk)


def _wait_link_up(ip: list[str], name: str) -> None:
    shown = ""
    for _ in range(100):
        shown = subprocess.run(
            [*ip, "-o", "link", "show", name], capture_output=True, text=True
        ).stdout
        if " state UP " in shown:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never came up: {shown}")


@pytest.fixture
def lab(lab_name: str, tmp_path: Path) -> Iterator[LabSetup]:
    run_root = tmp_path / "run"
    nsdir = run_root / lab_name / "netns"
    nsdir.mkdir(parents=True)
    web = nsdir / "web"
    web.touch()
    setup = LabSetup(lab_name, str(run_root), str(web))
    cg_made: list[Path] = []
    try:
        sh("ip", "netns", "add", lab_name)
        sh("unshare", f"--net={web}", "true")
        L, W = ["ip", "-n", lab_name], ["nsenter", f"--net={web}", "ip"]
        sh(*L, "link", "set", "lo", "up")
        sh(*L, "addr", "add", f"{PUBLIC}/32", "dev", "lo")
        sh(*L, "link", "add", "docker0", "type", "bridge")
        sh(*L, "addr", "add", "172.17.0.1/16", "dev", "docker0")
        sh(*L, "link", "set", "docker0", "up")
        sh(*L, "link", "add", "vethweb", "type", "veth", "peer", "name", "eth0", "netns", str(web))
        sh(*L, "link", "set", "vethweb", "master", "docker0", "up")
        sh(*W, "link", "set", "lo", "up")
        sh(*W, "addr", "add", "172.17.0.2/16", "dev", "eth0")
        sh(*W, "link", "set", "eth0", "up")
        sh(*W, "route", "add", "default", "via", "172.17.0.1")
        subprocess.run(
            ["ip", "netns", "exec", lab_name, "iptables-restore"],
            input=NAT_RULES,
            text=True,
            check=True,
        )
        # Traffic through the published port: counters move and conntrack records the DNAT.
        server = _serve_once(str(web))
        for _ in range(50):  # the bridge port needs a moment to forward
            try:
                assert _connect(f"/run/netns/{lab_name}") == b"hello\n"
                break
            except OSError:
                time.sleep(0.1)
        server.join(5)
        # The kernel sets a link's operational state a moment after its carrier changes
        # (linkwatch can wait up to a second); a test comparing two snapshots must not race it.
        _wait_link_up(L, "docker0")
        _wait_link_up(L, "vethweb")
        _wait_link_up(W, "eth0")
        # A "container process": own mount namespace with an overlay root, in the web netns
        # and in a cgroup under dockerscope/<lab>.
        base = tmp_path / "ovl"
        for d in ("lower/etc", "lower/gone", "upper", "work", "merged"):
            (base / d).mkdir(parents=True)
        (base / "lower/etc/hostname").write_text("base\n")
        (base / "lower/gone/f").write_text("x\n")
        setup.upper = base / "upper"
        script = (
            f"mount --make-rprivate / && mount -t overlay overlay -o lowerdir={base}/lower,"
            f"upperdir={base}/upper,workdir={base}/work {base}/merged && "
            f"echo box > {base}/merged/etc/hostname && rm -r {base}/merged/gone && "
            "echo ready && exec sleep 60"
        )
        for d in _cg_dirs(lab_name):
            d.mkdir(parents=True)
            cg_made.append(d)
        if _v1():
            (CGROOT / "memory/dockerscope" / lab_name / CID / "memory.limit_in_bytes").write_text(
                str(64 << 20)
            )
        else:
            # v2: a child has memory.max only when its parents delegate the controller.
            for parent in (CGROOT, CGROOT / "dockerscope", CGROOT / "dockerscope" / lab_name):
                with contextlib.suppress(OSError):
                    (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            (CGROOT / "dockerscope" / lab_name / CID / "memory.max").write_text(str(64 << 20))
        setup.child = subprocess.Popen(
            ["nsenter", f"--net={web}", "unshare", "-m", "sh", "-c", script],
            stdout=subprocess.PIPE,
        )
        assert setup.child.stdout is not None
        assert setup.child.stdout.readline() == b"ready\n"
        for d in cg_made:
            (d / "cgroup.procs").write_text(str(setup.child.pid))
        yield setup
    finally:
        if setup.child is not None:
            setup.child.kill()
            setup.child.wait()
        subprocess.run(["ip", "netns", "del", lab_name], capture_output=True)
        subprocess.run(["umount", str(web)], capture_output=True)
        for d in cg_made:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
            with contextlib.suppress(OSError):
                d.parent.rmdir()


def _scope(lab: LabSetup) -> Scope:
    return Scope.lab(lab.name, run_root=lab.run_root)


def _snap(lab: LabSetup) -> Snapshot:
    with Observer(_scope(lab)) as obs:
        return obs.snapshot()


def test_links_bridge_and_veth_peers_across_netns(lab):
    snap = _snap(lab)
    links = {lk.key: lk for lk in snap.links}
    br = links[f"{lab.name}/docker0"]
    assert br.kind == "bridge" and br.stp is False
    assert br.bridge_id == "8000." + br.mac.replace(":", "")  # as brctl show prints it
    assert [a.cidr for a in br.addresses if a.family == 4] == ["172.17.0.1/16"]
    host_side = links[f"{lab.name}/vethweb"]
    assert host_side.kind == "veth" and host_side.master == "docker0"
    assert host_side.peer_netns == "web"
    eth0 = links["web/eth0"]
    assert eth0.peer_netns == lab.name and eth0.peer_index == host_side.index
    assert host_side.peer_index == eth0.index
    assert host_side.owner is not None and host_side.owner.label() == "container web"
    assert br.owner is not None and br.owner.label() == "network bridge"
    assert snap.errors == ()


def test_routes_and_namespaces(lab):
    snap = _snap(lab)
    routes = {r.key: r for r in snap.routes}
    default = routes["web/default/eth0"]
    assert default.gateway == "172.17.0.1"
    assert routes[f"{lab.name}/172.17.0.0/16/docker0"].src == "172.17.0.1"
    names = {ns.label: ns for ns in snap.netns}
    assert set(names) == {lab.name, "web"}
    assert names["web"].inode == os.stat(lab.web_ns).st_ino
    assert lab.child is not None
    assert names["web"].pids  # nsenter'd processes live there


def test_rules_with_counters_and_dnat_flow(lab):
    snap = _snap(lab)
    dnat = next(r for r in snap.rules if "DNAT" in r.spec)
    assert dnat.backend == "nf_tables" and dnat.table == "nat" and dnat.chain == "DOCKER"
    assert dnat.packets > 0 and dnat.bytes > 0
    assert dnat.owner is not None and dnat.owner.kind == "port"
    assert dnat.owner.name == "8080/tcp -> web"
    chains = {(c.table, c.name) for c in snap.chains}
    assert ("nat", "DOCKER") in chains
    flow = next(f for f in snap.flows if f.proto == "tcp" and f.orig_dport == 8080)
    assert flow.netns == lab.name and flow.orig_dst == PUBLIC
    assert flow.reply_src == "172.17.0.2" and flow.dnat


def test_process_cgroup_and_overlay(lab):
    snap = _snap(lab)
    assert lab.child is not None
    procs = {p.pid: p for p in snap.processes}
    # the shell exec'd sleep: the pid is the child's
    p = procs[lab.child.pid]
    assert len(p.namespaces) == 8
    assert p.ns("net") == os.stat(lab.web_ns).st_ino
    assert p.ns("mnt") != os.stat("/proc/self/ns/mnt").st_ino
    assert CID in p.cgroup
    cg = next(c for c in snap.cgroups if c.path.endswith(CID))
    assert cg.path == f"/dockerscope/{lab.name}/{CID}"
    assert cg.memory_limit == 64 << 20 and (cg.pids_current or 0) >= 1
    mount = next(m for m in snap.mounts if m.upperdir == str(lab.upper))
    assert mount.seen_from == f"pid:{lab.child.pid}"
    assert mount.lowerdirs[0].endswith("/lower")
    kinds = {e.path: e.kind for e in mount.upper_entries}
    assert kinds["etc/hostname"] == "file" and kinds["gone"] == "whiteout"
    assert mount.owner is not None and mount.owner.name == "web"


LEGACY_RULES = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A POSTROUTING -o uplink -j MASQUERADE
-A POSTROUTING -s 172.18.0.2/32 -d 172.18.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER ! -i br-1 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.18.0.2:80
COMMIT
"""


def test_legacy_rules_are_labelled(lab):
    subprocess.run(
        ["ip", "netns", "exec", lab.name, "iptables-legacy-restore"],
        input=LEGACY_RULES,
        text=True,
        check=True,
    )
    try:
        snap = _snap(lab)
        legacy = [r for r in snap.rules if r.backend == "legacy"]
        assert [(r.table, r.chain, r.position) for r in legacy] == [
            ("nat", "POSTROUTING", 1),
            ("nat", "POSTROUTING", 2),
            ("nat", "DOCKER", 1),
        ]
        assert any(r.backend == "nf_tables" for r in snap.rules)  # both read
        assert {c.name for c in snap.chains if c.backend == "legacy"} >= {"DOCKER", "OUTPUT"}
        with Observer(_scope(lab)) as obs:
            obs.snapshot()
            again = obs.snapshot(reread_all=True)  # legacy tables seen from the hop thread
        assert [r for r in again.rules if r.backend == "legacy"] == legacy
        assert again.errors == ()
        # python-iptables (libiptc) writes each rule as iptables-legacy-save does
        path = f"/run/netns/{lab.name}"
        direct = iptables.read_legacy(path, lab.name)
        saved = iptables.parse_save(iptables.save_text(path, "legacy"), lab.name, "legacy")
        assert [r.spec for r in direct.rules] == [r.spec for r in saved.rules]
        assert len(saved.rules) == 3
    finally:
        for args in (("-F",), ("-X",)):
            subprocess.run(["ip", "netns", "exec", lab.name, "iptables-legacy", "-t", "nat", *args])


async def _next_matching(frames, predicate, limit: float = 5.0):
    async def find():
        async for frame in frames:
            if predicate(frame):
                return frame
        return None

    return await asyncio.wait_for(find(), limit)


async def test_frames_deliver_added_link_and_rule(lab):
    obs = Observer(_scope(lab))
    stop = asyncio.Event()
    frames = obs.updates(stop)
    try:
        first = await anext(frames)
        assert not first.diff and first.snapshot.links
        sh("ip", "-n", lab.name, "link", "add", "brnew", "type", "bridge")
        key = f"{lab.name}/brnew"
        frame = await _next_matching(
            frames, lambda f: any(c.key == key for c in f.diff.of("links", "added"))
        )
        assert frame is not None and any(lk.key == key for lk in frame.snapshot.links)
        sh(
            "ip",
            "netns",
            "exec",
            lab.name,
            "iptables",
            "-t",
            "nat",
            "-I",
            "POSTROUTING",
            "-s",
            "10.9.0.0/24",
            "-j",
            "MASQUERADE",
        )
        frame = await _next_matching(
            frames, lambda f: any("10.9.0.0/24" in c.key for c in f.diff.of("rules", "added"))
        )
        assert frame is not None
    finally:
        stop.set()
        await frames.aclose()
        obs.close()


async def test_live_source(lab):
    source = LiveSource(_scope(lab))
    assert source.scope == f"lab:{lab.name}"
    frames = source.frames()
    first = await anext(frames)
    assert first.snapshot.scope == f"lab:{lab.name}"
    await source.stop()
    rest = [f async for f in frames]
    assert all(f.diff for f in rest)


def test_netns_scope_and_host_scope(lab):
    with Observer(Scope.netns(lab.name)) as obs:
        snap = obs.snapshot()
    assert {lk.netns for lk in snap.links} == {lab.name}
    assert snap.cgroups == () and snap.scope == f"netns:{lab.name}"
    with Observer(Scope.host(docker_socket=str(Path(lab.run_root) / "none.sock"))) as obs:
        host = obs.snapshot()
        again = obs.snapshot(reread_all=True)  # the host's own netns: no setns, no path
    labels = {ns.label for ns in host.netns}
    assert "host" in labels and lab.name in labels
    assert any(lk.netns == "host" and lk.kind == "loopback" for lk in host.links)
    mine = [(r.spec, r.packets) for r in host.rules if r.netns == lab.name]
    assert mine and mine == [(r.spec, r.packets) for r in again.rules if r.netns == lab.name]
    assert {lk.key for lk in again.links} >= {lk.key for lk in host.links if lk.netns == lab.name}


async def test_frames_show_counters_ticking_and_new_flow(lab):
    obs = Observer(_scope(lab))
    stop = asyncio.Event()
    frames = obs.updates(stop)
    try:
        first = await anext(frames)
        before = next(r for r in first.snapshot.rules if "DNAT" in r.spec)
        loop = asyncio.get_running_loop()
        server = _serve_once(lab.web_ns)
        assert await loop.run_in_executor(None, _connect, f"/run/netns/{lab.name}") == b"hello\n"
        server.join(5)
        seen_counter = seen_flow = False

        def done(f):
            nonlocal seen_counter, seen_flow
            for c in f.diff.of("rules", "changed"):
                if c.key == before.key and c.after.packets > before.packets:
                    seen_counter = True
            for c in f.diff.of("flows", "added"):
                if c.after.proto == "tcp" and c.after.dnat and c.after.reply_src == "172.17.0.2":
                    seen_flow = True
            return seen_counter and seen_flow

        assert await _next_matching(frames, done) is not None
    finally:
        stop.set()
        await frames.aclose()
        obs.close()


def test_netlink_counters_match_iptables_save(lab):
    from dockerscope.kernel import netlink, netlink_constants, nftables
    from dockerscope.kernel.setns import netlink_socket

    path = f"/run/netns/{lab.name}"
    saved = iptables.read_nft(path, lab.name)
    conn = netlink.Conn(netlink_socket(path, netlink_constants.NETLINK_NETFILTER))
    try:
        counters = nftables.nft_rule_counters(conn)
        tables = nftables.nft_tables(conn)
        assert nftables.nft_genid(conn) is not None
    finally:
        conn.close()
    assert (netlink_constants.NFPROTO_IPV4, "nat") in tables
    fresh = iptables.apply_counters(saved, counters)
    assert fresh is not None and fresh.rules == saved.rules
    assert any(r.packets > 0 for r in fresh.rules)


def test_ctnetlink_reads_what_conntrack_lists(lab):
    from dockerscope.kernel import conntrack, netlink
    from dockerscope.kernel.netlink_constants import NETLINK_NETFILTER
    from dockerscope.kernel.setns import netlink_socket

    path = f"/run/netns/{lab.name}"
    conn = netlink.Conn(netlink_socket(path, NETLINK_NETFILTER))
    try:
        ours = conntrack.read_netlink(conn, lab.name)
    finally:
        conn.close()
    listed = conntrack.read(path, lab.name)

    def shape(flows):
        return {
            (f.proto, f.orig_src, f.orig_dst, f.orig_dport, f.reply_src, f.reply_dst) for f in flows
        }

    assert shape(listed) <= shape(ours) | shape(conntrack.read(path, lab.name))
    tcp = next(f for f in ours if f.proto == "tcp" and f.orig_dport == 8080)
    assert tcp.dnat and tcp.reply_src == "172.17.0.2" and tcp.state in ("TIME_WAIT", "CLOSE")


def test_hints_from_the_lab_socket_name_owners(lab):
    from tests.unit.test_kernel_attribution import WEB_ID, _FakeApi

    api = _FakeApi(Path(lab.run_root) / lab.name / "docker.sock")
    try:
        snap = _snap(lab)
    finally:
        api.close()
    links = {lk.key: lk for lk in snap.links}
    owner = links[f"{lab.name}/vethweb"].owner
    assert owner is not None and owner.id == WEB_ID and owner.name == "web"
    dnat = next(r for r in snap.rules if "DNAT" in r.spec)
    assert dnat.owner is not None and dnat.owner.id == WEB_ID
    assert links[f"{lab.name}/docker0"].owner.id.startswith("c04a2366")  # the bridge network


def test_repeated_snapshots_see_changes_in_any_namespace(lab):
    with Observer(_scope(lab)) as obs:
        first = obs.snapshot()
        sh("nsenter", f"--net={lab.web_ns}", "ip", "addr", "add", "10.8.0.2/24", "dev", "eth0")
        sh("ip", "-n", lab.name, "link", "add", "brlater", "type", "bridge")
        second = obs.snapshot()
        again = obs.snapshot(reread_all=True)
    keys = {lk.key for lk in second.links}
    assert f"{lab.name}/brlater" in keys and f"{lab.name}/brlater" not in {
        lk.key for lk in first.links
    }
    eth0 = next(lk for lk in second.links if lk.key == "web/eth0")
    assert "10.8.0.2/24" in {a.cidr for a in eth0.addresses}
    assert [lk for lk in again.links] == [lk for lk in second.links]


async def test_frames_follow_a_container_netns_coming_and_going(lab):
    obs = Observer(_scope(lab))
    stop = asyncio.Event()
    frames = obs.updates(stop)
    extra = Path(lab.web_ns).parent / "db"
    extra.touch()
    try:
        await anext(frames)
        sh("unshare", f"--net={extra}", "true")
        frame = await _next_matching(
            frames, lambda f: any(c.after.label == "db" for c in f.diff.of("netns", "added"))
        )
        assert frame is not None
        assert any(lk.key == "db/lo" for lk in frame.snapshot.links)
        sh("umount", str(extra))
        extra.unlink()
        frame = await _next_matching(
            frames, lambda f: any(c.before.label == "db" for c in f.diff.of("netns", "removed"))
        )
        assert frame is not None and not any(lk.netns == "db" for lk in frame.snapshot.links)
    finally:
        stop.set()
        await frames.aclose()
        obs.close()
        subprocess.run(["umount", str(extra)], capture_output=True)


def test_reread_all_lists_upper_dirs_again(lab):
    # A file written straight into the upper dir makes no event; a forced full re-read must
    # still see it, however long the observer would otherwise keep a listing.
    assert lab.upper is not None
    with Observer(_scope(lab), upper_every=3600.0) as obs:
        first = obs.snapshot()
        mount = next(m for m in first.mounts if m.upperdir == str(lab.upper))
        assert "later.txt" not in {e.path for e in mount.upper_entries}
        (lab.upper / "later.txt").write_text("written behind the observer's back\n")
        again = obs.snapshot(reread_all=True)
    mount = next(m for m in again.mounts if m.upperdir == str(lab.upper))
    kinds = {e.path: e.kind for e in mount.upper_entries}
    assert kinds.get("later.txt") == "file"


def test_reread_all_rules_are_what_iptables_save_prints(lab):
    path = f"/run/netns/{lab.name}"
    with Observer(_scope(lab)) as obs:
        obs.snapshot()
        # Counters zeroed after the first read: the re-read shows them as iptables-save does.
        sh("ip", "netns", "exec", lab.name, "iptables", "-t", "nat", "-Z", "DOCKER")
        again = obs.snapshot(reread_all=True)
    saved = iptables.read_nft(path, lab.name)
    mine = [(r.table, r.chain, r.position, r.spec, r.packets, r.bytes) for r in again.rules]
    theirs = [(r.table, r.chain, r.position, r.spec, r.packets, r.bytes) for r in saved.rules]
    assert mine == theirs and len(mine) == 5
    dnat = next(r for r in again.rules if "DNAT" in r.spec)
    assert (dnat.packets, dnat.bytes) == (0, 0)  # zeroed, not the counts read before
    assert [c for c in again.chains if c.netns == lab.name] == list(saved.chains)
    # The connection made by the fixture is still tracked (TIME_WAIT): flows are dumped
    # where the conntrack count says there are some, and none where there is no table.
    assert any(f.netns == lab.name and f.orig_dport == 8080 for f in again.flows)
    assert not [f for f in again.flows if f.netns == "web"]
    assert again.errors == ()
