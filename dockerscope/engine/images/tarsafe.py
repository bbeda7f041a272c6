"""Extract a layer tar without letting any member reach outside the layer.

Rules (each refusal raises UnsafeTar naming the member, and leaves ``dest`` untouched):

- names: no absolute paths, no ``..`` component, no path through a symlink or a file;
- symlinks: the target, read from the link's own directory, must stay inside the layer; absolute
  targets are refused unless the caller allows them (a root filesystem is full of them, and they
  resolve inside the container's root, never the host's);
- hard links: the target must be a non-directory member already extracted, named without ``..``
  and not absolute;
- no character or block devices, no fifos, no sparse or unknown member types; the only device
  nodes written are overlay whiteouts made here from ``.wh.`` names;
- xattrs: only ``user.*`` and ``security.capability`` are applied (never ``trusted.overlay.*``,
  which would let a tar redirect overlayfs lookups).

Extraction goes to a temp dir beside ``dest`` that is renamed to ``dest`` only on success, so a
refusal or a crash never leaves a half-written layer. Symlinks are never followed while writing:
files are opened with ``O_NOFOLLOW | O_EXCL`` under parents checked to be real directories.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dockerscope.engine.images.errors import BadImage, UnsafeTar
from dockerscope.engine.images.whiteouts import (
    META_PREFIX,
    OPAQUE_MARKER,
    WHITEOUT_PREFIX,
    make_whiteout,
    set_opaque,
)

_CHUNK = 1 << 20
_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)


@dataclass(frozen=True)
class FileRef:
    """Where a regular file's bytes sit in the tar stream and where they landed in the layer."""

    offset: int
    size: int
    relpath: str


@dataclass(frozen=True)
class Extracted:
    """What an extraction produced: content size and the files whose bytes the layer holds."""

    size: int
    files: tuple[FileRef, ...]


def keep_xattr(name: str) -> bool:
    """The xattrs a layer may carry from a tar."""
    return name.startswith("user.") or name == "security.capability"


