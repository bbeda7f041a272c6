"""Control characters in outside text (file names, process names, command output) never reach
the terminal: they are drawn as pictures of themselves."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from dockerscope.screens import app as app_module
from dockerscope.screens.app import DockerscopeApp
from dockerscope.screens.fake import FakeSource, lab_frames
from dockerscope.screens.printable import printable, printable_output
from rich.console import RenderableType
from textual._compositor import CompositorUpdate
from textual.screen import Screen
from textual.widgets import RichLog

from dockerscope.kernel.model import UpperEntry
from tests.ui.helpers import Clock, frames, screen_text, until

EVIL = "evil\x1b]0;PWNED\x07\x1b[2J\x9b31m\tname"


def test_control_characters_become_pictures_one_for_one() -> None:
    shown = printable(EVIL)
    assert shown == "evil␛]0;PWNED␇␛[2J\ufffd31m␉name"
    assert len(shown) == len(EVIL)  # styled ranges keep their offsets
    assert printable("plain │ é ✗ 172.17.0.2") == "plain │ é ✗ 172.17.0.2"
    assert printable_output("a\tb\n\x1b[31mred\x1b[0m\n") == "a\tb\n␛[31mred␛[0m\n"


class Capturing(DockerscopeApp):
    """The app, keeping the bytes each paint would write to the terminal."""

    # Textual reads CSS_PATH relative to the class's own file: point back at the app's.
    CSS_PATH = [str(Path(app_module.__file__).parent / "dockerscope.tcss")]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written: list[str] = []

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        if isinstance(renderable, CompositorUpdate):
            self.written.append(renderable.render_segments(self.console))
        super()._display(screen, renderable)


async def test_a_file_named_with_escapes_is_shown_not_obeyed() -> None:
    first = lab_frames()[0]
    mount = first.snapshot.mounts[0]
    evil = dataclasses.replace(
        mount, upper_entries=(UpperEntry(path=EVIL, kind="file"), *mount.upper_entries)
    )
    snap = dataclasses.replace(first.snapshot, mounts=(evil, *first.snapshot.mounts[1:]))
    app = Capturing(FakeSource([dataclasses.replace(first, snapshot=snap)]), clock=Clock())
    async with app.run_test(size=(200, 60)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("5")
        await pilot.pause(0.2)
        shown = screen_text(app)
        # (Rich drops BEL and a few others when it builds the Text; ESC reaches us.)
        assert "evil␛]0;PWNED" in shown and "␛[2J�31m␉name" in shown
    written = "".join(app.written)
    assert "evil" in written
    for escape in ("\x1b]0;PWNED", "\x1b[2J", "\x9b"):
        assert escape not in written, escape


async def test_container_output_in_the_command_bar_cannot_drive_the_terminal() -> None:
    def client(command: str) -> str:
        return "line one\n\x1b[2J\x1b]0;PWNED\x07cleared?\n"

    app = Capturing(FakeSource(auto=False), clock=Clock(), client=client)
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("colon", *"logs", "space", "web", "enter")
        log = app.dashboard.query_one("#commandbar-log", RichLog)
        await until(pilot, lambda: any("cleared?" in line.text for line in log.lines))
        shown = "\n".join(line.text for line in log.lines)
        assert "line one" in shown and "␛[2J␛]0;PWNED" in shown
        await pilot.pause(0.2)
    written = "".join(app.written)
    assert "\x1b[2J" not in written and "\x1b]0;PWNED" not in written
