"""What a container changed: ``docker diff`` from its overlay upper dir, and copying that dir
into a new layer for ``commit``."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from dockerscope.engine.images.errors import BadImage
from dockerscope.engine.images.tarsafe import keep_xattr
from dockerscope.engine.images.whiteouts import (
    is_opaque,
    is_whiteout_stat,
    make_whiteout,
    set_opaque,
)

ADDED, CHANGED, DELETED = "A", "C", "D"


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
    upper = str(upperdir)
    skip = {p.rstrip("/") for p in ignore}
    changes: list[tuple[str, str]] = []

    def ignored(path: str) -> bool:
        return any(path == s or path.startswith(s + "/") for s in skip)

    def walk(rel: str, compare: bool) -> None:
        base = os.path.join(upper, rel) if rel else upper
        for name in sorted(os.listdir(base)):
            child = f"{rel}/{name}" if rel else name
            path = "/" + child
            if ignored(path):
                continue
            st = os.lstat(os.path.join(base, name))
            if is_whiteout_stat(st):
                changes.append((DELETED, path))
                continue
            existed = compare and _in_lowers(lowers, child)
            changes.append((CHANGED if existed else ADDED, path))
            if stat.S_ISDIR(st.st_mode):
                walk(child, existed and not is_opaque(os.path.join(base, name)))

    walk("", True)
    changes.sort(key=lambda c: c[1])
    return changes


def copy_upper(upperdir: str | Path, dest: str | Path) -> None:
    """Copy an overlay upper dir into the empty directory ``dest`` for a new layer.

    Keeps owners, modes, mtimes, hard links, whiteouts, opaque marks and the xattrs layers carry;
    drops overlayfs's own bookkeeping xattrs (origin, impure, ...). Sockets are skipped as Docker
    does; fifos and device nodes are refused with a BadImage naming the path.
    """
    as_root = os.geteuid() == 0
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, os.stat_result]] = []

    def attrs(path: str, st: os.stat_result) -> None:
        if as_root:
            os.lchown(path, st.st_uid, st.st_gid)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(path, stat.S_IMODE(st.st_mode))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    def xattrs(src: str, dst: str) -> None:
        try:
            names = os.listxattr(src, follow_symlinks=False)
        except OSError:
            return
        for name in names:
            if keep_xattr(name):
                os.setxattr(
                    dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False
                )

    def walk(src_dir: str, dst_dir: str, rel: str) -> None:
        for name in sorted(os.listdir(src_dir)):
            src = os.path.join(src_dir, name)
            dst = os.path.join(dst_dir, name)
            where = f"/{rel}{name}"
            st = os.lstat(src)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(dst, 0o700)
                xattrs(src, dst)
                if is_opaque(src):
                    set_opaque(dst)
                walk(src, dst, f"{rel}{name}/")
                dirs.append((dst, st))
            elif is_whiteout_stat(st):
                make_whiteout(dst)
            elif stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    os.link(links[key], dst, follow_symlinks=False)
                    continue
                shutil.copyfile(src, dst, follow_symlinks=False)
                xattrs(src, dst)
                attrs(dst, st)
                if st.st_nlink > 1:
                    links[key] = dst
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(src), dst)
                attrs(dst, st)
            elif stat.S_ISSOCK(mode):
                continue
            elif stat.S_ISFIFO(mode):
                raise BadImage(f"cannot commit {where}: fifos are not stored in layers")
            else:
                raise BadImage(f"cannot commit {where}: device nodes are not stored in layers")

    walk(str(upperdir), str(dest), "")
    for path, st in dirs:  # children were appended before their parents
        attrs(path, st)
