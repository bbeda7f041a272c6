"""API errors: each carries Docker's HTTP status and message text."""

from __future__ import annotations

import json
import struct


class ApiError(Exception):
    """An error the API answers as ``{"message": ...}`` with ``status``."""

    status = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def body(self) -> bytes:
        """The JSON body Docker sends, with its trailing newline."""
        return (json.dumps({"message": self.message}, separators=(",", ":")) + "\n").encode()


class BadParameter(ApiError):
    """400: the request is malformed or asks for something invalid."""

    status = 400


class NotSupported(BadParameter):
    """400: a Docker feature dockerscope refuses rather than silently ignores."""

    def __init__(self, feature: str) -> None:
        super().__init__(f"not supported by dockerscope: {feature}")
        self.feature = feature


class Forbidden(ApiError):
    """403: the operation is not allowed on this object (e.g. removing a built-in network)."""

    status = 403


class NotFound(ApiError):
    """404: no such container, image, network, exec instance or page."""

    status = 404


class NotModified(ApiError):
    """304: already in the requested state (start of a running container)."""

    status = 304


class Conflict(ApiError):
    """409: the request conflicts with the object's state (a name in use, running container)."""

    status = 409


class ServerError(ApiError):
    """500: something failed inside the engine."""

    status = 500


def no_such_container(ref: str) -> NotFound:
    return NotFound(f"No such container: {ref}")


#: Python's own errors for a value of the wrong shape (never shown to a client as text).
WRONG_SHAPE = (
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    OverflowError,
    struct.error,
    RecursionError,
    UnicodeError,
)


def as_api_error(exc: BaseException) -> ApiError:
    """Map an exception from any engine module to an ``ApiError``.

    Other modules' errors say their status with a ``status`` (or ``http_status``) attribute or
    by their class name (``ImageNotFound``, ``NetworkInUse``...); anything else is a 500.
    """
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, WRONG_SHAPE):
        # A value of the wrong type or size reached code that trusted it. Docker answers such
        # bodies 400 ("cannot unmarshal"); the exception's own text is for the daemon's log only.
        return BadParameter(
            "invalid request: a field has the wrong type or an out-of-range value "
            "(check the request against the Docker Engine API v1.41)"
        )
    message = str(exc) or type(exc).__name__
    for attr in ("status", "http_status", "status_code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 300 <= value < 600:
            return ApiError(message, value)
    name = type(exc).__name__
    if name.endswith("NotFound"):
        return NotFound(message)
    if name.endswith(("InUse", "Conflict", "Exists")):
        return Conflict(message)
    if (
        isinstance(exc, ValueError)
        or name.startswith(("Bad", "Invalid", "Unsafe"))
        or name
        in (
            "SubnetOverlap",
            "NotAvailableOffline",
        )
    ):
        return BadParameter(message)
    return ServerError(message)
