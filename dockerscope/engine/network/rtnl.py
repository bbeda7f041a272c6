"""Netlink sessions (pyroute2 IPRoute) bound to a netns by path, safe from any thread.

pyroute2's synchronous IPRoute runs its own event loop, so it cannot be used in a thread that
already runs one (the daemon's). :func:`off_loop` moves such calls to one worker thread.
Sockets are made inside the target netns with :func:`namespaces.netns_socket` instead of
pyroute2's netns helper, which forks a child per socket.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from dockerscope.engine.network.errors import KernelCommandFailed
from dockerscope.engine.network.namespaces import netns_socket
from dockerscope.kernel.netlink_constants import NETLINK_ROUTE

P = ParamSpec("P")
T = TypeVar("T")
_worker: ThreadPoolExecutor | None = None


def _in_loop_thread() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def off_loop(fn: Callable[P, T]) -> Callable[P, T]:
    """Run ``fn`` on the netlink worker thread when called from a thread running an event loop."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        global _worker
        if not _in_loop_thread():
            return fn(*args, **kwargs)
        if _worker is None:
            _worker = ThreadPoolExecutor(1, thread_name_prefix="dockerscope-netlink")
        return _worker.submit(fn, *args, **kwargs).result()

    return wrapper


@contextmanager
def session(netns: Path | None = None) -> Iterator[IPRoute]:
    """An IPRoute whose socket lives in the netns at ``netns`` (the current one if None)."""
    sock = netns_socket(netns, socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
    try:
        ipr = IPRoute(use_socket=sock, groups=0)
    except BaseException:
        sock.close()
        raise
    try:
        yield ipr
    except NetlinkError as exc:
        raise KernelCommandFailed(f"netlink: {exc}") from exc
    finally:
        ipr.close()
        sock.close()


def index_of(ipr: IPRoute, ifname: str) -> int | None:
    """Interface index of ``ifname`` or None."""
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def link_names(ipr: IPRoute) -> list[str]:
    return [str(link.get("ifname")) for link in ipr.get_links()]


def delete_link(ipr: IPRoute, ifname: str) -> bool:
    """Delete ``ifname`` if present (for a veth, both ends go)."""
    idx = index_of(ipr, ifname)
    if idx is None:
        return False
    try:
        ipr.link("del", index=idx)
    except NetlinkError as exc:
        if exc.code != 19:  # ENODEV: gone meanwhile
            raise
    return True


def ipv4_routes(ipr: IPRoute) -> list[str]:
    """Destinations (CIDR) of the main table's IPv4 routes, default route excluded."""
    out = []
    for route in ipr.get_routes(family=socket.AF_INET, table=254):
        dst = route.get("dst")
        if dst:
            out.append(f"{dst}/{route['dst_len']}")
    return out


def first_ipv4(ipr: IPRoute, ifname: str) -> tuple[str, int] | None:
    """The first IPv4 address of ``ifname`` as (address, prefixlen)."""
    idx = index_of(ipr, ifname)
    if idx is None:
        return None
    for addr in ipr.get_addr(family=socket.AF_INET, index=idx):
        return str(addr.get("address")), int(addr["prefixlen"])
    return None


def link_attr(ipr: IPRoute, ifname: str, attr: str) -> Any:
    idx = index_of(ipr, ifname)
    if idx is None:
        return None
    return ipr.link("get", index=idx)[0].get(attr)
