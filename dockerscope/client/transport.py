"""HTTP/1.1 to a Docker API endpoint over a unix socket or TCP (optionally TLS), stdlib only.

``DockerHost`` says where the daemon is (parsed from ``DOCKER_HOST``, like the docker CLI);
``Transport`` sends requests there and turns Docker's ``{"message": ...}`` errors into
``APIError``. Every request path gets the API version prefix (``/v1.41``), except ``/_ping``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

API_VERSION = "1.41"
DEFAULT_UNIX_SOCKET = "/var/run/docker.sock"
USER_AGENT = "dockerscope-client/" + API_VERSION

# One request may wait as long as a container runs (wait, attach, logs -f): no read timeout,
# only a connect timeout.
CONNECT_TIMEOUT = 10.0


class DockerHostError(ValueError):
    """DOCKER_HOST (or -H) names something this client cannot reach."""


class APIError(Exception):
    """The daemon answered with an error: Docker's HTTP status and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message


class DaemonUnreachable(Exception):
    """Nothing answers at the host: no socket, refused, or permission denied."""


@dataclass(frozen=True)
class DockerHost:
    """Where the daemon listens: ``unix`` with a socket path, or ``tcp`` with host, port, TLS."""

    scheme: str  # "unix" or "tcp"
    path: str = ""  # unix socket path
    host: str = ""
    port: int = 0
    tls: bool = False
    tls_verify: bool = False
    cert_path: str = ""  # directory with ca.pem, cert.pem, key.pem

    @property
    def url(self) -> str:
        """The DOCKER_HOST form of this address."""
        if self.scheme == "unix":
            return "unix://" + self.path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    @classmethod
    def parse(
        cls,
        value: str | None,
        tls_verify: bool = False,
        tls: bool = False,
        cert_path: str = "",
    ) -> DockerHost:
        """Parse a DOCKER_HOST value: ``unix:///path``, ``tcp://host:port``, ``host:port``.

        An empty value means the default unix socket, as with the docker CLI.
        """
        if not value:
            return cls(scheme="unix", path=DEFAULT_UNIX_SOCKET)
        value = value.strip()
        if value.startswith("unix://"):
            path = value[len("unix://") :]
            if not path.startswith("/"):
                raise DockerHostError(
                    f"invalid unix socket address {value!r}: need an absolute path"
                )
            return cls(scheme="unix", path=path)
        if value.startswith("/"):
            return cls(scheme="unix", path=value)
        scheme, sep, rest = value.partition("://")
        if not sep:
            scheme, rest = "tcp", value
        if scheme not in ("tcp", "http", "https"):
            raise DockerHostError(
                f"unsupported DOCKER_HOST scheme {scheme!r} in {value!r}: use unix:// or tcp://"
            )
        rest = rest.rstrip("/")
        parsed = urllib.parse.urlsplit("//" + rest)
        try:
            port = parsed.port
        except ValueError as exc:
            raise DockerHostError(f"invalid port in {value!r}") from exc
        host = parsed.hostname or ""
        if not host:
            raise DockerHostError(f"no host in {value!r}")
        use_tls = tls or tls_verify or scheme == "https"
        if port is None:
            port = 2376 if use_tls else 2375
        if use_tls and not cert_path:
            cert_path = os.path.join(os.path.expanduser("~"), ".docker")
        return cls(
            scheme="tcp",
            host=host,
            port=port,
            tls=use_tls,
            tls_verify=tls_verify,
            cert_path=cert_path if use_tls else "",
        )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, override: str | None = None
    ) -> DockerHost:
        """The host the docker CLI would use: ``override`` (-H) else DOCKER_HOST, with
        DOCKER_TLS_VERIFY and DOCKER_CERT_PATH."""
        env = os.environ if env is None else env
        verify = env.get("DOCKER_TLS_VERIFY", "") not in ("", "0", "false")
        return cls.parse(
            override or env.get("DOCKER_HOST"),
            tls_verify=verify,
            cert_path=env.get("DOCKER_CERT_PATH", ""),
        )

    def ssl_context(self) -> ssl.SSLContext:
        """Client-side TLS: our cert and key, and the CA when verifying (as docker --tlsverify)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ca = os.path.join(self.cert_path, "ca.pem")
        cert = os.path.join(self.cert_path, "cert.pem")
        key = os.path.join(self.cert_path, "key.pem")
        if self.tls_verify:
            ctx.load_verify_locations(ca)
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if os.path.exists(cert) and os.path.exists(key):
            ctx.load_cert_chain(cert, key)
        return ctx


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX stream socket (the Host header says 'localhost').

    ``timeout`` bounds every read (None: wait as long as it takes); connecting waits at most
    ``CONNECT_TIMEOUT``, or ``timeout`` when that is shorter.
    """

    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        limit = CONNECT_TIMEOUT if self.timeout is None else min(self.timeout, CONNECT_TIMEOUT)
        sock.settimeout(limit)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        sock.settimeout(self.timeout)
        self.sock = sock


def open_connection(host: DockerHost, timeout: float | None = None) -> http.client.HTTPConnection:
    """A fresh, unconnected HTTP connection to the daemon (no read timeout unless given)."""
    if host.scheme == "unix":
        return UnixHTTPConnection(host.path, timeout=timeout)
    if host.tls:
        return http.client.HTTPSConnection(
            host.host, host.port, timeout=timeout, context=host.ssl_context()
        )
    return http.client.HTTPConnection(host.host, host.port, timeout=timeout)


