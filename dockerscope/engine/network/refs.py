"""How callers name a container to the network manager: an id, or the engine's record.

The network package never imports the container engine (the engine imports it); these
Protocols say which of a container record's fields the manager reads.
"""

from __future__ import annotations

from typing import Protocol


class NamedContainer(Protocol):
    """Anything with a container's id and name (the engine's ``Container`` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


class _NetworkMode(Protocol):
    @property
    def network_mode(self) -> str: ...


class _Hostname(Protocol):
    @property
    def hostname(self) -> str: ...


class SandboxOwner(NamedContainer, Protocol):
    """A container record a sandbox can be made from: name, network mode and hostname."""

    @property
    def host(self) -> _NetworkMode: ...

    @property
    def config(self) -> _Hostname: ...


#: A container id, or a record carrying it.
ContainerRef = str | NamedContainer


def container_id(container: ContainerRef) -> str:
    """The id of a container given by id or by record."""
    return container if isinstance(container, str) else str(container.id)
