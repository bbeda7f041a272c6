"""Network errors, each carrying the HTTP status Docker's API gives it."""

from __future__ import annotations


class NetworkError(Exception):
    """Base of the network errors; ``status`` is the HTTP status for the API."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidNetworkConfig(NetworkError):
    """Bad input: a malformed subnet, gateway, network name or port spec."""

    status = 400


class SubnetOverlap(NetworkError):
    """A requested subnet overlaps another network or a route."""

    status = 400

    def __init__(self, message: str = "Pool overlaps with other one on this address space") -> None:
        super().__init__(message)


class PoolExhausted(NetworkError):
    """No default pool is free for a new network."""

    status = 400


class AddressExhausted(NetworkError):
    """No free address left in a network's subnet."""

    status = 500


class NetworkNotFound(NetworkError):
    """No network with that name, id or id prefix."""

    status = 404


class NetworkExists(NetworkError):
    """A network with that name already exists."""

    status = 409


class NetworkInUse(NetworkError):
    """A network still has endpoints (containers attached)."""

    status = 409


class PredefinedNetwork(NetworkError):
    """An operation refused on bridge, host or none."""

    status = 403


class EndpointNotFound(NetworkError):
    """The container has no sandbox or is not attached to that network."""

    status = 404


class AlreadyAttached(NetworkError):
    """The container is already on that network, or its mode forbids attaching."""

    status = 403


class PortAllocated(NetworkError):
    """A host port is already in use (Docker's 'port is already allocated')."""

    status = 500


class KernelCommandFailed(NetworkError):
    """An iptables/netlink operation failed; the message carries the tool's words."""

    status = 500
