"""TCP with TLS and client certificates (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), on loopback."""

from __future__ import annotations

import shutil
import socketserver
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from dockerscope.client.api import DockerClient
from dockerscope.client.transport import DockerHost
from tests.unit.test_client_fakeserver import Behaviour, FakeDocker, Handler

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    """A CA, a server cert for 127.0.0.1 and a client cert, named as docker expects."""
    d = tmp_path_factory.mktemp("certs")
    _openssl(
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
        "/CN=test-ca",
        cwd=d,
    )
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, extra in (("server", ["-extfile", "ext.cnf"]), ("client", [])):
        _openssl(
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
        _openssl(
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
    client = d / "client"
    client.mkdir()
    shutil.copy(d / "ca.pem", client / "ca.pem")
    shutil.copy(d / "client.pem", client / "cert.pem")
    shutil.copy(d / "client-key.pem", client / "key.pem")
    return d


class _TLSServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def tls_fake(certs: Path, tmp_path: Path):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs / "ca.pem"))
    ctx.load_cert_chain(str(certs / "server.pem"), str(certs / "server-key.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    fake = FakeDocker(socket_path="")
    handler = type("TLSHandler", (Handler,), {"fake": fake})
    server = _TLSServer(("127.0.0.1", 0), handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    fake.server = server
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield fake, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_tls_with_client_cert_and_verification(tls_fake, certs: Path) -> None:
    fake, port = tls_fake
    env = {
        "DOCKER_HOST": f"tcp://127.0.0.1:{port}",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(certs / "client"),
    }
    client = DockerClient(DockerHost.from_env(env))
    assert client.version()["ApiVersion"] == "1.41"
    assert fake.lines == ["GET /v1.41/version"]


def test_tls_hijacked_attach(tls_fake, certs: Path) -> None:
    import io

    from dockerscope.client.streams import StreamSink, pump

    fake, port = tls_fake
    fake.behaviour = Behaviour(stdout=b"over tls\n")
    host = DockerHost.parse(
        f"tcp://127.0.0.1:{port}", tls_verify=True, cert_path=str(certs / "client")
    )
    conn = DockerClient(host).attach("web")
    out = io.BytesIO()
    pump(conn, StreamSink(out, io.BytesIO()), tty=False)
    conn.close()
    assert out.getvalue() == b"over tls\n"


def test_server_refuses_a_client_without_cert(tls_fake, certs: Path, tmp_path: Path) -> None:
    _, port = tls_fake
    nocert = tmp_path / "nocert"
    nocert.mkdir()
    shutil.copy(certs / "ca.pem", nocert / "ca.pem")
    host = DockerHost.parse(f"tcp://127.0.0.1:{port}", tls_verify=True, cert_path=str(nocert))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        DockerClient(host).version()
