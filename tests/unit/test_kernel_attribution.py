"""Attribution on captured data: each object names the container, network or port behind it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockerscope.kernel import conntrack
from dockerscope.kernel.attribution import attribute
from dockerscope.kernel.hints import Hints, hints_from_api
from dockerscope.kernel.iptables import parse_save
from dockerscope.kernel.model import (
    Address,
    Cgroup,
    Link,
    NetNs,
    OverlayMount,
    Owner,
    ProcessNs,
    Route,
    Rule,
    Snapshot,
    diff,
)

DATA = Path(__file__).parent.parent / "data" / "kernel"
WEB_ID = "1e04fc43caf000c96663f1f24fa40aefda72af147ca983dc24c3792abf21e331"
# Docker's overlay2 names a container's writable layer after a layer id, not the container id.
LAYER_ID = "0c1e1fc4be5999067f7c7b01f29181405f478b556dad630fb3a2bb4a51030e3e"
UPPER = f"/var/lib/docker/overlay2/{LAYER_ID}/diff"


@pytest.fixture
def hints() -> Hints:
    return hints_from_api(
        json.loads((DATA / "api-containers.json").read_text()),
        json.loads((DATA / "api-networks.json").read_text()),
    )


def _snapshot(web_netns: str = "web") -> Snapshot:
    rules = parse_save((DATA / "iptables-save-c.txt").read_text(), "lab", "nf_tables")
    return Snapshot(
        taken_at=1.0,
        scope="host",
        links=(
            Link("lab", 1, "lo", "loopback", "00:00:00:00:00:00", "UNKNOWN", 65536),
            Link(
                "lab",
                3,
                "docker0",
                "bridge",
                "02:42:97:f1:7b:4f",
                "UP",
                1500,
                addresses=(Address(4, "172.17.0.1", 16),),
                bridge_id="8000.024297f17b4f",
                stp=False,
            ),
            Link(
                "lab",
                4,
                "br-41bf348c9240",
                "bridge",
                "02:42:64:39:c2:14",
                "UP",
                1500,
                addresses=(Address(4, "172.19.0.1", 16),),
            ),
            Link(
                "lab",
                5,
                "vethd98d5a6",
                "veth",
                "aa:aa:aa:aa:aa:aa",
                "UP",
                1500,
                master="docker0",
                peer_index=2,
                peer_netns=web_netns,
            ),
            Link(
                web_netns,
                2,
                "eth0",
                "veth",
                "02:42:ac:11:00:02",
                "UP",
                1500,
                peer_index=5,
                peer_netns="lab",
                addresses=(Address(4, "172.17.0.2", 16),),
            ),
        ),
        routes=(
            Route("lab", "172.17.0.0/16", "docker0"),
            Route(web_netns, "default", "eth0", "172.17.0.1"),
        ),
        netns=(
            NetNs(1, "lab", label="lab"),
            NetNs(
                2, None if web_netns.startswith("pid:") else web_netns, pids=(42,), label=web_netns
            ),
        ),
        processes=(ProcessNs(42, "sleep", (("net", 2), ("mnt", 9)), f"/docker/{WEB_ID}"),),
        chains=rules.chains,
        rules=rules.rules,
        cgroups=(Cgroup(f"/docker/{WEB_ID}", 1), Cgroup("/docker/other", 1)),
        mounts=(
            OverlayMount(
                "/ (mnt:9)", ("/l",), "/var/lib/docker/overlay2/abc/diff", "/w", seen_from="pid:42"
            ),
        ),
        flows=tuple(conntrack.parse((DATA / "conntrack-L-extended.txt").read_text(), "lab")),
    )


def test_hints_from_captured_api(hints):
    (web,) = hints.containers
    assert web.name == "web" and web.id == WEB_ID and web.ips == ("172.17.0.2",)
    assert web.ports == ((8080, "tcp", 8080),)
    nets = {n.name: n for n in hints.networks}
    assert set(nets) == {"bridge", "my-new-network"}  # null and host drivers have no bridge
    assert nets["bridge"].bridge == "docker0" and nets["bridge"].subnets == ("172.17.0.0/16",)
    assert nets["my-new-network"].bridge == "br-41bf348c9240"


def test_links_and_routes(hints):
    snap = attribute(_snapshot(), hints)
    owner = {lk.key: lk.owner for lk in snap.links}
    web = Owner("container", "web", WEB_ID)
    assert owner["lab/docker0"] == Owner("network", "bridge", hints.networks[0].id)
    assert owner["lab/br-41bf348c9240"].name == "my-new-network"
    assert owner["lab/vethd98d5a6"] == web
    assert owner["web/eth0"] == web
    routes = {r.key: r.owner for r in snap.routes}
    assert routes["lab/172.17.0.0/16/docker0"].name == "bridge"
    assert routes["web/default/eth0"] == web


def test_rules(hints):
    snap = attribute(_snapshot(), hints)
    by_spec = {(r.table, r.chain, r.spec): r.owner for r in snap.rules}
    dnat = by_spec[
        (
            "nat",
            "DOCKER",
            "! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:8080",
        )
    ]
    assert dnat is not None and dnat.kind == "port" and dnat.name == "8080/tcp -> web"
    masq = by_spec[("nat", "POSTROUTING", "-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE")]
    assert masq is not None and masq.kind == "network" and masq.name == "bridge"
    accept = by_spec[
        (
            "filter",
            "DOCKER",
            "-d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 8080 -j ACCEPT",
        )
    ]
    assert accept is not None and accept.kind == "port"
    assert by_spec[("filter", "FORWARD", "-o docker0 -j DOCKER")].name == "bridge"
    assert by_spec[("filter", "FORWARD", "-j DOCKER-USER")] is None


def test_flows_cgroups_mounts_processes(hints):
    snap = attribute(_snapshot(), hints)
    tcp = next(f for f in snap.flows if f.proto == "tcp")
    assert tcp.owner is not None and tcp.owner.kind == "port" and "web" in tcp.owner.name
    icmp = next(f for f in snap.flows if f.proto == "icmp")
    assert icmp.owner is not None and icmp.owner.name == "web"
    cg = {c.path: c.owner for c in snap.cgroups}
    assert cg[f"/docker/{WEB_ID}"].name == "web" and cg["/docker/other"] is None
    assert snap.mounts[0].owner.name == "web"  # through the process whose mount ns showed it
    assert snap.processes[0].owner.name == "web"


def test_without_hints_docker_naming_still_speaks():
    snap = attribute(_snapshot(web_netns="pid:42"))
    owner = {lk.key: lk.owner for lk in snap.links}
    assert owner["lab/docker0"] == Owner("network", "bridge")
    # the unnamed netns of a process in a docker/<id> cgroup is that container's
    assert owner["pid:42/eth0"].id == WEB_ID and owner["lab/vethd98d5a6"].id == WEB_ID
    cg = {c.path: c.owner for c in snap.cgroups}
    assert cg[f"/docker/{WEB_ID}"].name == WEB_ID[:12]


def test_lab_container_netns_dir():
    snap = attribute(_snapshot(), Hints(lab="lab", container_netns=("web",)))
    owner = {lk.key: lk.owner for lk in snap.links}
    assert owner["web/eth0"] == Owner("container", "web")
    assert owner["lab/lo"] == Owner("lab", "lab")
    # the DNAT rule names the container it forwards to, found through its eth0 address
    dnat = next(r for r in snap.rules if "DNAT" in r.spec)
    assert dnat.owner == Owner("port", "8080/tcp -> web")


def test_diff_of_counters_and_new_rule(hints):
    a = attribute(_snapshot(), hints)
    rules = list(a.rules)
    bumped = [
        r.__class__(**{**r.__dict__, "packets": r.packets + 1}) if "DNAT" in r.spec else r
        for r in rules
    ]
    from dataclasses import replace

    extra = replace(rules[0], spec="-j LOG", position=99)
    b = replace(a, rules=tuple(bumped) + (extra,))
    d = diff(a, b)
    assert [c.action for c in d.of("rules")] == ["changed", "added"]
    assert (
        d.of("rules", "changed")[0].after.packets == d.of("rules", "changed")[0].before.packets + 1
    )
    assert not diff(a, attribute(_snapshot(), hints))


def test_memo_reuses_objects_until_facts_change(hints):
    from dockerscope.kernel.attribution import Memo

    memo = Memo()
    snap = _snapshot()
    a = attribute(snap, hints, memo)
    b = attribute(snap, hints, memo)
    assert all(x is y for x, y in zip(a.rules, b.rules, strict=True))
    assert a == attribute(snap, hints)  # same answers as without a memo
    c = attribute(snap, Hints(), memo)  # other facts: attributed afresh
    owner = {lk.key: lk.owner for lk in c.links}
    assert owner["lab/vethd98d5a6"].name == WEB_ID[:12]  # no name without hints


class _FakeApi:
    """A unix-socket HTTP server answering /containers/json and /networks from captured JSON."""

    def __init__(self, path: Path):
        import http.server
        import socketserver
        import threading

        bodies = {
            "/containers/json": (DATA / "api-containers.json").read_bytes(),
            "/networks": (DATA / "api-networks.json").read_bytes(),
            f"/containers/{WEB_ID}/json": json.dumps(
                {"Id": WEB_ID, "GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": UPPER}}}
            ).encode(),
        }
        self.paths: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                api.paths.append(self.path)
                body = bodies.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def address_string(self):
                return "unix"

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        api = self

        self.server = Server(str(path), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_hints_from_socket(tmp_path):
    from dockerscope.kernel.hints import hints_from_socket

    api = _FakeApi(tmp_path / "docker.sock")
    try:
        hints = hints_from_socket(str(tmp_path / "docker.sock"), docker=True)
    finally:
        api.close()
    assert hints.docker and [c.name for c in hints.containers] == ["web"]
    assert {n.bridge for n in hints.networks} == {"docker0", "br-41bf348c9240"}


def test_hints_from_missing_socket(tmp_path):
    from dockerscope.kernel.hints import hints_from_socket

    with pytest.raises(OSError):
        hints_from_socket(str(tmp_path / "absent.sock"))


def test_port_names_the_container_port_when_it_differs():
    from dataclasses import replace

    snap = _snapshot()
    rule = next(r for r in snap.rules if "DNAT" in r.spec)
    other = replace(
        rule,
        spec=rule.spec.replace("--dport 8080", "--dport 8081").replace(
            "172.17.0.2:8080", "172.17.0.2:80"
        ),
    )
    out = attribute(replace(snap, rules=(other,)), Hints(container_netns=("web",)))
    assert out.rules[0].owner == Owner("port", "8081/tcp -> web:80")


def test_hints_from_socket_asks_each_container_once_for_its_upper_dir(tmp_path):
    from dockerscope.kernel.hints import hints_from_socket

    api = _FakeApi(tmp_path / "docker.sock")
    cache: dict[str, str] = {"gone" + "0" * 60: "/old/diff"}
    try:
        first = hints_from_socket(str(tmp_path / "docker.sock"), upperdirs=cache)
        second = hints_from_socket(str(tmp_path / "docker.sock"), upperdirs=cache)
    finally:
        api.close()
    assert first.containers[0].upperdir == UPPER and second == first
    assert api.paths.count(f"/containers/{WEB_ID}/json") == 1
    assert cache == {WEB_ID: UPPER}  # containers no longer listed are forgotten


def _docker_overlay(seen_from: str = "host") -> OverlayMount:
    return OverlayMount(
        f"/var/lib/docker/overlay2/{LAYER_ID}/merged",
        ("/var/lib/docker/overlay2/l/ABC",),
        UPPER,
        f"/var/lib/docker/overlay2/{LAYER_ID}/work",
        seen_from=seen_from,
    )


def test_docker_overlay_is_named_by_its_hinted_upper_dir_never_by_the_layer_id(hints):
    from dataclasses import replace

    snap = replace(_snapshot(), mounts=(_docker_overlay(),))
    assert attribute(snap).mounts[0].owner is None  # the layer id is no container's id
    web = replace(hints.containers[0], upperdir=UPPER)
    out = attribute(snap, replace(hints, containers=(web,)))
    assert out.mounts[0].owner == Owner("container", "web", WEB_ID)


def test_docker_plumbing_rules_belong_to_dockerd(hints):
    from dataclasses import replace

    from dockerscope.kernel.attribution import DOCKERD

    base = _snapshot()
    on_host = replace(base, rules=tuple(replace(r, netns="host") for r in base.rules))
    snap = attribute(on_host, replace(hints, docker=True))
    by_spec = {(r.table, r.chain, r.spec): r.owner for r in snap.rules}
    assert by_spec[("filter", "FORWARD", "-j DOCKER-USER")] == DOCKERD
    assert DOCKERD.kind == "docker"
    # what a container or network caused keeps its own owner
    assert by_spec[("filter", "FORWARD", "-o docker0 -j DOCKER")].name == "bridge"
    # a lab's namespace has DOCKER chains too, made by our engine, not by dockerd
    in_lab = attribute(base, replace(hints, docker=True))
    assert {r.owner for r in in_lab.rules if r.spec == "-j DOCKER-USER"} == {None}


def test_container_side_rule_names_the_published_port():
    """Docker's filter ACCEPT matches the container port; the person published another."""
    from dockerscope.kernel.hints import ContainerHint

    accept = Rule(
        "host",
        "nf_tables",
        "filter",
        "DOCKER",
        1,
        "-d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 8080 -j ACCEPT",
    )
    web = ContainerHint(WEB_ID, "web", ("172.17.0.2",), ((18080, "tcp", 8080),))
    out = attribute(replace_rules(_snapshot(), accept), Hints(containers=(web,)))
    assert out.rules[0].owner == Owner("port", "18080/tcp -> web:8080", WEB_ID)


