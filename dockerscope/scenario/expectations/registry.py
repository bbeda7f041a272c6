"""The table of expectation kinds, and the three things done with an expectation: validate its
parameters (the loader), check it against what was observed (the runner), say it (the UI,
recordings). Each family module registers its kinds next to their code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockerscope.scenario.expectations.observed import Observed, Verdict
from dockerscope.scenario.model import Expectation


@dataclass(frozen=True)
class Kind:
    """One expectation kind: how to validate its parameters, how to check it, and the
    sentence a class reads for it (``phrase``; it may raise on unusual parameters)."""

    validate: Callable[[Any], None]
    check: Callable[[Observed, Any], Verdict]
    doc: str
    phrase: Callable[[Any], str]


#: Every kind by the name scenario files use.
KINDS: dict[str, Kind] = {}


def register(name: str, kind: Kind) -> None:
    """Add a kind to the table (a name is registered once)."""
    if name in KINDS:
        raise ValueError(f"expectation kind {name!r} registered twice")
    KINDS[name] = kind


def validate(kind: str, params: Any) -> None:
    """Raise ParamError if ``params`` are not valid for ``kind`` (KeyError for unknown kinds)."""
    KINDS[kind].validate(params)


def check(expectation: Expectation, observed: Observed) -> Verdict:
    """Check one expectation. Never raises: a broken check is a failed verdict."""
    kind = KINDS.get(expectation.kind)
    if kind is None:
        return Verdict(False, f"unknown expectation kind {expectation.kind!r}")
    try:
        verdict = kind.check(observed, expectation.params)
    except Exception as e:  # a bug in a check must not stop a class mid-walkthrough
        return Verdict(False, f"check failed: {type(e).__name__}: {e}")
    if not verdict.ok and observed.after.errors:
        # A stale reading explains a miss better than anything: say so.
        errs = "; ".join(observed.after.errors[:3])
        return Verdict(False, f"{verdict.detail} (the observer could not read: {errs})")
    return verdict


def describe(expectation: Expectation) -> str:
    """One line a class can read, e.g. ``bridge br-* added`` or ``nat/DOCKER: rule
    /--dport 8080 -j DNAT/ added``; unusual parameters fall back to ``kind key=value...``."""
    p = expectation.params
    try:
        text = KINDS[expectation.kind].phrase(p)
    except (KeyError, TypeError, AttributeError):
        text = None
    if text:
        return text
    if not isinstance(p, dict):
        return f"{expectation.kind} {p}"
    bits = " ".join(f"{k}={v}" for k, v in p.items())
    return f"{expectation.kind} {bits}"
