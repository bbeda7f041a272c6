"""A packet source: an AF_PACKET socket inside any network namespace, filtered in the kernel.

The socket is created inside the target netns by switching the calling thread in for the one
``socket()`` call and straight back (``setns`` moves only the calling thread, and a socket keeps
the netns it was born in); everything after that (bind, filter, reads) works from any thread.
It is born with protocol 0 so it receives nothing, gets its BPF program, and only then binds to
the interface with ETH_P_ALL: no unfiltered packet slips in between.

Reads are non-blocking: :meth:`Capture.read` drains what is queued (for asyncio's
``add_reader`` or a select loop), :meth:`Capture.packets` blocks in a plain thread and
:meth:`Capture.stream` is the asyncio form. When the interface or the netns goes away (a
container removed) the capture ends with :attr:`Capture.ended` saying why, never an exception.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import os
import select
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from dockerscope.kernel.packets import bpf
from dockerscope.kernel.packets.decode import decode
from dockerscope.kernel.packets.records import Packet

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_AUXDATA = 8
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
SIOCGIFINDEX = 0x8933
TP_STATUS_VLAN_VALID = 0x10
#: How often a waiting capture checks that its interface and netns are still there.
LIVENESS_EVERY = 0.5
#: Interface name meaning "every interface of the netns".
ANY = "any"

_libc = ctypes.CDLL(None, use_errno=True)
_auxdata = struct.Struct("IIIHHHH")  # struct tpacket_auxdata
_timespec = struct.Struct("qq")
_ancbufsize = socket.CMSG_SPACE(_auxdata.size) + socket.CMSG_SPACE(_timespec.size)
#: sll_hatype values whose frames start with an Ethernet header (ether, loopback).
ETHERNET_LIKE = (1, 772)


class CaptureError(Exception):
    """A capture that cannot start: no root, no such netns or interface, a bad filter."""


@dataclass(frozen=True)
class Stats:
    """The kernel's counts for this socket since it opened (PACKET_STATISTICS, summed)."""

    received: int  # packets the filter accepted (delivered + dropped)
    dropped: int  # of those, dropped because our receive queue was full


def netns_label(path: str | None) -> str:
    """A short name for a netns: the pin file's name, or ``host`` for our own."""
    return "host" if path is None else Path(path).name


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        if err == errno.EPERM:
            raise CaptureError(f"entering netns {what} needs root (CAP_SYS_ADMIN)")
        raise CaptureError(f"cannot enter netns {what}: {os.strerror(err)}")


def packet_socket(netns: str | None) -> socket.socket:
    """A raw AF_PACKET socket, receiving nothing yet, created inside the netns at ``netns``."""
    kind = socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
    try:
        if netns is None:
            return socket.socket(socket.AF_PACKET, kind, 0)
        try:
            target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise CaptureError(f"no netns at {netns}") from None
        try:
            saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(target, netns)
                try:
                    return socket.socket(socket.AF_PACKET, kind, 0)
                finally:
                    _setns(saved, "of this thread (going back)")
            finally:
                os.close(saved)
        finally:
            os.close(target)
    except PermissionError:
        raise CaptureError("capturing packets needs root (CAP_NET_RAW)") from None


def _ifindex(sock: socket.socket, name: str) -> int:
    """The index of ``name`` in the socket's netns (an ioctl on the socket itself)."""
    req = struct.pack("16si12x", name.encode()[:15], 0)
    return int(struct.unpack("16si12x", fcntl.ioctl(sock.fileno(), SIOCGIFINDEX, req))[1])


