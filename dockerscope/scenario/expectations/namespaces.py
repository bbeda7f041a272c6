"""Kinds about namespaces and the processes in them: ``netns_shared``, ``netns``, ``process``."""

from __future__ import annotations

from typing import Any

from dockerscope.scenario.expectations.matching import (
    count_verdict,
    count_words,
    select_owned,
    where,
)
from dockerscope.scenario.expectations.observed import Observed, Verdict
from dockerscope.scenario.expectations.registry import Kind, register
from dockerscope.scenario.expectations.schema import (
    ParamError,
    Schema,
    action,
    boolean,
    comparison,
    one_of,
    string,
)

# ------------------------------------------------------------------ netns_shared


def _ns_of(o: Observed, who: str, ns: str) -> tuple[set[int], str]:
    """Inodes of namespace ``ns`` for ``who`` (``lab``, ``host`` or a container name)."""
    snap = o.after
    if who in ("lab", "host"):
        if ns == "net":
            name = o.lab if who == "lab" else None
            if who == "lab":
                hits = {n.inode for n in snap.netns if n.name == name}
                return hits, f"the lab netns {name}"
        procs = [p for p in snap.processes if p.pid == 1] if who == "host" else []
        return {i for p in procs if (i := p.ns(ns)) is not None}, who
    name = who.removeprefix("container:")
    inodes = {
        i
        for p in snap.processes
        if p.owner is not None
        and p.owner.kind == "container"
        and p.owner.name == name
        and (i := p.ns(ns)) is not None
    }
    if not inodes and ns == "net":
        inodes = {n.inode for n in snap.netns if n.name == name}
    return inodes, f"container {name}"


def _netns_shared_validate(params: Any) -> None:
    Schema(
        a=string,
        b=string,
        ns=one_of("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"),
        shared=boolean,
    )(params)
    for key in ("a", "b"):
        if key not in params:
            raise ParamError(key, "missing (a container name, 'lab' or 'host')")


def _netns_shared_check(o: Observed, p: dict[str, Any]) -> Verdict:
    ns = p.get("ns", "net")
    want = p.get("shared", True)
    a, a_label = _ns_of(o, p["a"], ns)
    b, b_label = _ns_of(o, p["b"], ns)
    if not a:
        return Verdict(False, f"no {ns} namespace seen for {a_label}")
    if not b:
        return Verdict(False, f"no {ns} namespace seen for {b_label}")
    shared = bool(a & b)
    inodes = f"{ns}:[{','.join(map(str, sorted(a)))}] vs [{','.join(map(str, sorted(b)))}]"
    verb = "share" if shared else "do not share"
    return Verdict(shared == want, f"{a_label} and {b_label} {verb} a {ns} namespace ({inodes})")


def _phrase_netns_shared(p: dict[str, Any]) -> str:
    verb = "share" if p.get("shared", True) else "do not share"
    return f"{p['a']} and {p['b']} {verb} a {p.get('ns', 'net')} namespace"


register(
    "netns_shared",
    Kind(
        _netns_shared_validate,
        _netns_shared_check,
        "two parties share (or not) a namespace",
        _phrase_netns_shared,
    ),
)

# ------------------------------------------------------------------ netns


def _netns_check(o: Observed, p: dict[str, Any]) -> Verdict:
    action, found = select_owned(o, "netns", p, "added", "name", lambda n: n.name or "")
    return count_verdict(
        found,
        action,
        p.get("count"),
        "netns " + p.get("name", "*"),
        lambda n: f"{n.name or '(unnamed)'} ino {n.inode}",
    )


def _phrase_netns(p: dict[str, Any]) -> str:
    text = f"network namespace {p.get('name', '')}{where(p)} {count_words(p, 'added')}"
    return text.replace("namespace  ", "namespace ")


register(
    "netns",
    Kind(
        Schema(name=string, owner=string, action=action, count=comparison),
        _netns_check,
        "a network namespace added/removed/present",
        _phrase_netns,
    ),
)

# ------------------------------------------------------------------ process


def _process_check(o: Observed, p: dict[str, Any]) -> Verdict:
    action, found = select_owned(o, "processes", p, "present", "comm", lambda x: x.comm)
    what = f"process {p.get('comm', '*')}" + (f" of {p['owner']}" if "owner" in p else "")
    return count_verdict(found, action, p.get("count"), what, lambda x: f"{x.comm}[{x.pid}]")


def _phrase_process(p: dict[str, Any]) -> str:
    return f"process {p.get('comm', '*')}{where(p)} {count_words(p, 'present')}"


register(
    "process",
    Kind(
        Schema(comm=string, owner=string, action=action, count=comparison),
        _process_check,
        "processes (by command name and owner)",
        _phrase_process,
    ),
)
