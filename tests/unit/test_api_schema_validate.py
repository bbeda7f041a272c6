"""Request bodies and query parameters checked against the v1.41 schema, as dockerd decodes them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockerscope.engine.api.replies import Response
from dockerscope.engine.api.request import Peer, Request, decode_json
from dockerscope.engine.api.router import Router
from dockerscope.engine.api.validate import check_body, check_query, go_type, load_schema
from dockerscope.engine.errors import InvalidArgument

SCHEMA = load_schema()


def body_of(method: str, path: str) -> dict[str, Any]:
    op = SCHEMA.operation(method, path)
    assert op is not None and op.body is not None
    return op.body


def create(value: Any) -> Any:
    return check_body(value, body_of("POST", "/containers/create"), SCHEMA.definitions)


@pytest.mark.parametrize(
    "body,message",
    [
        (
            {"Image": "busybox", "HostConfig": {"Memory": "1g"}},
            "json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64",
        ),
        (
            {"Hostname": 5},
            "json: cannot unmarshal number into Go struct field ContainerConfig.Hostname "
            "of type string",
        ),
        (
            {"Tty": "yes"},
            "json: cannot unmarshal string into Go struct field ContainerConfig.Tty of type bool",
        ),
        (
            {"Env": "A=1"},
            "json: cannot unmarshal string into Go struct field ContainerConfig.Env "
            "of type []string",
        ),
        (
            {"Env": ["A=1", 2]},
            "json: cannot unmarshal number into Go struct field ContainerConfig.Env of type string",
        ),
        (
            {"Labels": {"a": True}},
            "json: cannot unmarshal bool into Go struct field ContainerConfig.Labels "
            "of type string",
        ),
        (
            {"Labels": ["a=b"]},
            "json: cannot unmarshal array into Go struct field ContainerConfig.Labels "
            "of type map[string]string",
        ),
        (
            {"HostConfig": []},
            "json: cannot unmarshal array into Go struct field ContainerConfig.HostConfig "
            "of type HostConfig",
        ),
        (
            {"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 8080}]}}},
            "json: cannot unmarshal number into Go struct field PortBinding.HostPort "
            "of type string",
        ),
        (
            {"HostConfig": {"Mounts": [{"Type": "bind", "ReadOnly": "true"}]}},
            "json: cannot unmarshal string into Go struct field Mount.ReadOnly of type bool",
        ),
        (
            {"HostConfig": {"LogConfig": {"Config": {"max-size": 10}}}},
            "json: cannot unmarshal number into Go struct field HostConfig.LogConfig.Config "
            "of type string",
        ),
        (
            {"NetworkingConfig": {"EndpointsConfig": {"n": {"Aliases": "x"}}}},
            "json: cannot unmarshal string into Go struct field EndpointSettings.Aliases "
            "of type []string",
        ),
        (["busybox"], "json: cannot unmarshal array into Go value of type ContainerConfig"),
        ("busybox", "json: cannot unmarshal string into Go value of type ContainerConfig"),
    ],
)
def test_wrong_types_name_the_field_and_the_go_type(body: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        create(body)
    assert info.value.message == message


@pytest.mark.parametrize(
    "value,ok",
    [
        (2**63 - 1, True),
        (-(2**63), True),
        (2**63, False),
        (10**400, False),
        (1.0, False),  # Go reads no fraction (nor "1.0") into an integer
        (True, False),
    ],
)
def test_int64_range(value: Any, ok: bool) -> None:
    body = {"HostConfig": {"Memory": value}}
    if ok:
        assert create(body) == body
    else:
        with pytest.raises(InvalidArgument, match=r"HostConfig\.Memory of type int64"):
            create(body)


def test_huge_numbers_are_abbreviated_in_messages() -> None:
    with pytest.raises(InvalidArgument) as info:
        create({"HostConfig": {"Memory": 10**400}})
    assert len(info.value.message) < 160 and "401 digits" in info.value.message


@pytest.mark.parametrize(
    "fmt,low,high",
    [("uint16", 0, 65535), ("uint32", 0, 2**32 - 1), ("int32", -(2**31), 2**31 - 1)],
)
def test_int_ranges_follow_the_format(fmt: str, low: int, high: int) -> None:
    schema = {
        "type": "object",
        "x-name": "T",
        "properties": {"N": {"type": "integer", "format": fmt}},
    }
    for good in (low, high):
        assert check_body({"N": good}, schema, {}) == {"N": good}
    for bad in (low - 1, high + 1):
        with pytest.raises(
            InvalidArgument, match=f"number {bad} into Go struct field T.N of type {fmt}"
        ):
            check_body({"N": bad}, schema, {})


def test_numbers_must_be_finite() -> None:
    schema = {"type": "object", "x-name": "T", "properties": {"F": {"type": "number"}}}
    assert check_body({"F": 1}, schema, {}) == {"F": 1}
    with pytest.raises(InvalidArgument, match="of type float64"):
        check_body({"F": float("inf")}, schema, {})


def test_cmd_and_entrypoint_take_a_string_or_strings_as_dockerd_does() -> None:
    assert create({"Cmd": "ls -l", "Entrypoint": ""}) == {"Cmd": "ls -l", "Entrypoint": ""}
    assert create({"Cmd": ["ls", "-l"]}) == {"Cmd": ["ls", "-l"]}
    with pytest.raises(InvalidArgument, match="ContainerConfig.Cmd of type"):
        create({"Cmd": {"ls": 1}})


def test_null_means_unset_as_in_go() -> None:
    body = {
        "Image": "busybox",
        "Cmd": None,
        "HostConfig": {"PidsLimit": None, "Binds": ["/a:/a", None]},
        "Labels": {"a": None},
        "ExposedPorts": {"80/tcp": None},
        "NetworkingConfig": None,
    }
    assert create(body) == {
        "Image": "busybox",
        "HostConfig": {"Binds": ["/a:/a", ""]},
        "Labels": {"a": ""},
        "ExposedPorts": {"80/tcp": {}},
    }
    assert create(None) is None  # the handler says what an absent config means


def test_unknown_fields_are_kept_unchecked() -> None:
    body = {"Image": "busybox", "NoSuchField": [1, {"x": None}], "HostConfig": {"Future": 1}}
    assert create(body) == body


def test_lone_surrogates_and_bad_utf8_become_the_replacement_character() -> None:
    out = decode_json(b'{"Image": "busy\\ud800box", "Labels": {"k\\udfff": "v\xff"}}')
    assert out == {"Image": "busy\ufffdbox", "Labels": {"k\ufffd": "v\ufffd"}}
    json.dumps(out, ensure_ascii=False).encode()  # encodable now


@pytest.mark.parametrize("raw", [b"NaN", b'{"Memory": Infinity}', b"[-Infinity]"])
def test_nan_and_infinities_are_not_json(raw: bytes) -> None:
    with pytest.raises(InvalidArgument, match="malformed JSON in request body: invalid character"):
        decode_json(raw)


def test_huge_integers_are_numbers_too_large_not_python_errors() -> None:
    raw = b'{"HostConfig": {"Memory": ' + b"9" * 5000 + b"}}"
    with pytest.raises(InvalidArgument) as info:
        create(decode_json(raw))
    assert info.value.message == (
        "json: cannot unmarshal number inf into Go struct field HostConfig.Memory of type int64"
    )


def test_json_syntax_errors_say_where() -> None:
    with pytest.raises(InvalidArgument) as info:
        decode_json(b'{"Image": ')
    assert info.value.message == (
        "malformed JSON in request body: Expecting value (line 1 column 11)"
    )


def test_network_and_exec_bodies() -> None:
    net = body_of("POST", "/networks/create")
    ok = {"Name": "n", "IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "AuxiliaryAddresses": {}}]}}
    assert check_body(ok, net, SCHEMA.definitions) == ok
    with pytest.raises(InvalidArgument, match="NetworkCreateRequest.Internal of type bool"):
        check_body({"Name": "n", "Internal": "yes"}, net, SCHEMA.definitions)
    with pytest.raises(InvalidArgument, match="IPAM.Config.Subnet of type string"):
        check_body({"IPAM": {"Config": [{"Subnet": 1}]}}, net, SCHEMA.definitions)
    connect = body_of("POST", "/networks/{id}/connect")
    with pytest.raises(InvalidArgument, match="EndpointSettings.IPAMConfig of type"):
        check_body({"EndpointConfig": {"IPAMConfig": "x"}}, connect, SCHEMA.definitions)
    exec_ = body_of("POST", "/containers/{id}/exec")
    with pytest.raises(InvalidArgument, match="ExecConfig.Cmd of type string"):
        check_body({"Cmd": ["ls", None, 3]}, exec_, SCHEMA.definitions)
    start = body_of("POST", "/exec/{id}/start")
    with pytest.raises(InvalidArgument, match="ExecStartConfig.Detach of type bool"):
        check_body({"Detach": 1}, start, SCHEMA.definitions)


def test_go_type_names() -> None:
    defs = SCHEMA.definitions
    assert go_type({"type": "array", "items": {"$ref": "Mount"}}, defs) == "[]Mount"
    assert go_type({"type": "object", "additionalProperties": {"type": "integer"}}, defs) == (
        "map[string]int"
    )


@pytest.mark.parametrize(
    "value,ok",
    [
        ("10", True),
        ("-1", True),
        ("", True),
        ("abc", False),
        ("1.5", False),
        ("1_0", False),
        ("99999999999999999999", False),
        ("\u0661", False),
    ],
)
def test_integer_query_parameters(value: str, ok: bool) -> None:
    op = SCHEMA.operation("POST", "/containers/{id}/stop")
    assert op is not None
    if ok:
        check_query({"t": [value]}, op)
    else:
        with pytest.raises(InvalidArgument, match="invalid value for query parameter t"):
            check_query({"t": [value]}, op)


def test_nul_characters_are_refused_in_strings_keys_and_queries() -> None:
    with pytest.raises(InvalidArgument, match=r"ContainerConfig.Cmd: it holds a NUL"):
        create({"Cmd": ["sh", "a\x00b"]})
    with pytest.raises(InvalidArgument, match=r"ContainerConfig.Labels: it holds a NUL"):
        create({"Labels": {"k\x00": "v"}})
    op = SCHEMA.operation("GET", "/containers/{id}/top")
    assert op is not None
    with pytest.raises(InvalidArgument, match="query parameter ps_args: a NUL character"):
        check_query({"ps_args": ["-ef\x00"]}, op)
    check_query({"ps_args": ["-ef"]}, op)


def test_log_times_may_have_fractions() -> None:
    op = SCHEMA.operation("GET", "/containers/{id}/logs")
    assert op is not None
    check_query({"since": ["1700000000.000000000"], "until": ["0"]}, op)


# ---- the router hook -----------------------------------------------------------------------


def make_request(method: str, target: str, body: bytes = b"") -> Request:
    chunks = [body] if body else []

    async def source() -> bytes | None:
        return chunks.pop(0) if chunks else None

    return Request(method, target, [], Peer("unix"), source)


async def test_router_checks_before_the_handler_and_hands_on_the_normalised_body() -> None:
    router = Router()
    seen: list[Any] = []

    async def create_handler(req: Request) -> Response:
        seen.append(await req.json(required=True))
        return Response.json({"Id": "x"}, 201)

    async def stop_handler(req: Request, id: str) -> Response:
        seen.append(id)
        return Response.empty()

    router.add("POST", "/containers/create", create_handler)
    router.add("POST", "/containers/{id}/stop", stop_handler)

    bad = json.dumps({"Image": "busybox", "HostConfig": {"Memory": "1g"}}).encode()
    reply = await router.dispatch(make_request("POST", "/v1.41/containers/create", bad))
    assert isinstance(reply, Response) and reply.status == 400
    assert json.loads(reply.body) == {
        "message": "json: cannot unmarshal string into Go struct field HostConfig.Memory "
        "of type int64"
    }
    assert seen == []  # the handler never ran

    good = json.dumps({"Image": "busybox", "Cmd": None, "Tty": True}).encode()
    reply = await router.dispatch(make_request("POST", "/containers/create", good))
    assert isinstance(reply, Response) and reply.status == 201
    assert seen == [{"Image": "busybox", "Tty": True}]

    reply = await router.dispatch(make_request("POST", "/containers/create"))
    assert isinstance(reply, Response) and reply.status == 400
    assert b"request body is empty" in reply.body

    reply = await router.dispatch(make_request("POST", "/containers/abc/stop?t=soon"))
    assert isinstance(reply, Response) and reply.status == 400
    assert b"query parameter t" in reply.body
    reply = await router.dispatch(make_request("POST", "/containers/abc/stop?t=3"))
    assert isinstance(reply, Response) and reply.status == 204
    assert seen[-1] == "abc"
