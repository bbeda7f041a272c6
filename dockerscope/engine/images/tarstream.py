"""Layer tar streams: writing them from a directory, and rebuilding them byte for byte.

A layer's DiffID is the sha256 of its exact tar bytes, but the store keeps only the extracted
files (they are the overlay lower dir). To give the same bytes back on ``save``, each layer keeps a
small "tar-split" beside it, like Docker's: every byte of the stream that is not a regular file's
content (headers, padding, the end blocks) stored inline, and for file contents only the path in
the layer dir and the length. Replaying it with the layer dir rebuilds the original stream.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import struct
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from dockerscope.engine.images.errors import BadImage, ImageError
from dockerscope.engine.images.tarsafe import FileRef, keep_xattr
from dockerscope.engine.images.whiteouts import (
    OPAQUE_MARKER,
    WHITEOUT_PREFIX,
    is_opaque,
    is_whiteout_stat,
)
from dockerscope.engine.private import create_private

BLOCK = 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)
"""Go's archive/tar (and so Docker) ends a stream with exactly two zero blocks."""
_CHUNK = 1 << 20

_RAW = b"R"
_FILE = b"F"
_END = b"E"


class LayerCorrupt(ImageError):
    """A layer dir no longer matches its recorded tar stream (files changed on disk)."""


class TarSplitWriter:
    """Records a tar stream as inline bytes and references to files of the layer dir."""

    def __init__(self, path: Path) -> None:
        create_private(path)  # 0600 from the start; gzip.open truncates it, keeping the mode
        self._out = gzip.open(path, "wb", compresslevel=6)  # noqa: SIM115 (closed in close())
        self._pending = bytearray()
        self.length = 0

    def raw(self, data: bytes) -> None:
        self._pending += data
        self.length += len(data)
        if len(self._pending) >= _CHUNK:
            self._flush()

    def file(self, relpath: str, size: int) -> None:
        self._flush()
        name = os.fsencode(relpath)
        self._out.write(_FILE + struct.pack(">IQ", len(name), size) + name)
        self.length += size

    def _flush(self) -> None:
        if self._pending:
            self._out.write(_RAW + struct.pack(">I", len(self._pending)) + bytes(self._pending))
            self._pending.clear()

    def close(self) -> None:
        self._flush()
        self._out.write(_END)
        self._out.close()


def split_from_spool(spool: IO[bytes], files: tuple[FileRef, ...], length: int, path: Path) -> None:
    """Write the tar-split of the tar in ``spool`` whose listed file contents live in the layer."""
    writer = TarSplitWriter(path)
    try:
        pos = 0
        for ref in files:
            _copy_raw(spool, pos, ref.offset - pos, writer)
            writer.file(ref.relpath, ref.size)
            pos = ref.offset + ref.size
        _copy_raw(spool, pos, length - pos, writer)
    finally:
        writer.close()


def _copy_raw(spool: IO[bytes], start: int, count: int, writer: TarSplitWriter) -> None:
    spool.seek(start)
    while count > 0:
        chunk = spool.read(min(count, _CHUNK))
        if not chunk:
            raise BadImage("tar archive ended early")
        writer.raw(chunk)
        count -= len(chunk)


def replay(layer_dir: Path, split_path: Path) -> Iterator[bytes]:
    """The layer's original tar stream, in chunks, rebuilt from its tar-split and its files."""
    with gzip.open(split_path, "rb") as split:
        while True:
            kind = split.read(1)
            if kind == _RAW:
                (n,) = struct.unpack(">I", split.read(4))
                yield split.read(n)
            elif kind == _FILE:
                name_len, size = struct.unpack(">IQ", split.read(12))
                relpath = os.fsdecode(split.read(name_len))
                yield from file_chunks(os.path.join(layer_dir, relpath), size)
            elif kind == _END:
                return
            else:
                raise LayerCorrupt(f"tar-split {split_path} is damaged")


def file_chunks(path: str, size: int) -> Iterator[bytes]:
    """Exactly ``size`` bytes of the file at ``path`` (never through a symlink), in chunks."""
    relpath = path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise LayerCorrupt(f"layer file {relpath!r} is missing: {exc}") from exc
    try:
        left = size
        while left:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                raise LayerCorrupt(f"layer file {relpath!r} is shorter than recorded")
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)


