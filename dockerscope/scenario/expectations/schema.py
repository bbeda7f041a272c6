"""Checking an expectation's parameters for the loader: each failure is a ``ParamError`` naming
the field, so the loader can point at its line."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dockerscope.scenario.expectations.compare import parse_compare

#: What a diff says happened to an object.
DIFF_ACTIONS = ("added", "removed", "changed")
#: Every ``action`` a kind that selects objects accepts: a diff's, or a state in the after view.
ACTIONS = ("added", "removed", "changed", "present", "absent")


class ParamError(ValueError):
    """A bad expectation parameter; ``field`` is its dotted name below the expectation."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


class Schema:
    """Allowed keys of a dict-form expectation and how to check each value."""

    def __init__(self, **fields: Callable[[str, Any], None]) -> None:
        self.fields = fields

    def __call__(self, params: Any) -> None:
        if not isinstance(params, dict):
            raise ParamError("", f"expected a table like {{{', '.join(self.fields)}}}")
        for key, value in params.items():
            if key not in self.fields:
                allowed = ", ".join(self.fields)
                raise ParamError(key, f"unknown field (allowed: {allowed})")
            self.fields[key](key, value)


def string(key: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ParamError(key, f"expected a non-empty string, got {value!r}")


def regex(key: str, value: Any) -> None:
    string(key, value)
    try:
        re.compile(value)
    except re.error as e:
        raise ParamError(key, f"bad regular expression: {e}") from None


def boolean(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ParamError(key, f"expected true or false, got {value!r}")


def integer(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamError(key, f"expected an integer, got {value!r}")


def comparison(key: str, value: Any) -> None:
    if isinstance(value, list) and value:
        for v in value:
            comparison(key, v)
        return
    try:
        parse_compare(value)
    except ValueError as e:
        raise ParamError(key, str(e)) from None


def one_of(*choices: str) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if value not in choices:
            raise ParamError(key, f"must be one of {', '.join(choices)}; got {value!r}")

    return check


action = one_of(*ACTIONS)
