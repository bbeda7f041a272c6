"""What a handler is given: the ``Request`` (query helpers, the body read in chunks or as JSON
with Docker's limits) and the ``Peer`` that sent it."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dockerscope.engine.api import gojson
from dockerscope.engine.api.limits import BodyTooLarge
from dockerscope.engine.errors import InvalidArgument

MAX_JSON_BODY = 16 * 1024 * 1024
#: Deepest JSON nesting taken in a body or query. The API's own shapes nest under ten levels;
#: Python's decoder would hit its recursion limit near a thousand (Go's stops at 10,000).
MAX_JSON_DEPTH = 100
PREVIEW = 200


@dataclass(frozen=True)
class Peer:
    """Who is on the other end: transport, and for unix sockets the SO_PEERCRED pid/uid."""

    transport: str  # "unix" | "tcp"
    pid: int | None = None
    uid: int | None = None
    address: str = ""


class Request:
    """One request: method, path, query and headers, with a body read on demand."""

    def __init__(
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        peer: Peer,
        body_source: Callable[[], Awaitable[bytes | None]],
    ) -> None:
        self.method = method
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(split.path)
        self.query: dict[str, list[str]] = urllib.parse.parse_qs(
            split.query, keep_blank_values=True
        )
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        self.peer = peer
        self.version: str | None = None  # API version from the /v1.xx prefix, set by the router
        self._next_chunk = body_source
        self._body_done = False
        self.preview = b""
        self._decoded: tuple[bool, Any] | None = None  # (empty, value) as the router checked it
        #: Set once the body was refused for its size: the connection answers and closes
        #: without reading the rest.
        self.refused_for_size = False

    def q(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``name``."""
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter as Docker reads them ("1", "true", "True")."""
        value = self.q(name)
        if value is None or value == "":
            return default
        return value.lower() not in ("0", "false", "no")

    def int_q(self, name: str, default: int | None = None) -> int | None:
        """An integer query parameter; a non-number is a 400."""
        value = self.q(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {value!r}") from None

    def json_q(self, name: str) -> Any:
        """A JSON-encoded query parameter (``filters``), or None."""
        value = self.q(name)
        if not value:
            return None
        try:
            return decode_json(value.encode())
        except InvalidArgument:
            raise InvalidArgument(f"invalid {name} parameter: not JSON: {value[:200]!r}") from None

    @property
    def upgrade(self) -> bool:
        """The client asked for a protocol upgrade (docker CLI/docker-py attach and exec)."""
        return self.headers.get("upgrade", "").lower() == "tcp" or (
            "upgrade" in self.headers.get("connection", "").lower() and "upgrade" in self.headers
        )

    @property
    def user_agent(self) -> str:
        return self.headers.get("user-agent", "")

    def declared_length(self) -> int | None:
        """The Content-Length the client announced (None for chunked or none)."""
        try:
            return int(self.headers["content-length"])
        except (KeyError, ValueError):
            return None

    def too_large(self, limit: int, what: str = "request body") -> BodyTooLarge:
        """The 413 for a body past ``limit``; the connection closes after answering it."""
        self.refused_for_size = True
        return BodyTooLarge(limit, what)

    async def chunks(
        self, limit: int | None = None, what: str = "request body"
    ) -> AsyncIterator[bytes]:
        """The body, chunk by chunk (for tar uploads that should not sit in memory); past
        ``limit`` bytes a 413 (an announced Content-Length past it is refused unread)."""
        declared = self.declared_length()
        if limit is not None and declared is not None and declared > limit:
            raise self.too_large(limit, what)
        size = 0
        while not self._body_done:
            data = await self._next_chunk()
            if data is None:
                self._body_done = True
                return
            size += len(data)
            if limit is not None and size > limit:
                raise self.too_large(limit, what)
            if len(self.preview) < PREVIEW:
                self.preview += data[: PREVIEW - len(self.preview)]
            yield data

    async def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        """The whole body (413 past ``limit`` bytes)."""
        return b"".join([chunk async for chunk in self.chunks(limit)])

    async def json(self, required: bool = False) -> Any:
        """The body decoded as JSON; empty is None (or a 400 when ``required``)."""
        if self._decoded is not None:
            empty, value = self._decoded
        else:
            raw = await self.body()
            empty = not raw.strip()
            value = None if empty else decode_json(raw)
        if empty and required:
            raise InvalidArgument("request body is empty: a JSON object was expected")
        return value

    def set_json(self, empty: bool, value: Any) -> None:
        """What ``json()`` answers from now on (the router's checked, normalised body)."""
        self._decoded = (empty, value)

    async def drain(self, limit: int = MAX_JSON_BODY) -> None:
        """Read and drop a body the endpoint does not use (413 past ``limit`` bytes)."""
        async for _ in self.chunks(limit):
            pass


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in ``raw`` (strings skipped), without decoding it."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot be too deep: not worth a scan
    depth = deepest = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub(b"", raw)):
        if m.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def decode_json(raw: bytes) -> Any:
    """A request's JSON, or a 400 that says what is wrong with it (never a decoder's crash)."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise InvalidArgument(
            f"malformed JSON in request body: nested deeper than {MAX_JSON_DEPTH}"
        )
    try:
        # As Go reads it: invalid UTF-8 as U+FFFD, no NaN, huge integers as numbers.
        value = json.loads(
            raw.decode("utf-8", "replace"),
            parse_int=gojson.parse_int,
            parse_constant=gojson.refuse_constant,
        )
    except RecursionError:
        raise InvalidArgument(
            f"malformed JSON in request body: nested deeper than {MAX_JSON_DEPTH}"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"malformed JSON in request body: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise InvalidArgument(f"malformed JSON in request body: {exc}") from None
    return gojson.replace_surrogates(value) if gojson.may_hold_surrogates(raw) else value
