"""The lab host and Docker's networks on a real kernel: fidelity, traffic, errors, cleanup.

Every test builds its own lab (unique name, state under tmp_path) and tears it down in a
fixture; traffic only flows between namespaces the test made and the host's loopback.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockerscope.engine.api.errors import as_api_error
from dockerscope.engine.network import (
    LabHost,
    NetworkInUse,
    NetworkManager,
    PortAllocated,
    PortBinding,
    SubnetOverlap,
    parse_publish,
    uplink_name,
)
from dockerscope.engine.network.hostside import HostState
from dockerscope.engine.network.normalise import normalise_brctl, normalise_save
from dockerscope.engine.paths import Lab
from tests.reference import REFERENCE_DIR, needs_reference

pytestmark = pytest.mark.kernel
REF = REFERENCE_DIR
needs_ref = needs_reference

RESPONDER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.sendall(sys.argv[2].encode() + b"\\n"); c.close()
"""


def run(cmd: str | list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, shell=isinstance(cmd, str), capture_output=True, text=True, timeout=30, check=check
    )


def in_ns(path: str | Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["nsenter", f"--net={path}", *cmd], check=check)


def lab_sh(lab: Lab, cmd: str) -> str:
    return run(f"ip netns exec {lab.netns} {cmd}").stdout


