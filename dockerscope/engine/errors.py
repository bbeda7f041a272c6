"""Error kinds of the engine: what went wrong, never how HTTP spells it.

Every engine module (containers, images, network, runtime) raises one of these kinds, or a
subclass named after its domain (``NetworkNotFound(NotFound)``). Only ``engine/api/errors.py``
turns a kind into an HTTP status, as libnetwork's typed errors leave that to the API layer.
"""

from __future__ import annotations


class EngineError(Exception):
    """Root of the engine's errors; ``message`` is what the client is told."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(EngineError):
    """The request is malformed or asks for something invalid."""


class NotSupported(InvalidArgument):
    """A Docker feature dockerscope refuses rather than silently ignores."""

    def __init__(self, feature: str) -> None:
        super().__init__(f"not supported by dockerscope: {feature}")
        self.feature = feature


class Forbidden(EngineError):
    """The operation is not allowed on this object (removing a built-in network)."""


class NotFound(EngineError):
    """No such container, image, network, exec instance or page."""


class NotModified(EngineError):
    """Already in the requested state (starting a running container)."""


class Conflict(EngineError):
    """The request conflicts with the object's state (a name in use, a running container)."""


class Internal(EngineError):
    """Something failed inside the engine or the kernel refused a change."""


def no_such_container(ref: str) -> NotFound:
    """Docker's wording for an unknown container reference."""
    return NotFound(f"No such container: {ref}")
