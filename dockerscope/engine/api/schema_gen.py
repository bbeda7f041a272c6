"""Build ``schema_v1_41.json`` from Docker's own v1.41 OpenAPI (Swagger 2.0) document.

``python -m dockerscope.engine.api.schema_gen [swagger.yaml] [out.json]`` reads the vendored
``tests/data/docker-api/swagger-v1.41.yaml`` and writes the compact JSON the request validator
(``engine/api/validate.py``) ships with: for every operation its typed query parameters and its
JSON body schema, plus the definitions those bodies reach. Descriptions, examples, enums and
bounds are dropped: Docker's decoder (Go's ``encoding/json``) checks types only.

Needs PyYAML (the ``test`` extra); the daemon never imports this module.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

#: What the validator reads of a schema; everything else in the document is prose.
KEPT_KEYS = ("type", "format", "properties", "items", "additionalProperties", "$ref")

#: Names for inline body schemas in error messages (dockerd's Go type names where it has one).
BODY_NAMES = {
    "POST /containers/create": "ContainerConfig",
    "POST /containers/{id}/update": "UpdateConfig",
    "POST /containers/{id}/exec": "ExecConfig",
    "POST /exec/{id}/start": "ExecStartConfig",
    "POST /networks/create": "NetworkCreateRequest",
    "POST /networks/{id}/connect": "NetworkConnect",
    "POST /networks/{id}/disconnect": "NetworkDisconnect",
    "POST /volumes/create": "VolumeCreateBody",
}

_STRSLICE = {"type": ["string", "array"], "items": {"type": "string"}}

#: Where the document's types differ from the Go types dockerd decodes into (the truth for
#: what it accepts): (definition, property) -> the Go type's schema.
DEFINITION_FIXES: dict[tuple[str, str], dict[str, Any]] = {
    # strslice.StrSlice: a string or an array of strings (`"Entrypoint": ""` is common).
    ("ContainerConfig", "Cmd"): _STRSLICE,
    ("ContainerConfig", "Entrypoint"): _STRSLICE,
    ("ContainerConfig", "Shell"): _STRSLICE,
    # network.IPAMConfig: the document says "map of strings", but AuxiliaryAddresses is a map.
    ("IPAM", "Config"): {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "Subnet": {"type": "string"},
                "IPRange": {"type": "string"},
                "Gateway": {"type": "string"},
                "AuxiliaryAddresses": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
            },
        },
    },
    # HostConfig.ConsoleSize is [2]uint.
    ("HostConfig", "ConsoleSize"): {
        "type": "array",
        "items": {"type": "integer", "format": "uint"},
    },
}

#: Query parameters dockerd parses otherwise than the document's type says:
#: (operation, parameter) -> type. Log times are timestamps with fractions
#: (`docker logs --since 5m` sends "1700000000.000000000").
QUERY_FIXES = {
    ("GET /containers/{id}/logs", "since"): "string",
    ("GET /containers/{id}/logs", "until"): "string",
}


def _strip(schema: Any, defs: dict[str, Any]) -> Any:
    """A schema reduced to the keys the validator reads (recursively); ``defs`` resolves the
    ``$ref`` parts of an ``allOf``."""
    if not isinstance(schema, dict):
        return schema
    if "allOf" in schema:
        return _flatten(schema["allOf"], defs)
    out: dict[str, Any] = {}
    for key in KEPT_KEYS:
        if key not in schema:
            continue
        value = schema[key]
        if key == "properties":
            out[key] = {name: _strip(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _strip(value, defs) if isinstance(value, dict) else value
        elif key == "$ref":
            out[key] = value.rsplit("/", 1)[-1]
        else:
            out[key] = value
    return out


def _flatten(parts: list[Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``allOf`` as one object: the parts' properties merged (Go's embedded structs)."""
    merged: dict[str, Any] = {"type": "object", "properties": {}}
    for part in parts:
        if "$ref" in part:
            stripped = _definition(part["$ref"].rsplit("/", 1)[-1], defs)
        else:
            stripped = _strip(part, defs)
        merged["properties"].update(stripped.get("properties", {}))
    return merged