def connect_socket(host: DockerHost) -> socket.socket:
    """A connected raw socket to the daemon (TLS-wrapped for tcp+tls), for hijacked streams."""
    if host.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(host.path)
        except OSError:
            sock.close()
            raise
        sock.settimeout(None)
        return sock
    raw = socket.create_connection((host.host, host.port), timeout=CONNECT_TIMEOUT)
    raw.settimeout(None)
    if host.tls:
        return host.ssl_context().wrap_socket(raw, server_hostname=host.host)
    return raw


def build_query(params: Mapping[str, Any] | None) -> str:
    """``?a=1&b=x`` from a dict, sorted like Go's url.Values; None values are left out and
    booleans become 1/0 (Docker's form)."""
    if not params:
        return ""
    items = []
    for key in sorted(params):
        value = params[key]
        if value is None:
            continue
        if isinstance(value, bool):
            value = "1" if value else "0"
        items.append((key, str(value)))
    return "?" + urllib.parse.urlencode(items) if items else ""


def error_message(status: int, body: bytes) -> str:
    """Docker's error text from a response body (``{"message": ...}``), or the raw body."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"]
    return text or f"HTTP {status}"


class Transport:
    """Sends requests to one Docker daemon; a new connection per request (like short CLI calls).

    ``version=""`` sends unversioned paths, which every daemon serves at its own API version
    (the observer's hints use that: a real Docker may refuse 1.41 as too old). ``timeout``
    bounds each read; None (the client's default) waits as long as a container runs.
    """

    def __init__(
        self, host: DockerHost, version: str = API_VERSION, timeout: float | None = None
    ) -> None:
        self.host = host
        self.version = version
        self.timeout = timeout

    def path(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """The versioned request path for an API path like ``/containers/json``."""
        prefix = "" if path == "/_ping" or not self.version else f"/v{self.version}"
        return prefix + path + build_query(params)

    def connection(self) -> http.client.HTTPConnection:
        """A fresh connection to the daemon, with this transport's read timeout."""
        return open_connection(self.host, self.timeout)

    def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send a request and return the open connection and response (status not checked).

        ``body`` may be bytes, a file-like object (streamed), or anything JSON-serialisable.
        """
        hdrs = {"User-Agent": USER_AGENT}
        data: Any = None
        if body is not None:
            if isinstance(body, bytes | bytearray):
                data = bytes(body)
            elif hasattr(body, "read"):
                data = body
                hdrs["Transfer-Encoding"] = "chunked"
            else:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        conn = self.connection()
        try:
            conn.request(
                method,
                self.path(path, params),
                body=data,
                headers=hdrs,
                encode_chunked=hdrs.get("Transfer-Encoding") == "chunked",
            )
            resp = conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as exc:
            conn.close()
            raise DaemonUnreachable(self.unreachable_text(exc)) from exc
        except BaseException:
            conn.close()
            raise
        return conn, resp

    def unreachable_text(self, exc: OSError) -> str:
        """The docker CLI's wording for a daemon that is not there."""
        if isinstance(exc, PermissionError):
            return (
                "Got permission denied while trying to connect to the Docker daemon socket at "
                f"{self.host.url}: {exc.strerror}"
            )
        return (
            f"Cannot connect to the Docker daemon at {self.host.url}. Is the docker daemon running?"
        )

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send a request and read the whole answer; raise APIError on 4xx/5xx."""
        conn, resp = self.send(method, path, params, body, headers)
        try:
            data = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            raise APIError(resp.status, error_message(resp.status, data))
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def json(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """Send a request and decode its JSON answer (None for an empty body)."""
        _, _, data = self.request(method, path, params, body)
        if not data.strip():
            return None
        return json.loads(data)

    def stream(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[bytes]:
        """Yield the body of a streaming answer in pieces as they arrive (logs -f, pull)."""
        conn, resp = self.send(method, path, params, body, headers)
        try:
            if resp.status >= 400:
                raise APIError(resp.status, error_message(resp.status, resp.read()))
            while True:
                piece = resp.read1(65536)
                if not piece:
                    return
                yield piece
        finally:
            conn.close()

    def ping(self) -> dict[str, str]:
        """``HEAD /_ping`` like the CLI before each command; returns the answer's headers."""
        _, headers, _ = self.request("HEAD", "/_ping")
        return headers

    def negotiate(self) -> None:
        """Ping and lower our API version to the daemon's when it is older (as the CLI does)."""
        try:
            headers = self.ping()
        except APIError:
            return
        theirs = headers.get("api-version", "")
        if theirs and _version_tuple(theirs) < _version_tuple(self.version):
            self.version = theirs


def json_objects(pieces: Iterable[bytes]) -> Iterator[Any]:
    """Each JSON object of a JSON-lines (or concatenated JSON) stream, as its pieces arrive
    (events, pull, load): ``json_objects(transport.stream(...))``."""
    decoder = json.JSONDecoder()
    buf = ""
    for piece in pieces:
        buf += piece.decode("utf-8", "replace")
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                obj, end = decoder.raw_decode(buf)
            except ValueError:
                break  # incomplete: wait for more
            yield obj
            buf = buf[end:]


def unix_transport(path: str, timeout: float | None = None) -> Transport:
    """Unversioned requests to a Docker-compatible socket at ``path``: for dockerscope's own
    tools (lab control, the observer's hints, the traffic tap), not for docker commands."""
    return Transport(DockerHost(scheme="unix", path=path), version="", timeout=timeout)


def answers_ping(transport: Transport) -> bool:
    """True when the daemon answers ``HEAD /_ping`` with 200; any failure to reach it, or an
    answer that is not HTTP, is False."""
    try:
        conn, resp = transport.send("HEAD", "/_ping")
    except (OSError, http.client.HTTPException, DaemonUnreachable):
        return False
    try:
        return resp.status == 200
    finally:
        conn.close()


def _version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in v.split("."))
    except ValueError:
        return (0,)
