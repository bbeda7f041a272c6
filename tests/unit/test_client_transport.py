"""DOCKER_HOST parsing, request paths, errors and streams of the stdlib client's transport."""

from __future__ import annotations

import pytest

from dockerscope.client.transport import (
    APIError,
    DaemonUnreachable,
    DockerHost,
    DockerHostError,
    Transport,
    build_query,
    error_message,
    json_objects,
)
from tests.unit.test_client_fakeserver import FakeDocker, serving

fake_docker = pytest.fixture(serving)


@pytest.mark.parametrize(
    ("value", "scheme", "where", "port", "tls"),
    [
        (None, "unix", "/var/run/docker.sock", 0, False),
        ("", "unix", "/var/run/docker.sock", 0, False),
        (
            "unix:///run/dockerscope/lab/docker.sock",
            "unix",
            "/run/dockerscope/lab/docker.sock",
            0,
            False,
        ),
        ("/tmp/x.sock", "unix", "/tmp/x.sock", 0, False),
        ("tcp://127.0.0.1:2376", "tcp", "127.0.0.1", 2376, False),
        ("tcp://localhost", "tcp", "localhost", 2375, False),
        ("127.0.0.1:1234", "tcp", "127.0.0.1", 1234, False),
        ("tcp://[::1]:2375", "tcp", "::1", 2375, False),
        ("https://docker.example:443", "tcp", "docker.example", 443, True),
    ],
)
def test_docker_host_parse(value, scheme, where, port, tls) -> None:
    host = DockerHost.parse(value)
    assert host.scheme == scheme
    assert (host.path if scheme == "unix" else host.host) == where
    assert host.port == port
    assert host.tls == tls


def test_tls_verify_env_gives_tls_port_and_cert_path(tmp_path) -> None:
    env = {
        "DOCKER_HOST": "tcp://127.0.0.1",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(tmp_path),
    }
    host = DockerHost.from_env(env)
    assert (host.tls, host.tls_verify, host.port, host.cert_path) == (
        True,
        True,
        2376,
        str(tmp_path),
    )
    assert host.url == "tcp://127.0.0.1:2376"


def test_override_beats_environment() -> None:
    host = DockerHost.from_env({"DOCKER_HOST": "tcp://1.2.3.4:1"}, override="unix:///a.sock")
    assert host.url == "unix:///a.sock"


@pytest.mark.parametrize(
    "bad",
    [
        "ssh://me@box",
        "unix://relative.sock",
        "tcp://:99",
        "tcp://host:notaport",
        "npipe:////./pipe/docker_engine",
    ],
)
def test_bad_docker_host_is_a_clear_error(bad) -> None:
    with pytest.raises(DockerHostError):
        DockerHost.parse(bad)


def test_paths_carry_the_version_but_ping_does_not() -> None:
    t = Transport(DockerHost.parse("unix:///x"))
    assert t.path("/containers/json", {"all": True}) == "/v1.41/containers/json?all=1"
    assert t.path("/_ping") == "/_ping"
    assert build_query({"stdout": "1", "stderr": "1", "stream": "1", "x": None}) == (
        "?stderr=1&stdout=1&stream=1"
    )


def test_error_message_prefers_docker_json() -> None:
    assert error_message(404, b'{"message":"No such container: nosuch"}\n') == (
        "No such container: nosuch"
    )
    assert error_message(500, b"plain text") == "plain text"
    assert error_message(500, b"") == "HTTP 500"


def test_json_request_and_api_error(fake_docker: FakeDocker) -> None:
    t = Transport(DockerHost.parse("unix://" + fake_docker.socket_path))
    assert t.json("GET", "/version")["ApiVersion"] == "1.41"
    with pytest.raises(APIError) as err:
        t.json("GET", "/containers/nosuch/json")
    assert err.value.status == 404
    assert str(err.value) == "No such container: nosuch"
    assert fake_docker.lines == ["GET /v1.41/version", "GET /v1.41/containers/nosuch/json"]


def test_ping_negotiates_down_to_the_daemon_version(fake_docker: FakeDocker) -> None:
    t = Transport(DockerHost.parse("unix://" + fake_docker.socket_path), version="1.43")
    t.negotiate()
    assert t.version == "1.41"
    assert fake_docker.lines == ["HEAD /_ping"]


def test_json_objects_splits_objects_across_chunks(fake_docker: FakeDocker) -> None:
    t = Transport(DockerHost.parse("unix://" + fake_docker.socket_path))
    msgs = list(
        json_objects(t.stream("POST", "/images/create", {"fromImage": "busybox", "tag": "1"}))
    )
    assert [m.get("status") for m in msgs][-1] == "Status: Downloaded newer image for busybox:1"
    assert len(msgs) == 4


def test_missing_socket_says_daemon_not_running(tmp_path) -> None:
    t = Transport(DockerHost.parse(f"unix://{tmp_path}/none.sock"))
    with pytest.raises(DaemonUnreachable, match="Is the docker daemon running"):
        t.ping()
