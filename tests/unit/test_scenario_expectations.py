"""Every expectation kind, on crafted snapshots: one that holds and one that does not."""

from __future__ import annotations

from typing import Any

import pytest

from dockerscope.kernel.model import (
    ApiCall,
    Cgroup,
    Flow,
    Link,
    NetNs,
    OverlayMount,
    Owner,
    ProcessNs,
    Route,
    Rule,
    Snapshot,
    Socket,
    UpperEntry,
)
from dockerscope.scenario.expectations import (
    KINDS,
    Observed,
    ParamError,
    check,
    compare,
    describe,
    parse_compare,
    validate,
)
from dockerscope.scenario.model import CommandResult, Expectation

LAB = "lab1"
WEB = Owner("container", "web", "abc")


def snap(**cols: Any) -> Snapshot:
    return Snapshot(taken_at=1.0, scope=f"lab:{LAB}", **cols)


DOCKER0 = Link(LAB, 3, "docker0", "bridge", "02:42:00:00:00:01", "UP", 1500)
BR = Link(LAB, 5, "br-12eeb8c4266b", "bridge", "02:42:00:00:00:02", "UP", 1500)
VETH = Link(
    LAB, 7, "vethd98d5a6", "veth", "8e:00:00:00:00:01", "UP", 1500, master="docker0", owner=WEB
)
DNAT = Rule(
    LAB,
    "nf_tables",
    "nat",
    "DOCKER",
    3,
    "! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:8080",
)
FLOW = Flow(
    LAB,
    "tcp",
    "TIME_WAIT",
    "172.17.0.1",
    "172.17.0.1",
    40000,
    8080,
    "172.17.0.2",
    "172.17.0.1",
    8080,
    40000,
)
PLAIN_FLOW = Flow(
    LAB,
    "tcp",
    "ESTABLISHED",
    "172.17.0.2",
    "1.1.1.1",
    40000,
    53,
    "1.1.1.1",
    "172.17.0.2",
    53,
    40000,
)


def ok(kind: str, params: Any, before: Snapshot, after: Snapshot, **kw: Any) -> tuple[bool, str]:
    validate(kind, params)  # every crafted example is also a valid file entry
    v = check(Expectation(kind, params), Observed.between(before, after, **kw))
    return v.ok, v.detail


def test_compare_forms() -> None:
    assert parse_compare(">=20") == (">=", 20.0)
    assert parse_compare("=64m") == ("==", 64 * 1024 * 1024)
    assert compare(137, 137) and compare(1, ">0") and not compare(0, ">0")
    assert compare(5, "!=0") and not compare(None, ">0")
    assert compare(19, [">=18", "<=20"]) and not compare(21, [">=18", "<=20"])
    with pytest.raises(ValueError):
        parse_compare("lots")


def test_link_added_and_not() -> None:
    before, after = snap(links=(DOCKER0,)), snap(links=(DOCKER0, BR))
    assert ok("link", {"kind": "bridge", "name": "br-*", "action": "added"}, before, after)[0]
    good, detail = ok("link", {"kind": "bridge", "name": "br-*"}, after, after)
    assert not good and "none added" in detail
    assert ok("link", {"name": "br-*", "action": "removed"}, after, before)[0]
    assert ok("link", {"name": "docker0", "action": "present", "netns": "lab"}, after, after)[0]
    assert not ok("link", {"name": "docker0", "action": "absent"}, after, after)[0]
    assert not ok("link", {"name": "br-*", "action": "added", "count": "2"}, before, after)[0]


def test_rule_match_and_counters() -> None:
    moved = Rule(**{**DNAT.__dict__, "packets": 3})
    before, after = snap(), snap(rules=(DNAT,))
    params = {"table": "nat", "chain": "DOCKER", "match": "--dport 8080 -j DNAT"}
    assert ok("rule", params, before, after)[0]
    assert not ok("rule", {**params, "table": "filter"}, before, after)[0]
    assert not ok("rule", {**params, "action": "present", "moved": True}, after, after)[0]
    assert ok("rule", {**params, "action": "present", "moved": True}, after, snap(rules=(moved,)))[
        0
    ]
    assert ok(
        "rule", {**params, "action": "present", "packets": ">=3"}, after, snap(rules=(moved,))
    )[0]
    # '-A CHAIN' is part of what the regex sees, as in iptables-save
    assert ok("rule", {"match": "^-A DOCKER !", "action": "present"}, after, after)[0]


