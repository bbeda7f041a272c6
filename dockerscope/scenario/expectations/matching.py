"""What most kinds share: glob and owner matching, picking objects from the diff or the after
view, turning them into a verdict, and the words a sentence uses for count and place."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from dockerscope.kernel.model import Owner
from dockerscope.scenario.expectations.compare import compare
from dockerscope.scenario.expectations.observed import Observed, Verdict
from dockerscope.scenario.expectations.schema import DIFF_ACTIONS


def glob(value: str | None, pattern: str | None) -> bool:
    if pattern is None:
        return True
    return value is not None and fnmatch.fnmatchcase(value, pattern)


def owner_matches(owner: Owner | None, pattern: str | None) -> bool:
    if pattern is None:
        return True
    if owner is None:
        return False
    return fnmatch.fnmatchcase(owner.name, pattern) or fnmatch.fnmatchcase(owner.label(), pattern)


def netns_pattern(pattern: str | None, observed: Observed) -> str | None:
    """``lab`` in a scenario file means the lab host's namespace, whatever the lab is called."""
    if pattern == "lab" and observed.lab:
        return observed.lab
    return pattern


def select(
    observed: Observed,
    collection: str,
    action: str,
    pred: Callable[[Any], bool],
) -> list[Any]:
    """Objects of one collection matching ``pred`` for an action (diff-based or state-based)."""
    if action in DIFF_ACTIONS:
        out = []
        for c in observed.diff.of(collection, action):
            obj = c.before if action == "removed" else c.after
            if pred(obj):
                out.append(obj)
        return out
    return [o for o in getattr(observed.after, collection) if pred(o)]


def select_owned(
    observed: Observed,
    collection: str,
    p: dict[str, Any],
    default_action: str,
    field: str,
    name_of: Callable[[Any], str],
) -> tuple[str, list[Any]]:
    """(action, objects) for the common parameters: ``action`` (``default_action`` if absent),
    a glob on the parameter ``field`` matched against ``name_of(obj)``, and ``owner``."""
    action = p.get("action", default_action)
    found = select(
        observed,
        collection,
        action,
        lambda x: glob(name_of(x), p.get(field)) and owner_matches(x.owner, p.get("owner")),
    )
    return action, found


def count_verdict(
    found: list[Any], action: str, count: Any, what: str, label: Callable[[Any], str]
) -> Verdict:
    """Turn the matching objects into a verdict, honouring ``action`` and ``count``."""
    names = ", ".join(label(o) for o in found[:4]) + (" ..." if len(found) > 4 else "")
    if action == "absent":
        if found:
            return Verdict(False, f"{what}: still present: {names}")
        return Verdict(True, f"{what}: none present")
    spec = ">0" if count is None else count
    verb = "present" if action == "present" else action
    if compare(len(found), spec):
        shown = f": {names}" if found else ""
        return Verdict(True, f"{what}: {len(found)} {verb}{shown}")
    if found:
        return Verdict(False, f"{what}: {len(found)} {verb} (wanted {spec}): {names}")
    return Verdict(False, f"{what}: none {verb}")


def count_words(p: dict[str, Any], default_action: str) -> str:
    action = p.get("action", default_action)
    count = p.get("count")
    if action == "absent":
        return "absent"
    if count is None:
        return action
    if str(count) in ("0", "=0", "==0"):
        return f"none {action}"
    return f"{action} ({count})"


def where(p: dict[str, Any]) -> str:
    bits = []
    if "owner" in p:
        bits.append(f"of {p['owner']}")
    if "netns" in p:
        bits.append(f"in {p['netns']}")
    return (" " + " ".join(bits)) if bits else ""
