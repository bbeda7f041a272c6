"""``DockerClient``: the Docker Engine API calls the commands (and scenarios) use, stdlib only.

Each method is one request (or one stream), named after what it does; answers are Docker's
JSON as plain dicts and lists. Errors are ``APIError`` with Docker's status and message.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from .streams import HijackedStream, hijack
from .transport import API_VERSION, APIError, DockerHost, Transport, error_message, json_objects


def filters_param(filters: Mapping[str, list[str]] | None) -> str | None:
    """Docker's ``filters`` query value: {"name": {"web": true}}."""
    if not filters:
        return None
    return json.dumps({k: {v: True for v in vals} for k, vals in filters.items()})


class Waiter:
    """A ``POST /containers/{id}/wait`` sent now and answered when the container exits.

    Sent before ``start`` (as the docker CLI does) so a quick exit is not missed; the answer is
    read in a thread because the request stays open as long as the container runs.
    """

    def __init__(self, transport: Transport, ident: str, condition: str) -> None:
        self._conn = transport.connection()
        self._conn.request(
            "POST",
            transport.path(f"/containers/{ident}/wait", {"condition": condition}),
            headers={"User-Agent": "dockerscope-client"},
        )
        self._answered = threading.Event()
        self._headers = threading.Event()
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, daemon=True, name="docker-wait")
        self._thread.start()

    def _read(self) -> None:
        try:
            resp = self._conn.getresponse()
            self._headers.set()
            data = resp.read()
            if resp.status >= 400:
                raise APIError(resp.status, error_message(resp.status, data))
            self.result = json.loads(data) if data.strip() else {}
        except BaseException as exc:  # handed to the caller of status()
            self.error = exc
        finally:
            self._headers.set()
            self._answered.set()
            self._conn.close()

    def abandon(self) -> None:
        """Stop waiting (close the request's connection); the answer is not needed."""
        with contextlib.suppress(OSError):
            sock = self._conn.sock
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        self._answered.wait(1.0)

    def registered(self, timeout: float = 2.0) -> bool:
        """Wait briefly for the response headers, which Docker sends once the wait is set up."""
        return self._headers.wait(timeout)

    def status(self, timeout: float | None = None) -> int:
        """The container's exit code (raises the request's error, if any)."""
        self._answered.wait(timeout)
        if self.error is not None:
            raise self.error
        result = self.result or {}
        err = result.get("Error")
        if err and err.get("Message"):
            raise APIError(500, err["Message"])
        return int(result.get("StatusCode", 0))


