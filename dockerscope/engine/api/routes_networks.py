"""``/networks/...`` endpoints, wired to the lab's NetworkManager."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from dockerscope.engine.api.filters import checked_filters
from dockerscope.engine.api.render import parse_filters
from dockerscope.engine.api.replies import Response
from dockerscope.engine.api.request import Request
from dockerscope.engine.api.router import Router
from dockerscope.engine.errors import InvalidArgument, NotSupported
from dockerscope.engine.events import EventBus
from dockerscope.engine.network.model import Network

if TYPE_CHECKING:  # both pull in the kernel helpers; the daemon has them imported already
    from dockerscope.engine.containers.manager import ContainerManager
    from dockerscope.engine.network.manager import NetworkManager


class NetworkRoutesDaemon(Protocol):
    """What the network routes use of the daemon."""

    @property
    def networks(self) -> NetworkManager | None: ...

    @property
    def containers(self) -> ContainerManager: ...

    @property
    def events(self) -> EventBus: ...


def _network_event(n: Network, **extra: str) -> dict[str, str]:
    return {"name": n.name, "type": n.driver, **extra}


class NetworkRoutes:
    """Docker's network API: list, inspect, create, remove, prune, connect, disconnect."""

    def __init__(self, daemon: NetworkRoutesDaemon) -> None:
        self.daemon = daemon

    @property
    def net(self) -> NetworkManager:
        """The lab's network manager (NotSupported when the lab runs without one)."""
        networks = self.daemon.networks
        if networks is None:
            raise NotSupported("networks: this lab runs without its network module")
        return networks

    def register(self, r: Router) -> None:
        """Add the routes to ``r``."""
        r.add("GET", "/networks", self.list_networks)
        r.add("POST", "/networks/create", self.create)
        r.add("POST", "/networks/prune", self.prune)
        r.add("GET", "/networks/{id}", self.inspect)
        r.add("DELETE", "/networks/{id}", self.remove)
        r.add("POST", "/networks/{id}/connect", self.connect)
        r.add("POST", "/networks/{id}/disconnect", self.disconnect)

    async def list_networks(self, req: Request) -> Response:
        if self.daemon.networks is None:
            return Response.json([])
        try:
            filters = parse_filters(req.json_q("filters"))
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        out = [self.net.inspect(n.id) for n in self.net.list() if _matches(n, filters)]
        return Response.json(out)

    async def inspect(self, req: Request, id: str) -> Response:
        return Response.json(self.net.inspect(self.net.get(id).id))

    async def create(self, req: Request) -> Response:
        body = await req.json(required=True)
        if not isinstance(body, dict):
            raise InvalidArgument("network config must be a JSON object")
        name = body.get("Name")
        if not name or not isinstance(name, str):
            raise InvalidArgument("network name is required")
        cfg = _check_create_body(body)
        n = self.net.create(
            name,
            subnet=cfg.get("Subnet") or None,
            gateway=cfg.get("Gateway") or None,
            internal=bool(body.get("Internal")),
            attachable=bool(body.get("Attachable")),
            labels=body.get("Labels") or {},
            options=body.get("Options") or {},
        )
        self.daemon.events.emit("network", "create", n.id, _network_event(n))
        return Response.json({"Id": n.id, "Warning": ""}, 201)

    async def remove(self, req: Request, id: str) -> Response:
        n = self.net.get(id)
        self.net.remove(id)
        self.daemon.events.emit("network", "destroy", n.id, _network_event(n))
        return Response.empty()

    async def prune(self, req: Request) -> Response:
        checked_filters(req.json_q("filters"), set(), "network prune")
        before = {n.name: n for n in self.net.list()}
        removed = self.net.prune()
        for name in removed:
            n = before[name]
            self.daemon.events.emit("network", "destroy", n.id, _network_event(n))
        return Response.json({"NetworksDeleted": removed or None})

    async def connect(self, req: Request, id: str) -> Response:
        body = await req.json(required=True)
        ref = (body or {}).get("Container")
        if not ref:
            raise InvalidArgument("Container is required")
        c = self.daemon.containers.get(ref)
        n = self.net.get(id)
        cfg = (body or {}).get("EndpointConfig") or {}
        aliases = tuple(cfg.get("Aliases") or ())
        await self.daemon.containers.connect(c.id, n.name, aliases)
        self.daemon.events.emit("network", "connect", n.id, _network_event(n, container=c.id))
        return Response(200, b"", None)

    async def disconnect(self, req: Request, id: str) -> Response:
        body = await req.json(required=True)
        ref = (body or {}).get("Container")
        if not ref:
            raise InvalidArgument("Container is required")
        c = self.daemon.containers.get(ref)
        n = self.net.get(id)
        await self.daemon.containers.disconnect(c.id, n.name, bool((body or {}).get("Force")))
        self.daemon.events.emit("network", "disconnect", n.id, _network_event(n, container=c.id))
        return Response(200, b"", None)


def _check_create_body(body: dict[str, Any]) -> dict[str, Any]:
    """Refuse what ``network create`` does not make; the one IPAM config (or {})."""
    if body.get("EnableIPv6"):
        raise NotSupported("--ipv6")
    driver = body.get("Driver") or "bridge"
    if driver != "bridge":
        raise NotSupported(f"network driver {driver!r} (only bridge)")
    if (
        body.get("Scope") not in (None, "", "local")
        or (body.get("ConfigFrom") or {}).get("Network")
        or body.get("Ingress")
        or body.get("ConfigOnly")
    ):
        raise NotSupported("swarm networks (scope, ingress, config-from)")
    configs = (body.get("IPAM") or {}).get("Config") or []
    if len(configs) > 1:
        raise NotSupported("more than one subnet per network")
    cfg: dict[str, Any] = configs[0] if configs else {}
    if cfg.get("IPRange") or cfg.get("AuxiliaryAddresses"):
        raise NotSupported("--ip-range / --aux-address")
    return cfg


def _matches(n: Network, filters: dict[str, list[str]]) -> bool:
    """Whether ``n`` passes ``network ls``'s filters (name, id, driver, label, type)."""
    if "name" in filters and not any(v in n.name for v in filters["name"]):
        return False
    if "id" in filters and not any(n.id.startswith(v) for v in filters["id"]):
        return False
    if "driver" in filters and n.driver not in filters["driver"]:
        return False
    if "label" in filters and not all(_has_label(n.labels, x) for x in filters["label"]):
        return False
    kind = "builtin" if n.predefined else "custom"
    return "type" not in filters or kind in filters["type"]


def _has_label(labels: dict[str, str], spec: str) -> bool:
    k, sep, v = spec.partition("=")
    return k in labels and (not sep or labels[k] == v)
