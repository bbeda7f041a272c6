"""The layer store: extracted layer directories, content-addressed, shared between images.

On disk, under ``<images root>/layers/<chain id hex>/``:

- ``diff/``          the layer's files; used as an overlayfs lower dir as it is (whiteouts are
                     char 0/0 devices, opaque dirs carry ``trusted.overlay.opaque=y``);
- ``layer.json``     ``{"diff_id", "chain_id", "parent", "size", "tar_size"}``;
- ``tar-split.gz``   what it takes to rebuild the exact layer tar (see tarstream.py).

A layer is named by its ChainID: the DiffID (sha256 of the uncompressed layer tar) for a base
layer, ``sha256(parent chain id + " " + diff id)`` above one, as Docker does. The same tar imported
twice on the same parent is stored once.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from dockerscope.engine.images.errors import BadImage
from dockerscope.engine.images.fsutil import remove_tree, write_json
from dockerscope.engine.images.model import chain_ids
from dockerscope.engine.images.tarsafe import extract
from dockerscope.engine.images.tarstream import (
    LayerCorrupt,
    TarOutput,
    TarSplitWriter,
    pack_dir,
    replay,
    split_from_spool,
)
from dockerscope.engine.private import private_dir

_CHUNK = 1 << 20
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclass(frozen=True)
class Layer:
    """One stored layer."""

    chain_id: str
    diff_id: str
    parent: str
    """Chain id of the layer below, "" for a base layer."""
    size: int
    """Bytes of content (regular files and symlinks)."""
    tar_size: int
    """Length of the layer's tar stream."""
    path: Path

    @property
    def diff_dir(self) -> Path:
        """The directory given to overlayfs as a lower dir."""
        return self.path / "diff"


def chain_id(parent: str, diff_id: str) -> str:
    """The ChainID of ``diff_id`` on top of the layer ``parent`` ("" for none)."""
    if not parent:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


class _Prefixed:
    """A reader that gives back bytes already peeked, then the rest of ``fileobj``."""

    def __init__(self, head: bytes, fileobj: IO[bytes]) -> None:
        self._head = head
        self._fileobj = fileobj

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._fileobj.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._fileobj.read(n)


def open_maybe_compressed(fileobj: IO[bytes]) -> IO[bytes]:
    """A reader of the uncompressed bytes of a plain, gzip, bzip2 or xz stream."""
    head = fileobj.read(6)
    stream = _Prefixed(head, fileobj)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[arg-type,call-overload]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(stream)  # type: ignore[arg-type,call-overload]
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(stream)  # type: ignore[arg-type,call-overload]
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        raise BadImage("zstd-compressed archives are not supported: decompress it first")
    return stream  # type: ignore[return-value]


@dataclass
class Spooled:
    """An uncompressed tar copied to a temp file, with its digest."""

    file: IO[bytes]
    diff_id: str
    length: int

    def close(self) -> None:
        self.file.close()


def spool(fileobj: IO[bytes], tmp_dir: Path) -> Spooled:
    """Copy a (possibly compressed) tar stream into a seekable temp file, hashing it on the way."""
    reader = open_maybe_compressed(fileobj)
    out = tempfile.TemporaryFile(dir=tmp_dir)  # noqa: SIM115 (handed to the caller)
    digest = hashlib.sha256()
    length = 0
    try:
        while True:
            try:
                chunk = reader.read(_CHUNK)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise BadImage(f"cannot decompress the archive: {exc}") from exc
            if not chunk:
                break
            digest.update(chunk)
            out.write(chunk)
            length += len(chunk)
    except BaseException:
        out.close()
        raise
    if length == 0:
        out.close()
        raise BadImage("empty archive: a layer tar needs at least its end-of-archive blocks")
    out.seek(0)
    return Spooled(out, "sha256:" + digest.hexdigest(), length)


