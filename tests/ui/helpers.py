"""Helpers for the dashboard's Pilot tests: a fake-fed app, waiting, reading the screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockerscope.screens.app import DockerscopeApp
from dockerscope.screens.fake import FakeSource
from textual.pilot import Pilot


class Clock:
    """A clock tests move by hand, so highlights fade only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingClient:
    """A command-bar client that records what it was asked and answers like docker would."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def __call__(self, command: str) -> str:
        self.commands.append(command)
        if command.startswith("docker ps"):
            return (
                "CONTAINER ID   IMAGE     COMMAND   STATUS   NAMES\n"
                '669aecfd3d6d   busybox   "sh"      Up       web\n'
            )
        raise RuntimeError(f"unknown command: {command}")


def make_app(
    *,
    auto: bool = False,
    live: bool = False,
    clock: Callable[[], float] | None = None,
    client: Any = None,
    **kwargs: Any,
) -> tuple[DockerscopeApp, FakeSource]:
    """An app on the fake lab. Manual sources hand out frame 0 and wait for ``release``."""
    source = FakeSource(auto=auto, live=live)
    app = DockerscopeApp(source, clock=clock or Clock(), client=client, **kwargs)
    return app, source


async def until(pilot: Pilot[Any], condition: Callable[[], bool], tries: int = 250) -> None:
    """Let the app run until ``condition()`` holds; a deadline, not a timing assertion."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met in time")


async def frames(pilot: Pilot[Any], app: DockerscopeApp, count: int) -> None:
    """Wait until ``count`` frames have been applied and drawn."""
    await until(pilot, lambda: app.frames_applied >= count)
    await pilot.pause()


def screen_text(app: DockerscopeApp) -> str:
    """What the terminal shows right now, as plain text (one line per row)."""
    strips = app.screen._compositor.render_strips()  # the composed screen, as the driver gets it
    return "\n".join(strip.text for strip in strips)
