"""How the API answers an error: Docker's HTTP status and ``{"message": ...}`` body.

The engine raises error kinds (``dockerscope.engine.errors``); this module alone maps each kind
to its status. ``ApiError`` is for the HTTP layer's own answers (a bad request line, a status
that no kind names).
"""

from __future__ import annotations

import json
import struct

from dockerscope.engine.errors import (
    Conflict,
    EngineError,
    Forbidden,
    Internal,
    InvalidArgument,
    NotFound,
    NotModified,
)


class ApiError(Exception):
    """An answer of the HTTP layer itself: ``status`` and ``{"message": ...}``."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def body(self) -> bytes:
        """The JSON body Docker sends, with its trailing newline."""
        return (json.dumps({"message": self.message}, separators=(",", ":")) + "\n").encode()


#: Each kind's HTTP status, most specific first (a subclass before its base).
STATUS_OF_KIND: tuple[tuple[type[EngineError], int], ...] = (
    (NotModified, 304),
    (InvalidArgument, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Internal, 500),
)

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
    """Map any exception raised while serving a request to the answer Docker would give."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, EngineError):
        for kind, status in STATUS_OF_KIND:
            if isinstance(exc, kind):
                return ApiError(exc.message, status)
        return ApiError(exc.message, 500)
    if isinstance(exc, WRONG_SHAPE):
        # A value of the wrong type or size reached code that trusted it. Docker answers such
        # bodies 400 ("cannot unmarshal"); the exception's own text is for the daemon's log only.
        return ApiError(
            "invalid request: a field has the wrong type or an out-of-range value "
            "(check the request against the Docker Engine API v1.41)",
            400,
        )
    if isinstance(exc, ValueError):
        return ApiError(str(exc) or "invalid value", 400)
    return ApiError(str(exc) or type(exc).__name__, 500)
