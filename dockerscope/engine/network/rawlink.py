"""A few rtnetlink requests done by hand, for the per-container hot path.

pyroute2's IPRoute costs about 1-2 ms per request (it runs an asyncio loop per call); a
container's attach needs half a dozen, so the veth, address and route requests are packed
here directly (struct + one blocking socket), at tens of microseconds each. Bridges, the
uplink and dumps stay on pyroute2 (rtnl.py).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from ipaddress import IPv4Address
from pathlib import Path

from dockerscope.engine.network.errors import KernelCommandFailed
from dockerscope.engine.network.namespaces import netns_socket
from dockerscope.kernel.netlink_constants import (
    IF_OPER_UP,
    IFA_ADDRESS,
    IFA_BROADCAST,
    IFA_LOCAL,
    IFF_UP,
    IFLA_ADDRESS,
    IFLA_IFNAME,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    IFLA_MASTER,
    IFLA_NET_NS_FD,
    IFLA_OPERSTATE,
    IFLA_TXQLEN,
    NETLINK_ROUTE,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    NLMSG_ERROR,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_MAIN,
    RTA_GATEWAY,
    RTA_OIF,
    RTM_DELLINK,
    RTM_GETLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    RTN_UNICAST,
    RTPROT_BOOT,
    VETH_INFO_PEER,
)

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _name(text: str) -> bytes:
    return text.encode() + b"\0"


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    return _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


class RawRtnl:
    """One blocking rtnetlink socket living in a given netns."""

    def __init__(self, netns: Path | None = None) -> None:
        self.sock = netns_socket(netns, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawRtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, kind: int, flags: int, body: bytes, what: str) -> bytes:
        """Send one request; return the first reply payload (or b"" for a bare ack)."""
        self.seq += 1
        header = _NLMSGHDR.pack(
            _NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | flags, self.seq, 0
        )
        self.sock.send(header + body)
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, mtype, _, seq, _ = _NLMSGHDR.unpack_from(data, offset)
                payload = data[offset + _NLMSGHDR.size : offset + length]
                offset += (length + 3) & ~3
                if seq != self.seq:
                    continue
                if mtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise OSError(code, f"{what}: {os.strerror(code)}")
                    return b""
                return payload
            if offset == 0:
                raise KernelCommandFailed(f"{what}: short netlink reply")

    def index(self, ifname: str) -> int | None:
        """Interface index by name, None if absent."""
        try:
            reply = self._request(
                RTM_GETLINK, 0, _ifinfo() + _attr(IFLA_IFNAME, _name(ifname)), f"get {ifname}"
            )
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        return int(_IFINFOMSG.unpack_from(reply)[2])

    def is_oper_up(self, ifname: str) -> bool:
        """Whether the kernel reports ``ifname`` operationally up (carrier seen by linkwatch)."""
        try:
            reply = self._request(
                RTM_GETLINK, 0, _ifinfo() + _attr(IFLA_IFNAME, _name(ifname)), f"get {ifname}"
            )
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return False
            raise
        offset = _IFINFOMSG.size
        while offset + 4 <= len(reply):
            length, kind = struct.unpack_from("=HH", reply, offset)
            if length < 4:
                break
            if kind == IFLA_OPERSTATE:
                return reply[offset + 4] == IF_OPER_UP
            offset += (length + 3) & ~3
        return False

    def add_veth(
        self,
        name: str,
        master: int,
        peer: str,
        peer_mac: str,
        peer_netns_fd: int,
    ) -> None:
        """A veth pair with txqueuelen 0 (as Docker makes them): ``name`` up and enslaved to
        ``master`` here, ``peer`` (down) created straight inside the netns of ``peer_netns_fd``."""
        # The peer cannot be created up: it would open before its partner exists (ENOTCONN).
        peer_body = _ifinfo() + b"".join(
            (
                _attr(IFLA_IFNAME, _name(peer)),
                _attr(IFLA_ADDRESS, _mac(peer_mac)),
                _attr(IFLA_TXQLEN, struct.pack("=I", 0)),
                _attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd)),
            )
        )
        linkinfo = _attr(IFLA_INFO_KIND, b"veth") + _attr(
            IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer_body)
        )
        body = _ifinfo(up=True) + b"".join(
            (
                _attr(IFLA_IFNAME, _name(name)),
                _attr(IFLA_TXQLEN, struct.pack("=I", 0)),
                _attr(IFLA_MASTER, struct.pack("=I", master)),
                _attr(IFLA_LINKINFO, linkinfo),
            )
        )
        self._request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, f"add {name}")

    def set_up(self, index: int) -> None:
        self._request(RTM_NEWLINK, NLM_F_ACK, _ifinfo(index, up=True), f"set {index} up")

    def delete(self, ifname: str) -> bool:
        """Delete a link by name (a veth takes its peer along); False if it was not there."""
        try:
            self._request(
                RTM_DELLINK,
                NLM_F_ACK,
                _ifinfo() + _attr(IFLA_IFNAME, _name(ifname)),
                f"delete {ifname}",
            )
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return False
            raise
        return True

    def add_address(
        self, index: int, address: IPv4Address, prefixlen: int, broadcast: IPv4Address
    ) -> None:
        body = _IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index) + b"".join(
            (
                _attr(IFA_LOCAL, address.packed),
                _attr(IFA_ADDRESS, address.packed),
                _attr(IFA_BROADCAST, broadcast.packed),
            )
        )
        self._request(
            RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, f"add address {address}"
        )

    def add_default_route(self, gateway: IPv4Address, oif: int) -> None:
        body = _RTMSG.pack(
            socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0
        )
        body += _attr(RTA_GATEWAY, gateway.packed) + _attr(RTA_OIF, struct.pack("=I", oif))
        self._request(
            RTM_NEWROUTE,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            body,
            f"add default route via {gateway}",
        )
