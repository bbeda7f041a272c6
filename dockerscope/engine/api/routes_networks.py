"""``/networks/...`` endpoints, wired to the lab's NetworkManager."""

from __future__ import annotations

from typing import Any

from dockerscope.engine.api.filters import checked_filters
from dockerscope.engine.api.http import Request, Response
from dockerscope.engine.api.render import parse_filters
from dockerscope.engine.api.router import Router
from dockerscope.engine.errors import InvalidArgument, NotSupported

PREDEFINED = ("bridge", "host", "none")


def _call(obj: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    fn = getattr(obj, name, None)
    if fn is None:
        raise NotSupported(f"network operation {name}")
    return fn(*args, **kwargs)


class NetworkRoutes:
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @property
    def net(self) -> Any:
        if self.d.networks is None:
            raise NotSupported("networks: this lab runs without its network module")
        return self.d.networks

    def register(self, r: Router) -> None:
        r.add("GET", "/networks", self.list_networks)
        r.add("POST", "/networks/create", self.create)
        r.add("POST", "/networks/prune", self.prune)
        r.add("GET", "/networks/{id}", self.inspect)
        r.add("DELETE", "/networks/{id}", self.remove)
        r.add("POST", "/networks/{id}/connect", self.connect)
        r.add("POST", "/networks/{id}/disconnect", self.disconnect)

    def _inspect(self, n: Any) -> dict[str, Any]:
        if hasattr(self.net, "inspect"):
            return self.net.inspect(n.id)  # type: ignore[no-any-return]
        return n.inspect([])  # type: ignore[no-any-return]

    async def list_networks(self, req: Request) -> Response:
        if self.d.networks is None:
            return Response.json([])
        try:
            filters = parse_filters(req.json_q("filters"))
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        out = []
        for n in self.net.list():
            if "name" in filters and not any(v in n.name for v in filters["name"]):
                continue
            if "id" in filters and not any(n.id.startswith(v) for v in filters["id"]):
                continue
            if "driver" in filters and n.driver not in filters["driver"]:
                continue
            if "label" in filters and not all(_has_label(n.labels, x) for x in filters["label"]):
                continue
            if "type" in filters:
                kind = "builtin" if n.name in PREDEFINED else "custom"
                if kind not in filters["type"]:
                    continue
            out.append(self._inspect(n))
        return Response.json(out)

    async def inspect(self, req: Request, id: str) -> Response:
        return Response.json(self._inspect(self.net.get(id)))

    async def create(self, req: Request) -> Response:
        body = await req.json(required=True)
        if not isinstance(body, dict):
            raise InvalidArgument("network config must be a JSON object")
        name = body.get("Name")
        if not name or not isinstance(name, str):
            raise InvalidArgument("network name is required")
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
        ipam = body.get("IPAM") or {}
        configs = ipam.get("Config") or []
        if len(configs) > 1:
            raise NotSupported("more than one subnet per network")
        cfg = configs[0] if configs else {}
        if cfg.get("IPRange") or cfg.get("AuxiliaryAddresses"):
            raise NotSupported("--ip-range / --aux-address")
        n = self.net.create(
            name,
            subnet=cfg.get("Subnet") or None,
            gateway=cfg.get("Gateway") or None,
            internal=bool(body.get("Internal")),
            attachable=bool(body.get("Attachable")),
            labels=body.get("Labels") or {},
            options=body.get("Options") or {},
        )
        self.d.events.emit("network", "create", n.id, {"name": n.name, "type": n.driver})
        return Response.json({"Id": n.id, "Warning": ""}, 201)

    async def remove(self, req: Request, id: str) -> Response:
        n = self.net.get(id)
        self.net.remove(id)
        self.d.events.emit("network", "destroy", n.id, {"name": n.name, "type": n.driver})
        return Response.empty()

    async def prune(self, req: Request) -> Response:
        checked_filters(req.json_q("filters"), set(), "network prune")
        before = {n.id: n for n in self.net.list()}
        removed = self.net.prune()
        names = []
        for item in removed or []:
            name = item if isinstance(item, str) else getattr(item, "name", str(item))
            names.append(name)
            n = next((x for x in before.values() if x.name == name), None)
            if n is not None:
                self.d.events.emit("network", "destroy", n.id, {"name": n.name, "type": n.driver})
        return Response.json({"NetworksDeleted": names or None})

    async def connect(self, req: Request, id: str) -> Response:
        body = await req.json(required=True)
        ref = (body or {}).get("Container")
        if not ref:
            raise InvalidArgument("Container is required")
        c = self.d.containers.get(ref)
        n = self.net.get(id)
        cfg = (body or {}).get("EndpointConfig") or {}
        aliases = tuple(cfg.get("Aliases") or ())
        await self.d.containers.connect(c.id, n.name, aliases)
        self.d.events.emit(
            "network", "connect", n.id, {"name": n.name, "type": n.driver, "container": c.id}
        )
        return Response(200, b"", None)

    async def disconnect(self, req: Request, id: str) -> Response:
        body = await req.json(required=True)
        ref = (body or {}).get("Container")
        if not ref:
            raise InvalidArgument("Container is required")
        c = self.d.containers.get(ref)
        n = self.net.get(id)
        await self.d.containers.disconnect(c.id, n.name, bool((body or {}).get("Force")))
        self.d.events.emit(
            "network", "disconnect", n.id, {"name": n.name, "type": n.driver, "container": c.id}
        )
        return Response(200, b"", None)


def _has_label(labels: dict[str, str], spec: str) -> bool:
    k, sep, v = spec.partition("=")
    return k in labels and (not sep or labels[k] == v)
