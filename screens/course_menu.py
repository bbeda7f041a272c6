"""The course menu: the scenarios by section; Enter opens one in the walkthrough.

Opening a scenario on a live lab (``CourseMenuScreen(lab)``) connects to the lab's daemon in a
worker thread (a ``LabSession``, which reuses the daemon already serving it and pulls the images
the scenario needs), then pushes the walkthrough. Tests pass ``player_factory`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockerscope.screens.walkthrough import WalkthroughScreen
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from dockerscope.scenario.loader import ScenarioError, load, scenario_files
from dockerscope.scenario.model import Scenario
from dockerscope.scenario.player import LivePlayer, Player, reflow

PlayerFactory = Callable[[Scenario], Player]


class _SessionPlayer(LivePlayer):
    """A live player that also closes the lab session it came with."""

    def __init__(self, runner: Any, session: Any) -> None:
        super().__init__(runner)
        self.session = session

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.session.close()


def lab_player(lab: Any) -> PlayerFactory:
    """Players on a live lab: its name, or an engine ``Lab`` (whose locations are used)."""
    from dockerscope.scenario.lab import LabSession

    name = str(getattr(lab, "name", lab))
    roots: dict[str, Any] = {}
    if hasattr(lab, "run_root") and hasattr(lab, "data_root"):  # an engine Lab: its locations
        roots = {"run_base": Path(lab.run_root).parent, "data_base": Path(lab.data_root).parent}

    def make(scenario: Scenario) -> Player:
        session = LabSession(name, **roots)
        try:
            session.up(scenario.needs.images)
            return _SessionPlayer(session.runner(scenario), session)
        except BaseException:
            session.close()
            raise

    return make


class CourseMenuScreen(Screen[None]):
    """Every course scenario, sorted by section."""

    DEFAULT_CSS = """
    CourseMenuScreen #cm-intro { padding: 1 2 0 2; }
    CourseMenuScreen #cm-list { height: 1fr; margin: 1 2; }
    CourseMenuScreen #cm-summary {
        height: auto; min-height: 4; padding: 0 2 1 2; color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("escape", "leave", "Dashboard"),
    ]

    @dataclass
    class PlayerReady(Message):
        """A player for the chosen scenario is ready (or failed: ``error``)."""

        scenario: Scenario
        player: Player | None = None
        error: str = ""

    def __init__(
        self,
        lab: Any = None,
        *,
        player_factory: PlayerFactory | None = None,
        folder: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.lab = lab
        self.player_factory = player_factory
        self.folder = folder
        self.scenarios: list[Scenario] = []
        self.errors: list[str] = []
        self.opening = False

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Static(
            "The course, one scenario per section. Each runs real commands against the lab "
            "and checks what the kernel shows.",
            id="cm-intro",
        )
        yield OptionList(id="cm-list")
        yield Static("", id="cm-summary")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "dockerscope course"
        name = getattr(self.lab, "name", self.lab)
        self.sub_title = f"lab {name}" if name else ""
        self.load()

    def on_screen_resume(self) -> None:
        """Back from a walkthrough: files may have been edited meanwhile."""
        if self.scenarios or self.errors:
            self.load()

    def load(self) -> None:
        """(Re)read the scenario files; a bad file is listed with its error, not fatal."""
        menu = self.query_one("#cm-list", OptionList)
        was = None
        if menu.highlighted is not None and menu.option_count:
            was = menu.get_option_at_index(menu.highlighted).id
        self.scenarios, self.errors = [], []
        for path in scenario_files(self.folder):
            try:
                self.scenarios.append(load(path))
            except ScenarioError as e:
                self.errors.append(str(e))
        self.scenarios.sort(key=lambda s: (s.section, s.id))
        menu.clear_options()
        for s in self.scenarios:
            menu.add_option(Option(Text.assemble((f"{s.section}. ", "bold"), s.title), id=s.id))
        for err in self.errors:
            menu.add_option(Option(Text(f"✗ {err}", style="red"), disabled=True))
        if self.scenarios:
            ids = [sc.id for sc in self.scenarios]
            menu.highlighted = ids.index(was) if was in ids else 0
        menu.focus()

    @on(OptionList.OptionHighlighted, "#cm-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        s = self._by_id(event.option.id)
        text = (
            ""
            if s is None
            else f"{reflow(s.summary)}\n{len(s.steps)} steps · needs "
            + (", ".join(s.needs.images) or "nothing")
        )
        self.query_one("#cm-summary", Static).update(text)

    @on(OptionList.OptionSelected, "#cm-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        s = self._by_id(event.option.id)
        if s is not None:
            self.open(s)

    def action_open(self) -> None:
        menu = self.query_one("#cm-list", OptionList)
        if menu.highlighted is not None:
            s = self._by_id(menu.get_option_at_index(menu.highlighted).id)
            if s is not None:
                self.open(s)

    def action_leave(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    def _by_id(self, sid: str | None) -> Scenario | None:
        return next((s for s in self.scenarios if s.id == sid), None)

    def open(self, scenario: Scenario) -> None:
        """Build a player for ``scenario`` (off the message loop) and show the walkthrough."""
        if self.opening:
            return
        self.opening = True
        self.notify(f"Preparing {scenario.title}...", timeout=3)
        self._make_player(scenario)

    @work(thread=True, exclusive=True, group="course-open", exit_on_error=False)
    def _make_player(self, scenario: Scenario) -> None:
        factory = self.player_factory or lab_player(self.lab)
        try:
            self.post_message(self.PlayerReady(scenario, factory(scenario)))
        except Exception as e:  # shown to the teacher; the menu stays usable
            self.post_message(self.PlayerReady(scenario, error=f"{type(e).__name__}: {e}"))

    @on(PlayerReady)
    def _ready(self, message: PlayerReady) -> None:
        self.opening = False
        if message.player is None:
            self.notify(
                message.error,
                title=f"cannot open {message.scenario.id}",
                severity="error",
                timeout=10,
            )
            return
        self.app.push_screen(
            WalkthroughScreen(message.player, scenario_path=message.scenario.path or None)
        )