def _definition(name: str, defs: dict[str, Any]) -> dict[str, Any]:
    """One named definition, stripped, with the Go types' fixes applied."""
    schema: dict[str, Any] = _strip(defs[name], defs)
    for (owner, prop), fix in DEFINITION_FIXES.items():
        if owner == name:
            schema.setdefault("properties", {})[prop] = fix
    return schema


def _refs(schema: Any, found: set[str]) -> None:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref not in found:
            found.add(ref)
        for value in schema.values():
            _refs(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _refs(value, found)


def _json_body(param: dict[str, Any]) -> bool:
    """Whether a body parameter is JSON (not a tar stream or a plain string)."""
    schema = param.get("schema", {})
    return schema.get("type") != "string"


def build(doc: dict[str, Any], source_sha256: str = "") -> dict[str, Any]:
    """The compact validator schema for one parsed Swagger document."""
    defs = doc["definitions"]
    operations: dict[str, Any] = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            key = f"{method.upper()} {path}"
            query: dict[str, Any] = {}
            body = None
            for param in op.get("parameters", []):
                if param["in"] == "query":
                    spec = {k: param[k] for k in ("type", "format") if k in param}
                    fixed = QUERY_FIXES.get((key, param["name"]))
                    if fixed:
                        spec = {"type": fixed}
                    query[param["name"]] = spec
                elif param["in"] == "body" and _json_body(param):
                    body = _strip(param["schema"], defs)
                    if "$ref" not in body:
                        body["x-name"] = BODY_NAMES.get(key, op.get("operationId", "") + "Body")
            entry: dict[str, Any] = {}
            if query:
                entry["query"] = query
            if body is not None:
                entry["body"] = body
            operations[key] = entry  # present even when empty: the route is in the API
    # Definitions reached from the bodies, each flattened and fixed.
    reached: set[str] = set()
    _refs(operations, reached)
    definitions: dict[str, Any] = {}
    pending = sorted(reached)
    while pending:
        name = pending.pop()
        if name in definitions:
            continue
        schema = _definition(name, defs)
        definitions[name] = schema
        more: set[str] = set()
        _refs(schema, more)
        pending.extend(sorted(more - set(definitions)))
    return {
        "source": {
            "title": doc["info"]["title"],
            "version": doc["info"]["version"],
            "sha256": source_sha256,
            "license": "Apache-2.0: derived from Docker's api/swagger.yaml, (c) Docker, Inc.",
        },
        "operations": dict(sorted(operations.items())),
        "definitions": dict(sorted(definitions.items())),
    }


def render(yaml_path: Path) -> str:
    """The JSON text generated from the YAML file (what ``schema_v1_41.json`` must hold)."""
    import yaml  # test/dev dependency only

    raw = yaml_path.read_bytes()
    doc = yaml.safe_load(raw)
    data = build(doc, hashlib.sha256(raw).hexdigest())
    # One operation or definition per line: compact, yet a diff shows what changed.
    lines = ["{"]
    lines.append(f'"source":{json.dumps(data["source"], separators=(",", ":"))},')
    for section in ("operations", "definitions"):
        lines.append(f'"{section}":{{')
        items = list(data[section].items())
        for i, (name, value) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f"{json.dumps(name)}:{json.dumps(value, separators=(',', ':'))}{comma}")
        lines.append("}," if section == "operations" else "}")
    lines.append("}")
    return "\n".join(lines) + "\n"


REPO = Path(__file__).resolve().parents[3]
DEFAULT_YAML = REPO / "tests" / "data" / "docker-api" / "swagger-v1.41.yaml"
DEFAULT_OUT = Path(__file__).with_name("schema_v1_41.json")


def main(argv: list[str] | None = None) -> int:
    """Write the schema JSON (``schema_gen [yaml] [out]``)."""
    args = sys.argv[1:] if argv is None else argv
    src = Path(args[0]) if args else DEFAULT_YAML
    out = Path(args[1]) if len(args) > 1 else DEFAULT_OUT
    out.write_text(render(src))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