def test_veth_on() -> None:
    before, after = snap(links=(DOCKER0,)), snap(links=(DOCKER0, VETH))
    assert ok("veth_on", "docker0", before, after)[0]
    assert not ok("veth_on", "br-*", before, after)[0]
    assert ok("veth_on", {"bridge": "*", "action": "added", "count": "0"}, after, after)[0]
    assert ok("veth_on", {"bridge": "docker0", "action": "removed"}, after, before)[0]


def test_flow() -> None:
    s = snap(flows=(FLOW, PLAIN_FLOW))
    assert ok("flow", {"dnat": True, "dport": 8080, "to": "172.17.*"}, snap(), s)[0]
    good, detail = ok("flow", {"dnat": True, "dport": 9090}, snap(), s)
    assert not good and "none present" in detail
    assert ok("flow", {"dnat": False, "dport": 53}, snap(), s)[0]


def test_cgroup_figures() -> None:
    cg = Cgroup(
        "/dockerscope/lab1/abc",
        1,
        memory_limit=32 * 1024 * 1024,
        oom_kills=1,
        pids_current=20,
        pids_limit=20,
        cpu_shares=256,
        owner=WEB,
    )
    s = snap(cgroups=(cg,))
    assert ok("cgroup", {"owner": "web", "oom_kills": ">0", "memory_limit": "=32m"}, s, s)[0]
    assert ok("cgroup", {"owner": "web", "pids_current": "=20", "pids_limit": 20}, s, s)[0]
    good, detail = ok("cgroup", {"owner": "web", "cpu_shares": "=1024"}, s, s)
    assert not good and "cpu_shares=256" in detail  # says what it saw instead
    assert not ok("cgroup", {"owner": "other", "oom_kills": ">0"}, s, s)[0]
    assert ok("cgroup", {"owner": "web", "action": "added"}, snap(), s)[0]


def test_cpu_ratio() -> None:
    hi, lo = Owner("container", "cpu-high"), Owner("container", "cpu-low")
    before = snap(cgroups=(Cgroup("/l/lo", 1, cpu_usage_ns=1_000_000_000, owner=lo),))
    after = snap(
        cgroups=(
            Cgroup("/l/lo", 1, cpu_usage_ns=1_500_000_000, owner=lo),  # +0.5 s
            Cgroup("/l/hi", 1, cpu_usage_ns=2_000_000_000, owner=hi),  # new: 2 s
        )
    )
    good, detail = ok(
        "cpu_ratio", {"faster": "cpu-high", "slower": "cpu-low", "ratio": ">=3"}, before, after
    )
    assert good and "4.0 times" in detail
    assert not ok(
        "cpu_ratio", {"faster": "cpu-low", "slower": "cpu-high", "ratio": ">=1"}, before, after
    )[0]
    assert not ok(
        "cpu_ratio", {"faster": "cpu-high", "slower": "ghost", "ratio": ">=1"}, before, after
    )[0]


def _result(cmd: str, code: int, out: str = "", err: str = "", bg: bool = False) -> CommandResult:
    return CommandResult("docker", cmd, code, out, err, background=bg)


def test_output_and_exit_code() -> None:
    s = snap()
    results = (
        _result("a", 0, "first\n"),
        _result("b", 137, "", "Killed\n"),
        _result("c", None, "", bg=True),
    )  # type: ignore[arg-type]
    assert ok("output", "Killed", s, s, results=results)[0]  # last foreground command
    assert ok("output", {"contains": "first", "command": 0}, s, s, results=results)[0]
    assert not ok("output", {"contains": "Killed", "stream": "stdout"}, s, s, results=results)[0]
    assert ok("output", {"matches": "^Kil+ed$"}, s, s, results=results)[0]
    assert ok("output", {"not_contains": "hello"}, s, s, results=results)[0]
    assert ok("exit_code", 137, s, s, results=results)[0]
    assert ok("exit_code", {"code": 0, "command": 0}, s, s, results=results)[0]
    good, detail = ok("exit_code", 0, s, s, results=results)
    assert not good and "exited 137" in detail
    assert not ok("exit_code", 0, s, s)[0]  # no command at all


