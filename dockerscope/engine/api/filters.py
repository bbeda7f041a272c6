"""``filters`` a route understands, and a clear refusal of the ones it does not."""

from __future__ import annotations

from typing import Any

from dockerscope.engine.api.render import parse_filters
from dockerscope.engine.errors import InvalidArgument, NotSupported


def checked_filters(raw: Any, allowed: set[str], what: str) -> dict[str, list[str]]:
    """Parse a ``filters`` query; a key outside ``allowed`` answers 400 naming it (a filter
    that narrows what a command touches must never be dropped silently)."""
    try:
        flt = parse_filters(raw)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    for key in flt:
        if key not in allowed:
            raise NotSupported(f"{what} --filter {key}")
    return flt
