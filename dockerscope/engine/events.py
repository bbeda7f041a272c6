"""Docker's event stream: container, network and image events, kept and streamed."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

KEEP = 1000


@dataclass(frozen=True)
class Event:
    """One event as Docker's /events reports it."""

    type: str  # "container" | "network" | "image"
    action: str  # "create", "start", "die", "destroy", "connect", "pull", "tag", ...
    actor_id: str
    attributes: tuple[tuple[str, str], ...] = ()
    time_nano: int = field(default_factory=time.time_ns)

    def to_json(self) -> dict[str, Any]:
        attrs = dict(self.attributes)
        out: dict[str, Any] = {}
        if self.type in ("container", "image"):
            # The legacy fields Docker still sends next to Type/Action/Actor.
            out["status"] = self.action
            out["id"] = self.actor_id
            if "image" in attrs and self.type == "container":
                out["from"] = attrs["image"]
        out.update(
            {
                "Type": self.type,
                "Action": self.action,
                "Actor": {"ID": self.actor_id, "Attributes": attrs},
                "scope": "local",
                "time": self.time_nano // 1_000_000_000,
                "timeNano": self.time_nano,
            }
        )
        return out


def _parse_time(value: str | None) -> float | None:
    """Docker's since/until: unix seconds (possibly fractional)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"invalid timestamp {value!r}: use unix seconds") from None


@dataclass(frozen=True)
class EventFilter:
    """Docker's event filters: type, event/action, container, image, network, label."""

    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, raw: Any) -> EventFilter:
        if not raw:
            return cls()
        if not isinstance(raw, dict):
            raise ValueError("filters must be a JSON object")
        items = []
        for key, value in raw.items():
            if isinstance(value, dict):  # the old {"name": {"web": true}} form
                values = tuple(k for k, v in value.items() if v)
            elif isinstance(value, list):
                values = tuple(str(v) for v in value)
            else:
                values = (str(value),)
            if key not in ("type", "event", "container", "image", "network", "label", "scope"):
                raise ValueError(f"invalid filter '{key}'")
            items.append((key, values))
        return cls(tuple(items))

    def matches(self, ev: Event) -> bool:
        attrs = dict(ev.attributes)
        for key, values in self.filters:
            if key == "type" and ev.type not in values:
                return False
            if key == "event" and ev.action not in values:
                return False
            if key == "scope" and "local" not in values:
                return False
            if key in ("container", "network") and (
                ev.type != key
                or not any(v == attrs.get("name") or ev.actor_id.startswith(v) for v in values)
            ):
                return False
            if key == "image" and not any(
                v in (attrs.get("image"), attrs.get("name"), ev.actor_id) for v in values
            ):
                return False
            if key == "label" and not any(_label_match(attrs, v) for v in values):
                return False
        return True


def _label_match(attrs: dict[str, str], spec: str) -> bool:
    k, sep, v = spec.partition("=")
    return k in attrs and (not sep or attrs[k] == v)


class EventBus:
    """Publishes events to subscribers and keeps the last ``KEEP`` for ``since``."""

    def __init__(self) -> None:
        self.recent: deque[Event] = deque(maxlen=KEEP)
        self._subscribers: set[asyncio.Queue[Event | None]] = set()

    def emit(
        self, type_: str, action: str, actor_id: str, attributes: dict[str, str] | None = None
    ) -> Event:
        ev = Event(type_, action, actor_id, tuple(sorted((attributes or {}).items())))
        self.recent.append(ev)
        for q in self._subscribers:
            q.put_nowait(ev)
        return ev

    def listeners(self) -> int:
        """How many event streams are open (``/info``'s NEventsListener)."""
        return len(self._subscribers)

    def close(self) -> None:
        for q in self._subscribers:
            q.put_nowait(None)

    async def stream(
        self, since: str | None = None, until: str | None = None, filters: Any = None
    ) -> AsyncIterator[bytes]:
        """JSON lines of events after ``since`` (kept ones) and live ones until ``until``."""
        t_since = _parse_time(since)
        t_until = _parse_time(until)
        flt = EventFilter.parse(filters)
        q: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.add(q)
        try:
            if t_since is not None:
                for ev in list(self.recent):
                    t = ev.time_nano / 1e9
                    if t >= t_since and (t_until is None or t <= t_until) and flt.matches(ev):
                        yield (json.dumps(ev.to_json(), separators=(",", ":")) + "\n").encode()
            while True:
                if t_until is not None:
                    left = t_until - time.time()
                    if left <= 0:
                        return
                    try:
                        item = await asyncio.wait_for(q.get(), left)
                    except TimeoutError:
                        return
                else:
                    item = await q.get()
                if item is None:
                    return
                if t_until is not None and item.time_nano / 1e9 > t_until:
                    return
                if flt.matches(item):
                    yield (json.dumps(item.to_json(), separators=(",", ":")) + "\n").encode()
        finally:
            self._subscribers.discard(q)
