"""Request bodies and typed query parameters checked against Docker's v1.41 schema.

The router applies this to every route before its handler runs, so handlers get values of the
types the Engine API promises. The schema (``schema_v1_41.json``) is generated from Docker's own
OpenAPI document by ``schema_gen``. The checks are those of dockerd's decoder, Go's
``encoding/json``: a value of the wrong JSON type, an integer that does not fit its Go type, or a
fraction where an integer belongs is a 400 naming the field (``json: cannot unmarshal string into
Go struct field HostConfig.Memory of type int64``). As in Go, unknown fields are ignored, ``null``
means "not set", and enums and bounds are left to the handlers.

Values are also normalised the way Go would read them, so handlers need not guard for these:
an object field that is ``null`` is dropped (Go leaves the field unset), and a ``null`` array
item or map value becomes its type's zero value. (Decoding itself, as Go decodes, is
``gojson``'s.)
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from dockerscope.engine.errors import InvalidArgument

SCHEMA_FILE = "schema_v1_41.json"

#: Integer formats of the document (and Go's types behind them): the values each can hold.
INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "int": (-(2**63), 2**63 - 1),  # no format: Go's int, 64 bits on the platforms we run on
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "uint": (0, 2**64 - 1),
}


@dataclass(frozen=True)
class Operation:
    """What one API operation takes: its typed query parameters and its JSON body's schema."""

    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class ApiSchema:
    """The generated schema: operations by ``"METHOD /path/{param}"`` and named definitions."""

    version: str
    operations: dict[str, Operation]
    definitions: dict[str, dict[str, Any]]

    def operation(self, method: str, pattern: str) -> Operation | None:
        """The operation for a route (``{name*}`` matches the document's ``{name}``)."""
        key = f"{method} {pattern.replace('*}', '}')}"
        return self.operations.get(key)


@cache
def load_schema() -> ApiSchema:
    """The schema shipped with the package (read once)."""
    raw = json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text())
    ops = {
        key: Operation(query=op.get("query", {}), body=op.get("body"))
        for key, op in raw["operations"].items()
    }
    return ApiSchema(raw["source"]["version"], ops, raw["definitions"])


def go_type(schema: dict[str, Any], defs: dict[str, dict[str, Any]]) -> str:
    """The Go type dockerd decodes a schema's value into, for messages (``[]string``)."""
    if "$ref" in schema:
        return str(schema["$ref"])
    kind = schema.get("type")
    if isinstance(kind, list):  # strslice: a string or an array of strings
        return "[]string"
    if kind == "integer":
        return str(schema.get("format", "int"))
    if kind == "number":
        return "float64"
    if kind == "boolean":
        return "bool"
    if kind == "string":
        return "string"
    if kind == "array":
        return "[]" + go_type(schema.get("items") or {}, defs)
    if kind == "object":
        extra = schema.get("additionalProperties")
        if "properties" not in schema and isinstance(extra, dict) and extra:
            return "map[string]" + go_type(extra, defs)
        return str(schema.get("x-name", "struct"))
    return "interface {}"


