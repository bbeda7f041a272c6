"""Kinds about network interfaces and routes: ``link``, ``veth_on``, ``route``."""

from __future__ import annotations

from typing import Any

from dockerscope.scenario.expectations.matching import (
    count_verdict,
    count_words,
    glob,
    netns_pattern,
    select,
    where,
)
from dockerscope.scenario.expectations.observed import Observed, Verdict
from dockerscope.scenario.expectations.registry import Kind, register
from dockerscope.scenario.expectations.schema import ParamError, Schema, action, comparison, string

# ------------------------------------------------------------------ link


def _link_check(o: Observed, p: dict[str, Any]) -> Verdict:
    netns = netns_pattern(p.get("netns"), o)

    def pred(link: Any) -> bool:
        return (
            glob(link.name, p.get("name"))
            and glob(link.kind, p.get("kind"))
            and glob(link.master, p.get("master"))
            and glob(link.netns, netns)
            and glob(link.state, p.get("state"))
        )

    action = p.get("action", "added")
    found = select(o, "links", action, pred)
    what = f"{p.get('kind', 'link')} {p.get('name', '*')}"
    return count_verdict(found, action, p.get("count"), what, lambda x: f"{x.name}@{x.netns}")


def _phrase_link(p: dict[str, Any]) -> str:
    what = p.get("kind", "interface")
    name = f" {p['name']}" if "name" in p else ""
    on = f" on {p['master']}" if "master" in p else ""
    return f"{what}{name}{on}{where(p)} {count_words(p, 'added')}"


register(
    "link",
    Kind(
        Schema(
            name=string,
            kind=string,
            master=string,
            netns=string,
            state=string,
            action=action,
            count=comparison,
        ),
        _link_check,
        "a network interface added/removed/present (glob on name, kind, master, netns)",
        _phrase_link,
    ),
)

# ------------------------------------------------------------------ veth_on: a bridge's port


def _veth_params(params: Any) -> dict[str, Any]:
    return {"bridge": params} if isinstance(params, str) else dict(params)


def _veth_validate(params: Any) -> None:
    if isinstance(params, str):
        string("", params)
        return
    Schema(bridge=string, action=action, count=comparison, netns=string)(params)
    if "bridge" not in params:
        raise ParamError("bridge", "missing (the bridge the veth should be plugged into)")


def _veth_check(o: Observed, params: Any) -> Verdict:
    p = _veth_params(params)
    netns = netns_pattern(p.get("netns"), o)

    def pred(link: Any) -> bool:
        return link.kind == "veth" and glob(link.master, p["bridge"]) and glob(link.netns, netns)

    action = p.get("action", "added")
    found = select(o, "links", action, pred)
    return count_verdict(found, action, p.get("count"), f"veth on {p['bridge']}", lambda x: x.name)


def _phrase_veth(params: Any) -> str:
    p = _veth_params(params)
    return f"veth on {p['bridge']} {count_words(p, 'added')}"


register("veth_on", Kind(_veth_validate, _veth_check, "a veth plugged into a bridge", _phrase_veth))

# ------------------------------------------------------------------ route


def _route_check(o: Observed, p: dict[str, Any]) -> Verdict:
    netns = netns_pattern(p.get("netns"), o)
    action = p.get("action", "added")
    found = select(
        o,
        "routes",
        action,
        lambda r: glob(r.dst, p.get("dst")) and glob(r.dev, p.get("dev")) and glob(r.netns, netns),
    )
    return count_verdict(
        found,
        action,
        p.get("count"),
        f"route {p.get('dst', '*')} dev {p.get('dev', '*')}",
        lambda r: f"{r.dst} dev {r.dev} ({r.netns})",
    )


def _phrase_route(p: dict[str, Any]) -> str:
    return f"route {p.get('dst', '*')} dev {p.get('dev', '*')} {count_words(p, 'added')}"


register(
    "route",
    Kind(
        Schema(dst=string, dev=string, netns=string, action=action, count=comparison),
        _route_check,
        "a route added/removed/present",
        _phrase_route,
    ),
)
