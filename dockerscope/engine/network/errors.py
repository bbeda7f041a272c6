"""Network errors, each of an engine error kind (the API maps kinds to statuses)."""

from __future__ import annotations

from dockerscope.engine.errors import (
    Conflict,
    EngineError,
    Forbidden,
    Internal,
    InvalidArgument,
    NotFound,
)


class NetworkError(EngineError):
    """Base of the network errors."""


class InvalidNetworkConfig(NetworkError, InvalidArgument):
    """Bad input: a malformed subnet, gateway, network name or port spec."""


class SubnetOverlap(NetworkError, InvalidArgument):
    """A requested subnet overlaps another network or a route."""

    def __init__(self, message: str = "Pool overlaps with other one on this address space") -> None:
        super().__init__(message)


class PoolExhausted(NetworkError, InvalidArgument):
    """No default pool is free for a new network."""


class AddressExhausted(NetworkError, Internal):
    """No free address left in a network's subnet."""


class NetworkNotFound(NetworkError, NotFound):
    """No network with that name, id or id prefix."""


class NetworkExists(NetworkError, Conflict):
    """A network with that name already exists."""


class NetworkInUse(NetworkError, Conflict):
    """A network still has endpoints (containers attached)."""


class PredefinedNetwork(NetworkError, Forbidden):
    """An operation refused on bridge, host or none."""


class EndpointNotFound(NetworkError, NotFound):
    """The container has no sandbox or is not attached to that network."""


class AlreadyAttached(NetworkError, Forbidden):
    """The container is already on that network, or its mode forbids attaching."""


class PortAllocated(NetworkError, Internal):
    """A host port is already in use (Docker's 'port is already allocated')."""


class KernelCommandFailed(NetworkError, Internal):
    """An iptables/netlink operation failed; the message carries the tool's words."""
