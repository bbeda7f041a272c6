"""What a container changed: ``docker diff`` from its overlay upper dir, and copying that dir
into a new layer for ``commit``.

The upper dir belongs to a container that may still be running (dockerscope does not freeze it
for a commit), so it is walked through directory file descriptors: every directory is opened
with ``O_NOFOLLOW`` relative to its parent's descriptor, every file too. A container that swaps a
directory for a symlink to ``/`` halfway through gets an error, never a copy of the host.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dockerscope.engine.images.errors import BadImage
from dockerscope.engine.images.tarsafe import keep_xattr
from dockerscope.engine.images.whiteouts import (
    OPAQUE_XATTR,
    is_opaque,
    is_whiteout_stat,
)

ADDED, CHANGED, DELETED = "A", "C", "D"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _in_lowers(lowerdirs: list[str], rel: str) -> bool:
    """Does ``rel`` exist in the merged view of ``lowerdirs`` (top-most first)?"""
    parts = rel.split("/")
    for lower in lowerdirs:
        st = _lstat(os.path.join(lower, rel))
        if st is not None:
            return not is_whiteout_stat(st)
        # Not in this layer: does this layer hide it (a whiteout, a file or an opaque dir above)?
        for i in range(1, len(parts)):
            ancestor = os.path.join(lower, *parts[:i])
            ast = _lstat(ancestor)
            if ast is None:
                break
            if not stat.S_ISDIR(ast.st_mode):
                return False
            if is_opaque(ancestor):
                return False
    return False


@contextmanager
def _open_dir(name: str | Path, dir_fd: int | None, where: str) -> Iterator[int]:
    """Open a directory without following a symlink; a changed entry is a clear error."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
            raise BadImage(f"{where} changed while it was being read: try again") from exc
        raise
    try:
        yield fd
    finally:
        os.close(fd)


def _refuse_indirection(fd: int, where: str) -> None:
    """An upper dir entry that only points into a lower layer cannot become a layer by itself.

    overlayfs writes ``redirect`` on renamed directories (redirect_dir=on) and ``metacopy`` on
    files whose data stayed below (metacopy=on); both are off by default, and the runtime should
    mount with them off, as a layer must hold its own data.
    """
    for name in ("trusted.overlay.redirect", "trusted.overlay.metacopy"):
        try:
            os.getxattr(fd, name)
        except OSError:
            continue
        raise BadImage(
            f"cannot commit {where}: overlayfs stored it as a reference into a lower layer "
            f"({name}); mount containers with redirect_dir=off,metacopy=off"
        )


def _fd_opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def diff_changes(
    lowerdirs: Iterable[str | Path], upperdir: str | Path, ignore: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """``docker diff``: ("A"|"C"|"D", "/path") for an overlay upper dir over ``lowerdirs``.

    A whiteout is "D"; anything else in the upper dir is "C" if the lower layers have that path
    and "A" if not (so the directories holding a change show as "C", as in Docker). Below a new
    or opaque directory everything is "A". Sorted by path. ``ignore`` leaves out paths (and what
    is under them), such as mount points the runtime made.
    """
    lowers = [str(p) for p in lowerdirs]
    skip = {p.rstrip("/") for p in ignore}
    changes: list[tuple[str, str]] = []

    def ignored(path: str) -> bool:
        return any(path == s or path.startswith(s + "/") for s in skip)

    def walk(dir_fd: int, rel: str, compare: bool) -> None:
        for name in sorted(os.listdir(dir_fd)):
            child = f"{rel}/{name}" if rel else name
            path = "/" + child
            if ignored(path):
                continue
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed meanwhile by the running container
            if is_whiteout_stat(st):
                changes.append((DELETED, path))
                continue
            existed = compare and _in_lowers(lowers, child)
            changes.append((CHANGED if existed else ADDED, path))
            if stat.S_ISDIR(st.st_mode):
                with _open_dir(name, dir_fd, path) as fd:
                    walk(fd, child, existed and not _fd_opaque(fd))

    with _open_dir(upperdir, None, str(upperdir)) as root:
        walk(root, "", True)
    changes.sort(key=lambda c: c[1])
    return changes


def _copy_xattrs(src_fd: int, dst_fd: int) -> None:
    try:
        names = os.listxattr(src_fd)
    except OSError:
        return
    for name in names:
        if keep_xattr(name):
            os.setxattr(dst_fd, name, os.getxattr(src_fd, name))


def _set_attrs(fd: int, st: os.stat_result, as_root: bool) -> None:
    if as_root:
        os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_data(src_fd: int, dst_fd: int) -> None:
    while True:
        try:
            n = os.copy_file_range(src_fd, dst_fd, _CHUNK)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            break
        if n == 0:
            return
    while chunk := os.read(src_fd, _CHUNK):  # file systems without copy_file_range
        os.write(dst_fd, chunk)


def copy_upper(upperdir: str | Path, dest: str | Path) -> None:
    """Copy an overlay upper dir into the empty directory ``dest`` for a new layer.

    Keeps owners, modes, mtimes, hard links, whiteouts, opaque marks and the xattrs layers carry;
    drops overlayfs's own bookkeeping xattrs (origin, impure, ...). Sockets are skipped as Docker
    does; fifos and device nodes are refused with a BadImage naming the path.
    """
    as_root = os.geteuid() == 0
    links: dict[tuple[int, int], str] = {}

    def walk(src: int, dst: int, dst_root: int, rel: str) -> None:
        for name in sorted(os.listdir(src)):
            where = f"/{rel}{name}"
            try:
                st = os.stat(name, dir_fd=src, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed meanwhile by the running container
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(name, 0o700, dir_fd=dst)
                with _open_dir(name, src, where) as sfd, _open_dir(name, dst, where) as dfd:
                    _refuse_indirection(sfd, where)
                    _copy_xattrs(sfd, dfd)
                    if _fd_opaque(sfd):
                        os.setxattr(dfd, OPAQUE_XATTR, b"y")
                    walk(sfd, dfd, dst_root, f"{rel}{name}/")
                    _set_attrs(dfd, st, as_root)  # last: children changed its mtime
            elif is_whiteout_stat(st):
                os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=dst)
            elif stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    os.link(
                        links[key],
                        f"{rel}{name}",
                        src_dir_fd=dst_root,
                        dst_dir_fd=dst_root,
                        follow_symlinks=False,
                    )
                    continue
                try:
                    sfd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
                except OSError as exc:
                    raise BadImage(f"{where} changed while it was being read: try again") from exc
                try:
                    if not stat.S_ISREG(os.fstat(sfd).st_mode):
                        raise BadImage(f"{where} changed while it was being read: try again")
                    _refuse_indirection(sfd, where)
                    dfd = os.open(
                        name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600, dir_fd=dst
                    )
                    try:
                        _copy_data(sfd, dfd)
                        _copy_xattrs(sfd, dfd)
                        _set_attrs(dfd, st, as_root)
                    finally:
                        os.close(dfd)
                finally:
                    os.close(sfd)
                if st.st_nlink > 1:
                    links[key] = f"{rel}{name}"
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
                if as_root:
                    os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
                os.utime(
                    name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False
                )
            elif stat.S_ISSOCK(mode):
                continue
            elif stat.S_ISFIFO(mode):
                raise BadImage(f"cannot commit {where}: fifos are not stored in layers")
            else:
                raise BadImage(f"cannot commit {where}: device nodes are not stored in layers")

    with (
        _open_dir(upperdir, None, str(upperdir)) as src_root,
        _open_dir(dest, None, str(dest)) as dst_root,
    ):
        walk(src_root, dst_root, dst_root, "")
