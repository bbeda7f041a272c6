"""The replay menu: the recordings shipped with the course, or any file; plays them in the
walkthrough with pause, step, seek and speed. Needs no root and no daemon.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockerscope.screens.walkthrough import WalkthroughScreen
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from dockerscope.scenario.loader import course_dir
from dockerscope.scenario.player import RecordedPlayer
from dockerscope.scenario.recording import Recording, RecordingError, read
from dockerscope.scenario.replay import ReplaySource, SwitchableSource


def shipped_recordings(folder: str | Path | None = None) -> list[Path]:
    """The recordings that come with the course, by section."""
    base = Path(folder) if folder is not None else course_dir() / "recordings"
    return sorted(base.glob("*.jsonl"))


class ReplayMenuScreen(Screen[None]):
    """Pick a recording; Enter plays it in the walkthrough."""

    DEFAULT_CSS = """
    ReplayMenuScreen #rm-reason { padding: 1 2 0 2; color: $warning; }
    ReplayMenuScreen #rm-reason.-none { display: none; }
    ReplayMenuScreen #rm-list { height: 1fr; margin: 1 2; }
    ReplayMenuScreen #rm-path { margin: 0 2 1 2; }
    """

    BINDINGS = [
        Binding("o", "focus_path", "Open file"),
        Binding("escape", "leave", "Dashboard"),
    ]

    @dataclass
    class Opened(Message):
        """A recording is playing (posted after the deck switched to it)."""

        path: str

    def __init__(
        self,
        deck: SwitchableSource | None = None,
        *,
        open_path: str | None = None,
        reason: str | None = None,
        folder: str | Path | None = None,
    ) -> None:
        """
        Args:
            deck: the app's source, switched to each recording opened here (default: the
                app's ``source`` when it is a ``SwitchableSource``).
            open_path: a recording to open straight away.
            reason: one line saying why this menu is shown (e.g. "not root: replay only").
            folder: where the shipped recordings are (tests).
        """
        super().__init__()
        self.deck = deck
        self.open_path = open_path
        self.reason = reason
        self.folder = folder
        self.paths: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Static(self.reason or "", id="rm-reason", classes="" if self.reason else "-none")
        yield OptionList(id="rm-list")
        yield Input(
            placeholder="or type the path of a recording (.jsonl) and press Enter", id="rm-path"
        )
        yield Footer()

    def on_mount(self) -> None:
        self.title = "dockerscope replay"
        menu = self.query_one("#rm-list", OptionList)
        self.paths = shipped_recordings(self.folder)
        for p in self.paths:
            menu.add_option(Option(self._label(p), id=str(p)))
        if not self.paths:
            menu.add_option(Option(Text("no recordings shipped", style="dim"), disabled=True))
        else:
            menu.highlighted = 0
        menu.focus()
        if self.open_path:
            self.open(self.open_path)

    @staticmethod
    def _label(path: Path) -> Text:
        try:
            with open(path, encoding="utf-8") as fp:
                import json

                head = json.loads(fp.readline())
            s = head.get("scenario", {})
            return Text.assemble(
                (f"{s.get('section', '?')}. ", "bold"),
                s.get("title", path.stem),
                (f"   recorded {head.get('recorded_at', '?')}", "dim"),
            )
        except (OSError, ValueError):
            return Text(path.name)

    @on(OptionList.OptionSelected, "#rm-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.open(event.option.id)

    @on(Input.Submitted, "#rm-path")
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.open(event.value.strip())

    def action_focus_path(self) -> None:
        self.query_one("#rm-path", Input).focus()

    def action_leave(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    def open(self, path: str) -> None:
        """Read a recording and play it in the walkthrough."""
        try:
            rec = read(path)
        except RecordingError as e:
            self.notify(str(e), title="cannot replay", severity="error", timeout=10)
            return
        self.play(rec)

    async def _switch(self, source: ReplaySource) -> None:
        deck = self.deck if self.deck is not None else getattr(self.app, "source", None)
        if isinstance(deck, SwitchableSource):
            await deck.switch(source)

    def play(self, rec: Recording) -> None:
        source = ReplaySource(rec, paused=True, hold_at_end=True)
        self.run_worker(self._switch(source), exclusive=True, group="replay-switch")
        self.app.push_screen(WalkthroughScreen(RecordedPlayer(rec, source), replay=source))
        self.post_message(self.Opened(rec.path))


def run_replay(path: str | None = None, reason: str | None = None) -> None:
    """``dockerscope replay [FILE]``: the dashboard fed by recordings, under the replay menu."""
    from dockerscope.screens.app import build_app

    deck = SwitchableSource()
    extra: list[Any] = [lambda: ReplayMenuScreen(deck, open_path=path, reason=reason)]
    build_app(deck, title="dockerscope replay", extra_screens=extra).run()
