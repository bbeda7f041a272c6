"""Errors of the image store, each carrying the HTTP status the API answers with."""

from __future__ import annotations


class ImageError(Exception):
    """Base of every image store error; ``status`` is the Docker API status code."""

    status = 500


class ImageNotFound(ImageError):
    """No image matches a reference (404, "No such image: ...")."""

    status = 404


class Conflict(ImageError):
    """The operation conflicts with the store's state (409)."""

    status = 409


class ImageInUse(Conflict):
    """A container uses the image, so it cannot be deleted (409)."""


class BadImage(ImageError):
    """Malformed input: a bad reference, config, archive or change line (400)."""

    status = 400


class UnsafeTar(BadImage):
    """A tar member that would escape the layer or create something dangerous (400)."""

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"refusing tar member {member!r}: {reason}")
        self.member = member
        self.reason = reason
