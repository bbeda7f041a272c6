"""The app's garbage-collection policy: collect and freeze only at quiet moments."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from dockerscope.screens.idle_gc import FULL_EVERY, IdleCollector


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def policy() -> Iterator[tuple[IdleCollector, Clock, list[str]]]:
    clock = Clock()
    calls: list[str] = []

    def collect() -> int:
        calls.append("deep" if gc.get_freeze_count() == 0 else "shallow")
        return 0

    collector = IdleCollector(clock=clock, quiet=0.15, every=1.0, deep_every=60.0, collect=collect)
    collector.start()
    try:
        yield collector, clock, calls
    finally:
        collector.stop()
        gc.unfreeze()


def test_start_collects_and_freezes(policy: tuple[IdleCollector, Clock, list[str]]) -> None:
    collector, _clock, calls = policy
    assert calls == ["deep"]
    assert gc.get_freeze_count() > 0
    assert collector.running


def test_nothing_while_busy(policy: tuple[IdleCollector, Clock, list[str]]) -> None:
    collector, clock, calls = policy
    for _ in range(50):  # a key or a frame every 0.1 s for 5 s: never quiet
        clock.now += 0.1
        collector.busy()
        assert collector.tick() is None
    assert calls == ["deep"]


def test_shallow_at_a_quiet_moment_at_most_every(
    policy: tuple[IdleCollector, Clock, list[str]],
) -> None:
    collector, clock, calls = policy
    clock.now += 0.5
    assert collector.tick() is None  # quiet, but the last freeze is 0.5 s old
    clock.now += 0.6
    assert collector.tick() == "shallow"
    assert collector.tick() is None  # not again within `every`
    assert calls == ["deep", "shallow"]
    assert gc.get_freeze_count() > 0


def test_deep_unfreezes_and_collects_everything(
    policy: tuple[IdleCollector, Clock, list[str]],
) -> None:
    collector, clock, calls = policy
    clock.now += 61.0
    assert collector.tick() == "deep"
    assert calls[-1] == "deep"
    assert collector.deep_collections == 1
    assert gc.get_freeze_count() > 0  # frozen again afterwards


def test_stop_gives_the_collector_back(policy: tuple[IdleCollector, Clock, list[str]]) -> None:
    collector, clock, _calls = policy
    assert gc.get_threshold()[2] >= FULL_EVERY  # automatic full collections made rarer
    collector.stop()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == collector._saved_threshold
    clock.now += 100.0
    assert collector.tick() is None