class DockerClient:
    """The Docker Engine API (v1.41) over one ``DockerHost``."""

    def __init__(self, host: DockerHost | str | None = None, version: str = API_VERSION) -> None:
        if not isinstance(host, DockerHost):
            host = DockerHost.from_env(override=host)
        self.host = host
        self.api = Transport(host, version)

    @classmethod
    def from_env(cls) -> DockerClient:
        """A client for DOCKER_HOST (default unix:///var/run/docker.sock)."""
        return cls(DockerHost.from_env())

    # -- system
    def ping(self) -> dict[str, str]:
        return self.api.ping()

    def negotiate(self) -> None:
        self.api.negotiate()

    def version(self) -> dict[str, Any]:
        return self.api.json("GET", "/version")

    def info(self) -> dict[str, Any]:
        return self.api.json("GET", "/info")

    def events(
        self, since: str | None = None, until: str | None = None, filters: Any = None
    ) -> Iterator[dict[str, Any]]:
        params = {"since": since, "until": until, "filters": filters_param(filters)}
        return json_objects(self.api.stream("GET", "/events", params))

    # -- containers
    def containers(
        self, all: bool = False, filters: Mapping[str, list[str]] | None = None, limit: int = 0
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"filters": filters_param(filters)}
        if all:
            params["all"] = "1"
        if limit:
            params["limit"] = limit
        return self.api.json("GET", "/containers/json", params) or []

    def create_container(
        self, config: Mapping[str, Any], name: str | None = None
    ) -> dict[str, Any]:
        return self.api.json("POST", "/containers/create", {"name": name}, dict(config))

    def inspect_container(self, ident: str) -> dict[str, Any]:
        return self.api.json("GET", f"/containers/{ident}/json")

    def start(self, ident: str) -> None:
        self.api.request("POST", f"/containers/{ident}/start")

    def stop(self, ident: str, timeout: int | None = None) -> None:
        self.api.request("POST", f"/containers/{ident}/stop", {"t": timeout})

    def restart(self, ident: str, timeout: int | None = None) -> None:
        self.api.request("POST", f"/containers/{ident}/restart", {"t": timeout})

    def kill(self, ident: str, signal: str | None = None) -> None:
        self.api.request("POST", f"/containers/{ident}/kill", {"signal": signal})

    def remove(self, ident: str, force: bool = False, volumes: bool = False) -> None:
        params = {"force": "1" if force else None, "v": "1" if volumes else None}
        self.api.request("DELETE", f"/containers/{ident}", params)

    def rename(self, ident: str, name: str) -> None:
        self.api.request("POST", f"/containers/{ident}/rename", {"name": name})

    def wait(self, ident: str, condition: str | None = None) -> int:
        answer = self.api.json("POST", f"/containers/{ident}/wait", {"condition": condition})
        return int((answer or {}).get("StatusCode", 0))

    def start_wait(self, ident: str, condition: str = "next-exit") -> Waiter:
        """Send a wait request that is answered later (see ``Waiter``)."""
        return Waiter(self.api, ident, condition)

    def top(self, ident: str, ps_args: str | None = None) -> dict[str, Any]:
        return self.api.json("GET", f"/containers/{ident}/top", {"ps_args": ps_args})

    def changes(self, ident: str) -> list[dict[str, Any]]:
        return self.api.json("GET", f"/containers/{ident}/changes") or []

    def resize(self, ident: str, rows: int, cols: int) -> None:
        self.api.request("POST", f"/containers/{ident}/resize", {"h": rows, "w": cols})

    def logs(
        self,
        ident: str,
        follow: bool = False,
        tail: str = "all",
        timestamps: bool = False,
        since: str | None = None,
    ) -> Iterator[bytes]:
        """Raw log stream (multiplexed unless the container has a tty)."""
        params = {
            "stdout": "1",
            "stderr": "1",
            "follow": "1" if follow else None,
            "tail": tail,
            "timestamps": "1" if timestamps else None,
            "since": since,
        }
        return self.api.stream("GET", f"/containers/{ident}/logs", params)

    def attach(
        self,
        ident: str,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        logs: bool = False,
    ) -> HijackedStream:
        """Hijack the connection: the container's streams, raw (tty) or framed."""
        params = {
            "stream": "1",
            "stdin": "1" if stdin else None,
            "stdout": "1" if stdout else None,
            "stderr": "1" if stderr else None,
            "logs": "1" if logs else None,
        }
        return hijack(self.host, "POST", self.api.path(f"/containers/{ident}/attach", params))

    def commit(
        self,
        ident: str,
        repo: str | None = None,
        tag: str | None = None,
        message: str | None = None,
        author: str | None = None,
        pause: bool = True,
    ) -> dict[str, Any]:
        params = {
            "container": ident,
            "repo": repo,
            "tag": tag,
            "comment": message,
            "author": author,
            "pause": "1" if pause else "0",
        }
        return self.api.json("POST", "/commit", params, {})

    # -- exec
    def exec_create(self, ident: str, config: Mapping[str, Any]) -> str:
        answer = self.api.json("POST", f"/containers/{ident}/exec", None, dict(config))
        return str(answer["Id"])

    def exec_start(self, exec_id: str, tty: bool = False) -> HijackedStream:
        path = self.api.path(f"/exec/{exec_id}/start")
        return hijack(self.host, "POST", path, {"Detach": False, "Tty": tty})

    def exec_start_detached(self, exec_id: str, tty: bool = False) -> None:
        self.api.request("POST", f"/exec/{exec_id}/start", None, {"Detach": True, "Tty": tty})

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return self.api.json("GET", f"/exec/{exec_id}/json")

    def exec_resize(self, exec_id: str, rows: int, cols: int) -> None:
        self.api.request("POST", f"/exec/{exec_id}/resize", {"h": rows, "w": cols})

    # -- images
    def images(self, all: bool = False, filters: Any = None) -> list[dict[str, Any]]:
        params = {"all": "1" if all else None, "filters": filters_param(filters)}
        return self.api.json("GET", "/images/json", params) or []

    def inspect_image(self, name: str) -> dict[str, Any]:
        return self.api.json("GET", f"/images/{name}/json")

    def history(self, name: str) -> list[dict[str, Any]]:
        return self.api.json("GET", f"/images/{name}/history") or []

    def remove_image(self, name: str, force: bool = False) -> list[dict[str, Any]]:
        params = {"force": "1" if force else None}
        return self.api.json("DELETE", f"/images/{name}", params) or []

    def tag(self, name: str, repo: str, tag: str | None) -> None:
        self.api.request("POST", f"/images/{name}/tag", {"repo": repo, "tag": tag})

    def pull(self, image: str, tag: str) -> Iterator[dict[str, Any]]:
        """Progress messages of ``POST /images/create?fromImage=...`` (raises on an error one)."""
        params = {"fromImage": image, "tag": tag}
        for msg in json_objects(self.api.stream("POST", "/images/create", params)):
            if msg.get("error") or msg.get("errorDetail"):
                detail = msg.get("errorDetail") or {}
                raise APIError(500, str(msg.get("error") or detail.get("message", "pull failed")))
            yield msg

    def import_image(
        self,
        source: BinaryIO | bytes,
        repo: str | None = None,
        tag: str | None = None,
        message: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        params = {"fromSrc": "-", "repo": repo, "tag": tag, "message": message}
        return self._post_tar("/images/create", params, source)

    def load(self, source: BinaryIO | bytes, quiet: bool = False) -> Iterator[dict[str, Any]]:
        params = {"quiet": "1" if quiet else "0"}
        return self._post_tar("/images/load", params, source)

    def _post_tar(
        self, path: str, params: Mapping[str, Any], source: BinaryIO | bytes
    ) -> Iterator[dict[str, Any]]:
        """POST a tar stream and yield the JSON progress messages of the answer."""
        headers = {"Content-Type": "application/x-tar"}
        return json_objects(self.api.stream("POST", path, params, source, headers))

    def save(self, names: list[str]) -> Iterator[bytes]:
        if len(names) == 1:
            return self.api.stream("GET", f"/images/{names[0]}/get")
        query = "&".join("names=" + n for n in names)
        return self.api.stream("GET", "/images/get?" + query)

    # -- networks
    def networks(self, filters: Any = None) -> list[dict[str, Any]]:
        return self.api.json("GET", "/networks", {"filters": filters_param(filters)}) or []

    def inspect_network(self, name: str) -> dict[str, Any]:
        return self.api.json("GET", f"/networks/{name}")

    def create_network(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return self.api.json("POST", "/networks/create", None, dict(config))

    def remove_network(self, name: str) -> None:
        self.api.request("DELETE", f"/networks/{name}")

    def connect_network(
        self, network: str, container: str, endpoint: Mapping[str, Any] | None = None
    ) -> None:
        body = {"Container": container, "EndpointConfig": dict(endpoint or {})}
        self.api.request("POST", f"/networks/{network}/connect", None, body)

    def disconnect_network(self, network: str, container: str, force: bool = False) -> None:
        body = {"Container": container, "Force": force}
        self.api.request("POST", f"/networks/{network}/disconnect", None, body)

    def prune_networks(self, filters: Any = None) -> dict[str, Any]:
        return self.api.json("POST", "/networks/prune", {"filters": filters_param(filters)}) or {}