def member_parts(name: str) -> list[str]:
    """Split a member name into path components; raise UnsafeTar for absolute or ``..`` names."""
    if name.startswith("/"):
        raise UnsafeTar(name, "absolute path")
    if "\x00" in name:
        raise UnsafeTar(name, "NUL byte in name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeTar(name, "'..' in path")
    return parts


def symlink_escapes(link_parts: list[str], target: str) -> bool:
    """True if a relative ``target`` read from the link's directory climbs above the layer root.

    Checked lexically: extraction never follows links, so only the text of the target matters.
    """
    depth = len(link_parts) - 1
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        else:
            depth += 1
    return False


class _Extractor:
    def __init__(
        self, fileobj: IO[bytes], root: Path, whiteouts: bool, allow_absolute_symlinks: bool
    ) -> None:
        self.fileobj = fileobj
        self.root = root
        self.whiteouts = whiteouts
        self.allow_absolute_symlinks = allow_absolute_symlinks
        self.as_root = os.geteuid() == 0
        self.dirs: dict[str, tarfile.TarInfo | None] = {}
        self.files: dict[str, tuple[FileRef, int]] = {}
        self.size = 0
        self.root_info: tarfile.TarInfo | None = None

    # -- paths ---------------------------------------------------------------------------
    def _host(self, parts: list[str]) -> str:
        return os.path.join(self.root, *parts)

    def _ensure_parent(self, member: str, parts: list[str]) -> None:
        """Make sure every parent of ``parts`` is a real directory, creating missing ones."""
        for i in range(1, len(parts)):
            rel = "/".join(parts[:i])
            if rel in self.dirs:
                continue
            path = self._host(parts[:i])
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o755)
                self.dirs[rel] = None
                continue
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeTar(member, f"path goes through the symlink {rel!r}")
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafeTar(member, f"path goes through the non-directory {rel!r}")
            self.dirs[rel] = None

    def _clear(self, parts: list[str], keep_dir: bool) -> None:
        """Remove what a later member replaces (tar semantics: the last entry wins)."""
        path = self._host(parts)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        rel = "/".join(parts)
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return
            shutil.rmtree(path)
            prefix = rel + "/"
            self.dirs = {
                k: v for k, v in self.dirs.items() if k != rel and not k.startswith(prefix)
            }
        else:
            os.unlink(path)
        self.files.pop(rel, None)

    # -- members -------------------------------------------------------------------------
    def member(self, info: tarfile.TarInfo) -> None:
        name = info.name
        parts = member_parts(name)
        if not parts:
            if not info.isdir():
                raise UnsafeTar(name, "the layer root must be a directory")
            self.root_info = info
            return
        base = parts[-1]
        if self.whiteouts and base.startswith(WHITEOUT_PREFIX):
            self._whiteout(info, parts)
            return
        if info.issparse():
            raise UnsafeTar(name, "sparse files are not supported")
        if info.ischr() or info.isblk():
            raise UnsafeTar(
                name,
                "device nodes are not allowed in a layer (containers get their own /dev: "
                "leave it out of the tar, e.g. tar --exclude='./dev/*')",
            )
        if info.isfifo():
            raise UnsafeTar(name, "fifos are not allowed in a layer")
        if info.type in _FILE_TYPES:
            self._file(info, parts)
        elif info.isdir():
            self._dir(info, parts)
        elif info.issym():
            self._symlink(info, parts)
        elif info.islnk():
            self._hardlink(info, parts)
        else:
            raise UnsafeTar(name, f"unsupported member type {info.type!r}")

    def _whiteout(self, info: tarfile.TarInfo, parts: list[str]) -> None:
        base = parts[-1]
        if base == OPAQUE_MARKER:
            self._ensure_parent(info.name, parts)
            target = parts[:-1]
            path = self._host(target) if target else str(self.root)
            set_opaque(path)
            return
        if base.startswith(META_PREFIX):
            return  # aufs bookkeeping (hard link dirs): nothing overlayfs needs
        hidden = base[len(WHITEOUT_PREFIX) :]
        if hidden in ("", ".", ".."):
            raise UnsafeTar(info.name, "malformed whiteout name")
        target = parts[:-1] + [hidden]
        self._ensure_parent(info.name, target)
        self._clear(target, keep_dir=False)
        make_whiteout(self._host(target))

    def _file(self, info: tarfile.TarInfo, parts: list[str]) -> None:
        self._ensure_parent(info.name, parts)
        self._clear(parts, keep_dir=False)
        path = self._host(parts)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            self.fileobj.seek(info.offset_data)
            left = info.size
            while left:
                chunk = self.fileobj.read(min(left, _CHUNK))
                if not chunk:
                    raise BadImage(f"tar archive is truncated inside {info.name!r}")
                os.write(fd, chunk)
                left -= len(chunk)
            if self.as_root:
                os.fchown(fd, info.uid, info.gid)
            os.fchmod(fd, info.mode & 0o7777)
            self._xattrs(info, fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        os.utime(path, ns=(int(info.mtime * 1e9),) * 2, follow_symlinks=False)
        self.size += info.size
        rel = "/".join(parts)
        if info.size:
            self.files[rel] = (FileRef(info.offset_data, info.size, rel), st.st_ino)

    def _dir(self, info: tarfile.TarInfo, parts: list[str]) -> None:
        self._ensure_parent(info.name, parts)
        self._clear(parts, keep_dir=True)
        path = self._host(parts)
        if not os.path.lexists(path):
            os.mkdir(path, 0o700)
        rel = "/".join(parts)
        self.dirs[rel] = info

    def _symlink(self, info: tarfile.TarInfo, parts: list[str]) -> None:
        target = info.linkname
        if not target:
            raise UnsafeTar(info.name, "symlink with an empty target")
        if target.startswith("/"):
            if not self.allow_absolute_symlinks:
                raise UnsafeTar(info.name, f"absolute symlink target {target!r}")
        elif symlink_escapes(parts, target):
            raise UnsafeTar(info.name, f"symlink target {target!r} leaves the layer")
        self._ensure_parent(info.name, parts)
        self._clear(parts, keep_dir=False)
        path = self._host(parts)
        os.symlink(target, path)
        if self.as_root:
            os.lchown(path, info.uid, info.gid)
        os.utime(path, ns=(int(info.mtime * 1e9),) * 2, follow_symlinks=False)
        self.size += len(os.fsencode(target))

    def _hardlink(self, info: tarfile.TarInfo, parts: list[str]) -> None:
        target = info.linkname
        try:
            target_parts = member_parts(target)
        except UnsafeTar as exc:
            raise UnsafeTar(info.name, f"hard link target {target!r}: {exc.reason}") from None
        if not target_parts:
            raise UnsafeTar(info.name, "hard link to the layer root")
        for i in range(1, len(target_parts)):
            parent = self._host(target_parts[:i])
            if os.path.islink(parent) or not os.path.isdir(parent):
                raise UnsafeTar(info.name, f"hard link target {target!r} is not an earlier member")
        source = self._host(target_parts)
        try:
            st = os.lstat(source)
        except FileNotFoundError:
            raise UnsafeTar(
                info.name, f"hard link target {target!r} is not an earlier member"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            raise UnsafeTar(info.name, f"hard link target {target!r} is a directory")
        if target_parts == parts:
            return  # a link to itself: already there
        self._ensure_parent(info.name, parts)
        self._clear(parts, keep_dir=False)
        os.link(source, self._host(parts), follow_symlinks=False)

    def _xattrs(self, info: tarfile.TarInfo, fd: int) -> None:
        for key, value in info.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            name = key[len("SCHILY.xattr.") :]
            if keep_xattr(name):
                try:
                    os.setxattr(fd, name, value.encode("utf-8", "surrogateescape"))
                except OSError as exc:
                    raise BadImage(f"cannot set xattr {name} on {info.name!r}: {exc}") from exc

    def finish(self) -> Extracted:
        """Apply directory attributes deepest first (children change their parent's mtime)."""
        for rel in sorted(self.dirs, key=lambda r: r.count("/"), reverse=True):
            info = self.dirs[rel]
            self._dir_attrs(self._host(rel.split("/")), info)
        self._dir_attrs(str(self.root), self.root_info)
        kept = []
        for rel, (ref, ino) in self.files.items():
            try:
                st = os.lstat(self._host(rel.split("/")))
            except FileNotFoundError:
                continue
            if st.st_ino == ino and stat.S_ISREG(st.st_mode) and st.st_size == ref.size:
                kept.append(ref)
        kept.sort(key=lambda r: r.offset)
        return Extracted(size=self.size, files=tuple(kept))

    def _dir_attrs(self, path: str, info: tarfile.TarInfo | None) -> None:
        if info is None:
            os.chmod(path, 0o755)
            return
        if self.as_root:
            os.lchown(path, info.uid, info.gid)
        os.chmod(path, info.mode & 0o7777)
        for key, value in info.pax_headers.items():
            name = key[len("SCHILY.xattr.") :]
            if key.startswith("SCHILY.xattr.") and keep_xattr(name):
                os.setxattr(path, name, value.encode("utf-8", "surrogateescape"))
        os.utime(path, ns=(int(info.mtime * 1e9),) * 2, follow_symlinks=False)


def extract(
    fileobj: IO[bytes],
    dest: Path,
    *,
    whiteouts: bool = True,
    allow_absolute_symlinks: bool = False,
) -> Extracted:
    """Extract the uncompressed, seekable tar ``fileobj`` into the new directory ``dest``.

    ``whiteouts`` turns ``.wh.`` members into overlay whiteouts and opaque xattrs (root only).
    Raises UnsafeTar (a BadImage) naming the first member that breaks a rule, BadImage for a
    malformed archive; in both cases ``dest`` and its parent are left as they were.
    """
    dest = Path(dest)
    if os.path.lexists(dest):
        raise FileExistsError(f"extraction target {dest} already exists")
    tmp = dest.parent / f".{dest.name}.extract-{uuid.uuid4().hex[:8]}"
    os.mkdir(tmp, 0o700)
    try:
        extractor = _Extractor(fileobj, tmp, whiteouts, allow_absolute_symlinks)
        try:
            archive = tarfile.open(fileobj=fileobj, mode="r:")  # noqa: SIM115 (closed below)
        except tarfile.TarError as exc:
            raise BadImage(f"not a tar archive: {exc}") from exc
        try:
            while True:
                try:
                    info = archive.next()
                except tarfile.TarError as exc:
                    raise BadImage(f"malformed tar archive: {exc}") from exc
                if info is None:
                    break
                try:
                    extractor.member(info)
                except (OSError, ValueError) as exc:
                    raise BadImage(f"cannot extract {info.name!r}: {exc}") from exc
            result = extractor.finish()
        finally:
            archive.close()
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result