class Responders:
    """Tiny TCP servers inside container netns, killed at the end of the test."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, netns: str, port: int, text: str) -> None:
        proc = subprocess.Popen(
            ["nsenter", f"--net={netns}", sys.executable, "-c", RESPONDER, str(port), text],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


@pytest.fixture(autouse=True)
def _nothing_of_this_lab_left(lab_name: str, tmp_path: Path) -> Iterator[None]:
    """A leak check scoped to this test's lab (the shared one also sees other jobs' labs)."""
    yield
    leftovers = []
    if Path("/run/netns", lab_name).exists():
        leftovers.append(f"netns {lab_name}")
    if uplink_name(lab_name) in run("ip -o link").stdout:
        leftovers.append(f"link {uplink_name(lab_name)}")
    if f"dockerscope:{lab_name}" in run("iptables-save", check=False).stdout:
        leftovers.append("host MASQUERADE rule")
    mounts = Path("/proc/self/mountinfo").read_text()
    leftovers += [
        line.split()[4]
        for line in mounts.splitlines()
        if str(tmp_path) in line or f"/run/netns/{lab_name} " in line
    ]
    assert not leftovers, leftovers


@pytest.fixture
def lab(lab_name: str, tmp_path: Path) -> Iterator[Lab]:
    lab = Lab.named(lab_name, data_root=tmp_path / "data", run_root=tmp_path / "run")
    host = LabHost(lab)
    try:
        host.up()
        yield lab
    finally:
        host.down()


@pytest.fixture
def nm(lab: Lab) -> Iterator[NetworkManager]:
    manager = NetworkManager(lab)
    try:
        yield manager
    finally:
        manager.close()


@pytest.fixture
def responders() -> Iterator[Responders]:
    r = Responders()
    try:
        yield r
    finally:
        r.stop()


def container(
    nm: NetworkManager, name: str, network: str | None = "bridge", etc_dir: Path | None = None
) -> str:
    """A stand-in container: a sandbox netns attached to ``network``; returns its id."""
    cid = (name.encode().hex() * 64)[:64]
    nm.sandbox(cid, name, etc_dir=etc_dir)
    if network:
        nm.attach(cid, network)
    return cid


def assert_matches_reference(lab: Lab, step: str) -> None:
    for table in ("nat", "filter"):
        got = normalise_save(lab_sh(lab, f"iptables-save -t {table}"))
        assert got == normalise_save((REF / f"{step}.{table}").read_text()), table
    got = normalise_brctl(lab_sh(lab, "brctl show"))
    assert got == normalise_brctl((REF / f"{step}.brctl").read_text())


def free_host_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=5) as s:
        return s.recv(100)


def ping(netns: str, ip: str) -> bool:
    return in_ns(netns, "busybox", "ping", "-c", "1", "-W", "1", ip, check=False).returncode == 0


# -- fidelity --------------------------------------------------------------------------------


@needs_ref
def test_fresh_lab_matches_reference(lab: Lab) -> None:
    assert_matches_reference(lab, "01-fresh")
    assert lab_sh(lab, "cat /proc/sys/net/ipv4/ip_forward").strip() == "1"
    routes = lab_sh(lab, "ip route")
    assert re.search(r"^default via 100\.\d+\.\d+\.\d+ dev eth0", routes, re.M)
    assert "02:42:" in lab_sh(lab, "ip link show docker0")


@needs_ref
def test_network_create_matches_reference(lab: Lab, nm: NetworkManager) -> None:
    net = nm.create("my-new-network")
    assert net.subnet == "172.18.0.0/16" and net.gateway == "172.18.0.1"
    assert net.bridge == "br-" + net.id[:12]
    assert_matches_reference(lab, "02-netcreate")
    # A container on it sees what 06-usernet.txt shows.
    user = container(nm, "user", "my-new-network")
    got = "".join(
        in_ns(nm.sandbox(user, "user"), "busybox", "ip", what).stdout for what in ("addr", "route")
    )
    ref = (REF / "06-usernet.txt").read_text()
    assert re.sub(r"\d+: eth0@if\d+", "N: eth0@ifM", got) == re.sub(
        r"\d+: eth0@if\d+", "N: eth0@ifM", ref
    )


@needs_ref
def test_publish_matches_reference_and_serves(
    lab: Lab, nm: NetworkManager, responders: Responders
) -> None:
    nm.create("my-new-network")
    web = container(nm, "web")
    netns = nm.sandbox(web, "web")
    responders.start(netns, 8080, "hello")
    maps = nm.publish(web, None, parse_publish("8080:8080"))
    assert [(m.host_ip, m.host_port) for m in maps] == [("0.0.0.0", 8080), ("::", 8080)]
    assert_matches_reference(lab, "03-publish")
    # In-container view as in 04-inside.txt (interface indexes differ).
    inside = (REF / "04-inside.txt").read_text()
    ref_view = re.sub(r"\d+: eth0@if\d+", "N: eth0@ifM", inside[: inside.index("669aecfd3d6d")])
    got = "".join(in_ns(netns, "busybox", "ip", what).stdout for what in ("addr", "route"))
    assert re.sub(r"\d+: eth0@if\d+", "N: eth0@ifM", got) == ref_view
    # The lab's own view: through the userland proxy, like curl inside the course VM.
    assert lab_sh(lab, "busybox nc 127.0.0.1 8080 </dev/null").strip() == "hello"
    assert nm.ports(web) == maps


def test_host_loopback_reaches_published_port(
    lab: Lab, nm: NetworkManager, responders: Responders
) -> None:
    web = container(nm, "web")
    responders.start(nm.sandbox(web, "web"), 8080, "via-loopback")
    port = free_host_port()
    nm.publish(web, None, parse_publish(f"{port}:8080"))
    assert fetch("127.0.0.1", port).strip() == b"via-loopback"
    counters = lab_sh(lab, "iptables -t nat -L DOCKER -n -v -x")
    assert re.search(
        rf"^\s+[1-9]\d*\s+\d+\s+DNAT .*dpt:{port} to:172\.17\.0\.2:8080", counters, re.M
    ), counters  # it went through the uplink and the DNAT rule
    nm.unpublish(web)
    with pytest.raises(OSError):
        fetch("127.0.0.1", port)


def test_hairpin_to_own_published_port(nm: NetworkManager, responders: Responders) -> None:
    web = container(nm, "web")
    netns = nm.sandbox(web, "web")
    responders.start(netns, 8080, "hairpin")
    nm.publish(web, None, parse_publish("8081:8080"))
    out = in_ns(netns, "busybox", "nc", "172.17.0.1", "8081")
    assert out.stdout.strip() == "hairpin"


def test_udp_publish_through_proxy(lab: Lab, nm: NetworkManager) -> None:
    echo = (
        "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',5353))"
        "\nprint('ready',flush=True)\nwhile True:\n d,a=s.recvfrom(100);s.sendto(b'pong:'+d,a)"
    )
    dns = container(nm, "dns")
    proc = subprocess.Popen(
        ["nsenter", f"--net={nm.sandbox(dns, 'dns')}", sys.executable, "-c", echo],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        nm.publish(dns, None, parse_publish("5300:5353/udp"))
        client = (
            "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(3)"
            ";s.sendto(b'ping',('127.0.0.1',5300));print(s.recv(100).decode())"
        )
        out = run(["ip", "netns", "exec", lab.netns, sys.executable, "-c", client])
        assert out.stdout.strip() == "pong:ping"
    finally:
        proc.kill()
        proc.wait()


# -- traffic between containers --------------------------------------------------------------


def test_same_bridge_works_across_networks_isolated(nm: NetworkManager, tmp_path: Path) -> None:
    nm.create("front")
    nm.create("back")
    a = container(nm, "a", "front", etc_dir=tmp_path / "etc-a")
    b = container(nm, "b", "front", etc_dir=tmp_path / "etc-b")
    c = container(nm, "c", "back")
    ip_b = nm.endpoints("front")[1].ip_address
    ip_c = nm.endpoints("back")[0].ip_address
    assert ip_b.startswith("172.18.") and ip_c.startswith("172.19.")
    assert ping(nm.sandbox(a, "a"), ip_b)
    assert not ping(nm.sandbox(a, "a"), ip_c)  # DOCKER-ISOLATION-STAGE-2 drops it
    assert ping(nm.sandbox(c, "c"), "172.19.0.1")
    # Names: each container's /etc/hosts lists its peers on user networks.
    assert f"{ip_b}\tb\n" in (tmp_path / "etc-a" / "hosts").read_text()
    assert "\ta\n" in (tmp_path / "etc-b" / "hosts").read_text()
    nm.release(b)
    assert "\tb\n" not in (tmp_path / "etc-a" / "hosts").read_text()
    assert b not in {e.container_id for e in nm.endpoints("front")}


def test_net_host_none_and_container_modes(lab: Lab, nm: NetworkManager) -> None:
    nm.create("my-new-network")
    host_ns = nm.sandbox("h" * 64, "hosty", mode="host")
    assert host_ns == str(lab.netns_path)
    links = in_ns(host_ns, "busybox", "ip", "link").stdout
    assert "docker0" in links and re.search(r"br-[0-9a-f]{12}", links)
    none_ns = nm.sandbox("n" * 64, "nothing", mode="none")
    assert re.findall(r"^\d+: (\S+?):", in_ns(none_ns, "busybox", "ip", "link").stdout, re.M) == [
        "lo"
    ]
    web = container(nm, "web")
    shared = nm.sandbox("s" * 64, "sidecar", mode="container:web")
    assert shared == nm.sandbox(web, "web")
    assert nm.publish("h" * 64, None, parse_publish("9999:80")) == []
    for cid in ("h" * 64, "n" * 64, "s" * 64, web):
        nm.release(cid)
    assert not any(lab.container_netns_dir.iterdir())
    assert lab.netns_path.exists()


# -- errors leave nothing half done ----------------------------------------------------------


def test_port_already_allocated_leaves_no_rule(lab: Lab, nm: NetworkManager) -> None:
    a = container(nm, "a")
    b = container(nm, "b")
    nm.publish(a, None, parse_publish("8080:80"))
    before = lab_sh(lab, "iptables-save")
    with pytest.raises(PortAllocated) as err:
        nm.publish(b, None, parse_publish("8090:90") + parse_publish("8080:80"))
    assert "Bind for 0.0.0.0:8080 failed: port is already allocated" in str(err.value)
    assert as_api_error(err.value).status == 500
    assert normalise_save(lab_sh(lab, "iptables-save")) == normalise_save(before)
    assert nm.ports(b) == []
    # 8090 was rolled back: it can be taken now, and "-p 80" picks Docker's first ephemeral port.
    assert nm.publish(b, None, parse_publish("8090:90"))[0].host_port == 8090
    assert nm.publish(b, None, parse_publish("80"))[0].host_port == 49153


def test_overlapping_subnet_refused(lab: Lab, nm: NetworkManager) -> None:
    def state() -> tuple[str, str]:
        return normalise_save(lab_sh(lab, "iptables-save")), lab_sh(lab, "ip -o link")

    before = state()
    with pytest.raises(SubnetOverlap) as err:
        nm.create("clash", subnet="172.17.5.0/24")
    assert str(err.value) == "Pool overlaps with other one on this address space"
    assert state() == before
    net = nm.create("custom", subnet="10.123.0.0/24", gateway="10.123.0.254")
    assert nm.inspect("custom")["IPAM"]["Config"] == [
        {"Subnet": "10.123.0.0/24", "Gateway": "10.123.0.254"}
    ]
    assert net.subnet == "10.123.0.0/24"


def test_network_rm_refused_while_attached(lab: Lab, nm: NetworkManager) -> None:
    net = nm.create("busy")
    cid = container(nm, "user", "busy")
    with pytest.raises(NetworkInUse) as err:
        nm.remove("busy")
    assert as_api_error(err.value).status == 409
    assert str(err.value) == (
        f"error while removing network: network busy id {net.id} has active endpoints"
    )
    assert nm.inspect("busy")["Containers"][cid]["IPv4Address"] == "172.18.0.2/16"
    nm.release(cid)
    nm.remove(net.id[:12])
    assert "busy" not in [n.name for n in nm.list()]


# -- cleanup, restart, host ------------------------------------------------------------------


@needs_ref
def test_removing_everything_leaves_a_fresh_lab(
    lab: Lab, nm: NetworkManager, responders: Responders
) -> None:
    nm.create("one")
    nm.create("two", internal=True)
    ids = [container(nm, "a", "one"), container(nm, "b", "two"), container(nm, "c")]
    second = nm.attach(ids[0], "bridge")  # network connect: eth1, no second default route
    netns_a = nm.sandbox(ids[0], "a")
    assert second.ifname == "eth1" and second.ip_address == "172.17.0.3"  # c has .2
    routes = in_ns(netns_a, "busybox", "ip", "route").stdout
    assert routes.count("default") == 1 and "default via 172.18.0.1 dev eth0" in routes
    nm.detach(ids[0], "bridge")
    assert "eth1" not in in_ns(netns_a, "busybox", "ip", "link").stdout
    nm.attach(ids[0], "bridge")
    nm.publish(ids[2], None, parse_publish("8080:80") + parse_publish("53/udp"))
    for cid in ids:
        nm.release(cid)
    assert nm.prune() == ["one", "two"]
    assert_matches_reference(lab, "01-fresh")
    links = re.findall(r"^\d+: (\S+?)[:@]", lab_sh(lab, "ip -o link"), re.M)
    assert sorted(links) == ["docker0", "eth0", "lo"]
    assert list(lab.container_netns_dir.iterdir()) == []
    assert sorted(n.name for n in nm.list()) == ["bridge", "host", "none"]


def test_restart_adopts_without_duplicates(lab: Lab, responders: Responders) -> None:
    first = NetworkManager(lab)
    try:
        first.create("kept")
        web = container(first, "web", "kept")
        responders.start(first.sandbox(web, "web"), 8080, "still-here")
        first.publish(web, None, parse_publish("8088:8080"))
    finally:
        first.close()
    rules = lab_sh(lab, "iptables-save")
    LabHost(lab).up()  # the daemon restarts
    second = NetworkManager(lab)
    try:
        assert normalise_save(lab_sh(lab, "iptables-save")) == normalise_save(rules)
        assert second.get("kept").bridge == first.get("kept").bridge
        assert lab_sh(lab, "busybox nc 127.0.0.1 8088 </dev/null").strip() == "still-here"
        assert second.ports(web)[0].host_port == 8088
        second.release(web)
    finally:
        second.close()


def _host_view() -> dict[str, str]:
    return {
        "links": run("ip -o link | sed 's/^[0-9]*: //'").stdout,
        "iptables": run("iptables-save | grep -v '^#'", check=False).stdout,
        "netns": run("ip netns").stdout,
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text(),
    }


def test_down_leaves_host_as_before(lab_name: str, tmp_path: Path) -> None:
    lab = Lab.named(lab_name, data_root=tmp_path / "data", run_root=tmp_path / "run")
    host = LabHost(lab)
    before = _host_view()
    try:
        uplink = host.up()
        during = _host_view()
        assert uplink_name(lab_name) in during["links"]
        assert f"dockerscope:{lab_name}" in during["iptables"]
        assert during["ip_forward"].strip() == "1"
        assert uplink.subnet.subnet_of(__import__("ipaddress").IPv4Network("100.64.0.0/10"))
    finally:
        host.down()
    after = _host_view()
    assert uplink_name(lab_name) not in after["links"]
    assert lab_name not in after["netns"].split()
    assert f"dockerscope:{lab_name}" not in after["iptables"]
    with HostState().locked() as shared:
        others = list(shared["labs"])
    if not others:  # no other lab up on this machine right now: the host is exactly as before
        assert after == before


def test_engine_container_objects_and_managed_hosts(nm: NetworkManager, tmp_path: Path) -> None:
    """The container engine passes its Container objects and PortBindings."""
    from types import SimpleNamespace

    def obj(name: str, mode: str) -> SimpleNamespace:
        return SimpleNamespace(
            id=(name.encode().hex() * 64)[:64],
            name=name,
            host=SimpleNamespace(network_mode=mode),
            config=SimpleNamespace(hostname=name + "-host"),
        )

    nm.create("app")
    web, db, side = obj("web", "app"), obj("db", "app"), obj("side", "container:web")
    for c in (web, db):
        nm.sandbox(c)
        nm.attach(c, "app", aliases=(c.name + "-alias",))
    assert nm.sandbox(side) == nm.sandbox(web)
    hosts = tmp_path / "hosts"
    nm.manage_hosts(web, hosts, "127.0.0.1\tlocalhost\n")
    assert hosts.read_text() == ("127.0.0.1\tlocalhost\n172.18.0.3\tdb\n172.18.0.3\tdb-alias\n")
    maps = nm.publish(
        web, None, [PortBinding(80, "tcp", "", 8070), PortBinding(53, "udp", "127.0.0.1")]
    )
    assert [(m.key, m.host_ip, m.host_port) for m in maps] == [
        ("80/tcp", "0.0.0.0", 8070),
        ("80/tcp", "::", 8070),
        ("53/udp", "127.0.0.1", 49153),
    ]
    settings = nm.network_settings(web, ["80/tcp"])
    assert settings["Networks"]["app"]["IPAddress"] == "172.18.0.2"
    assert settings["Ports"]["80/tcp"][0] == {"HostIp": "0.0.0.0", "HostPort": "8070"}
    nm.release(db)
    assert hosts.read_text() == "127.0.0.1\tlocalhost\n"
    plain = obj("plain", "default")
    nm.sandbox(plain)
    first = nm.attach(plain, "bridge")
    assert nm.attach(plain, "default") == first  # the CLI names the default bridge twice
    nm.adopt([web])  # the engine restarts knowing only web: side's and plain's records go
    assert {sb.container_name for sb in nm.sandboxes()} == {"web"}
    nm.release(web)


async def test_calls_from_an_event_loop_thread(nm: NetworkManager) -> None:
    """The daemon calls the manager from its event loop: nothing may deadlock or fail."""
    nm.create("loopnet")
    web = container(nm, "web", "loopnet")
    assert nm.publish(web, None, parse_publish("8071:80"))[0].host_port == 8071
    nm.release(web)
    assert nm.prune() == ["loopnet"]


def test_lab_down_and_up_again_recreates_networks(lab: Lab) -> None:
    first = NetworkManager(lab)
    try:
        first.create("older")
        first.create("newer")
    finally:
        first.close()
    rules = normalise_save(lab_sh(lab, "iptables-save"))
    bridges = sorted(n.bridge or "" for n in first.list())
    LabHost(lab).down()
    assert not lab.netns_path.exists()
    LabHost(lab).up()
    again = NetworkManager(lab)
    try:
        assert normalise_save(lab_sh(lab, "iptables-save")) == rules
        assert sorted(n.bridge or "" for n in again.list()) == bridges
        assert all(b in lab_sh(lab, "ip -o link") for b in bridges if b)
    finally:
        again.close()