class TarOutput:
    """A tar stream being written: every byte hashed, optionally copied and recorded."""

    def __init__(self, out: IO[bytes] | None = None, split: TarSplitWriter | None = None) -> None:
        self._out = out
        self._split = split
        self._hash = hashlib.sha256()
        self.length = 0

    @property
    def diff_id(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def _emit(self, data: bytes) -> None:
        self._hash.update(data)
        self.length += len(data)
        if self._out is not None:
            self._out.write(data)

    def _raw(self, data: bytes) -> None:
        self._emit(data)
        if self._split is not None:
            self._split.raw(data)

    def add(
        self, info: tarfile.TarInfo, *, data: bytes | None = None, path: str = "", relpath: str = ""
    ) -> None:
        """Write one member; a regular file's content comes from ``data`` or the file ``path``
        (``relpath``, its name in the layer dir, is what the tar-split records)."""
        self._raw(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if not info.isreg() or info.size == 0:
            return
        if data is not None:
            if len(data) != info.size:
                raise ValueError("data does not match the header size")
            self._raw(data)
        else:
            if self._split is not None:
                self._split.file(relpath, info.size)
            for chunk in file_chunks(path, info.size):
                self._emit(chunk)
        pad = -info.size % BLOCK
        if pad:
            self._raw(b"\0" * pad)

    def close(self) -> None:
        """Write the end-of-archive blocks."""
        self._raw(END_OF_ARCHIVE)


def new_info(name: str, st: os.stat_result | None = None) -> tarfile.TarInfo:
    """A TarInfo for ``name`` with owner, mode and whole-second mtime from ``st``."""
    info = tarfile.TarInfo(name)
    info.uname = ""
    info.gname = ""
    if st is not None:
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid = st.st_uid
        info.gid = st.st_gid
        info.mtime = int(st.st_mtime)
    return info


def _xattr_headers(path: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return headers
    for name in sorted(names):
        if keep_xattr(name):
            value = os.getxattr(path, name, follow_symlinks=False)
            headers["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return headers


def pack_dir(
    root: Path,
    output: TarOutput,
    *,
    tick: Callable[[int], None] | None = None,
) -> int:
    """Write the layer dir ``root`` as a Docker layer tar; return the content size in bytes.

    Whiteouts (char 0/0) become ``.wh.<name>`` and opaque dirs get a ``.wh..wh..opq`` member.
    Members come in ``filepath.Walk`` order (names sorted per directory), so the same tree gives
    the same bytes. Sockets are skipped (as Docker does); other device nodes and fifos are refused.
    ``tick(bytes)`` is called as file contents are written, for progress reports.
    """
    size = 0
    seen: dict[tuple[int, int], str] = {}

    def walk(rel: str) -> Iterator[tuple[str, os.stat_result]]:
        base = os.path.join(root, rel) if rel else str(root)
        for name in sorted(os.listdir(base)):
            child = f"{rel}/{name}" if rel else name
            st = os.lstat(os.path.join(base, name))
            yield child, st
            if stat.S_ISDIR(st.st_mode):
                yield from walk(child)

    for rel, st in walk(""):
        path = os.path.join(root, rel)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            info = new_info(rel, st)
            info.type = tarfile.DIRTYPE
            info.pax_headers = _xattr_headers(path)
            output.add(info)
            if is_opaque(path):
                marker = new_info(f"{rel}/{OPAQUE_MARKER}", st)
                marker.mode = info.mode & 0o777
                output.add(marker)
        elif is_whiteout_stat(st):
            head, _, name = rel.rpartition("/")
            info = new_info(
                f"{head}/{WHITEOUT_PREFIX}{name}" if head else WHITEOUT_PREFIX + name, st
            )
            info.mode = 0o600
            output.add(info)
        elif stat.S_ISREG(mode):
            info = new_info(rel, st)
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in seen:
                info.type = tarfile.LNKTYPE
                info.linkname = seen[key]
                output.add(info)
                continue
            if st.st_nlink > 1:
                seen[key] = rel
            info.size = st.st_size
            info.pax_headers = _xattr_headers(path)
            output.add(info, path=path, relpath=rel)
            size += st.st_size
            if tick is not None:
                tick(st.st_size)
        elif stat.S_ISLNK(mode):
            info = new_info(rel, st)
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(path)
            output.add(info)
            size += st.st_size
        elif stat.S_ISSOCK(mode):
            continue
        elif stat.S_ISFIFO(mode):
            raise BadImage(f"cannot store /{rel}: fifos are not stored in layers")
        else:
            raise BadImage(f"cannot store /{rel}: device nodes are not stored in layers")
    output.close()
    return size
