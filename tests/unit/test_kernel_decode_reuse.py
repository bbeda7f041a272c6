"""Reusing decoded dumps: a message whose kept bytes are unchanged must decode the same.

``msglayouts.link_layouts``/``addr_layouts`` leave out the payloads that tick (packet counters,
IPv6 state, bridge timers, address flags and lifetimes); ``same_layouts`` then says whether a
fresh dump can reuse what was decoded. Checked here byte by byte on captured dumps: every
single-byte change either is seen as a change or leaves the decoded message as it was.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from dockerscope.kernel import msglayouts, netlink, netlink_constants, rtnetlink
from dockerscope.kernel.iproutes import read_routes

DATA = Path(__file__).parent.parent / "data" / "kernel"

Reply = tuple[int, int, bytes, int]


def replies(name: str) -> list[Reply]:
    return netlink.Replay((DATA / name).read_bytes()).replies()


def plain(value: Any) -> Any:
    """A decoded Msg (and the Msgs inside it) as plain dicts, to compare."""
    if isinstance(value, netlink.Msg):
        return {"fields": dict(value), "attrs": {k: plain(v) for k, v in value.attrs.items()}}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def with_byte(reply: Reply, at: int, value: int) -> Reply:
    t, f, d, o = reply
    b = bytearray(d)
    b[o + at] = value
    return (t, f, bytes(b), o)


def attr_offset(reply: Reply, body: int, atype: int) -> int:
    """Offset (from the message start) of the first top-level attribute of ``atype``."""
    _t, _f, d, o = reply
    end = o + struct.unpack_from("=I", d, o)[0]
    pos = o + 16 + body
    while pos + 4 <= end:
        alen, t = struct.unpack_from("=HH", d, pos)
        if t & netlink_constants.NLA_TYPE_MASK == atype:
            return pos - o
        pos += (alen + 3) & ~3
    raise AssertionError(f"no attribute {atype}")


def _every_byte(msgs: list[Reply], layouts: Any, decode: Any) -> tuple[int, int]:
    """Flip each byte of each message; return (seen as changed, reused) counts, asserting
    that every reuse decodes exactly as before."""
    changed = reused = 0
    for i, reply in enumerate(msgs):
        before = plain(decode(reply[2], reply[3]))
        length = struct.unpack_from("=I", reply[2], reply[3])[0]
        for at in range(length):
            mutated = with_byte(reply, at, reply[2][reply[3] + at] ^ 0x5A)
            fresh = msgs[:i] + [mutated] + msgs[i + 1 :]
            if msglayouts.same_layouts(fresh, layouts):
                assert plain(decode(mutated[2], mutated[3])) == before, (i, at)
                reused += 1
            else:
                changed += 1
    return changed, reused


def test_links_reused_only_when_decoding_would_give_the_same():
    msgs = replies("rtnl-links.nl")
    layouts = msglayouts.link_layouts(msgs)
    assert msglayouts.same_layouts(msgs, layouts)
    changed, reused = _every_byte(msgs, layouts, rtnetlink.decode_link)
    assert changed > 0 and reused > 0


def test_addresses_reused_only_when_decoding_would_give_the_same():
    msgs = replies("rtnl-addrs.nl")
    layouts = msglayouts.addr_layouts(msgs)
    changed, reused = _every_byte(msgs, layouts, rtnetlink.decode_addr)
    assert changed > 0 and reused > 0


def test_what_ticks_is_left_out_and_what_is_read_is_kept():
    msgs = replies("rtnl-links.nl")
    layouts = msglayouts.link_layouts(msgs)
    bridge = next(
        i
        for i, m in enumerate(msgs)
        if rtnetlink.decode_link(m[2], m[3]).get_attr("IFLA_IFNAME") == "docker0"
    )
    stats64 = attr_offset(msgs[bridge], 16, 23) + 4 + 8  # tx_packets, low byte
    name = attr_offset(msgs[bridge], 16, 3) + 4
    for at, same in ((stats64, True), (name, False), (8, True), (4, False)):  # seq; type
        fresh = list(msgs)
        fresh[bridge] = with_byte(msgs[bridge], at, msgs[bridge][2][msgs[bridge][3] + at] ^ 1)
        assert msglayouts.same_layouts(fresh, layouts) is same, at
    assert not msglayouts.same_layouts(msgs[:-1], layouts)  # a link gone
    addrs = replies("rtnl-addrs.nl")
    alayouts = msglayouts.addr_layouts(addrs)
    fresh = [with_byte(addrs[0], 18, addrs[0][2][addrs[0][3] + 18] ^ 0x40)] + addrs[1:]
    assert msglayouts.same_layouts(fresh, alayouts)  # IFA_F_TENTATIVE went away: not read


class _Reader:
    """What read_routes needs of an RtnlReader, over a captured dump."""

    def __init__(self, data: bytes):
        self.conn = netlink.Replay(data)
        self.memo: dict[str, Any] = {}

        class _Ref:
            label = "web"

        self.ref = _Ref()


def test_routes_follow_link_names_even_when_the_dump_is_the_same():
    reader = _Reader((DATA / "rtnl-routes-web.nl").read_bytes())
    first = read_routes(reader, {2: "eth0"})  # type: ignore[arg-type]
    assert {r.dev for r in first} == {"eth0"}
    assert read_routes(reader, {2: "eth0"}) == first  # type: ignore[arg-type]
    renamed = read_routes(reader, {2: "eth1"})  # type: ignore[arg-type]
    assert {r.dev for r in renamed} == {"eth1"}


class _Conn:
    """Answers dump requests with captured replies, by message type."""

    def __init__(self, answers: dict[int, list[Reply]]):
        self.answers = answers

    def dump(self, mtype: int, payload: bytes, tries: int = 5) -> list[Reply]:
        return self.answers[mtype]

    def close(self) -> None:
        pass


def test_reader_reuses_its_links_until_a_dump_says_something_new():
    import socket

    from dockerscope.kernel.links import RtnlReader
    from dockerscope.kernel.netns import NsRef

    reader = RtnlReader(NsRef("lab", "/proc/self/ns/net", 1), socket.socket(16, 2, 0))
    reader.conn.close()
    links, addrs = replies("rtnl-links.nl"), replies("rtnl-addrs.nl")
    conn = _Conn({netlink_constants.RTM_GETLINK: links, netlink_constants.RTM_GETADDR: addrs})
    reader.conn = conn  # type: ignore[assignment]
    first = reader.links()
    assert {r.link.name for r in first} == {"lo", "docker0", "vethd98d5a6"}
    assert reader.links() is first
    bridge = next(
        i
        for i, m in enumerate(links)
        if rtnetlink.decode_link(m[2], m[3]).get_attr("IFLA_IFNAME") == "docker0"
    )
    ticked = list(links)
    at = attr_offset(links[bridge], 16, 23) + 4
    ticked[bridge] = with_byte(links[bridge], at, links[bridge][2][links[bridge][3] + at] ^ 7)
    conn.answers[netlink_constants.RTM_GETLINK] = ticked
    assert reader.links() is first  # only a packet counter moved
    renamed = list(links)
    at = attr_offset(links[bridge], 16, 3) + 4
    renamed[bridge] = with_byte(links[bridge], at, ord("D"))
    conn.answers[netlink_constants.RTM_GETLINK] = renamed
    again = reader.links()
    assert again is not first and "Docker0" in {r.link.name for r in again}
    conn.answers[netlink_constants.RTM_GETADDR] = addrs[:-1]
    assert len([a for r in reader.links() for a in r.link.addresses]) == len(addrs) - 1
