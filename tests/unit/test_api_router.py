"""Routing: version prefixes, unknown paths, and errors mapped to Docker's codes and texts."""

from __future__ import annotations

import json

import pytest

from dockerscope.engine.api.errors import ApiError, as_api_error
from dockerscope.engine.api.replies import Response
from dockerscope.engine.api.request import Peer, Request
from dockerscope.engine.api.router import Router, refused, split_version
from dockerscope.engine.errors import InvalidArgument


def make_request(method: str, target: str, body: bytes = b"") -> Request:
    chunks = [body] if body else []

    async def source() -> bytes | None:
        return chunks.pop(0) if chunks else None

    return Request(method, target, [], Peer("unix"), source)


@pytest.mark.parametrize(
    "path,version,rest",
    [
        ("/v1.41/containers/json", "1.41", "/containers/json"),
        ("/v1.24/_ping", "1.24", "/_ping"),
        ("/v1.47/info", "1.47", "/info"),
        ("/containers/json", None, "/containers/json"),
        ("/_ping", None, "/_ping"),
    ],
)
def test_version_prefixes(path: str, version: str | None, rest: str) -> None:
    assert split_version(path) == (version, rest)


def test_too_new_and_too_old_versions_are_400_with_dockers_words() -> None:
    with pytest.raises(InvalidArgument, match="client version 1.48 is too new"):
        split_version("/v1.48/info")
    with pytest.raises(InvalidArgument, match="client version 1.12 is too old"):
        split_version("/v1.12/info")


async def _dispatch(router: Router, method: str, target: str) -> Response:
    reply = await router.dispatch(make_request(method, target))
    assert isinstance(reply, Response)
    return reply


async def test_dispatch_passes_path_parameters_and_maps_errors() -> None:
    router = Router()
    seen = {}

    async def inspect(req: Request, id: str) -> Response:
        seen["id"] = id
        raise ApiError(f"No such container: {id}", 404)

    async def image(req: Request, name: str) -> Response:
        return Response.json({"name": name})

    router.add("GET", "/containers/{id}/json", inspect)
    router.add("GET", "/images/{name*}/json", image)
    reply = await _dispatch(router, "GET", "/v1.41/containers/nosuch/json")
    assert seen["id"] == "nosuch"
    assert reply.status == 404
    assert json.loads(reply.body) == {"message": "No such container: nosuch"}
    reply = await _dispatch(router, "GET", "/images/library/busybox:latest/json")
    assert json.loads(reply.body) == {"name": "library/busybox:latest"}


async def test_unknown_path_and_bad_version_answer_json_errors() -> None:
    router = Router()
    reply = await _dispatch(router, "GET", "/v1.41/nothing/here")
    assert (reply.status, json.loads(reply.body)) == (404, {"message": "page not found"})
    reply = await _dispatch(router, "GET", "/v1.99/info")
    assert reply.status == 400
    assert "too new" in json.loads(reply.body)["message"]


async def test_head_is_served_by_the_get_route() -> None:
    router = Router()

    async def ping(req: Request) -> Response:
        return Response(200, b"OK", "text/plain; charset=utf-8")

    router.add("GET", "/_ping", ping)
    assert (await _dispatch(router, "HEAD", "/_ping")).status == 200


async def test_unexpected_exceptions_become_500_not_crashes() -> None:
    router = Router()

    async def boom(req: Request) -> Response:
        raise RuntimeError("disk on fire")

    router.add("GET", "/boom", boom)
    reply = await _dispatch(router, "GET", "/boom")
    assert reply.status == 500
    assert json.loads(reply.body) == {"message": "disk on fire"}


def test_error_kinds_map_to_dockers_statuses() -> None:
    from dockerscope.engine.images.errors import ImageNotFound, UnsafeTar
    from dockerscope.engine.network.errors import NetworkInUse, PortAllocated, SubnetOverlap

    assert as_api_error(ImageNotFound("No such image: x:latest")).status == 404
    assert as_api_error(NetworkInUse("in use")).status == 409
    assert as_api_error(SubnetOverlap()).status == 400
    assert as_api_error(UnsafeTar("../x", "climbs out")).status == 400
    assert as_api_error(PortAllocated("port is already allocated")).status == 500
    assert as_api_error(ValueError("bad")).status == 400
    assert as_api_error(OSError("disk on fire")).status == 500


@pytest.mark.parametrize(
    "exc",
    [
        TypeError("'int' object is not iterable"),
        AttributeError("'str' object has no attribute 'get'"),
        KeyError("PortBindingsQ"),
        OverflowError("argument out of range"),
        RecursionError("maximum recursion depth exceeded"),
    ],
)
async def test_wrong_shaped_values_are_400s_without_python_text(exc: Exception) -> None:
    router = Router()

    async def handler(req: Request) -> Response:
        raise exc

    router.add("POST", "/x", handler)
    reply = await _dispatch(router, "POST", "/x")
    assert reply.status == 400
    message = json.loads(reply.body)["message"]
    assert str(exc).strip("'") not in message and "object" not in message
    assert "wrong type" in message


def test_error_body_is_compact_json_with_newline() -> None:
    assert ApiError("No such container: nosuch", 404).body() == (
        b'{"message":"No such container: nosuch"}\n'
    )


def test_unknown_paths_and_bad_versions_are_tapped() -> None:
    """The tap records a request the router cannot route (the dashboard shows the 404 too)."""
    r = Router()

    async def handler(req: Request) -> Response:
        return Response(200, b"")

    r.add("GET", "/dockerscope/traffic", handler, tapped=False)
    assert r.is_tapped(make_request("GET", "/nosuch")) is True
    assert r.is_tapped(make_request("GET", "/v9.99/info")) is True
    assert r.is_tapped(make_request("GET", "/dockerscope/traffic")) is False


async def test_a_refused_endpoint_is_a_400_naming_the_feature() -> None:
    router = Router()
    router.add("POST", "/build", refused("docker build"))
    router.add("POST", "/images/{name*}/push", refused("docker push (no registry)"))
    reply = await _dispatch(router, "POST", "/v1.41/build")
    assert (reply.status, json.loads(reply.body)) == (
        400,
        {"message": "not supported by dockerscope: docker build"},
    )
    reply = await _dispatch(router, "POST", "/images/a/b/push")
    assert json.loads(reply.body)["message"].endswith("docker push (no registry)")
