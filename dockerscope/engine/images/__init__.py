"""Images and copy-on-write layers: the layer store, builtin images, import/load/save/commit,
``docker diff`` and safe tar extraction. See docs/images.md."""

from dockerscope.engine.images.errors import (
    BadImage,
    Conflict,
    ImageError,
    ImageInUse,
    ImageNotFound,
    UnsafeTar,
)
from dockerscope.engine.images.model import HistoryEntry, HistoryRow, Image, ImageConfig
from dockerscope.engine.images.reference import Reference, parse_reference
from dockerscope.engine.images.store import ImageStore

__all__ = [
    "BadImage",
    "Conflict",
    "HistoryEntry",
    "HistoryRow",
    "Image",
    "ImageConfig",
    "ImageError",
    "ImageInUse",
    "ImageNotFound",
    "ImageStore",
    "Reference",
    "UnsafeTar",
    "parse_reference",
]