def _mount(
    owner: Owner, *entries: UpperEntry, lowers: tuple[str, ...] = ("/l/1", "/l/0")
) -> OverlayMount:
    return OverlayMount(
        f"/m/{owner.name}", lowers, f"/u/{owner.name}", f"/w/{owner.name}", entries, owner
    )


def test_mount_and_whiteout() -> None:
    a = Owner("container", "cow-a")
    empty = _mount(a)
    wrote = _mount(a, UpperEntry("tmp/newfile", "file", 3), UpperEntry("etc/motd", "whiteout"))
    assert ok("mount", {"owner": "cow-a", "action": "added"}, snap(), snap(mounts=(empty,)))[0]
    assert ok(
        "mount",
        {"upper_contains": "tmp/newfile", "action": "added"},
        snap(mounts=(empty,)),
        snap(mounts=(wrote,)),
    )[0]
    assert not ok("mount", {"upper_contains": "tmp/other"}, snap(), snap(mounts=(wrote,)))[0]
    assert ok("whiteout", "etc/motd", snap(), snap(mounts=(wrote,)))[0]
    assert not ok("whiteout", "tmp/newfile", snap(), snap(mounts=(wrote,)))[0]


def test_layers_shared() -> None:
    # each container has its own init layer on top of the image's two layers
    a = _mount(Owner("container", "cow-a"), lowers=("/c/a/init", "/l/1", "/l/0"))
    b = _mount(Owner("container", "cow-b"), lowers=("/c/b/init", "/l/1", "/l/0"))
    c = _mount(Owner("container", "cow-c"), lowers=("/c/c/init", "/l/0"))
    d = _mount(Owner("container", "other"), lowers=("/x/9",))
    s = snap(mounts=(a, b, c, d))
    good, detail = ok("layers_shared", {"a": "cow-a", "b": "cow-b", "count": ">=2"}, s, s)
    assert good and "share the bottom 2 of their 3/3 layers" in detail
    good, detail = ok("layers_shared", {"a": "cow-a", "b": "cow-c", "count": ">=2"}, s, s)
    assert not good and "bottom 1" in detail
    assert ok("layers_shared", {"a": "cow-a", "b": "other", "shared": False}, s, s)[0]
    assert not ok("layers_shared", {"a": "cow-a", "b": "nobody"}, s, s)[0]


def _proc(pid: int, net: int, owner: Owner | None, comm: str = "sleep") -> ProcessNs:
    return ProcessNs(pid, comm, (("net", net), ("pid", 9000 + pid)), owner=owner)


def test_netns_shared() -> None:
    hostnet = Owner("container", "hostnet")
    other = Owner("container", "web")
    s = snap(
        netns=(NetNs(4026531001, LAB), NetNs(4026531002, "web")),
        processes=(_proc(10, 4026531001, hostnet), _proc(11, 4026531002, other)),
    )
    assert ok("netns_shared", {"a": "hostnet", "b": "lab"}, s, s)[0]
    assert ok("netns_shared", {"a": "web", "b": "lab", "shared": False}, s, s)[0]
    good, detail = ok("netns_shared", {"a": "web", "b": "hostnet"}, s, s)
    assert not good and "do not share" in detail
    assert not ok("netns_shared", {"a": "ghost", "b": "lab"}, s, s)[0]
    assert ok("netns", {"action": "added", "count": "=2"}, snap(), s)[0]
    assert ok("process", {"comm": "sleep", "owner": "web"}, s, s)[0]
    assert not ok("process", {"comm": "nc", "owner": "web"}, s, s)[0]


def test_route() -> None:
    r = Route("web", "default", "eth0", gateway="172.17.0.1")
    assert ok("route", {"dst": "default", "dev": "eth0"}, snap(), snap(routes=(r,)))[0]
    assert not ok("route", {"dst": "default", "dev": "eth1"}, snap(), snap(routes=(r,)))[0]


