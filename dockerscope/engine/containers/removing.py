"""``docker rm``: a container's record, files, execs and waiters go."""

from __future__ import annotations

import asyncio
import shutil
import signal
from dataclasses import replace

from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.registry import Registry, execs_of
from dockerscope.engine.containers.stopping import await_exit, exiting, send_signal
from dockerscope.engine.errors import Conflict


async def remove(reg: Registry, ref: str, force: bool = False) -> None:
    """Remove a stopped container; ``force`` kills a running one first."""
    c = reg.get(ref)
    if c.state.running or exiting(reg, c.id):
        if not force:
            raise Conflict(
                f"You cannot remove a running container {c.id}. Stop the container "
                "before attempting removal or force remove"
            )
        send_signal(reg, c.id, signal.SIGKILL)
        await await_exit(reg, c.id)
        if c.id not in reg.containers:
            return  # AutoRemove took it
        c = reg.containers[c.id]
    await discard(reg, c)


async def discard(reg: Registry, c: Container) -> None:
    """Remove a container that does not run (also ``--rm`` after its exit): network,
    execs, state dir, subscribers; then the "destroy" event and the removal waiters."""
    if c.id not in reg.containers:
        return
    c = replace(c, state=replace(c.state, status="removing"))
    reg.containers[c.id] = c
    reg.net.release(c)
    for e in execs_of(reg.execs.values(), c.id):
        reg.execs.pop(e.id, None)
    await asyncio.to_thread(shutil.rmtree, reg.store.dir(c.id), True)
    reg.containers.pop(c.id, None)
    reg.early_stdin.pop(c.id, None)
    reg.end_output(c.id)
    reg.emit(c, "destroy")
    code = c.state.exit_code
    for futs in (reg.exit_futs, reg.removed_futs):
        fut = futs.pop(c.id, None)
        if fut is not None and not fut.done():
            fut.set_result(code)
