"""Removing images from an ImageStore: ``docker rmi`` and ``docker image prune``.

Docker's rules for what may go (a tag, an id with several tags, an image a container uses or
other images build on) and what goes with it (untagged parents nothing else needs, unused
layers). ``ImageStore.remove`` and ``ImageStore.prune`` call these under the store's lock.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from dockerscope.engine.images.errors import Conflict, ImageInUse
from dockerscope.engine.images.fsutil import remove_tree
from dockerscope.engine.images.reference import short_id

if TYPE_CHECKING:
    from dockerscope.engine.images.store import ImageStore

InUse = Callable[[str], "str | None"]
"""``in_use(image_id)`` -> the name of a container using the image, or None."""


def remove_image(
    store: ImageStore, ref: str, force: bool = False, in_use: InUse | None = None
) -> list[dict[str, str]]:
    """``docker rmi``: untag and delete, Docker-style; return [{"Untagged": ...},
    {"Deleted": ...}]. Layers no image uses any more are deleted too.

    Refuses (409) to delete an image a container uses (``in_use(image_id)`` names it),
    an image with child images, or (unless ``force``) an id with several tags.
    """
    with store.lock:
        iid, tag = store.resolve(ref)
        tags = [t for t, i in store.tag_map().items() if i == iid]
        user = in_use(iid) if in_use else None
        records: list[dict[str, str]] = []
        if tag is not None:
            if user and len(tags) == 1 and not force:
                raise ImageInUse(
                    f'conflict: unable to remove repository reference "{ref}" (must force) '
                    f"- container {user} is using its referenced image {short_id(iid)}"
                )
            store.untag(str(tag))
            records.append({"Untagged": str(tag)})
            if len(tags) > 1 or user or children(store, iid):
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
                    store.untag(t)
                    records.append({"Untagged": t})
                return records
            if children(store, iid):
                raise Conflict(
                    f"conflict: unable to delete {short_id(iid)} (cannot be forced) - "
                    "image has dependent child images"
                )
            for t in sorted(tags):
                store.untag(t)
                records.append({"Untagged": t})
        delete_with_parents(store, iid, records, in_use)
        return records


def prune_images(store: ImageStore, in_use: InUse | None = None) -> list[dict[str, str]]:
    """``docker image prune``: delete dangling (untagged) images that no container uses and
    no other image builds on; return the Deleted records (images, then layers)."""
    records: list[dict[str, str]] = []
    with store.lock:
        while True:
            tagged = set(store.tag_map().values())
            parents = {store.meta(i).get("parent") for i in store.image_ids()}
            doomed = [
                i
                for i in store.image_ids()
                if i not in tagged and i not in parents and not (in_use and in_use(i))
            ]
            if not doomed:
                break
            for iid in doomed:
                remove_tree(store.image_dir(iid))
                records.append({"Deleted": iid})
        records.extend({"Deleted": chain} for chain in store.gc_layers())
    return records


def children(store: ImageStore, iid: str) -> list[str]:
    """The images whose parent is ``iid`` (built on it by commit)."""
    return [i for i in store.image_ids() if store.meta(i).get("parent") == iid]


def delete_with_parents(
    store: ImageStore, iid: str, records: list[dict[str, str]], in_use: InUse | None
) -> None:
    """Delete ``iid``, then its untagged parents nothing else needs, then unused layers;
    append a Deleted record for each to ``records``."""
    parent = str(store.meta(iid).get("parent") or "")
    remove_tree(store.image_dir(iid))
    records.append({"Deleted": iid})
    # Untagged parents nothing else needs go too (Docker's default, --no-prune off).
    tags = store.tag_map()
    while parent and os.path.isdir(store.image_dir(parent)):
        if parent in tags.values() or children(store, parent):
            break
        if in_use and in_use(parent):
            break
        grand = str(store.meta(parent).get("parent") or "")
        remove_tree(store.image_dir(parent))
        records.append({"Deleted": parent})
        parent = grand
    records.extend({"Deleted": chain} for chain in store.gc_layers())
