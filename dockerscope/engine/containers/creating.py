"""``docker create`` and ``docker rename``: a new record from a request and its image."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import replace

from dockerscope.engine.containers.create_request import CreateRequest, check_name, merge_env
from dockerscope.engine.containers.model import Container, ContainerConfig
from dockerscope.engine.containers.names import random_name
from dockerscope.engine.containers.registry import Registry
from dockerscope.engine.errors import Conflict, Internal, InvalidArgument
from dockerscope.engine.images.model import Image
from dockerscope.engine.private import create_private


class ContainerCapReached(Conflict):
    """The lab keeps as many containers as its cap allows (``--max-containers``).

    A Conflict (409) as Docker answers a create that clashes with the daemon's state (a name in
    use): the request is fine, the lab is full, and removing a container makes room.
    """

    def __init__(self, lab: str, cap: int) -> None:
        super().__init__(
            f"lab {lab}: at most {cap} containers (dockerscope daemon --max-containers); "
            "remove some with docker rm"
        )


def create(reg: Registry, req: CreateRequest) -> Container:
    """Record a new container (nothing runs yet); NotFound for an unknown image,
    ``ContainerCapReached`` when the lab keeps its cap of containers already."""
    cap = reg.max_containers
    if cap is not None and len(reg.containers) >= cap:
        raise ContainerCapReached(reg.lab.name, cap)
    image = reg.images.get(req.config.image)
    name = req.name or _free_name(reg)
    reg.check_name_free(name)
    req, joined = _resolve_network(reg, req)
    cid = _new_id(reg)
    c = Container(
        id=cid,
        name=name,
        created=time.time(),
        image_id=image.id,
        config=_merged_config(image, req, cid, joined),
        host=req.host,
    )
    try:
        reg.save(c)
        create_private(reg.store.log_path(cid))
    except OSError as exc:
        reg.containers.pop(cid, None)
        reg.store.delete(cid)
        raise Internal(f"cannot write the container's state: {exc}") from exc
    reg.exit_future(cid)
    reg.removed_future(cid)
    reg.emit(c, "create")
    return c


def _resolve_network(reg: Registry, req: CreateRequest) -> tuple[CreateRequest, Container | None]:
    """Check the network mode before anything is written; for ``container:<ref>`` return the
    request naming that container by full id, and the container."""
    net = req.host.network_mode
    if net.startswith("container:"):
        # Docker resolves the container now (NotFound if unknown), keeps its full id, and gives
        # the newcomer that container's hostname: they share one network identity.
        joined = reg.get(net.partition(":")[2])
        if req.config.hostname:
            raise InvalidArgument("conflicting options: hostname and the network mode")
        host = replace(req.host, network_mode=f"container:{joined.id}")
        return replace(req, host=host), joined
    networks = reg.networks
    if net not in ("default", "bridge", "host", "none") and networks is not None:
        networks.get(net)  # NotFound "network x not found" before anything is written
    return req, None


def _new_id(reg: Registry) -> str:
    """64 hex digits, unused, whose short form is not all digits (it would read as a pid)."""
    cid = secrets.token_hex(32)
    while cid in reg.containers or cid[:12].isdigit():
        cid = secrets.token_hex(32)
    return cid


def _merged_config(
    image: Image, req: CreateRequest, cid: str, joined: Container | None
) -> ContainerConfig:
    """The request's config with the image's defaults filled in, as Docker merges them."""
    ic = image.config
    cfg = req.config
    use_image_cmd = cfg.cmd is None and cfg.entrypoint is None
    merged = replace(
        cfg,
        # --net=host takes the (lab) host's name, as Docker does; else the short id.
        hostname=cfg.hostname
        or (joined.config.hostname if joined is not None else "")
        or (os.uname().nodename if req.host.network_mode == "host" else cid[:12]),
        env=merge_env(tuple(ic.env), cfg.env),
        cmd=tuple(ic.cmd) if use_image_cmd and ic.cmd is not None else cfg.cmd,
        entrypoint=cfg.entrypoint
        if cfg.entrypoint is not None
        else (tuple(ic.entrypoint) if ic.entrypoint is not None else None),
        working_dir=cfg.working_dir or ic.working_dir,
        user=cfg.user or ic.user,
        exposed_ports=tuple(sorted(set(cfg.exposed_ports) | set(ic.exposed_ports))),
        labels=tuple(sorted({**dict(ic.labels), **dict(cfg.labels)}.items())),
    )
    if cfg.entrypoint == ("",):  # --entrypoint "" clears the image's entrypoint
        merged = replace(merged, entrypoint=None)
    if not merged.argv:
        raise InvalidArgument("No command specified")
    return merged


def _free_name(reg: Registry) -> str:
    """A random ``adjective_surname`` no container has yet."""
    used = {c.name for c in reg.containers.values()}
    for _ in range(100):
        name = random_name()
        if name not in used:
            return name
    return "container_" + secrets.token_hex(4)


def rename(reg: Registry, ref: str, new: str) -> Container:
    """``docker rename``: a new, unused name, also for traffic attribution and a bare netns."""
    c = reg.get(ref)
    name = check_name(new)
    reg.check_name_free(name, owner=c.id)
    if c.state.running and c.host.network_mode != "host" and reg.networks is None:
        # The bare netns file is named after the container: move it with the name.
        old = reg.net.netns_file(c)
        if old.exists():
            os.rename(old, reg.lab.container_netns_dir / name)
    c = reg.save(replace(c, name=name))
    live = reg.live.get(c.id)
    if live is not None and live.pidns is not None:
        reg.pidns_names[live.pidns] = name
    reg.emit(c, "rename")
    return c
