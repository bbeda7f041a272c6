"""The ``socket`` kind: a TCP or UDP socket the kernel shows (sock_diag), with the program
holding it and the container it is in, e.g. "a listening tcp socket on port 80 in container
web, owned by httpd". Checked only from the observer's snapshots."""

from __future__ import annotations

from typing import Any

from dockerscope.kernel.model import Socket
from dockerscope.scenario.expectations.matching import (
    count_verdict,
    glob,
    netns_pattern,
    owner_matches,
    select,
)
from dockerscope.scenario.expectations.observed import Observed, Verdict
from dockerscope.scenario.expectations.registry import Kind, register
from dockerscope.scenario.expectations.schema import (
    Schema,
    action,
    boolean,
    comparison,
    integer,
    one_of,
    string,
)


def _container_of(s: Socket) -> str:
    return s.owner.name if s.owner is not None and s.owner.kind == "container" else ""


def _socket_check(o: Observed, p: dict[str, Any]) -> Verdict:
    netns = netns_pattern(p.get("netns"), o)

    def pred(s: Socket) -> bool:
        return (
            glob(s.proto, p.get("proto"))
            and ("port" not in p or s.local_port == p["port"])
            and glob(s.local, p.get("address"))
            and glob(s.state, p.get("state"))
            and ("listening" not in p or s.listening == p["listening"])
            and glob(s.netns, netns)
            and ("container" not in p or glob(_container_of(s), p["container"]))
            and owner_matches(s.owner, p.get("owner"))
            and glob(s.command, p.get("program"))
        )

    act = p.get("action", "present")
    found = select(o, "sockets", act, pred)
    return count_verdict(found, act, p.get("count"), "socket: " + _phrase_socket(p), _label)


def _label(s: Socket) -> str:
    held = f" by {s.program}" if s.pid is not None else " (no process holds it)"
    where = f" in {s.owner.label()}" if s.owner is not None else f" in netns {s.netns}"
    remote = f" <-> {s.remote}:{s.remote_port}" if s.remote_port else ""
    return f"{s.proto} {s.state} {s.local}:{s.local_port}{remote}{where}{held}"


def _phrase_socket(p: dict[str, Any]) -> str:
    listening = p.get("listening") is True or p.get("state") == "LISTEN"
    words = ["listening"] if listening else []
    words += [p["proto"]] if "proto" in p else []
    text = " ".join([*words, "socket"])
    if "state" in p and p["state"] != "LISTEN":
        text += f" in state {p['state']}"
    if "port" in p:
        text += f" on {p['address']}:{p['port']}" if "address" in p else f" on port {p['port']}"
    elif "address" in p:
        text += f" on {p['address']}"
    if "container" in p:
        text += f" in container {p['container']}"
    if "netns" in p:
        text += " in the lab's namespace" if p["netns"] == "lab" else f" in netns {p['netns']}"
    if "owner" in p:
        text += f" belonging to {p['owner']}"
    if "program" in p:
        text += f", owned by {p['program']}"
    act = p.get("action", "present")
    count = p.get("count")
    if act == "absent" or (count is not None and str(count) in ("0", "=0", "==0")):
        return f"no {text}"
    said = {"added": " appeared", "removed": " went away", "changed": " changed"}.get(act, "")
    return f"a {text}{said}" + (f" ({count})" if count is not None else "")


register(
    "socket",
    Kind(
        Schema(
            proto=one_of("tcp", "udp"),
            port=integer,
            address=string,
            state=string,
            listening=boolean,
            netns=string,
            container=string,
            owner=string,
            program=string,
            action=action,
            count=comparison,
        ),
        _socket_check,
        "a tcp/udp socket (sock_diag) by port, state, container and the program holding it",
        _phrase_socket,
    ),
)
