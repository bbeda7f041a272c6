"""Kinds about container filesystems: ``mount`` (overlay roots and their upper dirs),
``layers_shared`` (two roots stacking the same image layers) and ``whiteout``."""

from __future__ import annotations

import fnmatch
from typing import Any

from dockerscope.kernel.model import Snapshot
from dockerscope.scenario.expectations.compare import compare
from dockerscope.scenario.expectations.matching import (
    count_verdict,
    count_words,
    glob,
    owner_matches,
    select,
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

# ------------------------------------------------------------------ mount


def _upper_entries(snap: Snapshot, owner: str | None) -> dict[tuple[str, str], Any]:
    out = {}
    for m in snap.mounts:
        if owner_matches(m.owner, owner):
            for e in m.upper_entries:
                out[(m.target, e.path)] = (m, e)
    return out


def _mount_label(m: Any) -> str:
    return str(m.owner.label()) if m.owner else str(m.target)


def _mount_check(o: Observed, p: dict[str, Any]) -> Verdict:
    if "upper_contains" not in p:
        return _overlay_check(o, p)
    pattern = p["upper_contains"]
    owner = p.get("owner")
    kind = p.get("kind")
    action = p.get("action", "present")
    after = _upper_entries(o.after, owner)
    found = [
        (m, e)
        for (target, path), (m, e) in after.items()
        if fnmatch.fnmatchcase(path, pattern) and glob(e.kind, kind)
    ]
    if action == "added":
        before = _upper_entries(o.before, owner)
        found = [(m, e) for (m, e) in found if (m.target, e.path) not in before]
    return count_verdict(
        found,
        action,
        p.get("count"),
        f"upper dir entry {pattern}",
        lambda me: f"{me[1].path} ({me[1].kind}) in {_mount_label(me[0])}",
    )


def _overlay_check(o: Observed, p: dict[str, Any]) -> Verdict:
    """Overlay mounts themselves (a container root appearing or going)."""
    action = p.get("action", "added")
    found = select(o, "mounts", action, lambda m: owner_matches(m.owner, p.get("owner")))
    return count_verdict(
        found,
        action,
        p.get("count"),
        "overlay root" + (f" of {p['owner']}" if "owner" in p else ""),
        lambda m: f"{_mount_label(m)} ({len(m.lowerdirs)} layers)",
    )


def _phrase_mount(p: dict[str, Any]) -> str:
    if "upper_contains" in p:
        kind = f" ({p['kind']})" if "kind" in p else ""
        return f"upper dir{where(p)} holds {p['upper_contains']}{kind}: {count_words(p, 'present')}"
    return f"overlay root{where(p)} {count_words(p, 'added')}"


register(
    "mount",
    Kind(
        Schema(
            upper_contains=string,
            owner=string,
            kind=one_of("file", "dir", "symlink", "whiteout", "opaque"),
            action=action,
            count=comparison,
        ),
        _mount_check,
        "an overlay root (added/removed/present), or an entry in its upper dir",
        _phrase_mount,
    ),
)

# ------------------------------------------------------------------ layers_shared


def _layers_shared_validate(params: Any) -> None:
    Schema(a=string, b=string, shared=boolean, count=comparison)(params)
    for key in ("a", "b"):
        if key not in params:
            raise ParamError(key, "missing (a container name)")


def _layers_shared_check(o: Observed, p: dict[str, Any]) -> Verdict:
    """Image layers sit at the bottom of the stack (the end of ``lowerdirs``); above them a
    container may have private layers (Docker's init layer). Count the common bottom."""

    def layers(who: str) -> tuple[str, ...] | None:
        for m in o.after.mounts:
            if owner_matches(m.owner, who):
                return m.lowerdirs
        return None

    a, b = layers(p["a"]), layers(p["b"])
    if a is None or b is None:
        missing = p["a"] if a is None else p["b"]
        return Verdict(False, f"no overlay root seen for {missing}")
    common = 0
    while common < min(len(a), len(b)) and a[-1 - common] == b[-1 - common]:
        common += 1
    detail = (
        f"{p['a']} and {p['b']} share the bottom {common} of their {len(a)}/{len(b)} layers"
        f" ({len(a) - common} and {len(b) - common} of their own on top)"
    )
    if not p.get("shared", True):
        return Verdict(common == 0, detail)
    return Verdict(compare(common, p.get("count", ">0")), detail)


def _phrase_layers_shared(p: dict[str, Any]) -> str:
    if p.get("shared", True):
        return f"{p['a']} and {p['b']} share image layers ({p.get('count', '>0')})"
    return f"{p['a']} and {p['b']} share no layers"


register(
    "layers_shared",
    Kind(
        _layers_shared_validate,
        _layers_shared_check,
        "two containers' overlay roots stack the same image layers",
        _phrase_layers_shared,
    ),
)

# ------------------------------------------------------------------ whiteout


def _whiteout_params(params: Any) -> dict[str, Any]:
    p = {"path": params} if isinstance(params, str) else dict(params)
    return p


def _whiteout_validate(params: Any) -> None:
    if isinstance(params, str):
        string("", params)
        return
    Schema(path=string, owner=string, action=action)(params)
    if "path" not in params:
        raise ParamError("path", "missing")


def _whiteout_check(o: Observed, params: Any) -> Verdict:
    p = _whiteout_params(params)
    return _mount_check(
        o,
        {
            "upper_contains": p["path"],
            "kind": "whiteout",
            "owner": p.get("owner"),
            "action": p.get("action", "present"),
        },
    )


def _phrase_whiteout(params: Any) -> str:
    p = _whiteout_params(params)
    return f"whiteout for {p['path']}{where(p)} {count_words(p, 'present')}"


register(
    "whiteout",
    Kind(_whiteout_validate, _whiteout_check, "a whiteout (deleted lower file)", _phrase_whiteout),
)
