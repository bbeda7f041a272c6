"""ReplaySource: the Source protocol over a recording, with pause, step, seek and speed."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from dockerscope.feed import Frame
from dockerscope.scenario.recording import parse
from dockerscope.scenario.replay import ReplaySource, play_to_end
from tests.unit.test_scenario_recording import _record


@pytest.fixture
def recording_text() -> str:
    return _record()[0]


def _source(text: str, **kw: object) -> ReplaySource:
    return ReplaySource(parse(io.StringIO(text), "demo.jsonl"), **kw)  # type: ignore[arg-type]


async def _take(src: ReplaySource, n: int, timeout: float = 5.0) -> list[Frame]:
    out: list[Frame] = []
    agen = src.frames()

    async def go() -> None:
        async for f in agen:
            out.append(f)
            if len(out) == n:
                break

    await asyncio.wait_for(go(), timeout)
    return out


async def test_plays_every_frame_in_order(recording_text: str) -> None:
    src = _source(recording_text, speed=1000)
    frames = [f async for f in src.frames()]
    assert len(frames) == len(src.moments) and src.finished
    assert [f.extra["index"] for f in frames] == list(range(len(frames)))
    assert frames[0].diff.changes == ()  # the first frame is the full snapshot
    assert any(f.diff for f in frames[1:])
    assert src.scope == "lab:rec"


async def test_paused_source_waits_for_step(recording_text: str) -> None:
    src = _source(recording_text, paused=True)
    agen = src.frames()
    nxt = asyncio.ensure_future(agen.__anext__())
    await asyncio.sleep(0.05)
    assert not nxt.done()  # paused: nothing comes
    src.step()
    first = await asyncio.wait_for(nxt, 2)
    assert first.extra["index"] == 0
    src.step()
    second = await asyncio.wait_for(agen.__anext__(), 2)
    assert second.extra["index"] == 1 and src.paused
    src.step(-1)  # back one
    back = await asyncio.wait_for(agen.__anext__(), 2)
    assert back.extra["index"] == 0
    await src.stop()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(agen.__anext__(), 2)


async def test_seek_shows_target_with_diff_from_screen(recording_text: str) -> None:
    src = _source(recording_text, paused=True)
    agen = src.frames()
    src.step()
    first = await asyncio.wait_for(agen.__anext__(), 2)
    last = len(src.moments) - 1
    src.seek(last)
    src.step()
    jumped = await asyncio.wait_for(agen.__anext__(), 2)
    assert jumped.extra["index"] == last
    # the diff is from what was on screen (frame 0) to the target, not the recorded last diff
    from dockerscope.kernel.model import diff

    assert jumped.diff == diff(first.snapshot, jumped.snapshot)
    assert src.seek(step=1) == next(i for i, m in enumerate(src.moments) if m.step >= 1)
    assert src.seek(t=0) == 0
    assert src.seek(10_000) == len(src.moments)  # clamped: the end
    await src.stop()


async def test_speed_controls(recording_text: str) -> None:
    src = _source(recording_text)
    assert src.faster() == 2.0 and src.faster() == 4.0
    assert src.slower() == 2.0
    src.set_speed(16)
    assert src.faster() == 16.0  # the top speed stays
    with pytest.raises(ValueError):
        src.set_speed(0)
    # pacing follows recorded time / speed, capped by max_gap
    src = _source(recording_text, speed=2.0, max_gap=0.2)
    src.shown, src.position = 0, 1
    gap = src.moments[1].t - src.moments[0].t
    assert src._delay() == pytest.approx(min(gap, 0.2) / 2.0)


async def test_pause_mid_play_stops_the_flow(recording_text: str) -> None:
    src = _source(recording_text, speed=1.0, max_gap=0.05)
    frames = await _take(src, 2)
    src.pause()
    agen = src.frames()  # a fresh iterator continues from the position
    nxt = asyncio.ensure_future(agen.__anext__())
    await asyncio.sleep(0.1)
    assert not nxt.done()
    src.resume()
    third = await asyncio.wait_for(nxt, 2)
    assert third.extra["index"] == frames[-1].extra["index"] + 1
    await src.stop()


async def test_play_to_end_from_a_file(tmp_path: Path, recording_text: str) -> None:
    f = tmp_path / "demo.jsonl"
    f.write_text(recording_text)
    n = await play_to_end(f)
    assert n == len(ReplaySource(f).moments) > 3


async def test_play_span_pauses_at_the_end_of_a_step(recording_text: str) -> None:
    src = _source(recording_text, paused=True, max_gap=0.01, hold_at_end=True)
    mine = [i for i, m in enumerate(src.moments) if m.step == 1]
    agen = src.frames()
    src.play_span(mine[0], mine[-1])
    shown = [await asyncio.wait_for(agen.__anext__(), 2) for _ in mine]
    assert [f.extra["index"] for f in shown] == mine
    assert src.paused
    nxt = asyncio.ensure_future(agen.__anext__())
    await asyncio.sleep(0.05)
    assert not nxt.done()
    src.seek(len(src.moments) - 1)
    src.step()
    assert (await asyncio.wait_for(nxt, 2)).extra["index"] == len(src.moments) - 1
    # at the end, a held source waits for a seek instead of finishing
    later = asyncio.ensure_future(agen.__anext__())
    await asyncio.sleep(0.05)
    assert not later.done()
    src.seek(0)
    src.step()
    assert (await asyncio.wait_for(later, 2)).extra["index"] == 0
    await src.stop()


async def test_switchable_source_plays_one_recording_after_another(recording_text: str) -> None:
    from dockerscope.scenario.replay import SwitchableSource

    deck = SwitchableSource()
    got: list[int] = []

    async def consume() -> None:
        async for f in deck.frames():
            got.append(f.extra["index"])

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.02)
    assert got == []  # nothing to play yet
    first = _source(recording_text, paused=True, hold_at_end=True)
    await deck.switch(first)
    first.step()
    await asyncio.sleep(0.05)
    assert got == [0] and deck.scope == "lab:rec"
    second = _source(recording_text, speed=1e6)
    await deck.switch(second)
    await asyncio.sleep(0.2)
    assert got == [0, *range(len(second.moments))]
    await deck.stop()
    await asyncio.wait_for(task, 2)
