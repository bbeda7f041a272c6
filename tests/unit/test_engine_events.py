"""Docker's event objects and filters."""

from __future__ import annotations

import pytest

from dockerscope.engine.events import Event, EventBus, EventFilter


def test_event_json_shape() -> None:
    ev = Event(
        "container",
        "start",
        "c" * 64,
        (("image", "busybox"), ("name", "web")),
        1_795_000_000_123_456_789,
    )
    out = ev.to_json()
    assert out["Type"] == "container" and out["Action"] == "start"
    assert out["Actor"] == {"ID": "c" * 64, "Attributes": {"image": "busybox", "name": "web"}}
    assert (out["status"], out["id"], out["from"]) == ("start", "c" * 64, "busybox")
    assert out["time"] == 1_795_000_000 and out["timeNano"] == 1_795_000_000_123_456_789
    assert out["scope"] == "local"
    net = Event("network", "connect", "n" * 64, (("container", "c"), ("name", "bridge"))).to_json()
    assert "status" not in net and net["Actor"]["Attributes"]["name"] == "bridge"


def test_filters() -> None:
    web = Event(
        "container", "die", "abc123", (("image", "busybox"), ("name", "web"), ("tier", "x"))
    )
    net = Event("network", "create", "n1", (("name", "course-net"),))
    assert EventFilter.parse({"type": ["container"]}).matches(web)
    assert not EventFilter.parse({"type": ["container"]}).matches(net)
    assert EventFilter.parse({"event": ["die"], "container": ["web"]}).matches(web)
    assert EventFilter.parse({"container": ["abc"]}).matches(web)
    assert not EventFilter.parse({"container": ["api"]}).matches(web)
    assert EventFilter.parse({"network": ["course-net"]}).matches(net)
    assert EventFilter.parse({"label": ["tier=x"]}).matches(web)
    assert EventFilter.parse({"image": {"busybox": True}}).matches(web)
    with pytest.raises(ValueError, match="invalid filter 'bogus'"):
        EventFilter.parse({"bogus": ["1"]})


async def test_bus_replays_since_and_stops_at_until() -> None:
    bus = EventBus()
    first = bus.emit("container", "create", "a", {"name": "one"})
    bus.emit("container", "destroy", "a", {"name": "one"})
    until = bus.recent[-1].time_nano / 1e9
    lines = [line async for line in bus.stream(since=str(first.time_nano / 1e9), until=str(until))]
    assert [b'"Action":"create"' in lines[0], b'"Action":"destroy"' in lines[1]] == [True, True]
    with pytest.raises(ValueError, match="invalid timestamp"):
        [x async for x in bus.stream(since="yesterday")]
