"""Run a little code inside another network namespace without forking.

``setns(2)`` changes the namespace of the calling *thread* only, so a short-lived thread can
enter a netns, open a socket or read ``/proc/thread-self/net/...`` there, and die. A socket keeps
the namespace it was created in, so the observer creates one netlink socket per namespace this
way and then uses it from any thread.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceGone(OSError):
    """The namespace file no longer exists (the netns was deleted meanwhile)."""


def in_netns(path: str, fn: Callable[[], T]) -> T:
    """Call ``fn`` in a thread that has joined the network namespace at ``path``."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            error.append(NamespaceGone(exc.errno, f"netns {path} is gone"))
            return
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                error.append(OSError(err, f"setns({path}): {os.strerror(err)}"))
                return
        finally:
            os.close(fd)
        # The thread now lives in the target netns and ends right after: nothing to restore.
        try:
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            error.append(exc)

    t = threading.Thread(target=run, name="dockerscope-setns", daemon=True)
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


def in_each_netns(jobs: list[tuple[str | None, Callable[[], Any]]]) -> list[Any]:
    """Run each ``(path, fn)`` inside its netns (None: ours) on one thread, hopping between them.

    One thread for many namespaces: cheaper than a thread each when the observer opens sockets
    in, or reads /proc/thread-self/net of, a hundred namespaces. A job's exception is returned
    in its place instead of raised.
    """
    results: list[Any] = []
    if not jobs:
        return results

    def run() -> None:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            for path, fn in jobs:
                try:
                    target = home
                    if path is not None:
                        try:
                            target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                        except FileNotFoundError as exc:
                            raise NamespaceGone(exc.errno, f"netns {path} is gone") from None
                    try:
                        if _libc.setns(target, CLONE_NEWNET) != 0:
                            err = ctypes.get_errno()
                            raise OSError(err, f"setns({path}): {os.strerror(err)}")
                    finally:
                        if target != home:
                            os.close(target)
                    results.append(fn())
                except Exception as exc:  # noqa: BLE001 - handed back in the job's place
                    results.append(exc)
        finally:
            os.close(home)

    t = threading.Thread(target=run, name="dockerscope-setns", daemon=True)
    t.start()
    t.join()
    return results


def open_netlink(protocol: int, groups: tuple[int, ...] = ()) -> socket.socket:
    """A netlink socket in the calling thread's netns, subscribed to ``groups``."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, protocol)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((0, 0))
        for g in groups:
            s.setsockopt(270, 1, g)  # SOL_NETLINK, NETLINK_ADD_MEMBERSHIP
    except OSError:
        s.close()
        raise
    return s


def netlink_socket(path: str | None, protocol: int, groups: tuple[int, ...] = ()) -> socket.socket:
    """A non-blocking netlink socket bound in the netns at ``path`` (None: our own netns).

    ``groups`` are multicast group numbers (e.g. RTNLGRP_LINK) to subscribe to for events.
    SOCK_DGRAM because pyroute2 0.9 wraps sockets in an asyncio datagram endpoint.
    """

    def make() -> socket.socket:
        return open_netlink(protocol, groups)

    return make() if path is None else in_netns(path, make)


def netns_inode(path: str) -> int:
    """Inode number of a namespace file (what ``lsns`` and ``ip netns identify`` compare)."""
    return os.stat(path).st_ino
