"""Network namespaces by path, made and entered without forking.

A netns is created by a short-lived thread that unshares its own network namespace and
bind-mounts ``/proc/thread-self/ns/net`` onto the pin file (what ``ip netns add`` does, minus
the fork). Sockets inside a netns are made by switching the calling thread in and straight
back (``setns`` affects only that thread), and the socket keeps the netns it was born in.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 0x2
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str, path: object = "") -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", str(path))


def in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a fresh thread and return its result (namespace changes die with it)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed back to the caller below
            box["error"] = exc

    thread = threading.Thread(target=run, name="dockerscope-netns")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("result")  # type: ignore[return-value]


def set_link_up(name: str = "lo") -> None:
    """Bring an interface of the calling thread's netns up (an ioctl: no netlink round trip)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", name.encode(), 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", name.encode(), flags | IFF_UP))


def write_sysctl(name: str, value: str) -> None:
    """Write a sysctl of the calling thread's netns (/proc/sys/net is per thread's netns)."""
    Path("/proc/sys", *name.split(".")).write_text(value)


def read_sysctl(name: str) -> str:
    return Path("/proc/sys", *name.split(".")).read_text().strip()


def create_netns(path: Path, setup: Callable[[], T] | None = None) -> T | None:
    """Create a netns pinned at ``path``; ``setup`` runs inside it before the thread ends.

    On failure nothing is left behind (no pin file, no mount).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))

    def work() -> T | None:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        _check(
            _libc.mount(b"/proc/thread-self/ns/net", os.fsencode(path), b"none", MS_BIND, None),
            "bind-mount netns",
            path,
        )
        return setup() if setup else None

    try:
        return in_thread(work)
    except BaseException:
        remove_netns(path)
        raise


def remove_netns(path: Path) -> None:
    """Unmount and unlink a netns pin; missing pins are fine."""
    _libc.umount2(os.fsencode(path), MNT_DETACH)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise


def is_netns(path: Path) -> bool:
    """True if ``path`` is a pinned netns (an nsfs bind mount, not a plain file)."""
    try:
        return os.stat(path).st_dev != os.stat(path.parent).st_dev
    except OSError:
        return False


def _setns(fd: int) -> None:
    _check(_libc.setns(fd, CLONE_NEWNET), "setns")


@contextmanager
def entered(path: Path) -> Iterator[None]:
    """Switch the calling thread into the netns at ``path`` and back on exit."""
    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(saved)
    finally:
        os.close(target)
        os.close(saved)


def netns_socket(path: Path | None, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket created inside the netns at ``path`` (the current one if None)."""
    if path is None:
        return socket.socket(family, kind, proto)
    with entered(path):
        return socket.socket(family, kind, proto)


def run_in(path: Path, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a short-lived thread inside the netns at ``path``."""

    def work() -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(fd)
        finally:
            os.close(fd)
        return fn()

    return in_thread(work)


def sandbox_setup(disable_ipv6: bool = True) -> None:
    """What a container netns gets at birth: lo up and, like Docker without --ipv6, no IPv6."""
    if disable_ipv6:
        for scope in ("all", "default", "lo"):
            write_sysctl(f"net.ipv6.conf.{scope}.disable_ipv6", "1")
    set_link_up("lo")
