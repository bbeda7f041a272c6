"""Errors of the image store, each of an engine error kind (the API maps kinds to statuses)."""

from __future__ import annotations

from dockerscope.engine import errors as kinds


class ImageError(kinds.EngineError):
    """Base of every image store error."""


class ImageNotFound(ImageError, kinds.NotFound):
    """No image matches a reference (404, "No such image: ...")."""


class Conflict(ImageError, kinds.Conflict):
    """The operation conflicts with the store's state (409)."""


class ImageInUse(Conflict):
    """A container uses the image, so it cannot be deleted (409)."""


class BadImage(ImageError, kinds.InvalidArgument):
    """Malformed input: a bad reference, config, archive or change line (400)."""


class UnsafeTar(BadImage):
    """A tar member that would escape the layer or create something dangerous (400)."""

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"refusing tar member {member!r}: {reason}")
        self.member = member
        self.reason = reason