class LayerStore:
    """Layer directories under ``root/layers``, staged in ``root/tmp``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.layers_dir = self.root / "layers"
        self.tmp_dir = self.root / "tmp"
        # 0700: the store's own dirs; a layer's diff/ keeps the mode of its content.
        private_dir(self.layers_dir)
        private_dir(self.tmp_dir)

    # -- reading -------------------------------------------------------------------------
    def _dir(self, chain: str) -> Path:
        if not _DIGEST.match(chain):
            raise BadImage(f"malformed layer id {chain!r}")
        return self.layers_dir / chain.removeprefix("sha256:")

    def get(self, chain: str) -> Layer | None:
        """The layer with this chain id, or None."""
        path = self._dir(chain)
        try:
            record = json.loads((path / "layer.json").read_text())
        except FileNotFoundError:
            return None
        return Layer(
            chain_id=record["chain_id"],
            diff_id=record["diff_id"],
            parent=record.get("parent") or "",
            size=int(record["size"]),
            tar_size=int(record["tar_size"]),
            path=path,
        )

    def all(self) -> list[Layer]:
        """Every stored layer."""
        out = []
        for entry in sorted(os.listdir(self.layers_dir)):
            if re.fullmatch(r"[a-f0-9]{64}", entry):
                layer = self.get("sha256:" + entry)
                if layer is not None:
                    out.append(layer)
        return out

    def stack(self, diff_ids: tuple[str, ...] | list[str]) -> list[Layer]:
        """The layers of an image, bottom first; raise LayerCorrupt if one is missing."""
        out = []
        for chain in chain_ids(diff_ids):
            layer = self.get(chain)
            if layer is None:
                raise LayerCorrupt(f"layer {chain} is missing from the store")
            out.append(layer)
        return out

    def tar_stream(self, layer: Layer) -> Iterator[bytes]:
        """The exact tar the layer was made from; raise LayerCorrupt if it does not hash back."""
        digest = hashlib.sha256()
        length = 0
        for chunk in replay(layer.diff_dir, layer.path / "tar-split.gz"):
            digest.update(chunk)
            length += len(chunk)
            yield chunk
        if "sha256:" + digest.hexdigest() != layer.diff_id or length != layer.tar_size:
            raise LayerCorrupt(f"layer {layer.chain_id} changed on disk: its tar no longer matches")

    # -- writing -------------------------------------------------------------------------
    def staging(self) -> Path:
        """A new empty staging dir under tmp/ holding an empty ``diff/`` to fill."""
        path = self.tmp_dir / f"layer-{uuid.uuid4().hex[:12]}"
        path.mkdir(0o700)
        (path / "diff").mkdir()
        return path

    def add_tar(
        self, spooled: Spooled, parent: str = "", *, allow_absolute_symlinks: bool = True
    ) -> tuple[Layer, bool]:
        """Store the spooled layer tar on top of ``parent``; return (layer, newly created)."""
        chain = chain_id(parent, spooled.diff_id)
        existing = self.get(chain)
        if existing is not None:
            return existing, False
        stage = self.tmp_dir / f"layer-{uuid.uuid4().hex[:12]}"
        stage.mkdir(0o700)
        try:
            spooled.file.seek(0)
            extracted = extract(
                spooled.file, stage / "diff", allow_absolute_symlinks=allow_absolute_symlinks
            )
            split_from_spool(spooled.file, extracted.files, spooled.length, stage / "tar-split.gz")
            return self._commit_stage(
                stage, chain, spooled.diff_id, parent, extracted.size, spooled.length
            )
        except BaseException:
            remove_tree(stage)
            raise

    def add_dir(
        self, stage: Path, parent: str = "", tick: Callable[[int], None] | None = None
    ) -> tuple[Layer, bool]:
        """Adopt a filled staging dir (from ``staging()``) as a layer; return (layer, created).

        The files stay where they are (no copy): the tar stream is only hashed and recorded.
        """
        try:
            split = TarSplitWriter(stage / "tar-split.gz")
            try:
                output = TarOutput(split=split)
                size = pack_dir(stage / "diff", output, tick=tick)
            finally:
                split.close()
            chain = chain_id(parent, output.diff_id)
            existing = self.get(chain)
            if existing is not None:
                remove_tree(stage)
                return existing, False
            return self._commit_stage(stage, chain, output.diff_id, parent, size, output.length)
        except BaseException:
            remove_tree(stage)
            raise

    def _commit_stage(
        self, stage: Path, chain: str, diff_id: str, parent: str, size: int, tar_size: int
    ) -> tuple[Layer, bool]:
        write_json(
            stage / "layer.json",
            {
                "chain_id": chain,
                "diff_id": diff_id,
                "parent": parent,
                "size": size,
                "tar_size": tar_size,
            },
        )
        target = self._dir(chain)
        try:
            os.rename(stage, target)
        except OSError:
            # Someone stored the same layer meanwhile: keep theirs.
            if self.get(chain) is None:
                raise
            remove_tree(stage)
            layer = self.get(chain)
            assert layer is not None
            return layer, False
        layer = self.get(chain)
        assert layer is not None
        return layer, True

    def remove(self, chain: str) -> None:
        """Delete a layer: moved aside first, so it vanishes at once, then removed."""
        path = self._dir(chain)
        if not path.exists():
            return
        trash = self.tmp_dir / f"del-{uuid.uuid4().hex[:12]}"
        os.rename(path, trash)
        remove_tree(trash)

    def clean_tmp(self) -> None:
        """Remove what an interrupted operation left in tmp/ (run at start-up)."""
        for entry in os.listdir(self.tmp_dir):
            remove_tree(self.tmp_dir / entry)


def write_layer_tar(store: LayerStore, layer: Layer, out: BinaryIO) -> None:
    """Copy a layer's tar stream into ``out``."""
    for chunk in store.tar_stream(layer):
        out.write(chunk)
