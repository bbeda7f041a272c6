"""Private state: directories 0700 and files 0600, created with that mode from the start.

A lab's state holds containers' environments (passwords included), their output and the lab's
network plan; like /var/lib/docker it is root's alone. Each file is created with its final mode
(``os.open``'s mode argument), never chmod-ed after, so no reader can open it in between. What a
container reads through a bind mount (its /etc/hosts, hostname, resolv.conf) and image or
container file system content keep their own modes: they are not written through here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents, each 0700; existing ones are left as they are.

    Only call it for paths inside a lab's state dir (the dir itself included): a missing
    /var/lib/dockerscope would be made 0700 too, hiding the labs from ``lab ls`` as a user.
    """
    missing: list[Path] = []
    p = Path(path)
    while not p.is_dir():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            if not d.is_dir():
                raise


def opener(path: str, flags: int) -> int:
    """An ``open(..., opener=opener)`` that creates files 0600."""
    return os.open(path, flags | os.O_CLOEXEC, FILE_MODE)


def create_private(path: Path) -> None:
    """Create an empty 0600 file at ``path`` unless one exists (a ``touch``)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE))


def write_private(path: Path, data: bytes, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (a 0600 temporary file renamed over it): a reader
    sees the old content or the new, never half. ``fsync`` makes it durable before the rename."""
    # A fresh name per write: two threads may write the same record at once.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(tmp, flags, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
