"""The shipped validator schema is what the generator makes of Docker's vendored v1.41 document."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from dockerscope.engine.api import schema_gen
from dockerscope.engine.api.router import Router
from dockerscope.engine.api.routes_containers import ContainerRoutes
from dockerscope.engine.api.routes_images import ImageRoutes
from dockerscope.engine.api.routes_networks import NetworkRoutes
from dockerscope.engine.api.routes_system import SystemRoutes
from dockerscope.engine.api.validate import SCHEMA_FILE, load_schema

YAML = Path(__file__).resolve().parents[1] / "data" / "docker-api" / "swagger-v1.41.yaml"
SHIPPED = Path(schema_gen.__file__).with_name(SCHEMA_FILE)


def test_vendored_document_is_dockers_v1_41() -> None:
    doc = yaml.safe_load(YAML.read_bytes())
    assert doc["swagger"] == "2.0"
    assert doc["info"]["version"] == "1.41"
    assert doc["basePath"] == "/v1.41"
    assert (
        (YAML.parent / "LICENSE")
        .read_text()
        .startswith("\n                                 Apache License")
    )


def test_shipped_json_is_what_the_generator_makes() -> None:
    assert SHIPPED.read_text() == schema_gen.render(YAML), (
        "regenerate: python -m dockerscope.engine.api.schema_gen"
    )
    assert load_schema().version == "1.41"
    raw = YAML.read_bytes()
    assert hashlib.sha256(raw).hexdigest() in SHIPPED.read_text()


def test_go_type_fixes_are_applied() -> None:
    defs = load_schema().definitions
    # strslice.StrSlice and network.IPAMConfig, where the document's types are not dockerd's.
    assert defs["ContainerConfig"]["properties"]["Entrypoint"]["type"] == ["string", "array"]
    aux = defs["IPAM"]["properties"]["Config"]["items"]["properties"]["AuxiliaryAddresses"]
    assert aux["additionalProperties"] == {"type": "string"}
    create = load_schema().operation("POST", "/containers/create")
    assert create is not None and create.body is not None
    # The create body is ContainerConfig's fields plus HostConfig and NetworkingConfig.
    props = create.body["properties"]
    assert props["Cmd"]["type"] == ["string", "array"]
    assert props["HostConfig"] == {"$ref": "HostConfig"}
    assert defs["HostConfig"]["properties"]["Memory"] == {"type": "integer", "format": "int64"}


def _served() -> Router:
    router = Router()
    for routes in (ContainerRoutes, ImageRoutes, NetworkRoutes, SystemRoutes):
        routes(None).register(router)
    return router


def test_every_served_route_is_an_operation_of_the_document() -> None:
    missing = [
        f"{r.method} {r.pattern.pattern}"
        for r in _served().routes
        if r.operation is None and "dockerscope" not in r.pattern.pattern
    ]
    assert missing == []


def test_routes_with_a_json_body_are_checked() -> None:
    with_body = {
        (r.method, r.pattern.pattern)
        for r in _served().routes
        if r.operation is not None and r.operation.body is not None
    }
    assert {m + " " + p.strip("^$").split("(")[0] for m, p in with_body} >= {
        "POST /containers/create",
        "POST /containers/",  # exec, update
        "POST /exec/",  # exec start
        "POST /networks/create",
        "POST /networks/",  # connect, disconnect
        "POST /commit",
        "POST /auth",
    }
    assert len(with_body) == 10
    # Tar and binary bodies are streamed to their handlers, never read as JSON.
    for method, path in (("POST", "/images/load"), ("POST", "/images/create")):
        op = load_schema().operation(method, path)
        assert op is not None and op.body is None
