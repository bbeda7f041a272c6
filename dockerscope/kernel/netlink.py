"""Netlink over a plain socket: requests and dumps, message and attribute walking.

pyroute2 decodes every attribute of every message through an asyncio round trip, which costs
milliseconds per namespace; the observer re-reads on every event and polls counters, so it reads
the few attributes it needs with ``struct`` instead (rtnetlink.py, nftables.py, conntrack.py).
Messages come back as ``Msg`` objects with pyroute2's access style (``msg.get(field)``,
``msg.get_attr("IFLA_IFNAME")``) so the builders in links.py and iproutes.py work on either.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

from dockerscope.kernel.netlink_constants import (
    NETLINK_GET_STRICT_CHK,
    NLA_TYPE_MASK,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    SOL_NETLINK,
)

NLMSGHDR = struct.Struct("=IHHII")
NLATTR = struct.Struct("=HH")
IFINFOMSG = struct.Struct("=BxHiII")
IFADDRMSG = struct.Struct("=BBBBI")
RTMSG = struct.Struct("=BBBBBBBBI")
U32 = struct.Struct("=I")
S32 = struct.Struct("=i")


class DumpInterrupted(OSError):
    """The kernel's table changed during the dump; retry."""


class Msg(dict[str, Any]):
    """A decoded message: header fields as dict items, attributes by name."""

    def __init__(self, fields: dict[str, Any] | None = None, attrs: dict[str, Any] | None = None):
        super().__init__(fields or {})
        self.attrs: dict[str, Any] = {} if attrs is None else attrs

    def get_attr(self, name: str) -> Any:
        return self.attrs.get(name)


def attributes(data: bytes | memoryview, off: int, end: int) -> Iterator[tuple[int, memoryview]]:
    """(type, payload) of each netlink attribute between ``off`` and ``end``."""
    view = memoryview(data)
    while off + 4 <= end:
        length, atype = NLATTR.unpack_from(view, off)
        if length < 4:
            return
        yield atype & NLA_TYPE_MASK, view[off + 4 : off + length]
        off += (length + 3) & ~3


def index_attributes(d: bytes, off: int, end: int) -> dict[int, tuple[int, int]]:
    """type -> (start, end) of each attribute's payload (first occurrence), without copying."""
    out: dict[int, tuple[int, int]] = {}
    unpack = NLATTR.unpack_from
    while off + 4 <= end:
        length, atype = unpack(d, off)
        if length < 4:
            break
        out.setdefault(atype & NLA_TYPE_MASK, (off + 4, off + length))
        off += (length + 3) & ~3
    return out


def attr_str(v: memoryview) -> str:
    return bytes(v).split(b"\0", 1)[0].decode(errors="replace")


def attr_u32(v: memoryview) -> int:
    return int(struct.unpack_from("=I", v)[0])


def attr_s32(v: memoryview) -> int:
    return int(struct.unpack_from("=i", v)[0])


def attr_mac(v: memoryview) -> str:
    return ":".join(f"{b:02x}" for b in bytes(v))


def attr_ip(family: int, v: memoryview) -> str:
    return socket.inet_ntop(family, bytes(v))


class Conn:
    """Request/response over one netlink socket (blocking, used from one thread)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.setblocking(True)
        self._seq = int.from_bytes(os.urandom(2), "little")
        #: when a list, every reply datagram is appended to it (to capture test samples)
        self.tap: list[bytes] | None = None

    def close(self) -> None:
        self.sock.close()

    def request(self, mtype: int, flags: int, payload: bytes) -> list[tuple[int, int, bytes, int]]:
        """Send one request; return (type, flags, datagram, offset of payload) per reply."""
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        seq = self._seq
        msg = (
            NLMSGHDR.pack(NLMSGHDR.size + len(payload), mtype, flags | NLM_F_REQUEST, seq, 0)
            + payload
        )
        self.sock.send(msg)
        out: list[tuple[int, int, bytes, int]] = []
        interrupted = False
        while True:
            data = self.sock.recv(1 << 17)
            if self.tap is not None:
                self.tap.append(data)
            off = 0
            while off + NLMSGHDR.size <= len(data):
                length, rtype, rflags, rseq, _pid = NLMSGHDR.unpack_from(data, off)
                if length < NLMSGHDR.size:
                    break
                if rseq != seq:  # a stale answer to an earlier, abandoned request
                    off += (length + 3) & ~3
                    continue
                if rflags & NLM_F_DUMP_INTR:
                    interrupted = True
                if rtype == NLMSG_DONE:
                    if interrupted:
                        raise DumpInterrupted(errno.EINTR, "netlink dump interrupted")
                    return out
                if rtype == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", data, off + NLMSGHDR.size)
                    if err == 0:  # an ACK
                        return out
                    raise OSError(-err, os.strerror(-err))
                out.append((rtype, rflags, data, off))
                if not rflags & NLM_F_MULTI:
                    return out
                off += (length + 3) & ~3

    def dump(self, mtype: int, payload: bytes, tries: int = 5) -> list[tuple[int, int, bytes, int]]:
        """A dump request, retried when the kernel reports it was interrupted."""
        for attempt in range(tries):
            try:
                return self.request(mtype, NLM_F_DUMP, payload)
            except DumpInterrupted:
                if attempt == tries - 1:
                    raise
        return []


def strict(sock: socket.socket) -> bool:
    """Ask the kernel to check dump requests strictly and honour their filters (4.20+)."""
    try:
        sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
    except OSError:
        return False
    return True


class Replay:
    """Answers every request with messages recorded from a real dump (for parser tests)."""

    def __init__(self, data: bytes):
        self.data = data

    def replies(self) -> list[tuple[int, int, bytes, int]]:
        out = []
        off = 0
        while off + NLMSGHDR.size <= len(self.data):
            length, rtype, rflags, _seq, _pid = NLMSGHDR.unpack_from(self.data, off)
            if length < NLMSGHDR.size:
                break
            if rtype not in (NLMSG_DONE, NLMSG_ERROR):
                out.append((rtype, rflags, self.data, off))
            off += (length + 3) & ~3
        return out

    def request(self, mtype: int, flags: int, payload: bytes) -> list[tuple[int, int, bytes, int]]:
        return self.replies()

    def dump(self, mtype: int, payload: bytes, tries: int = 5) -> list[tuple[int, int, bytes, int]]:
        return self.replies()


def content(replies: list[tuple[int, int, bytes, int]]) -> bytes:
    """The messages of a reply as bytes, without the sequence number and port id that make
    every answer differ: equal content means the kernel said the same thing."""
    parts = []
    for _t, _f, d, o in replies:
        end = o + NLMSGHDR.unpack_from(d, o)[0]
        parts.append(d[o : o + 8])  # length, type, flags
        parts.append(d[o + NLMSGHDR.size : end])
    return b"".join(parts)
