"""Connection tracking entries of one network namespace (``conntrack -L``).

Each entry has an original tuple (as the first packet looked) and a reply tuple (what the answer
will look like). NAT shows as a reply tuple that is not the mirror image of the original one.
The observer reads them over ctnetlink (``read_netlink``); ``read`` runs ``conntrack -L -o
extended`` inside the namespace and parses its text, the fallback and what tests compare with.
Events (new and destroyed entries) come from a netlink socket in observer.py.
"""

from __future__ import annotations

import socket
import struct
import subprocess

from dockerscope.kernel.model import Flow
from dockerscope.kernel.netlink import Conn, Replay, index_attributes
from dockerscope.kernel.netlink_constants import (
    CTA_COUNTERS_BYTES,
    CTA_COUNTERS_ORIG,
    CTA_COUNTERS_PACKETS,
    CTA_COUNTERS_REPLY,
    CTA_IP_V4_DST,
    CTA_IP_V4_SRC,
    CTA_IP_V6_DST,
    CTA_IP_V6_SRC,
    CTA_PROTO_DST_PORT,
    CTA_PROTO_ICMP_ID,
    CTA_PROTO_NUM,
    CTA_PROTO_SRC_PORT,
    CTA_PROTOINFO,
    CTA_PROTOINFO_TCP,
    CTA_PROTOINFO_TCP_STATE,
    CTA_TUPLE_IP,
    CTA_TUPLE_ORIG,
    CTA_TUPLE_PROTO,
    CTA_TUPLE_REPLY,
    IPCTNL_MSG_CT_GET,
    IPCTNL_MSG_CT_NEW,
    NFNL_SUBSYS_CTNETLINK,
)

_KNOWN_PROTOS = {"tcp", "udp", "icmp", "udplite", "sctp", "dccp", "gre", "icmpv6", "unknown"}


class ConntrackFormatError(ValueError):
    """A conntrack line that does not have the two tuples."""


def parse_line(line: str, netns: str) -> Flow:
    """One line of ``conntrack -L`` (with or without ``-o extended``)."""
    tokens = line.split()
    # Extended output starts with "ipv4 2"; plain output starts with the protocol name.
    if tokens and tokens[0] in ("ipv4", "ipv6"):
        tokens = tokens[2:]
    if not tokens or tokens[0] not in _KNOWN_PROTOS:
        raise ConntrackFormatError(f"not a conntrack entry: {line!r}")
    proto = tokens[0]
    state = ""
    tuples: list[dict[str, str]] = []
    counters: list[tuple[int, int]] = []
    current: dict[str, str] | None = None
    for tok in tokens[1:]:
        if "=" not in tok:
            if tok.isupper() and not tok.startswith("[") and not tuples:
                state = tok  # "ESTABLISHED", "TIME_WAIT", ...
            continue
        key, _, value = tok.partition("=")
        if key == "src":
            current = {}
            tuples.append(current)
        if current is None:
            continue
        if key in ("packets", "bytes"):
            current[key] = value
            continue
        if key in ("mark", "use", "zone", "id", "secctx"):
            current = None  # tuple ended; what follows belongs to the entry
            continue
        current.setdefault(key, value)
    if len(tuples) < 2:
        raise ConntrackFormatError(f"need an original and a reply tuple: {line!r}")
    orig, reply = tuples[0], tuples[1]
    for t in (orig, reply):
        counters.append((int(t.get("packets", 0)), int(t.get("bytes", 0))))

    def port(t: dict[str, str], key: str) -> int:
        # icmp has no ports: use its id so an echo and its reply line up.
        value = t.get(key) or t.get("id") or "0"
        return int(value) if value.isdigit() else 0

    return Flow(
        netns=netns,
        proto=proto,
        state=state,
        orig_src=orig["src"],
        orig_dst=orig.get("dst", ""),
        orig_sport=port(orig, "sport"),
        orig_dport=port(orig, "dport"),
        reply_src=reply["src"],
        reply_dst=reply.get("dst", ""),
        reply_sport=port(reply, "sport"),
        reply_dport=port(reply, "dport"),
        packets=counters[0][0] + counters[1][0],
        bytes=counters[0][1] + counters[1][1],
    )


def parse(text: str, netns: str) -> list[Flow]:
    """All entries of a ``conntrack -L`` listing; summary and blank lines are skipped."""
    flows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("conntrack v") or "flow entries have been shown" in line:
            continue
        flows.append(parse_line(line, netns))
    return flows


