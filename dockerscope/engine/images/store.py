"""ImageStore: images, tags and their layers under one directory (a lab's ``images_dir``).

Layout (see docs/images.md)::

    layers/<chain hex>/{diff/,layer.json,tar-split.gz}   the layer store (layers.py)
    images/<id hex>/config.json                          Docker's image config, exact bytes
    images/<id hex>/meta.json                            {"parent": ...}: what the config lacks
    repositories.json                                    {"Repositories": {name: {"name:tag": id}}}
    tmp/                                                 staging; emptied at start-up

Containers never get copies: ``layer_dirs(image)`` returns the layer dirs themselves, to be
stacked as overlayfs lower dirs under the container's own upper dir.

This module holds the records, lookup, tagging, import, commit, save and load; ``history.py``
makes ``docker history`` rows, ``removal.py`` applies rmi/prune rules, ``builtin_images.py``
builds the builtin images, each through the store's public record methods.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO

from dockerscope.engine.images import builtin, builtin_images, dockersave
from dockerscope.engine.images.changes import apply_changes
from dockerscope.engine.images.diff import copy_upper
from dockerscope.engine.images.diff import diff_changes as _diff_changes
from dockerscope.engine.images.errors import (
    BadImage,
    ImageError,
    ImageNotFound,
)
from dockerscope.engine.images.fsutil import remove_tree, write_bytes, write_json
from dockerscope.engine.images.history import history_rows
from dockerscope.engine.images.layers import Layer, LayerStore, spool
from dockerscope.engine.images.model import (
    HistoryEntry,
    HistoryRow,
    Image,
    ImageConfig,
    build_config,
    chain_ids,
    image_from_config,
    image_id,
    now_rfc3339,
    parse_config,
    parse_rfc3339,
)
from dockerscope.engine.images.reference import (
    Reference,
    id_prefix,
    parse_reference,
)
from dockerscope.engine.images.removal import InUse, prune_images, remove_image
from dockerscope.engine.private import private_dir

List = list  # the class below has a method named ``list``: annotations there use this

_ID_DIR = re.compile(r"^[a-f0-9]{64}$")


class ImageStore:
    """Images, tags and layers under ``root``; safe to share between threads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.images_dir = self.root / "images"
        self.repositories_path = self.root / "repositories.json"
        private_dir(self.images_dir)  # the store's root too: 0700, as the lab's state
        self.layers = LayerStore(self.root)
        self.lock = threading.RLock()
        #: one lock per builtin image name, so two first uses build it once
        self.building_locks: dict[str, threading.Lock] = {}
        self._in_flight = 0
        self.layers.clean_tmp()
        self.gc_layers()

    # -- records -------------------------------------------------------------------------
    def repositories(self) -> dict[str, dict[str, str]]:
        """repositories.json as {name: {"name:tag": image id}} ({} before the first tag)."""
        try:
            data = json.loads(self.repositories_path.read_text())
        except FileNotFoundError:
            return {}
        repos = data.get("Repositories") or {}
        return {name: dict(tags) for name, tags in repos.items()}

    def write_repositories(self, repos: dict[str, dict[str, str]]) -> None:
        """Write repositories.json, leaving out names with no tags left."""
        repos = {name: tags for name, tags in sorted(repos.items()) if tags}
        write_json(self.repositories_path, {"Repositories": repos})

    def tag_map(self) -> dict[str, str]:
        """Every ``name:tag`` and the image id it points at."""
        return {tag: iid for tags in self.repositories().values() for tag, iid in tags.items()}

    def image_ids(self) -> List[str]:
        """The id (``sha256:...``) of every image in the store."""
        return ["sha256:" + e for e in os.listdir(self.images_dir) if _ID_DIR.match(e)]

    def image_dir(self, iid: str) -> Path:
        """The directory holding an image's config.json and meta.json."""
        return self.images_dir / iid.removeprefix("sha256:")

    def config_bytes(self, iid: str) -> bytes:
        """The image's config exactly as stored (its hash is the id); raise ImageNotFound."""
        try:
            return (self.image_dir(iid) / "config.json").read_bytes()
        except FileNotFoundError:
            raise ImageNotFound(f"No such image: {iid}") from None

    def meta(self, iid: str) -> dict[str, Any]:
        """What Docker's config does not hold (the parent image), {} if nothing is recorded."""
        try:
            return dict(json.loads((self.image_dir(iid) / "meta.json").read_text()))
        except FileNotFoundError:
            return {}

    def image(self, iid: str, tags: dict[str, str] | None = None) -> Image:
        """The Image for an id, with its tags (from ``tags`` if given) and its layers' size."""
        tags = self.tag_map() if tags is None else tags
        obj = parse_config(self.config_bytes(iid))
        diff_ids = obj["rootfs"].get("diff_ids") or []
        size = 0
        for chain in chain_ids(diff_ids):
            layer = self.layers.get(chain)
            size += layer.size if layer else 0
        return image_from_config(
            iid,
            obj,
            repo_tags=tuple(sorted(t for t, i in tags.items() if i == iid)),
            size=size,
            parent=str(self.meta(iid).get("parent") or ""),
        )

    # -- lookup --------------------------------------------------------------------------
    def resolve(self, ref: str) -> tuple[str, Reference | None]:
        """The image id ``ref`` names, and the tag it matched (None when matched by id).

        Tried in Docker's order: ``name[:tag]``, then a full id, then a unique id prefix.
        """
        with self.lock:
            ref = ref.strip()
            tags = self.tag_map()
            parsed: Reference | None = None
            try:
                parsed = parse_reference(ref)
            except BadImage:
                parsed = None
            if parsed is not None and str(parsed) in tags:
                return tags[str(parsed)], parsed
            prefix = id_prefix(ref)
            if prefix is not None:
                matches = [
                    i for i in self.image_ids() if i.removeprefix("sha256:").startswith(prefix)
                ]
                if len(matches) == 1:
                    return matches[0], None
                if len(matches) > 1:
                    raise BadImage(
                        f"ambiguous image id prefix {ref!r}: matches {len(matches)} images"
                    )
            shown = str(parsed) if parsed is not None else ref
            raise ImageNotFound(f"No such image: {shown}")

    def get(self, ref: str) -> Image:
        """The image ``ref`` names (tag, id or id prefix); raise ImageNotFound."""
        with self.lock:
            iid, _ = self.resolve(ref)
            return self.image(iid)

    def list(self) -> List[Image]:
        """Every image, newest first (as ``docker images``)."""
        with self.lock:
            tags = self.tag_map()
            images = [self.image(i, tags) for i in self.image_ids()]
        return sorted(images, key=lambda im: (parse_rfc3339(im.created), im.id), reverse=True)

    def layer_dirs(self, image: Image | str) -> List[str]:
        """The image's layer dirs, top-most first: overlayfs ``lowerdir=`` order. No copies."""
        with self.lock:
            img = image if isinstance(image, Image) else self.get(image)
            return [str(layer.diff_dir) for layer in reversed(self.layers.stack(img.diff_ids))]

    def history(self, ref: str) -> List[HistoryRow]:
        """``docker history``: one row per history entry, newest first (see history.py)."""
        return history_rows(self, ref)

    # -- writing records -----------------------------------------------------------------
    def put_image(self, config: bytes, parent: str = "") -> str:
        """Store a config (and its parent) once, atomically; return the image id."""
        iid = image_id(config)
        directory = self.image_dir(iid)
        if not directory.exists():
            stage = self.layers.tmp_dir / f"image-{iid[7:19]}-{os.getpid()}"
            remove_tree(stage)
            stage.mkdir(0o700)  # becomes images/<id>: metadata, root's alone
            write_bytes(stage / "config.json", config)
            write_json(stage / "meta.json", {"parent": parent})
            os.rename(stage, directory)
        return iid

    def set_tag(self, ref: Reference, iid: str) -> None:
        """Point ``ref`` at ``iid``, moving it off any image it named before."""
        repos = self.repositories()
        repos.setdefault(ref.name, {})[str(ref)] = iid
        self.write_repositories(repos)

    def untag(self, tag: str) -> None:
        """Remove the ``name:tag`` from whatever image it names."""
        repos = self.repositories()
        for tags in repos.values():
            tags.pop(tag, None)
        self.write_repositories(repos)

    def tag(self, src: str, ref: str) -> None:
        """Point ``ref`` (``name[:tag]``) at the image ``src`` names (moving it if it existed)."""
        target = parse_reference(ref)
        with self.lock:
            iid, _ = self.resolve(src)
            self.set_tag(target, iid)

    @contextmanager
    def building_layers(self) -> Iterator[None]:
        """Marks a layer being made, so a concurrent ``remove`` does not collect it yet."""
        with self.lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self.lock:
                self._in_flight -= 1

    def add_tar_layer(self, fileobj: IO[bytes], *, allow_absolute_symlinks: bool = True) -> Layer:
        """A (possibly compressed) layer tar as a layer with no parent; call it inside
        ``building_layers()`` so the new layer is not collected before an image uses it."""
        spooled = spool(fileobj, self.layers.tmp_dir)
        try:
            layer, _ = self.layers.add_tar(spooled, allow_absolute_symlinks=allow_absolute_symlinks)
        finally:
            spooled.close()
        return layer

    def new_image(
        self,
        layers: List[Layer],
        *,
        config: ImageConfig,
        history: List[HistoryEntry],
        created: str,
        tags: Iterable[Reference] = (),
        parent: Image | None = None,
        author: str = "",
        comment: str = "",
        container: str = "",
    ) -> Image:
        diff_ids = list(parent.diff_ids if parent else ()) + [layer.diff_id for layer in layers]
        data = build_config(
            config=config,
            diff_ids=diff_ids,
            history=history,
            created=created,
            author=author,
            comment=comment,
            parent_raw=parent.raw if parent else None,
            container=container,
        )
        with self.lock:
            iid = self.put_image(data, parent.id if parent else "")
            for ref in tags:
                self.set_tag(ref, iid)
            return self.image(iid)

    # -- import, commit ------------------------------------------------------------------
    def import_tar(
        self,
        fileobj: IO[bytes],
        ref: str = "",
        changes: Iterable[str] = (),
        message: str = "",
    ) -> Image:
        """``docker import``: a rootfs tar (plain, gzip, bzip2 or xz) as a one-layer image.

        ``changes`` are Dockerfile-like lines (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER,
        WORKDIR). Absolute symlinks in the tar are kept (a rootfs is full of them); ``..``
        names, escaping links, devices and fifos are refused (tarsafe.py).
        """
        tags = [parse_reference(ref)] if ref else []
        config = apply_changes(ImageConfig(), list(changes))
        created = now_rfc3339()
        with self.building_layers():
            layer = self.add_tar_layer(fileobj)
            history = [HistoryEntry(created=created, comment=message or "Imported from -")]
            return self.new_image(
                [layer],
                config=config,
                history=history,
                created=created,
                tags=tags,
                comment=message,
            )

    def commit(
        self,
        upperdir: str | Path,
        parent_image: Image | str,
        ref: str = "",
        changes: Iterable[str] = (),
        comment: str = "",
        author: str = "",
        *,
        config: ImageConfig | Mapping[str, Any] | None = None,
        created_by: str = "",
        container: str = "",
    ) -> Image:
        """``docker commit``: the container's upper dir becomes a new layer on its image.

        ``config`` (the container's run config, as an ImageConfig, or Docker's config JSON
        object whose non-empty fields override the parent's, as the API's commit body does)
        is used before ``changes`` apply; whiteouts in the upper dir become ``.wh.`` entries.
        """
        tags = [parse_reference(ref)] if ref else []
        parent = parent_image if isinstance(parent_image, Image) else self.get(parent_image)
        if isinstance(config, ImageConfig):
            base = config
        elif config:
            merged = parent.config.to_docker()
            merged.update({k: v for k, v in config.items() if v not in (None, "", [], {})})
            base = ImageConfig.from_docker(merged)
        else:
            base = parent.config
        new_config = apply_changes(base, list(changes))
        created = now_rfc3339()
        parent_chain = chain_ids(parent.diff_ids)[-1] if parent.diff_ids else ""
        with self.building_layers():
            stage = self.layers.staging()
            try:
                copy_upper(upperdir, stage / "diff")
            except BaseException:
                remove_tree(stage)
                raise
            layer, _ = self.layers.add_dir(stage, parent_chain)
            history = list(parent.history) + [
                HistoryEntry(created=created, created_by=created_by, author=author, comment=comment)
            ]
            return self.new_image(
                [layer],
                config=new_config,
                history=history,
                created=created,
                tags=tags,
                parent=parent,
                author=author,
                comment=comment,
                container=container,
            )

    @staticmethod
    def diff_changes(
        lowerdirs: Iterable[str | Path], upperdir: str | Path, ignore: Iterable[str] = ()
    ) -> List[tuple[str, str]]:
        """``docker diff`` of an upper dir over its lower dirs (see diff.py)."""
        return _diff_changes(lowerdirs, upperdir, ignore)

    # -- builtin images (builtin_images.py) ----------------------------------------------
    @staticmethod
    def is_builtin(name: str) -> bool:
        """True if ``ensure_builtin`` can make an image of this name (busybox, debian, docker)."""
        return builtin_images.is_builtin(name)

    def ensure_builtin(self, name: str, progress: builtin.Progress | None = None) -> Image:
        """The builtin image ``name`` (``busybox``, ``debian``, ``docker``, optionally with a
        tag), built on first use; any other name raises ImageNotFound saying it is not available
        offline."""
        return builtin_images.ensure_builtin(self, name, progress)

    # -- save, load ----------------------------------------------------------------------
    def save(self, refs: Iterable[str], out: BinaryIO) -> None:
        """``docker save``: write the images ``refs`` name to ``out`` in docker-save format."""
        with self.lock:
            picked: dict[str, List[str]] = {}
            for ref in refs:
                iid, tag = self.resolve(ref)
                tags = picked.setdefault(iid, [])
                if tag is not None and str(tag) not in tags:
                    tags.append(str(tag))
            if not picked:
                raise BadImage("nothing to save: name at least one image")
            entries = []
            for iid, tags in picked.items():
                image = self.image(iid)
                entries.append(
                    dockersave.SaveEntry(
                        image=image,
                        config=self.config_bytes(iid),
                        layers=self.layers.stack(image.diff_ids),
                        repo_tags=tags,
                    )
                )
        dockersave.write(entries, self.layers, out)

    def load(self, fileobj: IO[bytes]) -> List[str]:
        """``docker load``: read a docker-save archive (plain or compressed); return what was
        loaded, as tags (``busybox:latest``) or, for untagged images, ids."""
        loaded: List[str] = []
        try:
            with self.building_layers():
                archive = spool(fileobj, self.layers.tmp_dir)
                try:
                    for item in dockersave.read(archive.file, self.layers):
                        tags = [parse_reference(t) for t in item.repo_tags]
                        with self.lock:
                            iid = self.put_image(item.config)
                            for tag in tags:
                                self.set_tag(tag, iid)
                        loaded += [str(t) for t in tags] or [iid]
                finally:
                    archive.close()
        except BaseException:
            self.gc_layers()  # layers of an image that failed to load
            raise
        return loaded

    # -- removal (removal.py) ------------------------------------------------------------
    def remove(
        self, ref: str, force: bool = False, in_use: InUse | None = None
    ) -> List[dict[str, str]]:
        """``docker rmi``: untag and delete, Docker-style; return [{"Untagged": ...},
        {"Deleted": ...}]. Layers no image uses any more are deleted too (see removal.py)."""
        return remove_image(self, ref, force, in_use)

    def prune(self, in_use: InUse | None = None) -> List[dict[str, str]]:
        """``docker image prune``: delete dangling images no container uses and no image builds
        on; return the Deleted records (images, then layers)."""
        return prune_images(self, in_use)

    def gc_layers(self) -> List[str]:
        """Delete layers no image uses; skipped while a layer is being made."""
        with self.lock:
            if self._in_flight:
                return []
            used: set[str] = set()
            for iid in self.image_ids():
                try:
                    obj = parse_config(self.config_bytes(iid))
                except ImageError:
                    continue
                used.update(chain_ids(obj["rootfs"].get("diff_ids") or []))
            removed = []
            for layer in self.layers.all():
                if layer.chain_id not in used:
                    self.layers.remove(layer.chain_id)
                    removed.append(layer.chain_id)
            return removed
