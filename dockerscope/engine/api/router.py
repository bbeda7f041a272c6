"""Routes: method + path pattern -> handler, with Docker's /v1.xx prefixes and error mapping."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dockerscope.engine.api.errors import WRONG_SHAPE, as_api_error
from dockerscope.engine.api.replies import Reply, Response
from dockerscope.engine.api.request import Request, decode_json
from dockerscope.engine.api.validate import Operation, check_body, check_query, load_schema
from dockerscope.engine.errors import EngineError, InvalidArgument, NotFound, NotSupported

log = logging.getLogger(__name__)

API_VERSION = "1.41"  # what we speak and announce (Docker 20.10)
MIN_API_VERSION = "1.24"
MAX_API_VERSION = "1.47"  # newer clients' prefixes we still accept (they negotiate down anyway)

_VERSIONED = re.compile(r"^/v([0-9]+(?:\.[0-9]+)?)(/.*)$")

RouteHandler = Callable[..., Awaitable[Reply]]


def refused(what: str) -> RouteHandler:
    """A handler for a Docker endpoint dockerscope refuses: ``NotSupported(what)``, a 400."""

    async def handler(req: Request, **_: str) -> Reply:
        raise NotSupported(what)

    return handler


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def split_version(path: str) -> tuple[str | None, str]:
    """``/v1.41/containers/json`` -> ("1.41", "/containers/json"); a bad version is a 400."""
    m = _VERSIONED.match(path)
    if not m:
        return None, path
    version, rest = m.group(1), m.group(2)
    if _vkey(version) > _vkey(MAX_API_VERSION):
        raise InvalidArgument(
            f"client version {version} is too new. "
            f"Maximum supported API version is {MAX_API_VERSION}"
        )
    if _vkey(version) < _vkey(MIN_API_VERSION):
        raise InvalidArgument(
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    return version, rest


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: RouteHandler
    tapped: bool = True
    #: The v1.41 document's operation for this route (None: not in the API, e.g. the tap).
    operation: Operation | None = None


class Router:
    """Dispatches requests to handlers; every failure becomes Docker's ``{"message": ...}``."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: RouteHandler, tapped: bool = True) -> None:
        """Register ``handler(request, **groups)`` for ``method`` and a path regex.

        ``{name}`` in ``pattern`` matches one path segment; ``{name*}`` matches the rest
        (image names contain slashes).
        """
        regex = re.sub(r"\{(\w+)\*\}", r"(?P<\1>.+?)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        op = load_schema().operation(method, pattern)
        self.routes.append(Route(method, re.compile(f"^{regex}$"), handler, tapped, op))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for a (version-less) path; unknown paths are Docker's 404."""
        for route in self.routes:
            if route.method != method and not (route.method == "GET" and method == "HEAD"):
                continue
            m = route.pattern.match(path)
            if m:
                return route, m.groupdict()
        raise NotFound("page not found")

    def is_tapped(self, request: Request) -> bool:
        """Whether the traffic tap records this request (the tap's own stream is not)."""
        try:
            _, path = split_version(request.path)
            route, _ = self.match(request.method, path)
        except EngineError:  # a bad version or an unknown page: its 400/404 is worth seeing
            return True
        return route.tapped

    async def dispatch(self, request: Request) -> Reply:
        try:
            version, path = split_version(request.path)
            request.version = version
            route, params = self.match(request.method, path)
            if route.operation is not None:
                await _check_request(request, route.operation)
            return await route.handler(request, **params)
        except Exception as exc:  # every failure answers the client
            err = as_api_error(exc)
            if err.status >= 500 or isinstance(exc, WRONG_SHAPE):
                log.exception("%s %s failed", request.method, request.path)
            if err.status == 304:
                return Response.empty(304)
            return Response(err.status, err.body())


async def _check_request(request: Request, op: Operation) -> None:
    """Typed query parameters and the JSON body checked against the schema before the
    handler runs; the handler then reads the checked, normalised body from ``request.json()``.
    """
    check_query(request.query, op)
    if op.body is None:
        return
    raw = await request.body()
    empty = not raw.strip()
    value = None if empty else decode_json(raw)
    if value is not None:
        value = check_body(value, op.body, load_schema().definitions)
    request.set_json(empty, value)