def read(ns_path: str | None, netns: str, timeout: float = 10) -> list[Flow]:
    """Entries of the netns at ``ns_path`` (None: our own)."""
    cmd = ["conntrack", "-L", "-o", "extended"]
    if ns_path is not None:
        cmd = ["nsenter", f"--net={ns_path}", "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise OSError(f"conntrack -L failed: {proc.stderr.strip()}")
    return parse(proc.stdout, netns)


# ---------------------------------------------------------------------------------------------
# The same entries over ctnetlink: no process to start, which matters when a busy lab makes
# conntrack events many times a second.

_CT_PROTOS = {
    1: "icmp",
    6: "tcp",
    17: "udp",
    33: "dccp",
    47: "gre",
    58: "icmpv6",
    132: "sctp",
    136: "udplite",
}
_TCP_STATES = (
    "NONE",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSE",
    "SYN_SENT2",
)


def _tuple(d: bytes, start: int, end: int) -> tuple[str, str, int, int, int]:
    """(src, dst, sport, dport, proto number) of a CTA_TUPLE_* attribute."""
    src = dst = ""
    sport = dport = proto = 0
    at = index_attributes(d, start, end)
    if CTA_TUPLE_IP in at:
        ip = index_attributes(d, *at[CTA_TUPLE_IP])
        for t_src, t_dst, fam in (
            (CTA_IP_V4_SRC, CTA_IP_V4_DST, socket.AF_INET),
            (CTA_IP_V6_SRC, CTA_IP_V6_DST, socket.AF_INET6),
        ):
            if t_src in ip:
                src = socket.inet_ntop(fam, d[ip[t_src][0] : ip[t_src][1]])
            if t_dst in ip:
                dst = socket.inet_ntop(fam, d[ip[t_dst][0] : ip[t_dst][1]])
    if CTA_TUPLE_PROTO in at:
        proto_at = index_attributes(d, *at[CTA_TUPLE_PROTO])

        def be16(kind: int) -> int:
            begin = proto_at[kind][0]
            return int.from_bytes(d[begin : begin + 2], "big")

        if CTA_PROTO_NUM in proto_at:
            proto = d[proto_at[CTA_PROTO_NUM][0]]
        if CTA_PROTO_SRC_PORT in proto_at:
            sport = be16(CTA_PROTO_SRC_PORT)
        if CTA_PROTO_DST_PORT in proto_at:
            dport = be16(CTA_PROTO_DST_PORT)
        if CTA_PROTO_ICMP_ID in proto_at:  # stands in for both ports, as conntrack -L reads it
            sport = dport = be16(CTA_PROTO_ICMP_ID)
    return src, dst, sport, dport, proto


def _counters(d: bytes, start: int, end: int) -> tuple[int, int]:
    at = index_attributes(d, start, end)

    def be64(kind: int) -> int:
        if kind not in at:
            return 0
        begin = at[kind][0]
        return int.from_bytes(d[begin : begin + 8], "big")

    packets = be64(CTA_COUNTERS_PACKETS)
    nbytes = be64(CTA_COUNTERS_BYTES)
    return packets, nbytes


def decode_entry(d: bytes, off: int, netns: str) -> Flow | None:
    """One IPCTNL_MSG_CT_NEW message at ``off`` as a Flow (None without both tuples)."""
    length = struct.unpack_from("=I", d, off)[0]
    at = index_attributes(d, off + 16 + 4, off + length)  # after nlmsghdr and nfgenmsg
    if CTA_TUPLE_ORIG not in at or CTA_TUPLE_REPLY not in at:
        return None
    osrc, odst, osport, odport, proto = _tuple(d, *at[CTA_TUPLE_ORIG])
    rsrc, rdst, rsport, rdport, _ = _tuple(d, *at[CTA_TUPLE_REPLY])
    state = ""
    if CTA_PROTOINFO in at:  # -> CTA_PROTOINFO_TCP -> CTA_PROTOINFO_TCP_STATE
        info = index_attributes(d, *at[CTA_PROTOINFO])
        if CTA_PROTOINFO_TCP in info:
            tcp = index_attributes(d, *info[CTA_PROTOINFO_TCP])
            if CTA_PROTOINFO_TCP_STATE in tcp:
                number = d[tcp[CTA_PROTOINFO_TCP_STATE][0]]
                state = _TCP_STATES[number] if number < len(_TCP_STATES) else ""
    packets = nbytes = 0
    for t in (CTA_COUNTERS_ORIG, CTA_COUNTERS_REPLY):
        if t in at:
            p, b = _counters(d, *at[t])
            packets, nbytes = packets + p, nbytes + b
    return Flow(
        netns=netns,
        proto=_CT_PROTOS.get(proto, "unknown"),
        state=state,
        orig_src=osrc,
        orig_dst=odst,
        orig_sport=osport,
        orig_dport=odport,
        reply_src=rsrc,
        reply_dst=rdst,
        reply_sport=rsport,
        reply_dport=rdport,
        packets=packets,
        bytes=nbytes,
    )


def read_netlink(conn: Conn | Replay, netns: str) -> list[Flow]:
    """Every entry of the socket's namespace, IPv4 and IPv6, over ctnetlink."""
    mtype = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET
    out = []
    for t, _f, d, o in conn.dump(mtype, struct.pack("=BBH", socket.AF_UNSPEC, 0, 0)):
        if t == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW:
            flow = decode_entry(d, o, netns)
            if flow is not None:
                out.append(flow)
    return out
