"""One-line descriptions of kernel objects and changes, for the timeline and the help texts."""

from __future__ import annotations

from typing import Any

from dockerscope.kernel.model import (
    Cgroup,
    Chain,
    Change,
    Flow,
    Link,
    NetNs,
    OverlayMount,
    ProcessNs,
    Route,
    Rule,
    Socket,
)

SYMBOLS = {"added": "+", "removed": "-", "changed": "~"}


def describe_object(obj: Any) -> str:
    """Short text naming one kernel object the way the course would."""
    if isinstance(obj, Link):
        where = f" on {obj.master}" if obj.master else ""
        return f"{obj.kind} {obj.name}{where} (netns {obj.netns})"
    if isinstance(obj, Route):
        via = f" via {obj.gateway}" if obj.gateway else ""
        return f"route {obj.dst}{via} dev {obj.dev} (netns {obj.netns})"
    if isinstance(obj, NetNs):
        return f"netns {obj.name or '-'} [{obj.inode}]"
    if isinstance(obj, ProcessNs):
        return f"process {obj.pid} {obj.comm}"
    if isinstance(obj, Chain):
        return f"chain {obj.table} {obj.name}"
    if isinstance(obj, Rule):
        return f"{obj.table} -A {obj.chain} {obj.spec}"
    if isinstance(obj, Cgroup):
        return f"cgroup {obj.path}"
    if isinstance(obj, OverlayMount):
        return f"overlay {obj.target}"
    if isinstance(obj, Flow):
        return (
            f"flow {obj.proto} {obj.orig_src}:{obj.orig_sport} -> {obj.orig_dst}:{obj.orig_dport}"
        )
    if isinstance(obj, Socket):
        peer = f" <-> {obj.remote}:{obj.remote_port}" if obj.remote_port else ""
        held = f" by {obj.pid}/{obj.command}" if obj.pid is not None else ""
        return (
            f"socket {obj.proto} {obj.state} {obj.local}:{obj.local_port}{peer}{held}"
            f" (netns {obj.netns})"
        )
    return str(obj)


def owner_of(obj: Any) -> str:
    """The owner label of an object, or ""."""
    owner = getattr(obj, "owner", None)
    return owner.label() if owner is not None else ""


def describe_change(change: Change) -> str:
    """``+ nat -A DOCKER ... (port api 8081/tcp)``."""
    obj = change.after if change.after is not None else change.before
    owner = owner_of(obj)
    tail = f"  ({owner})" if owner else ""
    return f"{SYMBOLS.get(change.action, '?')} {describe_object(obj)}{tail}"
