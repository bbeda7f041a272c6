"""The ``docker save`` archive format, written and read.

An archive holds, for Docker 20.10 and for us::

    manifest.json        [{"Config": "<id hex>.json", "RepoTags": [...], "Layers": [...]}]
    repositories         {"busybox": {"latest": "<top layer dir>"}}
    <id hex>.json        the image config, exact bytes (so the id survives the round trip)
    <layer dir>/VERSION  "1.0"
    <layer dir>/json     a legacy v1 description of the layer
    <layer dir>/layer.tar  the layer tar, exactly the bytes its DiffID hashes

Reading also accepts gzip-compressed layer tars, and layer paths that are symlinks inside the
archive (newer Docker writes ``blobs/sha256/...`` with such links).
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from dockerscope.engine.images.errors import BadImage
from dockerscope.engine.images.layers import Layer, LayerStore, spool
from dockerscope.engine.images.model import Image, parse_config
from dockerscope.engine.images.reference import parse_reference
from dockerscope.engine.images.tarstream import LayerCorrupt

_MAX_JSON = 16 << 20


@dataclass(frozen=True)
class SaveEntry:
    """One image to write: its config bytes, its layers bottom first, the tags to record."""

    image: Image
    config: bytes
    layers: list[Layer]
    repo_tags: list[str]


@dataclass(frozen=True)
class LoadedImage:
    """One image read from an archive; its layers are already in the layer store."""

    config: bytes
    repo_tags: list[str]


class _ChunkReader:
    """A file-like view of an iterator of byte chunks (``read(n)`` fills up to ``n``)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        if n < 0:
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        return data