def replace_rules(snap: Snapshot, *rules: Rule) -> Snapshot:
    from dataclasses import replace

    return replace(snap, rules=rules)


def test_default_docker_socket_follows_docker_host():
    from dockerscope.kernel.scope import default_docker_socket

    assert default_docker_socket({}) == "/var/run/docker.sock"
    assert default_docker_socket({"DOCKER_HOST": "unix:///tmp/x/docker.sock"}) == (
        "/tmp/x/docker.sock"
    )
    assert default_docker_socket({"DOCKER_HOST": "tcp://127.0.0.1:2375"}) == (
        "/var/run/docker.sock"
    )


def test_a_bridge_inside_a_container_does_not_lend_it_the_gateway_address():
    """Docker in a container: its inner docker0 has 172.17.0.1 too, which is not the container's."""
    from dataclasses import replace

    from dockerscope.kernel.attribution import _build_index

    snap = _snapshot(web_netns="pid:42")
    inner = Link(
        "pid:42",
        9,
        "docker0",
        "bridge",
        "02:42:00:00:00:09",
        "UP",
        1500,
        addresses=(Address(4, "172.17.0.1", 16),),
    )
    index = _build_index(replace(snap, links=(*snap.links, inner)), Hints())
    assert index.netns["pid:42"].id == WEB_ID and index.ip_owner["172.17.0.2"].id == WEB_ID
    assert "172.17.0.1" not in index.ip_owner


