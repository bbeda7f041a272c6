"""TCP listening: TLS with client certificates required; plain TCP only on loopback if asked."""

from __future__ import annotations

import asyncio
import http.client
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockerscope.engine.daemon import Daemon, DaemonError, build_parser, serve, tls_context
from dockerscope.engine.paths import Lab
from tests.unit.test_api_server import FakeImages

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=dockerscope test CA",
        cwd=d,
    )
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}-key.pem",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=d,
        )
        extra = ["-extfile", "san.cnf"] if name == "server" else []
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "2",
            *extra,
            cwd=d,
        )
    return d


@pytest.fixture
async def daemon(tmp_path: Path, lab_name: str) -> AsyncIterator[Daemon]:
    lab = Lab.named(lab_name, tmp_path / "data", tmp_path / "run")
    d = Daemon(lab, images=FakeImages(), runtime=object(), use_network=False)
    try:
        yield d
    finally:
        for s in d.servers:
            s.close()
        await d.http.close_connections()


def port_of(d: Daemon) -> int:
    return int(d.servers[-1].sockets[0].getsockname()[1])


async def get(port: int, ctx: ssl.SSLContext | None) -> int:
    def go() -> int:
        if ctx is None:
            c: http.client.HTTPConnection = http.client.HTTPConnection(
                "127.0.0.1", port, timeout=10
            )
        else:
            c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
        try:
            c.request("GET", "/_ping")
            return c.getresponse().status
        finally:
            c.close()

    return await asyncio.get_running_loop().run_in_executor(None, go)


async def test_plain_tcp_is_refused_unless_insecure_on_loopback(daemon: Daemon) -> None:
    with pytest.raises(DaemonError, match="refusing plain TCP"):
        await daemon.listen_tcp("127.0.0.1:0", None, insecure=False)
    with pytest.raises(DaemonError, match="refusing --insecure-tcp on 0.0.0.0"):
        await daemon.listen_tcp("0.0.0.0:0", None, insecure=True)
    assert daemon.servers == []
    await daemon.listen_tcp("127.0.0.1:0", None, insecure=True)
    assert await get(port_of(daemon), None) == 200
    assert daemon.tap.calls[-1].transport == "tcp"


async def test_tls_requires_a_client_certificate(daemon: Daemon, certs: Path) -> None:
    server = tls_context(
        str(certs / "ca.pem"), str(certs / "server.pem"), str(certs / "server-key.pem")
    )
    assert server.verify_mode == ssl.CERT_REQUIRED
    await daemon.listen_tcp("127.0.0.1:0", server, insecure=False)
    port = port_of(daemon)

    with_cert = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with_cert.load_cert_chain(str(certs / "client.pem"), str(certs / "client-key.pem"))
    assert await get(port, with_cert) == 200

    without = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        await get(port, without)
    with pytest.raises((ConnectionError, OSError, http.client.HTTPException)):
        await get(port, None)  # plain HTTP to a TLS port


async def test_insecure_tcp_off_loopback_is_refused_before_anything_is_set_up(
    tmp_path: Path, lab_name: str
) -> None:
    args = build_parser().parse_args(
        [
            "--lab",
            lab_name,
            "--data-root",
            str(tmp_path / "data"),
            "--run-root",
            str(tmp_path / "run"),
            "--tcp",
            "0.0.0.0:23750",
            "--insecure-tcp",
            "--no-network",
        ]
    )
    with pytest.raises(DaemonError, match="loopback address only"):
        await serve(args)
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()
