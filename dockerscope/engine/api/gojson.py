"""JSON text read as dockerd reads it (Go's ``encoding/json``), where Python's reader differs.

- Invalid UTF-8 and lone UTF-16 surrogates (``"\\ud800"``) become U+FFFD: Go replaces them, and
  a surrogate left in a Python string breaks whatever encodes it later (a path, a regexp).
- ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON: Python accepts them, Go does not.
- An integer of thousands of digits is a number too large for any field, not an error of
  Python's own int-to-text guard (whose message names ``sys.set_int_max_str_digits``).
"""

from __future__ import annotations

import re
from typing import Any

#: Longer digit strings are read as a float (``inf`` past ~308 digits): no field holds them.
MAX_INT_DIGITS = 400

_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_int(text: str) -> int | float:
    """``json.loads``'s ``parse_int``: an int, or a float for absurdly long digit strings."""
    if len(text) > MAX_INT_DIGITS:
        return float(text)
    return int(text)


def refuse_constant(name: str) -> Any:
    """``json.loads``'s ``parse_constant``: NaN and the infinities are invalid JSON."""
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def go_string(value: str) -> str:
    """A string with each lone surrogate replaced by U+FFFD (as Go decodes them)."""
    if _SURROGATE.search(value) is None:
        return value
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def replace_surrogates(value: Any) -> Any:
    """``value`` (decoded JSON) with lone surrogates replaced in every string and key."""
    if isinstance(value, str):
        return go_string(value)
    if isinstance(value, list):
        return [replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {go_string(k): replace_surrogates(v) for k, v in value.items()}
    return value


def may_hold_surrogates(raw: bytes) -> bool:
    """Whether JSON text has a ``\\uD8xx``-``\\uDFxx`` escape (the only way to a surrogate)."""
    return re.search(rb"\\u[dD][89a-fA-F]", raw) is not None