def json_kind(value: Any) -> str:
    """A decoded JSON value's kind as Go's messages name it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


class _Checker:
    """Walks one value against one schema; ``where`` is (Go type name, field path)."""

    def __init__(self, defs: dict[str, dict[str, Any]]) -> None:
        self.defs = defs

    def fail(
        self, value: Any, schema: dict[str, Any], where: tuple[str, str], extra: str = ""
    ) -> InvalidArgument:
        owner, path = where
        target = f"Go struct field {owner}.{path}" if path else f"Go value of type {owner}"
        kind = json_kind(value) + (f" {extra}" if extra else "")
        suffix = f" of type {go_type(schema, self.defs)}" if path else ""
        return InvalidArgument(f"json: cannot unmarshal {kind} into {target}{suffix}")

    def check(self, value: Any, schema: dict[str, Any], where: tuple[str, str]) -> Any:
        """``value`` checked and normalised, or an ``InvalidArgument`` naming the field."""
        if "$ref" in schema:
            name = schema["$ref"]
            target = self.defs.get(name)
            if target is None:
                return value
            # A named type's fields are named from it, as Go names them from the inner struct.
            return self._check_resolved(value, target, (name, ""), where, name)
        return self._check_resolved(value, schema, where, where, None)

    def _check_resolved(
        self,
        value: Any,
        schema: dict[str, Any],
        inner: tuple[str, str],
        outer: tuple[str, str],
        ref_name: str | None,
    ) -> Any:
        shown = {"$ref": ref_name} if ref_name else schema
        kind = schema.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if kind is None:
            return value  # interface{}: anything goes
        if isinstance(value, bool):
            if "boolean" in kinds:
                return value
            raise self.fail(value, shown, outer)
        if isinstance(value, int | float):
            if "integer" in kinds:
                fmt = str(schema.get("format", "int"))
                low, high = INT_RANGES.get(fmt, INT_RANGES["int64"])
                if isinstance(value, float) or not low <= value <= high:
                    raise self.fail(value, shown, outer, _number_text(value))
                return value
            if "number" in kinds:
                if isinstance(value, float) and not math.isfinite(value):
                    raise self.fail(value, shown, outer, _number_text(value))
                return value
            raise self.fail(value, shown, outer)
        if isinstance(value, str):
            if "string" in kinds:
                _no_nul(value, outer)
                return value
            raise self.fail(value, shown, outer)
        if isinstance(value, list):
            if "array" not in kinds:
                raise self.fail(value, shown, outer)
            items = schema.get("items") or {}
            return [self._item(v, items, outer) for v in value]
        if isinstance(value, dict):
            if "object" not in kinds:
                raise self.fail(value, shown, outer)
            return self._object(value, schema, inner)
        return value  # null at the top: left to the handler, as Go leaves the zero value

    def _object(
        self, value: dict[str, Any], schema: dict[str, Any], where: tuple[str, str]
    ) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out: dict[str, Any] = {}
        owner, path = where
        for key, item in value.items():
            if key in props:
                if item is None:
                    continue  # Go: a null field stays unset
                sub_path = f"{path}.{key}" if path else key
                out[key] = self.check(item, props[key], (owner, sub_path))
            elif isinstance(extra, dict) and extra and not props:
                # A map's values are named after the map, as Go names them (not the key).
                _no_nul(key, where)
                out[key] = self._item(item, extra, where)
            else:
                out[key] = item  # unknown fields are ignored by Go, kept for the handler
        return out

    def _item(self, value: Any, schema: dict[str, Any], where: tuple[str, str]) -> Any:
        if value is None:
            return self._zero(schema)
        return self.check(value, schema, where)

    def _zero(self, schema: dict[str, Any]) -> Any:
        """Go's zero value for a ``null`` array item or map value."""
        if "$ref" in schema:
            schema = self.defs.get(schema["$ref"], {})
        kind = schema.get("type")
        if isinstance(kind, list):
            return []
        return {
            "integer": 0,
            "number": 0,
            "boolean": False,
            "string": "",
            "array": [],
            "object": {},
        }.get(str(kind))


def _no_nul(text: str, where: tuple[str, str]) -> None:
    """Refuse a NUL character: no argument, path, name or environment entry can hold one, so
    it is refused here rather than by whatever system call meets it later (Go takes it)."""
    if "\x00" in text:
        owner, path = where
        raise InvalidArgument(
            f"invalid string in {owner}{'.' + path if path else ''}: it holds a NUL character"
        )


def _number_text(value: int | float) -> str:
    """A number as a short text for a message (huge integers abbreviated)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} digits)"


def check_body(value: Any, schema: dict[str, Any], defs: dict[str, dict[str, Any]]) -> Any:
    """A decoded request body checked against its schema: the normalised value, or a 400."""
    name = schema.get("$ref") or schema.get("x-name") or go_type(schema, defs)
    return _Checker(defs).check(value, schema, (str(name), ""))


def check_query(query: dict[str, list[str]], op: Operation) -> None:
    """The integer query parameters of ``op`` must hold integers in their type's range; no
    parameter may hold a NUL character."""
    for name, values in query.items():
        if any("\x00" in v for v in values):
            raise InvalidArgument(f"invalid value for query parameter {name}: a NUL character")
    for name, spec in op.query.items():
        if spec.get("type") != "integer":
            continue
        for raw in query.get(name, []):
            if raw == "":
                continue  # dockerd reads an empty value as "not given"
            fmt = str(spec.get("format", "int"))
            low, high = INT_RANGES.get(fmt, INT_RANGES["int64"])
            text = raw.strip()
            ok = re.fullmatch(r"[+-]?[0-9]{1,25}", text) is not None
            if not ok or not low <= int(text) <= high:
                shown = raw if len(raw) <= 40 else raw[:40] + "..."
                raise InvalidArgument(
                    f"invalid value for query parameter {name}: {json.dumps(shown)} "
                    f"(an integer of type {fmt} was expected)"
                )
