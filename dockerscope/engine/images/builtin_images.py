"""The builtin images (busybox, debian, docker) built into an ImageStore on first use.

``builtin.py`` knows how to assemble each root filesystem offline; this module puts the result
into a store as a tagged one-layer image, once, even when several requests ask at the same time.
"""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING

from dockerscope.engine.images import builtin
from dockerscope.engine.images.dockerimage import ensure_docker_image, is_docker_image
from dockerscope.engine.images.errors import BadImage, ImageNotFound
from dockerscope.engine.images.fsutil import remove_tree, tree_bytes
from dockerscope.engine.images.model import HistoryEntry, Image, ImageConfig, now_rfc3339
from dockerscope.engine.images.reference import Reference, parse_reference

if TYPE_CHECKING:
    from dockerscope.engine.images.store import ImageStore


def is_builtin(name: str) -> bool:
    """True if ``ensure_builtin`` can make an image of this name (busybox, debian, docker)."""
    try:
        return parse_reference(name).name in builtin.BUILTIN_NAMES or is_docker_image(name)
    except BadImage:
        return False


def ensure_builtin(store: ImageStore, name: str, progress: builtin.Progress | None = None) -> Image:
    """The builtin image ``name`` (``busybox``, ``debian``, ``docker``, optionally with a
    tag), built on first use; any other name raises ImageNotFound saying it is not available
    offline."""
    if is_docker_image(name):
        return ensure_docker_image(store, name, progress)
    ref = parse_reference(name)
    if ref.name not in builtin.BUILTIN_NAMES:
        raise builtin.not_offline(name)
    with store.lock:
        lock = store.building_locks.setdefault(ref.name, threading.Lock())
    with lock:
        try:
            return store.get(str(ref))
        except ImageNotFound:
            pass
        if ref.name == "busybox":
            return _build_busybox(store, ref, progress)
        return _build_debian(store, ref, progress)


def _build_busybox(store: ImageStore, ref: Reference, progress: builtin.Progress | None) -> Image:
    version = builtin.busybox_version()
    if ref.tag not in ("latest", version):
        raise ImageNotFound(
            f"image '{ref}' is not available offline: dockerscope builds busybox:latest "
            f"(busybox {version} from /bin/busybox)"
        )
    latest = Reference("busybox", "latest")
    try:
        image = store.get(str(latest))
    except ImageNotFound:
        if progress:
            progress(0, 2, "Assembling busybox from /bin/busybox")
        tar = builtin.busybox_tar()
        with store.building_layers():
            layer = store.add_tar_layer(io.BytesIO(tar.data), allow_absolute_symlinks=False)
            history = [
                HistoryEntry(
                    created=tar.created,
                    created_by=f"dockerscope: busybox {tar.version} from /bin/busybox",
                )
            ]
            config = ImageConfig(env=(builtin.DEFAULT_PATH,), cmd=("sh",))
            image = store.new_image(
                [layer], config=config, history=history, created=tar.created, tags=[latest]
            )
        if progress:
            progress(2, 2, "busybox ready")
    if ref != latest:
        store.tag(image.id, str(ref))
    return store.get(str(ref))


def _build_debian(store: ImageStore, ref: Reference, progress: builtin.Progress | None) -> Image:
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
            image = store.get(str(existing))
        except ImageNotFound:
            continue
        for other in wanted:
            store.tag(image.id, str(other))
        return store.get(str(ref))
    created = now_rfc3339()
    with store.building_layers():
        stage = store.layers.staging()
        packed = 0
        total = 1

        def tick(n: int) -> None:
            nonlocal packed
            packed += n
            parser.packing(packed / total)

        try:
            parser = builtin.debootstrap(stage / "diff", progress, release=release)
            builtin.trim_debian(stage / "diff")
            total = max(tree_bytes(stage / "diff"), 1)
        except BaseException:
            remove_tree(stage)
            raise
        layer, _ = store.layers.add_dir(stage, "", tick=tick)
        source = builtin.debian_mirror(release.codename)
        history = [
            HistoryEntry(
                created=created,
                created_by=(
                    f"dockerscope: debootstrap --variant=minbase {release.codename} {source.uri}"
                ),
            )
        ]
        config = ImageConfig(env=(builtin.DEFAULT_PATH,), cmd=("bash",))
        image = store.new_image(
            [layer], config=config, history=history, created=created, tags=wanted
        )
    if progress:
        progress(builtin.TOTAL, builtin.TOTAL, f"debian:{release.codename} ready")
    return store.get(str(ref))