def _bind(sock: socket.socket, ifindex: int) -> None:
    """Bind to ``ifindex`` (0: every interface) for ETH_P_ALL.

    Through libc: Python's AF_PACKET bind takes an interface name and has no way to say "all".
    """
    addr = (
        struct.pack("=H", socket.AF_PACKET)
        + struct.pack("!H", ETH_P_ALL)
        + struct.pack("=iHBB8s", ifindex, 0, 0, 0, b"")
    )
    if _libc.bind(sock.fileno(), addr, len(addr)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class Capture:
    """Packets seen on one interface (or ``any``) of one netns, through a BPF filter.

    ``netns`` is a netns pin path (``/run/netns/<lab>``, a container's) or None for the host's.
    Raises :class:`CaptureError` (or :class:`bpf.BpfError`, a ValueError) when it cannot start.
    """

    def __init__(
        self,
        interface: str,
        netns: str | None = None,
        expression: str = "",
        *,
        label: str | None = None,
        snaplen: int = bpf.DEFAULT_SNAPLEN,
        rcvbuf: int = 16 << 20,
        promiscuous: bool = True,
    ) -> None:
        self.interface = interface
        self.netns = netns
        self.label = label or netns_label(netns)
        self.expression = expression.strip()
        program = bpf.compile_filter(self.expression, snaplen) if self.expression else None
        self.program = program or bpf.accept_all(snaplen)
        self.ended: str | None = None
        self._received = self._dropped = 0
        self._buf = bytearray(max(snaplen, 65536) + 64)
        self._view = memoryview(self._buf)
        self._lock = threading.Lock()
        self.promiscuous = promiscuous and interface != ANY
        self._sock = packet_socket(netns)
        try:
            self._ifindex = self._setup(rcvbuf)
        except BaseException:
            self._sock.close()
            raise

    def _setup(self, rcvbuf: int) -> int:
        s = self._sock
        where = f"netns {self.label}"
        try:
            # Past net.core.rmem_max (often 208 KiB: a few hundred packets) needs FORCE, which
            # root has; a flood is then absorbed instead of dropped.
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except PermissionError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        bpf.attach(s, self.program)
        index = 0
        if self.interface != ANY:
            try:
                index = _ifindex(s, self.interface)
            except OSError:
                raise CaptureError(f"no interface {self.interface} in {where}") from None
        try:
            _bind(s, index)
        except OSError as exc:
            raise CaptureError(f"cannot listen on {self.interface} in {where}: {exc}") from None
        if self.promiscuous:
            # As tcpdump does: a bridge hands its device only frames for itself unless it is
            # promiscuous, so traffic between two containers would go unseen on docker0. The
            # membership (and the promiscuity) goes away with the socket.
            mreq = struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
            s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        return index

    def fileno(self) -> int:
        """The socket's descriptor (for select, poll or asyncio's add_reader)."""
        return self._sock.fileno()

    def read(self, limit: int = 256) -> list[Packet]:
        """Decode up to ``limit`` queued packets without waiting; [] when none (or ended)."""
        out: list[Packet] = []
        if self.ended is not None:
            return out
        s, buf, view = self._sock, self._buf, self._view
        ancsize = _ancbufsize
        for _ in range(limit):
            try:
                n, anc, flags, addr = s.recvmsg_into([buf], ancsize)
            except BlockingIOError:
                break
            except OSError as exc:
                self._end_on_error(exc)
                break
            ifname, _proto, pkttype, hatype = addr[0], addr[1], addr[2], addr[3]
            wire, vlan, stamp = n, None, 0.0
            for level, kind, data in anc:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= _auxdata.size:
                    status, wire, _snap, _mac, _net, tci, _tpid = _auxdata.unpack_from(data)
                    if status & TP_STATUS_VLAN_VALID:
                        vlan = tci & 0x0FFF
                elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _timespec.unpack_from(data)
                    stamp = sec + nsec / 1e9
            frame = bytes(view[:n])
            if hatype not in ETHERNET_LIKE:
                out.append(
                    Packet(
                        stamp or time.time(),
                        self.label,
                        ifname,
                        pkttype,
                        wire,
                        n,
                        frame,
                        error=f"link type {hatype} not decoded",
                    )
                )
                continue
            out.append(
                decode(
                    frame,
                    time=stamp or time.time(),
                    netns=self.label,
                    interface=ifname,
                    pkttype=pkttype,
                    length=wire,
                    vlan=vlan,
                )
            )
        return out

    def _end_on_error(self, exc: OSError) -> None:
        if exc.errno in (errno.ENETDOWN, errno.ENXIO, errno.ENODEV):
            self.ended = self._why_gone() or f"interface {self.interface} went down"
        else:
            self.ended = f"capture on {self.interface} stopped: {exc.strerror or exc}"

    def _why_gone(self) -> str | None:
        """Why this capture cannot go on (netns or interface gone), or None if it can."""
        if self.netns is not None and not os.path.exists(self.netns):
            return f"netns {self.label} was removed"
        if self._ifindex:
            try:
                if _ifindex(self._sock, self.interface) != self._ifindex:
                    return f"interface {self.interface} was replaced"
            except OSError:
                return f"interface {self.interface} was removed"
        return None

    def check_alive(self) -> bool:
        """Look whether the interface and netns are still there; sets ``ended`` if not."""
        if self.ended is None:
            self.ended = self._why_gone()
        return self.ended is None

    def packets(
        self, stop: threading.Event | None = None, count: int | None = None
    ) -> Iterator[Packet]:
        """Packets as they come, blocking this thread; ends on ``stop``, ``count`` or ``ended``."""
        seen = 0
        last_check = time.monotonic()
        while self.ended is None and not (stop is not None and stop.is_set()):
            batch = self.read()
            for p in batch:
                yield p
                seen += 1
                if count is not None and seen >= count:
                    return
            if batch:
                continue
            try:
                select.select([self._sock], [], [], LIVENESS_EVERY / 2)
            except (OSError, ValueError):  # closed under us
                return
            if time.monotonic() - last_check >= LIVENESS_EVERY:
                last_check = time.monotonic()
                self.check_alive()

    async def stream(self) -> AsyncIterator[Packet]:
        """Packets as they come, for asyncio (the socket is watched with ``add_reader``)."""
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop.add_reader(self.fileno(), ready.set)
        try:
            while self.ended is None:
                batch = self.read()
                for p in batch:
                    yield p
                if batch:
                    continue
                ready.clear()
                try:
                    await asyncio.wait_for(ready.wait(), LIVENESS_EVERY)
                except TimeoutError:
                    self.check_alive()
        finally:
            loop.remove_reader(self.fileno())

    def stats(self) -> Stats:
        """Received and dropped counts so far (the kernel resets its own on each read)."""
        with self._lock:
            if self._sock.fileno() >= 0:
                raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
                packets, drops = struct.unpack("II", raw)
                self._received += packets
                self._dropped += drops
            return Stats(self._received, self._dropped)

    def close(self) -> None:
        """Close the socket (the netns it holds can then go away). Idempotent."""
        if self._sock.fileno() >= 0:
            self.stats()
        self._sock.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
