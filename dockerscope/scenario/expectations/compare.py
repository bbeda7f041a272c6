"""Comparisons as scenario files write them: ``">0"``, ``">=20"``, ``"=64m"``, ``137``, or a list
of them (all must hold), and how a sentence says one."""

from __future__ import annotations

import re
from typing import Any

_CMP = re.compile(r"^\s*(>=|<=|==|!=|>|<|=)?\s*(-?\d+(?:\.\d+)?)\s*([kmgKMG]?)\s*$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_compare(spec: Any) -> tuple[str, float]:
    """``">0"``, ``">=20"``, ``"=64m"``, ``137`` -> (operator, number). ValueError if malformed."""
    if isinstance(spec, bool):
        raise ValueError(f"expected a number or a comparison like '>0', got {spec!r}")
    if isinstance(spec, int | float):
        return "==", float(spec)
    if not isinstance(spec, str):
        raise ValueError(f"expected a number or a comparison like '>0', got {spec!r}")
    m = _CMP.match(spec)
    if not m:
        raise ValueError(f"expected a comparison like '>0', '>=20', '=64m', got {spec!r}")
    op = m.group(1) or "=="
    if op == "=":
        op = "=="
    return op, float(m.group(2)) * _UNITS[m.group(3).lower()]


def compare(value: float | int | None, spec: Any) -> bool:
    """Does ``value`` satisfy ``spec`` (``parse_compare``; a list: all of them)? None never does."""
    if value is None:
        return False
    if isinstance(spec, list):
        return all(compare(value, s) for s in spec)
    op, n = parse_compare(spec)
    return {
        "==": value == n,
        "!=": value != n,
        ">": value > n,
        "<": value < n,
        ">=": value >= n,
        "<=": value <= n,
    }[op]


def cmp_text(spec: Any) -> str:
    if isinstance(spec, list):
        return " and ".join(cmp_text(s) for s in spec)
    text = str(spec)
    return text if text[:1] in "<>=!" else f"= {text}"