def _info(name: str, size: int, mtime: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size if kind == tarfile.REGTYPE else 0
    info.mtime = mtime
    info.type = kind
    info.mode = 0o644 if kind == tarfile.REGTYPE else 0o755
    info.uname = info.gname = ""
    return info


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def write(entries: list[SaveEntry], store: LayerStore, out: BinaryIO) -> None:
    """Stream a docker-save archive of ``entries`` into ``out``."""
    archive = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
    written: set[str] = set()
    manifest = []
    repositories: dict[str, dict[str, str]] = {}
    try:
        for entry in entries:
            mtime = entry.image.created_unix
            layer_paths = []
            parent_dir = ""
            for layer in entry.layers:
                # The layer dir is named after the chain id: stable, and shared by images.
                name = layer.chain_id.removeprefix("sha256:")
                layer_paths.append(f"{name}/layer.tar")
                if name not in written:
                    written.add(name)
                    legacy: dict[str, Any] = {"id": name}
                    if parent_dir:
                        legacy["parent"] = parent_dir
                    legacy["created"] = entry.image.created
                    legacy["os"] = entry.image.os
                    body = _dump(legacy)
                    archive.addfile(_info(name, 0, mtime, tarfile.DIRTYPE))
                    archive.addfile(
                        _info(f"{name}/VERSION", 3, mtime), _ChunkReader(iter([b"1.0"]))
                    )
                    archive.addfile(
                        _info(f"{name}/json", len(body), mtime), _ChunkReader(iter([body]))
                    )
                    stream = _ChunkReader(store.tar_stream(layer))
                    archive.addfile(_info(f"{name}/layer.tar", layer.tar_size, mtime), stream)
                    if stream.read(1):  # reading on also runs tar_stream's final digest check
                        raise LayerCorrupt(f"layer {layer.chain_id} is longer than recorded")
                parent_dir = name
            config_name = entry.image.id.removeprefix("sha256:") + ".json"
            if config_name not in written:
                written.add(config_name)
                archive.addfile(
                    _info(config_name, len(entry.config), mtime), _ChunkReader(iter([entry.config]))
                )
            manifest.append(
                {"Config": config_name, "RepoTags": entry.repo_tags or None, "Layers": layer_paths}
            )
            for tag in entry.repo_tags:
                ref = parse_reference(tag)
                if parent_dir:
                    repositories.setdefault(ref.name, {})[ref.tag] = parent_dir
        for name, data in (
            ("manifest.json", _dump(manifest)),
            ("repositories", _dump(repositories)),
        ):
            archive.addfile(_info(name, len(data), 0), _ChunkReader(iter([data])))
    finally:
        archive.close()


def _members(archive: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    found = {}
    for info in archive.getmembers():
        found[posixpath.normpath(info.name.lstrip("/")).removeprefix("./")] = info
    return found


def _lookup(members: dict[str, tarfile.TarInfo], name: str) -> tarfile.TarInfo:
    path = posixpath.normpath(name)
    for _ in range(8):
        if path.startswith("../") or path == ".." or path.startswith("/"):
            raise BadImage(f"archive path {name!r} leaves the archive")
        info = members.get(path)
        if info is None:
            raise BadImage(f"archive has no {name!r} (named in manifest.json)")
        if not info.issym():
            if not (info.isreg() or info.islnk()):
                raise BadImage(f"archive member {name!r} is not a file")
            return info
        path = posixpath.normpath(posixpath.join(posixpath.dirname(path), info.linkname))
    raise BadImage(f"archive member {name!r}: too many symlinks")


def _read_small(archive: tarfile.TarFile, info: tarfile.TarInfo, what: str) -> bytes:
    if info.size > _MAX_JSON:
        raise BadImage(f"{what} is too large ({info.size} bytes)")
    reader = archive.extractfile(info)
    if reader is None:
        raise BadImage(f"cannot read {what}")
    return reader.read()


def read(fileobj: IO[bytes], store: LayerStore) -> Iterator[LoadedImage]:
    """Read the (seekable, uncompressed) archive: store each image's layers, then yield it."""
    try:
        archive = tarfile.open(fileobj=fileobj, mode="r:")  # noqa: SIM115
    except tarfile.TarError as exc:
        raise BadImage(f"not a docker save archive: {exc}") from exc
    with archive:
        try:
            members = _members(archive)
        except tarfile.TarError as exc:
            raise BadImage(f"malformed archive: {exc}") from exc
        if "manifest.json" not in members:
            raise BadImage("not a docker save archive: it has no manifest.json")
        try:
            manifest = json.loads(_read_small(archive, members["manifest.json"], "manifest.json"))
        except ValueError as exc:
            raise BadImage(f"manifest.json is not valid JSON: {exc}") from exc
        if not isinstance(manifest, list):
            raise BadImage("manifest.json is not a list")
        for entry in manifest:
            if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
                raise BadImage("manifest.json entry without a Config")
            config = _read_small(archive, _lookup(members, entry["Config"]), entry["Config"])
            obj = parse_config(config)
            diff_ids = obj["rootfs"].get("diff_ids") or []
            layer_paths = entry.get("Layers") or []
            if len(layer_paths) != len(diff_ids):
                raise BadImage(
                    f"{entry['Config']}: manifest lists {len(layer_paths)} layers, "
                    f"the config {len(diff_ids)}"
                )
            repo_tags = [str(t) for t in entry.get("RepoTags") or []]
            for tag in repo_tags:
                parse_reference(tag)
            parent = ""
            for path, expected in zip(layer_paths, diff_ids, strict=True):
                reader = archive.extractfile(_lookup(members, path))
                if reader is None:
                    raise BadImage(f"cannot read {path!r}")
                spooled = spool(reader, store.tmp_dir)
                try:
                    if spooled.diff_id != expected:
                        raise BadImage(
                            f"layer {path} does not match the image config: its digest is "
                            f"{spooled.diff_id}, the config says {expected}"
                        )
                    layer, _ = store.add_tar(spooled, parent)
                finally:
                    spooled.close()
                parent = layer.chain_id
            yield LoadedImage(config=config, repo_tags=repo_tags)