def test_api_traffic() -> None:
    calls = (
        ApiCall(
            1, 1.0, "POST", "/v1.41/containers/create?name=x", 201, client_container="clientbox"
        ),
        ApiCall(2, 1.1, "GET", "/v1.41/version", 200),
    )
    s = snap()
    assert ok(
        "api",
        {"method": "POST", "path": "*/containers/create", "status": "201"},
        s,
        s,
        traffic=calls,
    )[0]
    assert ok(
        "api", {"path": "*/containers/create", "from_container": "clientbox"}, s, s, traffic=calls
    )[0]
    assert not ok("api", {"path": "*/version", "from_container": True}, s, s, traffic=calls)[0]
    good, detail = ok("api", {"method": "DELETE"}, s, s, traffic=calls)
    assert not good and "last seen" in detail


def test_api_ignores_the_observers_own_calls() -> None:
    probe = ApiCall(3, 1.2, "GET", "/containers/json", 200, user_agent="dockerscope-observer")
    s = snap()
    assert not ok("api", {"method": "GET", "path": "*/containers/json"}, s, s, traffic=(probe,))[0]


def test_the_observers_user_agent_is_the_one_api_checks_leave_out() -> None:
    from dockerscope.kernel.hints import OBSERVER_AGENT as sent
    from dockerscope.scenario.expectations.traffic import OBSERVER_AGENT as ignored

    assert sent == ignored


def test_every_kind_is_tested_here() -> None:
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for kind in KINDS:
        assert f'"{kind}"' in source, f"no test for expectation kind {kind}"


def test_validation_names_the_field() -> None:
    with pytest.raises(ParamError) as info:
        validate("rule", {"table": "nat", "match": "(unclosed"})
    assert info.value.field == "match"
    with pytest.raises(ParamError) as info:
        validate("link", {"nmae": "br-*"})
    assert info.value.field == "nmae"


def test_a_miss_mentions_what_the_observer_could_not_read() -> None:
    after = Snapshot(taken_at=2.0, scope="lab:lab1", errors=("links lab1: ENOBUFS",))
    v = check(Expectation("link", {"name": "br-*"}), Observed.between(snap(), after))
    assert not v.ok and "could not read: links lab1: ENOBUFS" in v.detail


def test_socket() -> None:
    web = Socket("web", "tcp", 4, "LISTEN", "0.0.0.0", 80, "0.0.0.0", 0, 7, pid=20,
                 command="httpd", owner=Owner("container", "web"))
    s = snap(sockets=(web,))
    params = {"proto": "tcp", "port": 80, "listening": True, "container": "web",
              "program": "httpd"}
    assert ok("socket", params, snap(), s)[0]
    good, detail = ok("socket", {**params, "program": "nginx"}, snap(), s)
    assert not good and "none present" in detail
    assert ok("socket", {"port": 80, "action": "added"}, snap(), s)[0]
    assert not ok("socket", {"port": 80, "action": "added"}, s, s)[0]


def test_descriptions_read_like_sentences() -> None:
    def d(kind: str, params: Any) -> str:
        return describe(Expectation(kind, params))

    assert d("link", {"kind": "bridge", "name": "br-*", "action": "added"}) == "bridge br-* added"
    assert d("rule", {"chain": "DOCKER", "match": "DNAT", "moved": True}) == (
        "nat/DOCKER: rule /DNAT/ added, its counter moving"
    )
    assert d("cgroup", {"owner": "web", "oom_kills": ">0"}) == "cgroup of web: oom kills >0"
    assert d("api", {"path": "/_ping", "count": "0"}) == "no request /_ping crossed the socket"
    assert d("exit_code", 137) == "the command exits 137"
    assert d("veth_on", "docker0") == "veth on docker0 added"
    assert d("socket", {"proto": "udp", "port": 53, "container": "dns"}) == (
        "a udp socket on port 53 in container dns"
    )


def test_a_crashing_check_is_a_failed_verdict() -> None:
    v = check(Expectation("rule", {"match": "("}), Observed.between(snap(), snap(rules=(DNAT,))))
    assert not v.ok and "check failed" in v.detail
