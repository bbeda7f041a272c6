"""``/containers/...`` and ``/exec/...`` endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from dockerscope.engine.api.filters import checked_filters
from dockerscope.engine.api.output import batch_bytes as _batch_bytes
from dockerscope.engine.api.output import gone as _gone
from dockerscope.engine.api.output import pump_stdin as _pump_stdin
from dockerscope.engine.api.output import relay_output as _relay_output
from dockerscope.engine.api.platform import check_platform
from dockerscope.engine.api.render import filter_containers, inspect, parse_filters, summary
from dockerscope.engine.api.replies import Hijack, HijackedStream, Response, StreamResponse
from dockerscope.engine.api.request import Request
from dockerscope.engine.api.router import Router
from dockerscope.engine.containers.attaching import NO_READING
from dockerscope.engine.containers.create_request import console_size, parse_create
from dockerscope.engine.containers.detach import parse_keys
from dockerscope.engine.containers.manager import ContainerManager
from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.subscribers import CLIENT_BUFFER, OutputQueue
from dockerscope.engine.errors import Conflict, InvalidArgument, NotSupported
from dockerscope.engine.images.fsutil import tree_bytes

log = logging.getLogger(__name__)

RAW = "application/vnd.docker.raw-stream"
INIT_LAYER_PATHS = ("/.dockerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def _time_q(req: Request, name: str) -> float | None:
    value = req.q(name)
    if value in (None, "", "0"):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidArgument(
            f"invalid value for {name}: {value!r} (unix seconds expected)"
        ) from None


class ContainerRoutes:
    """Handlers bound to a daemon (``d.containers``, ``d.images``)."""

    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @property
    def mgr(self) -> ContainerManager:
        """The daemon's container manager."""
        manager: ContainerManager = self.d.containers
        return manager

    def register(self, r: Router) -> None:
        r.add("GET", "/containers/json", self.list_containers)
        r.add("POST", "/containers/create", self.create)
        r.add("POST", "/containers/prune", self.prune)
        r.add("GET", "/containers/{id}/json", self.inspect)
        r.add("POST", "/containers/{id}/start", self.start)
        r.add("POST", "/containers/{id}/stop", self.stop)
        r.add("POST", "/containers/{id}/restart", self.restart)
        r.add("POST", "/containers/{id}/kill", self.kill)
        r.add("POST", "/containers/{id}/wait", self.wait)
        r.add("DELETE", "/containers/{id}", self.remove)
        r.add("GET", "/containers/{id}/logs", self.logs)
        r.add("GET", "/containers/{id}/top", self.top)
        r.add("POST", "/containers/{id}/rename", self.rename)
        r.add("POST", "/containers/{id}/resize", self.resize)
        r.add("POST", "/containers/{id}/attach", self.attach)
        r.add("GET", "/containers/{id}/changes", self.changes)
        r.add("POST", "/containers/{id}/exec", self.exec_create)
        r.add("POST", "/exec/{id}/start", self.exec_start)
        r.add("POST", "/exec/{id}/resize", self.exec_resize)
        r.add("GET", "/exec/{id}/json", self.exec_inspect)
        for method, path, what in (
            ("POST", "/containers/{id}/pause", "docker pause"),
            ("POST", "/containers/{id}/unpause", "docker unpause"),
            ("POST", "/containers/{id}/update", "docker update"),
            ("GET", "/containers/{id}/stats", "docker stats"),
            ("GET", "/containers/{id}/export", "docker export"),
            ("GET", "/containers/{id}/archive", "docker cp"),
            ("PUT", "/containers/{id}/archive", "docker cp"),
            ("HEAD", "/containers/{id}/archive", "docker cp"),
            ("GET", "/containers/{id}/attach/ws", "attach over websocket"),
        ):
            r.add(method, path, self._refuse(what))

    @staticmethod
    def _refuse(what: str) -> Any:
        async def handler(req: Request, **_: str) -> Response:
            raise NotSupported(what)

        return handler

    # ---- list / create / inspect ----------------------------------------------------------

    async def list_containers(self, req: Request) -> Response:
        try:
            filters = parse_filters(req.json_q("filters"))
            found = filter_containers(list(self.mgr.containers.values()), filters, req.flag("all"))
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        found.sort(key=lambda c: c.created, reverse=True)
        limit = req.int_q("limit", -1) or -1
        if limit > 0:
            found = found[:limit]
        rows = [summary(c) for c in found]
        if req.flag("size"):  # docker ps -s
            for row, c in zip(rows, found, strict=True):
                row.update(self._sizes(c))
        return Response.json(rows)

    def _sizes(self, c: Container) -> dict[str, int]:
        """SizeRw (the container's upper dir) and SizeRootFs (that plus its image)."""
        rw = tree_bytes(self.mgr.store.dir(c.id) / "upper")
        base = 0
        with contextlib.suppress(Exception):
            base = int(self.d.images.get(c.image_id).size)
        return {"SizeRw": rw, "SizeRootFs": rw + base}

    async def create(self, req: Request) -> Response:
        body = await req.json(required=True)
        check_platform(req.q("platform"))
        creq = parse_create(body, req.q("name") or None)
        c = self.mgr.create(creq)
        return Response.json({"Id": c.id, "Warnings": []}, 201)

    async def prune(self, req: Request) -> Response:
        checked_filters(req.json_q("filters"), set(), "container prune")
        deleted = []
        for c in list(self.mgr.containers.values()):
            if not c.state.running and not self.mgr.is_exiting(c.id):
                await self.mgr.remove(c.id)
                deleted.append(c.id)
        return Response.json({"ContainersDeleted": deleted or None, "SpaceReclaimed": 0})

    async def inspect(self, req: Request, id: str) -> Response:
        c = self.mgr.get(id)
        lowers: list[str] = []
        with contextlib.suppress(Exception):
            lowers = list(self.d.images.layer_dirs(self.d.images.get(c.image_id)))
        out = inspect(c, str(self.mgr.store.dir(c.id)), lowers, self.mgr.exec_ids(c.id))
        if req.flag("size"):  # docker inspect -s
            out.update(self._sizes(c))
        return Response.json(out)

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self, req: Request, id: str) -> Response:
        await self.mgr.start(id)
        return Response.empty()

    async def stop(self, req: Request, id: str) -> Response:
        await self.mgr.stop(id, req.int_q("t"))
        return Response.empty()

    async def restart(self, req: Request, id: str) -> Response:
        await self.mgr.restart(id, req.int_q("t"))
        return Response.empty()

    async def kill(self, req: Request, id: str) -> Response:
        self.mgr.kill(id, req.q("signal") or None)
        return Response.empty()

    async def wait(self, req: Request, id: str) -> StreamResponse:
        c = self.mgr.get(id)
        condition = req.q("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}")

        async def body() -> AsyncIterator[bytes]:
            # The head goes out at once (clients wait before they start); the body on exit.
            code = await self.mgr.wait(c.id, condition)
            yield (
                json.dumps({"Error": None, "StatusCode": code}, separators=(",", ":")) + "\n"
            ).encode()

        return StreamResponse(body())

    async def remove(self, req: Request, id: str) -> Response:
        if req.flag("link"):
            raise NotSupported("docker rm --link")
        await self.mgr.remove(id, force=req.flag("force"))
        return Response.empty()

    async def rename(self, req: Request, id: str) -> Response:
        name = req.q("name")
        if not name:
            raise InvalidArgument("name is required")
        self.mgr.rename(id, name)
        return Response.empty()

    async def resize(self, req: Request, id: str) -> Response:
        self.mgr.resize(id, req.int_q("h", 0) or 0, req.int_q("w", 0) or 0)
        return Response(200, b"", "text/plain; charset=utf-8")

    # ---- output ---------------------------------------------------------------------------

    async def logs(self, req: Request, id: str) -> StreamResponse:
        c = self.mgr.get(id)
        if not c.host.log_config.keeps_log:
            # --log-driver none: dockerd's words (its status is 501; no error kind maps to it)
            raise InvalidArgument(NO_READING)
        stdout, stderr = req.flag("stdout"), req.flag("stderr")
        if not (stdout or stderr):
            raise InvalidArgument("Bad parameters: you must choose at least one stream")
        tail_q = req.q("tail", "all")
        tail = None
        if tail_q not in ("all", ""):
            try:
                tail = int(tail_q)  # type: ignore[arg-type]
            except ValueError:
                raise InvalidArgument(f"invalid value for tail: {tail_q!r}") from None
        stamps = req.flag("timestamps")
        tty = c.config.tty
        batches = self.mgr.logs(
            c.id,
            stdout,
            stderr,
            req.flag("follow"),
            tail,
            _time_q(req, "since"),
            _time_q(req, "until"),
        )

        async def body() -> AsyncIterator[bytes]:
            # One chunk per batch of lines (about 256 KiB of log), not one per line.
            try:
                async for batch in batches:
                    yield _batch_bytes(batch, tty, stamps)
            except Conflict as exc:  # a follower that fell behind the whole rotated log
                log.warning("%s: connection closed", exc)
                raise
            finally:
                await batches.aclose()  # type: ignore[attr-defined]

        return StreamResponse(body(), content_type=RAW)

    async def top(self, req: Request, id: str) -> Response:
        pids = set(self.mgr.pids(id))
        args = (req.q("ps_args") or "-ef").split()
        try:
            out = subprocess.run(
                ["ps", *args], capture_output=True, text=True, timeout=10, check=True
            ).stdout
        except subprocess.CalledProcessError as exc:
            raise InvalidArgument(f"ps: {exc.stderr.strip()}") from None
        lines = out.splitlines()
        if not lines:
            return Response.json({"Titles": [], "Processes": []})
        titles = lines[0].split()
        if "PID" not in titles:
            raise InvalidArgument("Couldn't find PID field in ps output")
        col = titles.index("PID")
        procs = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
                procs.append(fields)
        return Response.json({"Titles": titles, "Processes": procs})

    async def changes(self, req: Request, id: str) -> Response:
        c = self.mgr.get(id)
        images = self.d.images
        lowers = list(images.layer_dirs(images.get(c.image_id)))
        upper_dir = self.mgr.store.dir(c.id) / "upper"
        if not upper_dir.is_dir():
            return Response.json(None)  # created, never started: no changes yet, as dockerd
        upper = str(upper_dir)
        kinds = {"C": 0, "A": 1, "D": 2}
        # What Docker keeps in its init layer is not the container's change.
        found = images.diff_changes(lowers, upper, ignore=INIT_LAYER_PATHS)
        out = [{"Path": p, "Kind": kinds[k]} for k, p in found]
        return Response.json(out or None)

    async def attach(self, req: Request, id: str) -> Hijack | Response:
        c = self.mgr.get(id)
        if c.state.status in ("exited", "dead") and not req.flag("logs"):
            raise Conflict("You cannot attach to a stopped container, start it first")
        try:
            keys = parse_keys(req.q("detachKeys")) if c.config.tty else b""
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        want = {s for s in ("stdout", "stderr") if req.flag(s)}
        use_stdin = req.flag("stdin") and c.config.open_stdin
        backlog = None
        if req.flag("logs") and c.host.log_config.keeps_log:
            backlog = self.mgr.logs(
                c.id, "stdout" in want, "stderr" in want, False, None, None, None
            )
        live = req.flag("stream") and c.state.status in ("created", "running")
        q: OutputQueue | None = None
        if live:
            c, q = self.mgr.attach(c.id)
            self.mgr.emit(c, "attach")
        tty = c.config.tty
        mgr = self.mgr

        asked_stdin = req.flag("stdin")

        async def run(s: HijackedStream) -> None:
            pump = None
            if q is not None:
                q.on_overflow = lambda: _drop(s, f"attach to {c.id[:12]}")
                if q.overflowed:  # during the 101 head already
                    _drop(s, f"attach to {c.id[:12]}")
                    return
            if use_stdin:
                # As dockerd: the client's EOF ends a tty's stdin never (a detach or a closed
                # terminal must leave the shell usable for the next attach), else with StdinOnce.
                close_on_eof = c.config.stdin_once and not c.config.tty
                pump = asyncio.ensure_future(
                    _pump_stdin(
                        s,
                        lambda data: mgr.write_stdin(c.id, data),
                        (lambda: mgr.close_stdin(c.id)) if close_on_eof else None,
                        keys,
                        q,
                    )
                )
            elif not asked_stdin and q is not None:
                # Stop waiting for output of a quiet container once the client is gone.
                pump = asyncio.ensure_future(_gone(s, q))
            try:
                # Clients that read the 101 head through a buffered reader and then switch to
                # the raw socket (docker-py) lose whatever came in the same read: let the head
                # go out alone. Live output meanwhile waits in the queue.
                await asyncio.sleep(ATTACH_HEAD_GAP)
                if backlog is not None:
                    async for batch in backlog:
                        if not await s.write(_batch_bytes(batch, tty, False)):
                            return
                if q is not None:
                    q.bounded_from_now()
                    await _relay_output(s, q, want, tty)
            finally:
                if backlog is not None:
                    await backlog.aclose()  # type: ignore[attr-defined]
                if q is not None:
                    mgr.unsubscribe(c.id, q)
                if pump is not None:
                    pump.cancel()
                    with contextlib.suppress(BaseException):
                        await pump

        return Hijack(run, req.upgrade, RAW)

    # ---- exec -----------------------------------------------------------------------------

    async def exec_create(self, req: Request, id: str) -> Response:
        body = await req.json(required=True)
        if not isinstance(body, dict):
            raise InvalidArgument("exec config must be a JSON object")
        e = self.mgr.exec_create(id, body)
        return Response.json({"Id": e.id}, 201)

    async def exec_start(self, req: Request, id: str) -> Hijack | Response:
        body = await req.json() or {}
        if not isinstance(body, dict):
            raise InvalidArgument("exec start config must be a JSON object")
        for field in ("Detach", "Tty"):
            if body.get(field) is not None and not isinstance(body[field], bool):
                raise InvalidArgument(f"{field} must be true or false")
        console_size(body.get("ConsoleSize"))
        e = self.mgr.exec_get(id)
        if body.get("Detach"):
            self.mgr.exec_start(id, None)
            return Response(200, b"", None)
        if e.started:
            raise Conflict(f"Error: Exec command {id} has already run")
        if not self.mgr.is_running(e.container_id):
            raise Conflict(f"Container {e.container_id} is not running")
        mgr = self.mgr

        async def run(s: HijackedStream) -> None:
            # Started once the head is out, as dockerd does: a client that reads the head
            # through a buffered reader must not find the first output inside that buffer.
            q = OutputQueue(grace=0)  # a client that does not read is cut off past CLIENT_BUFFER
            q.on_overflow = lambda: _drop(s, f"exec {id[:12]}")
            # After a detach the exec's process goes on: its output is then dropped, not
            # queued for a session that is gone.
            session = {"open": True}

            def on_data(st: str, d: bytes) -> None:
                if session["open"]:
                    q.put_nowait((st, d))

            try:
                e2, writer = mgr.exec_start(id, on_data)
            except Exception as exc:
                await s.write(f"Error: {exc}\r\n".encode())
                return
            assert e2.done is not None
            e2.done.add_done_callback(lambda _: q.put_nowait(None))
            want = {
                st for st, on in (("stdout", e2.attach_stdout), ("stderr", e2.attach_stderr)) if on
            }
            pump = None
            if writer is not None:
                # As dockerd: the detach keys end a tty session; the exec's process stays.
                keys = parse_keys(e2.detach_keys) if e2.tty else b""
                pump = asyncio.ensure_future(_pump_stdin(s, writer.write, writer.close, keys, q))
            try:
                await _relay_output(s, q, want, e2.tty)
            finally:
                session["open"] = False
                if pump is not None:
                    pump.cancel()
                    with contextlib.suppress(BaseException):
                        await pump

        return Hijack(run, req.upgrade)

    async def exec_resize(self, req: Request, id: str) -> Response:
        self.mgr.exec_resize(id, req.int_q("h", 0) or 0, req.int_q("w", 0) or 0)
        return Response(200, b"", None)

    async def exec_inspect(self, req: Request, id: str) -> Response:
        return Response.json(self.mgr.exec_get(id).to_docker())


ATTACH_HEAD_GAP = 0.05
"""Seconds between an attach's 101 head and its first stream bytes."""


def _drop(s: HijackedStream, what: str) -> None:
    """Close a session whose client read nothing of CLIENT_BUFFER bytes of output."""
    s.abort()
    log.warning(
        "%s: the client read nothing of %d bytes of output: connection closed (CLIENT_BUFFER)",
        what,
        CLIENT_BUFFER,
    )


def _du(path: Path) -> int:
    """Bytes of the regular files and links under ``path`` (0 if it is gone)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total
