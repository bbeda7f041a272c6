"""The walkthrough screen: one scenario, step by step, beside the panels the step is about.

Left: the step's narration, its commands and their output, a predict question, and a tick or a
cross per expectation with what the kernel showed. Right: the dashboard panels the step focuses
(the app's own ``DashState`` feeds them, so the changes are highlighted as on the dashboard)
and a list of the kernel changes the step caused.

Keys: ``n``/space runs the step, then moves to the next; ``b`` goes back; ``r`` reruns;
``a`` autoplays and ``p`` pauses; ``1``-``4`` answer a predict question. With a recording
(replay), ``.``/``,`` step a frame, ``left``/``right`` seek, ``+``/``-`` change speed.
The scenario file is watched: saving it reloads the steps and keeps the position.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockerscope.screens.printable import printable, printable_output
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from dockerscope.scenario.player import Player, StepOutcome, StepView

#: Scenario focus names -> dashboard panel ids (some views live inside a broader panel).
FOCUS_TO_PANEL = {
    "bridges": "bridges",
    "routes": "bridges",
    "nat": "nat",
    "filter": "nat",
    "namespaces": "namespaces",
    "processes": "namespaces",
    "cgroups": "cgroups",
    "storage": "storage",
    "flows": "flows",
    "traffic": "traffic",
    "timeline": "timeline",
    "sockets": "sockets",
}


def _panel_types() -> tuple[type[Any], ...]:
    """The dashboard's panel classes, when the dashboard is installed."""
    try:
        from dockerscope.screens.dashboard import PANEL_TYPES
    except ImportError:
        return ()
    return PANEL_TYPES


