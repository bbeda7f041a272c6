"""Sockets: the sock_diag decoder on captured dumps (capture_sockdiag.py), holders found through
a fake /proc tree, the diff, attribution and the ``socket`` expectation kind."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dockerscope.kernel import netlink, sockets
from dockerscope.kernel.attribution import attribute
from dockerscope.kernel.hints import ContainerHint, Hints
from dockerscope.kernel.model import NetNs, Owner, Snapshot, Socket, diff
from dockerscope.scenario.expectations import Observed, check, describe, validate
from dockerscope.scenario.expectations.schema import ParamError
from dockerscope.scenario.model import Expectation

DATA = Path(__file__).parent.parent / "data" / "kernel"


class _Diag:
    """Answers each of the four dumps with its captured datagrams, by family and protocol."""

    def __init__(self) -> None:
        self.asked: list[bytes] = []
        self.files = {
            (number, family): f"sockdiag-{name}{4 if family == 2 else 6}.nl"
            for name, number, family in sockets.DUMPS
        }

    def dump(self, mtype: int, payload: bytes, tries: int = 5) -> list[tuple[int, int, bytes, int]]:
        assert mtype == sockets.SOCK_DIAG_BY_FAMILY
        self.asked.append(payload)
        family, protocol = payload[0], payload[1]
        states = int.from_bytes(payload[4:8], "little")
        replies = netlink.Replay((DATA / self.files[(protocol, family)]).read_bytes()).replies()
        # as the kernel does: only sockets in the states asked for (inet_diag_msg's 2nd byte)
        return [r for r in replies if states & (1 << r[2][r[3] + 16 + 1])]


def _captured() -> list[Socket]:
    return sockets.dump_sockets(_Diag(), "web")  # type: ignore[arg-type]


def test_the_request_is_an_inet_diag_req_v2() -> None:
    req = sockets.diag_request(6, 10)
    assert len(req) == 56  # 8 bytes of header, a 48-byte socket id
    assert req[:8] == bytes([10, 6, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]) and not any(req[8:])


def test_decoder_on_captured_dumps() -> None:
    got = {(s.proto, s.family, s.local, s.local_port, s.remote_port): s for s in _captured()}
    assert len(got) == 6
    web = got[("tcp", 4, "0.0.0.0", 80, 0)]
    assert (web.state, web.inode, web.tx_queue, web.listening) == ("LISTEN", 867481, 128, True)
    server = got[("tcp", 4, "127.0.0.1", 80, 48248)]
    client = got[("tcp", 4, "127.0.0.1", 48248, 80)]
    assert server.state == client.state == "ESTAB" and not server.listening
    assert (server.remote, server.inode, client.inode) == ("127.0.0.1", 867484, 867483)
    v6 = got[("tcp", 6, "::", 8080, 0)]
    assert v6.state == "LISTEN" and v6.v6only and v6.inode == 867482
    dns = got[("udp", 4, "0.0.0.0", 53, 0)]
    assert dns.state == "UNCONN" and dns.listening and dns.inode == 867485
    mdns = got[("udp", 6, "::", 5353, 0)]
    assert mdns.listening and not mdns.v6only and mdns.netns == "web"


def test_reader_decodes_again_only_when_the_answer_changed() -> None:
    diag = _Diag()
    reader = sockets.SocketReader(diag, "web")  # type: ignore[arg-type]
    first = reader.read()
    assert len(first) == 6 and len(diag.asked) == 6  # listeners, connections: tcp x2; udp x2
    assert reader.read(connected=False) is first and len(diag.asked) == 10  # no table walk
    assert reader.read() is first and len(diag.asked) == 16
    diag.files[(6, 2)] = "sockdiag-tcp6.nl"  # the TCP/IPv4 answer changes
    assert reader.read() is not first


def test_connections_are_dumped_again_only_when_packets_moved() -> None:
    from types import SimpleNamespace

    from dockerscope.kernel.netns import NsRef
    from dockerscope.kernel.nsreads import read_sockets
    from dockerscope.kernel.nsstate import NamespaceState

    diag = _Diag()
    stats = netlink.Replay((DATA / "rtnl-stats.nl").read_bytes())  # link totals, unmoving
    state = NamespaceState(NsRef("web", "/x", 1), reader=SimpleNamespace(conn=stats))  # type: ignore[arg-type]
    state.diag = sockets.SocketReader(diag, "web")  # type: ignore[arg-type]
    connected = sockets.CONNECTED_STATES.to_bytes(4, "little")

    def walks() -> int:
        return sum(p[4:8] == connected for p in diag.asked)

    assert len(read_sockets(state)) == 6 and walks() == 2 and state.socket_packets
    read_sockets(state)  # the links' totals did not move: the listeners only
    assert walks() == 2
    state.socket_packets = 0  # as if packets had crossed the links since
    read_sockets(state)
    assert walks() == 4
    read_sockets(state, walk=True)  # the observer's round robin
    assert walks() == 6
    # Counted in the namespace: two TCP sockets in use, both listeners, no TIME-WAIT: the
    # connections are known to be none without walking the kernel's table.
    state.tcp_counts = (2, 0)
    found = read_sockets(state, walk=True)
    assert walks() == 6 and {s.state for s in found if s.proto == "tcp"} == {"LISTEN"}
    state.tcp_counts = (4, 0)  # two more: connections to dump (the count moved)
    assert len(read_sockets(state)) == 6 and walks() == 8
    state.tcp_counts = (4, 0)  # unchanged, and no packet moved: keep the last ones
    assert len(read_sockets(state)) == 6 and walks() == 8


def test_tcp_counts_are_read_in_the_callers_namespace() -> None:
    counts = sockets.tcp_in_use_here()
    assert counts is not None and all(isinstance(n, int) and n >= 0 for n in counts)


def _fake_proc(root: Path, procs: dict[int, tuple[str, list[int], int]]) -> str:
    """pid -> (comm, socket inodes held, netns inode), as /proc shows them."""
    for pid, (comm, inodes, net) in procs.items():
        d = root / str(pid)
        (d / "fd").mkdir(parents=True)
        (d / "ns").mkdir()
        (d / "comm").write_text(comm + "\n")
        (d / "cgroup").write_text("0::/dockerscope/lab/" + "ab" * 32 + "\n")
        os.symlink(f"net:[{net}]", d / "ns" / "net")
        os.symlink("/dev/null", d / "fd" / "0")
        for n, inode in enumerate(inodes, 3):
            os.symlink(f"socket:[{inode}]", d / "fd" / str(n))
    return str(root)


def test_inode_owners_walk_near_processes_first_and_cache(tmp_path: Path) -> None:
    proc = _fake_proc(
        tmp_path,
        {
            10: ("dockerd", [500, 501], 1),  # a daemon in the host holding a lab listener
            20: ("httpd", [600], 2),
            21: ("sh", [], 2),
        },
    )
    owners = sockets.InodeOwners(proc, rescan_every=2)
    got = owners.resolve([([600], [20, 21]), ([500], [])], live={10, 20, 21})
    assert got == {600: (20, "httpd"), 500: (10, "dockerd")}
    walks = owners.walks
    assert owners.resolve([([600], [20, 21]), ([500], [])]) == got
    assert owners.walks == walks  # cached by inode: no walk at all
    # An inode nobody holds is looked for everywhere once, then only every other refresh.
    owners.resolve([([600, 999], [20])])
    after_miss = owners.walks
    owners.resolve([([600, 999], [20])])
    assert owners.walks == after_miss
    # A holder that is gone is forgotten, and looked for again.
    shutil.rmtree(tmp_path / "20")
    assert owners.resolve([([600], [20])], live={10}) == {}


def test_with_owners_sets_pid_and_command() -> None:
    found = sockets.with_owners(_captured(), {867481: (20, "httpd")})
    web = next(s for s in found if s.inode == 867481)
    assert (web.pid, web.command, web.program) == (20, "httpd", "httpd (pid 20)")
    assert all(s.pid is None for s in found if s.inode != 867481)


@pytest.mark.parametrize(
    ("local", "v6only", "ip", "ok"),
    [
        ("0.0.0.0", False, "172.17.0.2", True),
        ("0.0.0.0", False, "::1", False),
        ("::", False, "172.17.0.2", True),  # a dual-stack listener takes IPv4 too
        ("::", True, "172.17.0.2", False),
        ("::", True, "fd00::2", True),
        ("127.0.0.1", False, "172.17.0.2", False),
        ("127.0.0.1", False, "127.0.0.1", True),
        ("127.0.0.1", False, "", True),
    ],
)
def test_listener_matches(local: str, v6only: bool, ip: str, ok: bool) -> None:
    s = Socket("web", "tcp", 6 if ":" in local else 4, "LISTEN", local, 80, "", 0, v6only=v6only)
    assert sockets.listener_matches(s, "tcp", ip, 80) is ok
    assert not sockets.listener_matches(s, "tcp", ip, 81)
    assert not sockets.listener_matches(replace(s, state="ESTAB"), "tcp", ip, 80)


def _snap(*socks: Socket) -> Snapshot:
    return Snapshot(
        0.0,
        "lab:t1",
        netns=(NetNs(1, "web", label="web"), NetNs(2, "t1", label="t1")),
        sockets=socks,
    )


WEB = Socket("web", "tcp", 4, "LISTEN", "0.0.0.0", 80, "0.0.0.0", 0, 7, pid=20, command="httpd")
PROXY = Socket("t1", "tcp", 4, "LISTEN", "0.0.0.0", 8080, "0.0.0.0", 0, 8, pid=10, command="dsd")


def test_diff_and_json_round_trip() -> None:
    conn = Socket("web", "tcp", 4, "ESTAB", "172.17.0.2", 80, "172.17.0.1", 40000, 9)
    a, b = _snap(WEB), _snap(replace(WEB, rx_queue=1), conn)
    changes = diff(a, b)
    assert {(c.collection, c.action) for c in changes.changes} == {
        ("sockets", "changed"),
        ("sockets", "added"),
    }
    assert Snapshot.from_json(b.to_json()) == b
    again = changes.changes[0].from_json(changes.changes[0].to_json())
    assert again == changes.changes[0]


def test_attribution_names_the_container_and_the_published_port() -> None:
    hints = Hints(
        containers=(ContainerHint("c" * 64, "web", ports=((8080, "tcp", 80),)),),
        lab="t1",
        container_netns=("web",),
    )
    snap = attribute(_snap(WEB, PROXY), hints)
    owners = {s.local_port: s.owner for s in snap.sockets}
    assert owners[80] == Owner("container", "web", "c" * 64)
    assert owners[8080] == Owner("port", "8080/tcp -> web:80", "c" * 64)


def _observed(*socks: Socket, before: tuple[Socket, ...] = ()) -> Observed:
    hints = Hints(
        containers=(ContainerHint("c" * 64, "web", ports=((8080, "tcp", 80),)),),
        lab="t1",
        container_netns=("web",),
    )
    return Observed.between(attribute(_snap(*before), hints), attribute(_snap(*socks), hints))


def _exp(**params: Any) -> Expectation:
    validate("socket", params)
    return Expectation("socket", params)


def test_socket_expectation() -> None:
    e = _exp(proto="tcp", port=80, listening=True, container="web", program="httpd")
    assert describe(e) == "a listening tcp socket on port 80 in container web, owned by httpd"
    assert check(e, _observed(WEB, PROXY)).ok
    verdict = check(e, _observed(PROXY))
    assert not verdict.ok and "none present" in verdict.detail
    assert not check(e, _observed(replace(WEB, command="nc"))).ok
    proxy = _exp(port=8080, netns="lab", owner="port 8080/tcp*", listening=True)
    assert check(proxy, _observed(WEB, PROXY)).ok
    assert describe(proxy).startswith("a listening socket on port 8080 in the lab's namespace")
    added = _exp(port=80, action="added")
    assert check(added, _observed(WEB, before=(PROXY,))).ok
    assert not check(added, _observed(WEB, before=(WEB,))).ok
    gone = _exp(port=80, action="absent")
    assert describe(gone) == "no socket on port 80"
    assert not check(gone, _observed(WEB)).ok


def test_socket_expectation_params_are_checked() -> None:
    with pytest.raises(ParamError) as err:
        validate("socket", {"proto": "sctp"})
    assert err.value.field == "proto"
    with pytest.raises(ParamError):
        validate("socket", {"port": "80"})
