"""The traffic adapter puts the daemon's API calls into the frames, quiet kernel or not."""

from __future__ import annotations

import asyncio

from dockerscope.screens.fake import T0, FakeSource, lab_frames

from dockerscope.feed.traffic import WithTraffic, traffic_socket_of
from dockerscope.kernel.model import ApiCall


class FakeFeed:
    def __init__(self) -> None:
        self.pending: list[ApiCall] = []
        self.closed = False

    def drain(self, settle: float = 0.05) -> list[ApiCall]:
        out, self.pending = self.pending, []
        return out

    def close(self) -> None:
        self.closed = True


def call(seq: int) -> ApiCall:
    return ApiCall(
        seq=seq,
        started_at=T0 + 0.5 + seq,
        method="GET",
        path="/v1.41/containers/json",
        status=200,
        latency_ms=1.0,
    )


async def test_calls_ride_on_frames_or_come_alone() -> None:
    feed = FakeFeed()
    frames = [f.__class__(f.at, f.snapshot, f.diff) for f in lab_frames()[:2]]  # no traffic
    source = FakeSource(frames, auto=False)
    wrapped = WithTraffic(source, "/nowhere.sock", poll=0.01, opener=lambda path: feed)
    stream = wrapped.frames()
    first = await stream.__anext__()
    assert first.traffic == ()
    feed.pending = [call(1)]  # the kernel stays quiet: the call comes in a frame of its own
    alone = await asyncio.wait_for(stream.__anext__(), 5)
    assert [c.seq for c in alone.traffic] == [1]
    assert alone.snapshot is first.snapshot and not alone.diff
    feed.pending = [call(2)]
    source.release()  # a kernel frame: the call rides on it (one of the two, never lost)
    got: list[int] = []
    while 2 not in got:
        frame = await asyncio.wait_for(stream.__anext__(), 5)
        got += [c.seq for c in frame.traffic]
    await wrapped.stop()
    rest = [f async for f in stream]
    assert all(not f.traffic for f in rest)
    assert feed.closed


async def test_without_a_tap_frames_still_flow_with_a_note() -> None:
    def refuse(path: str) -> FakeFeed:
        raise OSError("connection refused")

    bare = lab_frames()[0]
    source = FakeSource([bare.__class__(bare.at, bare.snapshot)])
    wrapped = WithTraffic(source, "/nowhere.sock", poll=0.01, opener=refuse)
    stream = wrapped.frames()
    first = await stream.__anext__()
    assert first.snapshot.scope == "lab:demo"
    assert "no API traffic from /nowhere.sock: connection refused" in first.note
    await wrapped.stop()
    assert [f async for f in stream] == []


def test_traffic_socket_comes_from_a_live_source_only() -> None:
    class Live:
        scope = "lab:demo"
        api_socket = "/run/dockerscope/demo/docker.sock"

    assert traffic_socket_of(Live()) == "/run/dockerscope/demo/docker.sock"
    assert traffic_socket_of(FakeSource(lab_frames()[:1])) is None