class WalkthroughScreen(Screen[None]):
    """Steps through one scenario with a ``Player`` (live lab, fake, or recording)."""

    DEFAULT_CSS = """
    WalkthroughScreen #wt-main { height: 1fr; }
    WalkthroughScreen #wt-story { width: 1fr; min-width: 40; padding: 0 1; }
    WalkthroughScreen #wt-side { width: 1fr; }
    WalkthroughScreen #wt-side.-none { display: none; }
    WalkthroughScreen #wt-panels { height: 2fr; }
    WalkthroughScreen #wt-panels > .panel { display: none; height: 1fr; }
    WalkthroughScreen #wt-panels > .panel.-focus { display: block; }
    WalkthroughScreen #wt-changes { height: 1fr; border: round $primary 50%; padding: 0 1; }
    WalkthroughScreen .wt-box { margin-bottom: 1; }
    WalkthroughScreen #wt-title { text-style: bold; color: $accent; }
    WalkthroughScreen #wt-status { height: 1; background: $boost; padding: 0 1; }
    """

    BINDINGS = [
        Binding("n", "next", "Next"),
        Binding("space", "next", "Next", show=False),
        Binding("b", "back", "Back"),
        Binding("r", "rerun", "Rerun"),
        Binding("a", "autoplay", "Autoplay"),
        Binding("p", "pause", "Pause"),
        *(Binding(str(i), f"choose({i - 1})", show=False) for i in range(1, 5)),
        Binding("full_stop", "frame(1)", "Frame", show=False),
        Binding("comma", "frame(-1)", show=False),
        Binding("right", "seek(1)", show=False),
        Binding("left", "seek(-1)", show=False),
        Binding("plus", "speed(1)", show=False),
        Binding("minus", "speed(-1)", show=False),
        Binding("escape", "leave", "Menu"),
    ]

    @dataclass
    class StepDone(Message):
        """A step finished running (posted from the worker)."""

        index: int
        outcome: StepOutcome

    @dataclass
    class Reloaded(Message):
        """The scenario file changed on disk (``error`` set when the new version is bad)."""

        scenario: Any = None
        error: str = ""

    def __init__(
        self,
        player: Player,
        *,
        scenario_path: str | Path | None = None,
        replay: Any = None,
        autoplay_delay: float = 2.0,
    ) -> None:
        """
        Args:
            player: runs or looks up steps (``dockerscope.scenario.player``).
            scenario_path: the file to watch for edits (live players).
            replay: the ReplaySource behind a recorded player (pause, step, seek, speed).
            autoplay_delay: seconds between automatic steps.
        """
        super().__init__()
        self.player = player
        self.scenario_path = Path(scenario_path) if scenario_path else None
        self.replay = replay
        self.autoplay_delay = autoplay_delay
        self.index = 0  #: the step on screen
        self.outcomes: dict[int, StepOutcome] = {}  #: results of the steps run so far
        self.guesses: dict[int, int] = {}  #: the class's answers to predict questions
        self.running = False  #: a step is running now
        self.autoplaying = False  #: autoplay is on
        self._frames_seen = -1
        self.closer: threading.Thread | None = None  #: runs the player's cleanup after leaving

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        with Horizontal(id="wt-main"):
            with VerticalScroll(id="wt-story"):
                yield Static("", id="wt-title", classes="wt-box")
                yield Static("", id="wt-narration", classes="wt-box")
                yield Static("", id="wt-commands", classes="wt-box")
                yield Static("", id="wt-predict", classes="wt-box")
                yield Static("", id="wt-checks", classes="wt-box")
            with Vertical(id="wt-side"):
                with Vertical(id="wt-panels"):
                    for cls in _panel_types():
                        yield cls()
                yield Static("", id="wt-changes")
        yield Static("", id="wt-status")
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.player.title
        self.sub_title = "replay" if self.replay is not None else "live"
        if self.replay is not None and self.replay.shown is None:
            self.replay.step()  # show the recording's first snapshot
        self.set_interval(0.3, self._refresh_panels)
        if self.scenario_path is not None and hasattr(self.player, "reload"):
            self._watch_file()
        self.render_step()

    def on_unmount(self) -> None:
        self.autoplaying = False
        # Cleanup commands may take a while on a live lab: never on the message loop. A plain
        # (non-daemon) thread, not a worker, so the cleanup finishes even when the app is
        # quitting from this screen.
        closer = threading.Thread(target=self.player.close, name="scenario-close")
        closer.start()
        self.closer = closer

    # -- the step ---------------------------------------------------------------------------

    def view(self, index: int) -> StepView:
        viewer = getattr(self.player, "view", None)
        return viewer(index) if viewer is not None else self.player.steps[index]

    @property
    def last(self) -> int:
        return len(self.player.steps) - 1

    def render_step(self) -> None:
        """Draw the current step and, if it ran, its outcome."""
        if not self.player.steps:
            return
        self.index = max(0, min(self.index, self.last))
        v = self.view(self.index)
        out = self.outcomes.get(self.index)
        head = Text(f"Step {self.index + 1}/{self.last + 1}: {v.title}")
        if self.running:
            head.append("   running...", style="yellow")
        elif out is not None:
            head.append(
                "   ✓ as expected" if out.ok else "   ✗ not as expected",
                style="green" if out.ok else "red",
            )
        self.query_one("#wt-title", Static).update(head)
        self.query_one("#wt-narration", Static).update(v.narration)
        self.query_one("#wt-commands", Static).update(self._commands(v, out))
        self.query_one("#wt-predict", Static).update(self._predict(v, out))
        self.query_one("#wt-checks", Static).update(self._checks(v, out))
        self.query_one("#wt-changes", Static).update(self._changes(out))
        self._focus_panels(v.focus)
        self._status()

    def _commands(self, v: StepView, out: StepOutcome | None) -> Text:
        t = Text()
        if out is None or not out.outputs:
            for c in v.commands:
                t.append(f"$ {c}\n", style="bold")
            if out is not None and out.error:
                t.append(f"error: {printable_output(out.error)}\n", style="red")
            return t
        for o in out.outputs:
            t.append(f"$ {o.command}", style="bold")
            code = "running" if o.exit_code is None else f"exit {o.exit_code}"
            t.append(f"   ({code})\n", style="dim" if o.exit_code in (0, None) else "yellow")
            lines = o.text.splitlines()
            if len(lines) > 12:
                t.append(f"  ... {len(lines) - 12} lines above\n", style="dim")
            for line in lines[-12:]:
                t.append(f"  {printable_output(line)}\n")
        return t

    def _predict(self, v: StepView, out: StepOutcome | None) -> Text:
        t = Text()
        if not v.question:
            return t
        t.append(f"Predict: {v.question}\n", style="bold magenta")
        guess = self.guesses.get(self.index)
        for i, choice in enumerate(v.choices):
            mark = "▶" if guess == i else " "
            line = f" {mark} {i + 1}) {choice}"
            if out is not None and i in out.revealed:
                t.append(line + "   ← the kernel shows this\n", style="bold green")
            else:
                t.append(line + "\n")
        if out is None:
            t.append("  (press 1-4 to answer, then n to find out)\n", style="dim")
        else:
            if guess is not None:
                right = guess in out.revealed
                t.append(
                    "  Your answer: " + ("right!" if right else "not this time.") + "\n",
                    style="green" if right else "yellow",
                )
            if v.explain:
                t.append(f"  {v.explain}\n", style="italic")
        return t

    def _checks(self, v: StepView, out: StepOutcome | None) -> Text:
        t = Text()
        if out is None:
            for e in v.expect:
                t.append(f" · {e}\n", style="dim")
            return t
        for c in out.checks:
            t.append(" ✓ " if c.ok else " ✗ ", style="bold green" if c.ok else "bold red")
            t.append(printable(c.text))
            t.append(f"\n     {printable(c.detail)}\n", style="dim")
        return t

    def _changes(self, out: StepOutcome | None) -> Text:
        t = Text("What the kernel changed\n", style="bold")
        if out is None:
            t.append("(run the step to see)", style="dim")
            return t
        if not out.changes:
            t.append("nothing", style="dim")
        for line in out.changes:
            style = {"+": "green", "-": "red"}.get(line[:1], "yellow")
            t.append(printable(line) + "\n", style=style)
        return t

    def _status(self) -> None:
        bits = ["autoplay on (p pauses)" if self.autoplaying else "n: run/next  b: back  r: rerun"]
        if self.replay is not None:
            r = self.replay
            shown = (r.shown + 1) if r.shown is not None else 0
            state = "paused" if r.paused else "playing"
            bits.append(f"frame {shown}/{len(r.moments)}  {state}  speed x{r.speed:g}")
        self.query_one("#wt-status", Static).update("   ".join(bits))

    # -- panels -----------------------------------------------------------------------------

    def _focus_panels(self, focus: tuple[str, ...]) -> None:
        wanted = {FOCUS_TO_PANEL[f] for f in focus if f in FOCUS_TO_PANEL}
        panels = list(self.query("#wt-panels > .panel"))
        side = self.query_one("#wt-side")
        for p in panels:
            p.set_class(p.id in wanted, "-focus")
        self.query_one("#wt-panels").display = bool(panels) and bool(wanted)
        side.set_class(False, "-none")
        self._frames_seen = -1  # redraw with the new set
        self._refresh_panels()

    def _refresh_panels(self) -> None:
        state = getattr(self.app, "state", None)
        if state is None or getattr(state, "snapshot", None) is None:
            return
        if state.frames == self._frames_seen:
            return
        self._frames_seen = state.frames
        for p in self.query("#wt-panels > .panel.-focus"):
            with contextlib.suppress(Exception):  # a panel bug must not stop the class
                p.show(state)  # type: ignore[attr-defined]
        if self.replay is not None:
            self._status()

    # -- actions ----------------------------------------------------------------------------

    def action_next(self) -> None:
        """Run the current step, or move on if it already ran."""
        if self.running:
            return
        if self.index not in self.outcomes:
            self.run_current()
        elif self.index < self.last:
            self.index += 1
            self.render_step()
        else:
            self.notify("That was the last step.", title=self.player.title)

    def action_back(self) -> None:
        if self.running or self.index == 0:
            return
        self.index -= 1
        self.render_step()

    def action_rerun(self) -> None:
        if not self.running:
            self.run_current()

    def action_choose(self, choice: int) -> None:
        v = self.view(self.index)
        if v.choices and self.index not in self.outcomes and choice < len(v.choices):
            self.guesses[self.index] = choice
            self.render_step()

    def action_autoplay(self) -> None:
        self.autoplaying = True
        if self.replay is not None:
            self.replay.resume()
        self._status()
        if not self.running:
            self._auto_tick()

    def action_pause(self) -> None:
        """Stop autoplay (and, in a replay, the frames)."""
        was = self.autoplaying or (self.replay is not None and not self.replay.paused)
        self.autoplaying = False
        if self.replay is not None:
            if was:
                self.replay.pause()
            else:
                self.replay.resume()
        self._status()

    def action_frame(self, n: int) -> None:
        if self.replay is not None:
            self.replay.step(n)

    def action_seek(self, direction: int) -> None:
        if self.replay is None:
            return
        r = self.replay
        jump = max(1, len(r.moments) // 10)
        here = r.shown if r.shown is not None else 0
        r.seek(max(0, min(here + direction * jump, len(r.moments) - 1)))
        r.step()

    def action_speed(self, direction: int) -> None:
        if self.replay is not None:
            speed = self.replay.faster() if direction > 0 else self.replay.slower()
            self.notify(f"speed x{speed:g}")
            self._status()

    def action_leave(self) -> None:
        if self.running:  # its cleanup would race the step's commands
            self.notify("A step is still running: leave when it is done.", timeout=3)
            return
        self.autoplaying = False
        self.app.pop_screen()

    def _auto_tick(self) -> None:
        if not self.autoplaying or self.running:
            return
        if self.index in self.outcomes and self.index == self.last:
            self.autoplaying = False
            self.notify("Autoplay finished.", title=self.player.title)
            self._status()
            return
        self.action_next()
        if not self.running:  # moved to the next step: run it after a pause
            self.set_timer(self.autoplay_delay, self._auto_tick)

    # -- running ----------------------------------------------------------------------------

    def run_current(self) -> None:
        index = self.index
        self.running = True
        self.outcomes.pop(index, None)
        self.render_step()
        if self.player.live:
            self._run_in_thread(index)
        else:
            self.post_message(self.StepDone(index, self.player.run(index)))

    @work(thread=True, exclusive=True, group="scenario-step", exit_on_error=False)
    def _run_in_thread(self, index: int) -> None:
        # Workers never touch widgets: run, then post the outcome.
        self.post_message(self.StepDone(index, self.player.run(index)))

    @on(StepDone)
    def _step_done(self, message: StepDone) -> None:
        self.running = False
        self.outcomes[message.index] = message.outcome
        self.render_step()
        if self.autoplaying:
            self.set_timer(self.autoplay_delay, self._auto_tick)

    # -- reloading --------------------------------------------------------------------------

    @work(exclusive=True, group="scenario-watch", exit_on_error=False)
    async def _watch_file(self) -> None:
        from watchfiles import awatch

        from dockerscope.scenario.loader import ScenarioError, load

        assert self.scenario_path is not None
        async for _ in awatch(self.scenario_path, debounce=200, recursive=False):
            try:
                self.post_message(self.Reloaded(scenario=load(self.scenario_path)))
            except (ScenarioError, OSError) as e:
                self.post_message(self.Reloaded(error=str(e)))

    @on(Reloaded)
    def _reloaded(self, message: Reloaded) -> None:
        if message.error:
            self.notify(message.error, title="scenario not reloaded", severity="error", timeout=10)
            return
        old = self.view(self.index).id
        self.player.reload(message.scenario)  # type: ignore[attr-defined]
        ids = [s.id for s in self.player.steps]
        # Keep the position: the same step if it still exists, else the same number.
        self.index = ids.index(old) if old in ids else min(self.index, self.last)
        self.outcomes = {}
        self.render_step()
        self.notify("Scenario reloaded.", title=self.player.title)
