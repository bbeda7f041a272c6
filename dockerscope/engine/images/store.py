"""ImageStore: images, tags and their layers under one directory (a lab's ``images_dir``).

Layout (see docs/images.md)::

    layers/<chain hex>/{diff/,layer.json,tar-split.gz}   the layer store (layers.py)
    images/<id hex>/config.json                          Docker's image config, exact bytes
    images/<id hex>/meta.json                            {"parent": ...}: what the config lacks
    repositories.json                                    {"Repositories": {name: {"name:tag": id}}}
    tmp/                                                 staging; emptied at start-up

Containers never get copies: ``layer_dirs(image)`` returns the layer dirs themselves, to be
stacked as overlayfs lower dirs under the container's own upper dir.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, BinaryIO

from dockerscope.engine.images import builtin, dockersave
from dockerscope.engine.images.changes import apply_changes
from dockerscope.engine.images.diff import copy_upper
from dockerscope.engine.images.diff import diff_changes as _diff_changes
from dockerscope.engine.images.dockerimage import ensure_docker_image, is_docker_image
from dockerscope.engine.images.errors import (
    BadImage,
    Conflict,
    ImageError,
    ImageInUse,
    ImageNotFound,
)
from dockerscope.engine.images.fsutil import remove_tree, write_bytes, write_json
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
    short_id,
)
from dockerscope.engine.private import private_dir

List = list  # the class below has a method named ``list``: annotations there use this
InUse = Callable[[str], "str | None"]
"""``in_use(image_id)`` -> the name of a container using the image, or None."""

_ID_DIR = re.compile(r"^[a-f0-9]{64}$")


class ImageStore:
    """Images, tags and layers under ``root``; safe to share between threads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.images_dir = self.root / "images"
        self.repositories_path = self.root / "repositories.json"
        private_dir(self.images_dir)  # the store's root too: 0700, as the lab's state
        self.layers = LayerStore(self.root)
        self._lock = threading.RLock()
        self._building: dict[str, threading.Lock] = {}
        self._in_flight = 0
        self.layers.clean_tmp()
        self._gc_layers()

    # -- records -------------------------------------------------------------------------
    def _repositories(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.repositories_path.read_text())
        except FileNotFoundError:
            return {}
        repos = data.get("Repositories") or {}
        return {name: dict(tags) for name, tags in repos.items()}

    def _write_repositories(self, repos: dict[str, dict[str, str]]) -> None:
        repos = {name: tags for name, tags in sorted(repos.items()) if tags}
        write_json(self.repositories_path, {"Repositories": repos})

    def _tags(self) -> dict[str, str]:
        """Every ``name:tag`` and the image id it points at."""
        return {tag: iid for tags in self._repositories().values() for tag, iid in tags.items()}

    def _ids(self) -> List[str]:
        return ["sha256:" + e for e in os.listdir(self.images_dir) if _ID_DIR.match(e)]

    def _dir(self, iid: str) -> Path:
        return self.images_dir / iid.removeprefix("sha256:")

    def _config_bytes(self, iid: str) -> bytes:
        try:
            return (self._dir(iid) / "config.json").read_bytes()
        except FileNotFoundError:
            raise ImageNotFound(f"No such image: {iid}") from None

    def _meta(self, iid: str) -> dict[str, Any]:
        try:
            return dict(json.loads((self._dir(iid) / "meta.json").read_text()))
        except FileNotFoundError:
            return {}

    def _image(self, iid: str, tags: dict[str, str] | None = None) -> Image:
        tags = self._tags() if tags is None else tags
        obj = parse_config(self._config_bytes(iid))
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
            parent=str(self._meta(iid).get("parent") or ""),
        )

    # -- lookup --------------------------------------------------------------------------
    def resolve(self, ref: str) -> tuple[str, Reference | None]:
        """The image id ``ref`` names, and the tag it matched (None when matched by id).

        Tried in Docker's order: ``name[:tag]``, then a full id, then a unique id prefix.
        """
        with self._lock:
            ref = ref.strip()
            tags = self._tags()
            parsed: Reference | None = None
            try:
                parsed = parse_reference(ref)
            except BadImage:
                parsed = None
            if parsed is not None and str(parsed) in tags:
                return tags[str(parsed)], parsed
            prefix = id_prefix(ref)
            if prefix is not None:
                matches = [i for i in self._ids() if i.removeprefix("sha256:").startswith(prefix)]
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
        with self._lock:
            iid, _ = self.resolve(ref)
            return self._image(iid)

    def list(self) -> List[Image]:
        """Every image, newest first (as ``docker images``)."""
        with self._lock:
            tags = self._tags()
            images = [self._image(i, tags) for i in self._ids()]
        return sorted(images, key=lambda im: (parse_rfc3339(im.created), im.id), reverse=True)

    def layer_dirs(self, image: Image | str) -> List[str]:
        """The image's layer dirs, top-most first: overlayfs ``lowerdir=`` order. No copies."""
        with self._lock:
            img = image if isinstance(image, Image) else self.get(image)
            return [str(layer.diff_dir) for layer in reversed(self.layers.stack(img.diff_ids))]

    def history(self, ref: str) -> List[HistoryRow]:
        """``docker history``: one row per history entry, newest first."""
        with self._lock:
            img = self.get(ref)
            layers = self.layers.stack(img.diff_ids)
            entries = list(img.history) or [HistoryEntry(created=img.created) for _ in img.diff_ids]
            rows: List[HistoryRow] = []
            index = 0
            for entry in entries:
                size = 0
                if not entry.empty_layer:
                    if index < len(layers):
                        size = layers[index].size
                    index += 1
                rows.append(
                    HistoryRow(
                        id="<missing>",
                        created=int(parse_rfc3339(entry.created)),
                        created_by=entry.created_by,
                        tags=(),
                        size=size,
                        comment=entry.comment,
                    )
                )
            rows.reverse()
            # Rows made by an image still in the store show its id (and tags), as Docker does.
            current: Image | None = img
            at = 0
            while current is not None and at < len(rows):
                rows[at] = replace(rows[at], id=current.id, tags=current.repo_tags)
                if not current.parent:
                    break
                try:
                    parent = self._image(current.parent)
                except ImageNotFound:
                    break
                at = len(entries) - len(parent.history)
                current = parent
            return rows

    # -- writing records -----------------------------------------------------------------
    def _put_image(self, config: bytes, parent: str = "") -> str:
        iid = image_id(config)
        directory = self._dir(iid)
        if not directory.exists():
            stage = self.layers.tmp_dir / f"image-{iid[7:19]}-{os.getpid()}"
            remove_tree(stage)
            stage.mkdir(0o700)  # becomes images/<id>: metadata, root's alone
            write_bytes(stage / "config.json", config)
            write_json(stage / "meta.json", {"parent": parent})
            os.rename(stage, directory)
        return iid

    def _set_tag(self, ref: Reference, iid: str) -> None:
        repos = self._repositories()
        repos.setdefault(ref.name, {})[str(ref)] = iid
        self._write_repositories(repos)

    def _untag(self, tag: str) -> None:
        repos = self._repositories()
        for tags in repos.values():
            tags.pop(tag, None)
        self._write_repositories(repos)

    def tag(self, src: str, ref: str) -> None:
        """Point ``ref`` (``name[:tag]``) at the image ``src`` names (moving it if it existed)."""
        target = parse_reference(ref)
        with self._lock:
            iid, _ = self.resolve(src)
            self._set_tag(target, iid)

    @contextmanager
    def _building_layers(self) -> Iterator[None]:
        """Marks a layer being made, so a concurrent ``remove`` does not collect it yet."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _new_image(
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
        with self._lock:
            iid = self._put_image(data, parent.id if parent else "")
            for ref in tags:
                self._set_tag(ref, iid)
            return self._image(iid)

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
        with self._building_layers():
            spooled = spool(fileobj, self.layers.tmp_dir)
            try:
                layer, _ = self.layers.add_tar(spooled)
            finally:
                spooled.close()
            history = [HistoryEntry(created=created, comment=message or "Imported from -")]
            return self._new_image(
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
        with self._building_layers():
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
            return self._new_image(
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

    # -- builtin images ------------------------------------------------------------------
    @staticmethod
    def is_builtin(name: str) -> bool:
        """True if ``ensure_builtin`` can make an image of this name (busybox, debian, docker)."""
        try:
            return parse_reference(name).name in builtin.BUILTIN_NAMES or is_docker_image(name)
        except BadImage:
            return False

    def ensure_builtin(self, name: str, progress: builtin.Progress | None = None) -> Image:
        """The builtin image ``name`` (``busybox``, ``debian``, ``docker``, optionally with a
        tag), built on first use; any other name raises ImageNotFound saying it is not available
        offline."""
        if is_docker_image(name):
            return ensure_docker_image(self, name, progress)
        ref = parse_reference(name)
        if ref.name not in builtin.BUILTIN_NAMES:
            raise builtin.not_offline(name)
        with self._lock:
            lock = self._building.setdefault(ref.name, threading.Lock())
        with lock:
            try:
                return self.get(str(ref))
            except ImageNotFound:
                pass
            if ref.name == "busybox":
                return self._build_busybox(ref, progress)
            return self._build_debian(ref, progress)

    def _build_busybox(self, ref: Reference, progress: builtin.Progress | None) -> Image:
        version = builtin.busybox_version()
        if ref.tag not in ("latest", version):
            raise ImageNotFound(
                f"image '{ref}' is not available offline: dockerscope builds busybox:latest "
                f"(busybox {version} from /bin/busybox)"
            )
        latest = Reference("busybox", "latest")
        try:
            image = self.get(str(latest))
        except ImageNotFound:
            if progress:
                progress(0, 2, "Assembling busybox from /bin/busybox")
            tar = builtin.busybox_tar()
            with self._building_layers():
                spooled = spool(io.BytesIO(tar.data), self.layers.tmp_dir)
                try:
                    layer, _ = self.layers.add_tar(spooled, allow_absolute_symlinks=False)
                finally:
                    spooled.close()
                history = [
                    HistoryEntry(
                        created=tar.created,
                        created_by=f"dockerscope: busybox {tar.version} from /bin/busybox",
                    )
                ]
                config = ImageConfig(env=(builtin.DEFAULT_PATH,), cmd=("sh",))
                image = self._new_image(
                    [layer], config=config, history=history, created=tar.created, tags=[latest]
                )
            if progress:
                progress(2, 2, "busybox ready")
        if ref != latest:
            self.tag(image.id, str(ref))
        return self.get(str(ref))

    def _build_debian(self, ref: Reference, progress: builtin.Progress | None) -> Image:
        release = builtin.host_release()
        accepted = {"latest", release.codename, release.version_id} - {""}
        if ref.tag not in accepted:
            raise ImageNotFound(
                f"image '{ref}' is not available offline: dockerscope builds this host's release "
                f"(debian:{release.codename}, also tagged latest and {release.version_id})"
            )
        wanted = [Reference("debian", t) for t in sorted(accepted)]
        for existing in wanted:
            try:
                image = self.get(str(existing))
            except ImageNotFound:
                continue
            for other in wanted:
                self.tag(image.id, str(other))
            return self.get(str(ref))
        created = now_rfc3339()
        with self._building_layers():
            stage = self.layers.staging()
            packed = 0
            total = 1

            def tick(n: int) -> None:
                nonlocal packed
                packed += n
                parser.packing(packed / total)

            try:
                parser = builtin.debootstrap(stage / "diff", progress, release=release)
                builtin.trim_debian(stage / "diff")
                total = max(_tree_bytes(stage / "diff"), 1)
            except BaseException:
                remove_tree(stage)
                raise
            layer, _ = self.layers.add_dir(stage, "", tick=tick)
            source = builtin.debian_mirror(release.codename)
            history = [
                HistoryEntry(
                    created=created,
                    created_by=(
                        f"dockerscope: debootstrap --variant=minbase {release.codename} "
                        f"{source.uri}"
                    ),
                )
            ]
            config = ImageConfig(env=(builtin.DEFAULT_PATH,), cmd=("bash",))
            image = self._new_image(
                [layer], config=config, history=history, created=created, tags=wanted
            )
        if progress:
            progress(builtin.TOTAL, builtin.TOTAL, f"debian:{release.codename} ready")
        return self.get(str(ref))

    # -- save, load ----------------------------------------------------------------------
    def save(self, refs: Iterable[str], out: BinaryIO) -> None:
        """``docker save``: write the images ``refs`` name to ``out`` in docker-save format."""
        with self._lock:
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
                image = self._image(iid)
                entries.append(
                    dockersave.SaveEntry(
                        image=image,
                        config=self._config_bytes(iid),
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
            with self._building_layers():
                archive = spool(fileobj, self.layers.tmp_dir)
                try:
                    for item in dockersave.read(archive.file, self.layers):
                        tags = [parse_reference(t) for t in item.repo_tags]
                        with self._lock:
                            iid = self._put_image(item.config)
                            for tag in tags:
                                self._set_tag(tag, iid)
                        loaded += [str(t) for t in tags] or [iid]
                finally:
                    archive.close()
        except BaseException:
            self._gc_layers()  # layers of an image that failed to load
            raise
        return loaded

    # -- removal -------------------------------------------------------------------------
    def remove(
        self, ref: str, force: bool = False, in_use: InUse | None = None
    ) -> List[dict[str, str]]:
        """``docker rmi``: untag and delete, Docker-style; return [{"Untagged": ...},
        {"Deleted": ...}]. Layers no image uses any more are deleted too.

        Refuses (409) to delete an image a container uses (``in_use(image_id)`` names it),
        an image with child images, or (unless ``force``) an id with several tags.
        """
        with self._lock:
            iid, tag = self.resolve(ref)
            tags = [t for t, i in self._tags().items() if i == iid]
            user = in_use(iid) if in_use else None
            records: List[dict[str, str]] = []
            if tag is not None:
                if user and len(tags) == 1 and not force:
                    raise ImageInUse(
                        f'conflict: unable to remove repository reference "{ref}" (must force) '
                        f"- container {user} is using its referenced image {short_id(iid)}"
                    )
                self._untag(str(tag))
                records.append({"Untagged": str(tag)})
                if len(tags) > 1 or user or self._children(iid):
                    return records
            else:
                if len(tags) > 1 and not force:
                    raise Conflict(
                        f"conflict: unable to delete {short_id(iid)} (must be forced) - image "
                        "is referenced in multiple repositories"
                    )
                if user:
                    if not force:
                        raise ImageInUse(
                            f"conflict: unable to delete {short_id(iid)} (must be forced) - "
                            f"image is being used by container {user}"
                        )
                    for t in sorted(tags):
                        self._untag(t)
                        records.append({"Untagged": t})
                    return records
                if self._children(iid):
                    raise Conflict(
                        f"conflict: unable to delete {short_id(iid)} (cannot be forced) - "
                        "image has dependent child images"
                    )
                for t in sorted(tags):
                    self._untag(t)
                    records.append({"Untagged": t})
            self._delete(iid, records, in_use)
            return records

    def prune(self, in_use: InUse | None = None) -> List[dict[str, str]]:
        """``docker image prune``: delete dangling (untagged) images that no container uses and
        no other image builds on; return the Deleted records (images, then layers)."""
        records: List[dict[str, str]] = []
        with self._lock:
            while True:
                tagged = set(self._tags().values())
                parents = {self._meta(i).get("parent") for i in self._ids()}
                doomed = [
                    i
                    for i in self._ids()
                    if i not in tagged and i not in parents and not (in_use and in_use(i))
                ]
                if not doomed:
                    break
                for iid in doomed:
                    remove_tree(self._dir(iid))
                    records.append({"Deleted": iid})
            records.extend({"Deleted": chain} for chain in self._gc_layers())
        return records

    def _children(self, iid: str) -> List[str]:
        return [i for i in self._ids() if self._meta(i).get("parent") == iid]

    def _delete(self, iid: str, records: List[dict[str, str]], in_use: InUse | None) -> None:
        parent = str(self._meta(iid).get("parent") or "")
        remove_tree(self._dir(iid))
        records.append({"Deleted": iid})
        # Untagged parents nothing else needs go too (Docker's default, --no-prune off).
        tags = self._tags()
        while parent and os.path.isdir(self._dir(parent)):
            if parent in tags.values() or self._children(parent):
                break
            if in_use and in_use(parent):
                break
            grand = str(self._meta(parent).get("parent") or "")
            remove_tree(self._dir(parent))
            records.append({"Deleted": parent})
            parent = grand
        records.extend({"Deleted": chain} for chain in self._gc_layers())

    def _gc_layers(self) -> List[str]:
        """Delete layers no image uses; skipped while a layer is being made."""
        with self._lock:
            if self._in_flight:
                return []
            used: set[str] = set()
            for iid in self._ids():
                try:
                    obj = parse_config(self._config_bytes(iid))
                except ImageError:
                    continue
                used.update(chain_ids(obj["rootfs"].get("diff_ids") or []))
            removed = []
            for layer in self.layers.all():
                if layer.chain_id not in used:
                    self.layers.remove(layer.chain_id)
                    removed.append(layer.chain_id)
            return removed


def _tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
