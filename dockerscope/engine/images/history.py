"""``docker history`` rows for an image in an ImageStore.

One row per history entry, newest first, with the size of the layer the entry made; rows made
by an image still in the store show that image's id and tags, as Docker does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from dockerscope.engine.images.errors import ImageNotFound
from dockerscope.engine.images.model import HistoryEntry, HistoryRow, Image, parse_rfc3339

if TYPE_CHECKING:
    from dockerscope.engine.images.store import ImageStore


def history_rows(store: ImageStore, ref: str) -> list[HistoryRow]:
    """``docker history``: one row per history entry, newest first."""
    with store.lock:
        img = store.get(ref)
        layers = store.layers.stack(img.diff_ids)
        entries = list(img.history) or [HistoryEntry(created=img.created) for _ in img.diff_ids]
        rows: list[HistoryRow] = []
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
                parent = store.image(current.parent)
            except ImageNotFound:
                break
            at = len(entries) - len(parent.history)
            current = parent
        return rows
