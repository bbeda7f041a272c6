"""Hints for attribution: names, ids, addresses and ports a Docker-compatible API knows.

The observer matches kernel facts on its own; a socket that answers Docker's API (ours or a
real Docker's) adds what the kernel cannot say: a container's name, a network's name, which
host port maps to which container port. Asked through the one socket client, with a short
timeout: a missing or slow socket means no hints, never a stalled observer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from dockerscope.client.transport import APIError, DaemonUnreachable, unix_transport


@dataclass(frozen=True)
class ContainerHint:
    """A container as the API lists it."""

    id: str
    name: str
    ips: tuple[str, ...] = ()
    #: published ports: (host port, protocol, container port)
    ports: tuple[tuple[int, str, int], ...] = ()
    #: its writable layer (``GraphDriver.Data.UpperDir`` of an inspect): Docker's overlay2
    #: names that dir after a layer id, not the container id, so only the API can tell
    upperdir: str = ""


@dataclass(frozen=True)
class NetworkHint:
    """A network as the API lists it."""

    id: str
    name: str
    bridge: str = ""
    subnets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hints:
    """What an API told about containers and networks (all optional)."""

    containers: tuple[ContainerHint, ...] = ()
    networks: tuple[NetworkHint, ...] = ()
    lab: str = ""  # the lab name, for objects that belong to the lab as a whole
    docker: bool = False  # hints come from a real Docker (owners of its own objects: "docker")
    #: labels of namespaces known to be containers' (a lab's netns dir names them after them)
    container_netns: tuple[str, ...] = ()
    #: (upper dir, container id) read from Docker's layer store, for when the API is silent
    docker_uppers: tuple[tuple[str, str], ...] = ()


# ---------------------------------------------------------------------------------------------
# Hints from an API socket


#: User-Agent of the observer's requests, so a lesson's traffic checks can leave them out.
OBSERVER_AGENT = "dockerscope-observer"


def _get_json(path: str, url: str, timeout: float) -> Any:
    """GET an unversioned API path on the socket at ``path``; every failure is an OSError
    (the observer records it and keeps its last hints)."""
    api = unix_transport(path, timeout=timeout)
    try:
        status, _, body = api.request("GET", url, headers={"User-Agent": OBSERVER_AGENT})
    except APIError as exc:
        raise OSError(f"GET {url} on {path}: HTTP {exc.status}") from exc
    except DaemonUnreachable as exc:
        raise OSError(str(exc)) from exc
    if status != 200:
        raise OSError(f"GET {url} on {path}: HTTP {status}")
    return json.loads(body)


def hints_from_api(containers: list[dict[str, Any]], networks: list[dict[str, Any]]) -> Hints:
    """Hints from the JSON of ``GET /containers/json`` and ``GET /networks``."""
    chints = []
    for c in containers:
        names = [n.lstrip("/") for n in c.get("Names") or []]
        nets = ((c.get("NetworkSettings") or {}).get("Networks") or {}).values()
        ips = tuple(n.get("IPAddress") for n in nets if n.get("IPAddress"))
        ports = tuple(
            (int(p["PublicPort"]), p.get("Type", "tcp"), int(p["PrivatePort"]))
            for p in c.get("Ports") or []
            if p.get("PublicPort")
        )
        cid = c.get("Id", "")
        chints.append(ContainerHint(cid, names[0] if names else cid[:12], ips, tuple(set(ports))))
    nhints = []
    for n in networks:
        if n.get("Driver") not in (None, "bridge"):
            continue
        nid = n.get("Id", "")
        bridge = (n.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{nid[:12]}"
        subnets = tuple(
            cfg["Subnet"] for cfg in (n.get("IPAM") or {}).get("Config") or [] if cfg.get("Subnet")
        )
        nhints.append(NetworkHint(nid, n.get("Name", nid[:12]), bridge, subnets))
    return Hints(tuple(chints), tuple(nhints))


def hints_from_socket(
    path: str,
    timeout: float = 0.5,
    docker: bool = False,
    upperdirs: dict[str, str] | None = None,
) -> Hints:
    """Ask a Docker-compatible API on a unix socket for its containers and networks.

    Each container's writable layer comes from one inspect (``GET /containers/<id>/json``);
    ``upperdirs`` (container id -> upper dir) keeps those answers between calls, since a
    container's layer never moves, so a poll costs two requests plus one per new container.
    """
    containers = _get_json(path, "/containers/json", timeout)
    networks = _get_json(path, "/networks", timeout)
    hints = hints_from_api(containers, networks)
    known = upperdirs if upperdirs is not None else {}
    chints = []
    for c in hints.containers:
        if c.id and c.id not in known:
            try:
                info = _get_json(path, f"/containers/{c.id}/json", timeout)
            except (OSError, ValueError):
                info = None  # gone meanwhile, or an API without inspect: ask again next time
            if isinstance(info, dict):
                data = (info.get("GraphDriver") or {}).get("Data") or {}
                known[c.id] = str(data.get("UpperDir") or "")
        chints.append(replace(c, upperdir=known.get(c.id, "")))
    live = {c.id for c in hints.containers}
    for cid in [k for k in known if k not in live]:
        del known[cid]
    return replace(hints, containers=tuple(chints), docker=docker)