def test_docker_overlay_named_from_the_layer_store_when_the_api_is_silent(hints):
    from dataclasses import replace

    snap = replace(_snapshot(), mounts=(_docker_overlay(),))
    out = attribute(snap, Hints(docker_uppers=((UPPER, WEB_ID),)))
    assert out.mounts[0].owner == Owner("container", WEB_ID[:12], WEB_ID)
    named = attribute(snap, replace(hints, docker_uppers=((UPPER, WEB_ID),)))
    assert named.mounts[0].owner == Owner("container", "web", WEB_ID)


def test_same_container_address_in_two_labs_is_told_apart_by_namespace():
    """172.17.0.2 behind two bridges: a rule or flow names the container wired to its netns."""
    ids = {"a": "a" * 64, "b": "b" * 64}
    links, procs, netns, rules = [], [], [], []
    for n, (side, cid) in enumerate(ids.items()):
        inner = f"pid:{10 + n}"
        links.append(
            Link(
                inner,
                2,
                "eth0",
                "veth",
                "02:42:ac:11:00:02",
                "UP",
                1500,
                peer_netns=f"lab-{side}",
                addresses=(Address(4, "172.17.0.2", 16),),
            )
        )
        procs.append(ProcessNs(10 + n, "sh", (("net", 100 + n),), f"/dockerscope/{side}/{cid}"))
        netns.append(NetNs(100 + n, None, (10 + n,), label=inner))
        rules.append(
            Rule(
                f"lab-{side}",
                "nf_tables",
                "nat",
                "DOCKER",
                1,
                "-p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
            )
        )
    snap = Snapshot(
        taken_at=1.0,
        scope="host",
        links=tuple(links),
        netns=tuple(netns),
        processes=tuple(procs),
        rules=tuple(rules),
    )
    out = attribute(snap)
    assert [r.owner.id for r in out.rules] == [ids["a"], ids["b"]]
