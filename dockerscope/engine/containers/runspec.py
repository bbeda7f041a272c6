"""The runtime's ``ContainerSpec`` for a container record: layers, mounts, limits."""

from __future__ import annotations

from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.registry import Registry
from dockerscope.engine.runtime.spec import Bind, ContainerSpec, Resources


def container_spec(
    reg: Registry,
    c: Container,
    netns_path: str,
    etc: tuple[tuple[str, str], ...],
    lowerdirs: tuple[str, ...] | None = None,
) -> ContainerSpec:
    """What the runtime needs to start (or, with ``lowerdirs=()``, to tear down) ``c``.

    With ``lowerdirs`` None the image's layers are looked up and the init layer is made."""
    d = reg.store.dir(c.id)
    if lowerdirs is None:
        image_layers = tuple(reg.images.layer_dirs(reg.images.get(c.image_id)))
        # Docker's "<id>-init" layer: mount points, /etc files and /.dockerenv live in a
        # read-only layer of their own, so starting writes nothing to the container's upper
        # dir and neither `docker diff` nor `docker commit` ever sees them.
        lowerdirs = (reg.runtime.make_init_layer(d / "init", image_layers), *image_layers)
    h = c.host
    return ContainerSpec(
        id=c.id,
        hostname=c.config.hostname,
        lowerdirs=lowerdirs,
        upperdir=str(d / "upper"),
        workdir=str(d / "work"),
        rootfs=str(d / "rootfs"),
        args=c.config.argv,
        env=c.config.env,
        cwd=c.config.working_dir or "/",
        user=c.config.user,
        tty=c.config.tty,
        netns_path=netns_path,
        etc_files=etc,
        binds=tuple(_bind(b) for b in h.binds),
        resources=Resources(
            memory=h.memory or None,
            nano_cpus=h.nano_cpus or None,
            cpu_shares=h.cpu_shares or None,
            pids_limit=h.pids_limit,
        ),
        cgroup_parent=reg.lab.cgroup_parent,
        seccomp=h.seccomp,
    )


def _bind(text: str) -> Bind:
    """``source:target[:options]`` (already checked at create) as a runtime Bind."""
    parts = text.split(":")
    ro = len(parts) == 3 and "ro" in parts[2].split(",")
    return Bind(parts[0], parts[1], ro)
