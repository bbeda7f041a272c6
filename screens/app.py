"""The dockerscope Textual app and the entry points the CLI calls.

``DockerscopeApp`` is built from its dependencies (a frame source, a command client, a clock),
so tests inject fakes. Frames come from one async worker that only queues them and posts a
``FramesReady`` message; a flood of those collapses into one (``can_replace``), and the handler
applies every queued frame in order and redraws once: refreshes never overlap or pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dockerscope.screens.commandbar import Client, CommandBar
from dockerscope.screens.dashboard import PANEL_TYPES, DashboardScreen
from dockerscope.screens.idle_gc import IdleCollector
from dockerscope.screens.livetraffic import open_traffic_feed
from dockerscope.screens.printable import printable
from dockerscope.screens.sessions import PtyProcess, TerminalArgv, dockerscope_argv
from dockerscope.screens.state import DashState
from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen

from dockerscope.feed import Frame, Source
from dockerscope.feed.traffic import WithTraffic, traffic_socket_of
from dockerscope.kernel.model import Snapshot

ScreenFactory = Callable[[], Screen[Any]]

DARK, LIGHT = "textual-dark", "textual-light"

#: Seconds after a key or mouse event during which no background work starts: the paints it
#: causes, and animations such as the tab underline sliding (~0.4 s), go first.
INPUT_HOLD = 0.4

#: At most this long (seconds) the feed waits for a frame to be painted before the next.
FRAME_WAIT = 0.2


@dataclass
class FramesReady(Message):
    """Frames are queued for the dashboard. Carries nothing, so any number collapse into one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FramesReady)


@dataclass
class FeedEnded(Message):
    """The source finished (``error`` is set when it failed)."""

    error: str = ""


class DockerscopeApp(App[None]):
    """The dashboard app: panels fed by any ``dockerscope.feed.Source``."""

    CSS_PATH = ["dockerscope.tcss"]
    TITLE = "dockerscope"
    BINDINGS = [
        Binding("s", "lab_shell", "Lab shell"),
        Binding("question_mark", "help", "Help"),
        Binding("d", "toggle_theme", "Theme"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        source: Source,
        *,
        title: str = "dockerscope",
        client: Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        live: bool | None = None,
        extra_screens: Sequence[Screen[Any] | ScreenFactory] = (),
        terminal_argv: TerminalArgv | None = None,
        lab_shell: Sequence[str] | None = None,
        idle_gc: IdleCollector | None = None,
    ) -> None:
        """
        Args:
            source: where frames come from (live observer, replay, test fake).
            title: shown in the header.
            client: runs a docker command line and returns its output (the command bar).
            clock: time for highlight fading; tests pass a frozen one.
            live: whether panels may run their shell commands for real (default: the
                source's ``live`` attribute).
            extra_screens: screens pushed over the dashboard at start (e.g. a course menu).
            terminal_argv: how to run an interactive docker command (``run -ti``) on a pty;
                without it such commands are refused with an explanation.
            lab_shell: argv of the lab's shell (``dockerscope ssh``), opened with ``s``.
            idle_gc: the garbage-collection policy (``idle_gc.IdleCollector``: full
                collections at quiet moments, not in the middle of a paint).
        """
        super().__init__()
        self.source = source
        self.client = client
        self.live = bool(getattr(source, "live", False)) if live is None else live
        self.state = DashState(clock)
        self.extra_screens = list(extra_screens)
        self.title = title
        self.sub_title = source.scope
        self.terminal_argv = terminal_argv
        self.lab_shell = list(lab_shell) if lab_shell else None
        self.sessions: list[PtyProcess] = []  #: processes started in terminal panes
        self._pending: deque[Frame] = deque()
        self.frames_applied = 0  #: frames rendered so far (tests wait on it)
        self._drawn = asyncio.Event()  #: set once the frames applied so far are painted
        self.idle_gc = idle_gc or IdleCollector()

    def on_mount(self) -> None:
        self.push_screen(self.make_dashboard())
        for extra in self.extra_screens:
            self.push_screen(extra if isinstance(extra, Screen) else extra())
        self._pump()
        self.idle_gc.start()
        self.set_interval(0.1, self._quiet_moment)

    def _quiet_moment(self) -> None:
        # Work nobody is waiting for runs when nothing else happens: first hidden panels
        # catch up with the frames they missed (one per tick, so a key never waits for more
        # than one render), then the garbage collector's turn.
        if not self.idle_gc.is_quiet():
            return
        # (LookupError: no dashboard yet, or its widgets already gone while the app closes)
        with contextlib.suppress(LookupError, NoMatches):
            if self.dashboard.catch_up():
                return
        self.idle_gc.tick()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseEvent, events.Resize)):
            self.idle_gc.busy(hold=INPUT_HOLD)
        await super().on_event(event)

    def make_dashboard(self) -> DashboardScreen:
        """A dashboard bound to this app's state and client."""
        return DashboardScreen(self.state, client=self.client, live=self.live, title=self.title)

    @property
    def dashboard(self) -> DashboardScreen:
        """The dashboard screen (there is one, at the bottom of the stack above the default)."""
        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                return screen
        raise LookupError("no dashboard screen")

    # -- frames -----------------------------------------------------------------------------

    @work(exclusive=True, group="feed", exit_on_error=False)
    async def _pump(self) -> None:
        # Never touches widgets: queue and notify.
        try:
            async for frame in self.source.frames():
                self._pending.append(frame)
                self._drawn.clear()
                self.post_message(FramesReady())
                # Backpressure: the next frame is asked for once this one is painted (or
                # after FRAME_WAIT). A live observer refreshes in a thread of this process;
                # started at once, its refresh for the next burst of events competed for the
                # GIL with this frame's paint. Events meanwhile queue up and coalesce.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._drawn.wait(), FRAME_WAIT)
        except Exception as exc:  # noqa: BLE001 - a broken source is reported, not fatal
            self.post_message(FeedEnded(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(FeedEnded())

    @on(FramesReady)
    def _frames_ready(self) -> None:
        if not self._pending:
            return
        self.idle_gc.busy()
        while self._pending:
            self.state.apply(self._pending.popleft())
            self.frames_applied += 1
        with contextlib.suppress(LookupError):
            self.dashboard.refresh_panels()
        self.call_after_refresh(self._drawn.set)

    @on(FeedEnded)
    def _feed_ended(self, message: FeedEnded) -> None:
        if message.error:
            error = printable(message.error)  # may quote a recording's or the kernel's bytes
            self.sub_title = f"{self.source.scope}: feed stopped ({error})"
            self.notify(error, title="feed stopped", severity="error", markup=False)
        else:
            self.sub_title = f"{self.source.scope}: no more frames"

    async def action_quit(self) -> None:
        await self.source.stop()
        self.exit()

    def on_unmount(self) -> None:
        self.idle_gc.stop()
        # Detached sessions that still run are hung up with the app, as a terminal would.
        for session in self.sessions:
            session.end()

    # -- small actions ----------------------------------------------------------------------

    def action_toggle_theme(self) -> None:
        """Flip between the light and the dark theme."""
        self.theme = LIGHT if self.theme == DARK else DARK

    def action_help(self) -> None:
        self.dashboard.action_help()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        dash = self.dashboard
        for n, cls in enumerate(PANEL_TYPES, 1):
            yield SystemCommand(f"Panel: {cls.TITLE}", f"({n}) {cls.HINT}",
                                lambda pid=cls.PANEL_ID: dash.action_show_panel(pid))
        yield SystemCommand("Show me the command", "the shell command behind the panel (c)",
                            dash.action_show_command)
        yield SystemCommand("Packets", "live packets on the lab's bridges, and its ARP table (P)",
                            dash.action_packets)
        yield SystemCommand("Run a docker command", "open the command bar (:)",
                            dash.action_command_bar)
        yield SystemCommand("NAT: nat / filter table", "flip the iptables table (t)",
                            dash.action_toggle_table)
        yield SystemCommand("Layout: grid / tabs", "all panels at once or one at a time (g)",
                            dash.action_toggle_layout)
        yield SystemCommand("Light / dark theme", "flip the theme (d)", self.action_toggle_theme)
        yield SystemCommand("Help", "keys, panels, colours (?)", self.action_help)

    # -- terminals (issue 6) ----------------------------------------------------------------

    @on(CommandBar.Interactive)
    def _interactive(self, message: CommandBar.Interactive) -> None:
        bar = self.dashboard.query_one(CommandBar)
        argv = self.terminal_argv(message.command) if self.terminal_argv else None
        if argv is None:
            bar.say("this command needs a terminal, and there is no lab to open one on: "
                    "run it in a shell with DOCKER_HOST set (eval $(dockerscope env))",
                    "yellow")
            return
        try:
            self.start_session(argv, title=message.command, docker=True)
        except OSError as exc:
            bar.say(f"cannot start {argv[0]}: {exc.strerror}", "red1")
            return
        bar.say("opened in a terminal pane (ctrl+] detaches)", "grey50")

    def start_session(self, argv: Sequence[str], *, title: str, docker: bool) -> Any:
        """Run ``argv`` on a new pty and show it in a terminal pane."""
        session = PtyProcess(argv, docker=docker)
        self.sessions.append(session)
        return self.open_terminal(session, title=title, on_detach=session.detach)

    def action_lab_shell(self) -> None:
        """Open the lab's shell (``dockerscope ssh``) in a terminal pane."""
        if not self.lab_shell:
            self.notify("no lab shell here (replay, or not a lab)", severity="warning")
            return
        self.start_session(self.lab_shell, title="lab shell", docker=False)

    def open_terminal(self, conn: Any, *, title: str = "terminal",
                      on_detach: Callable[[], None] | None = None) -> Any:
        """Open a terminal pane beside the panels for a pty fd or read/write/resize object.

        Closing the pane (ctrl+]) detaches: ``on_detach`` is called, the process lives on.
        """
        from dockerscope.screens.terminal import TerminalPane

        dash = self.dashboard

        def detached() -> None:
            dash.terminal_closed(pane)
            if on_detach is not None:
                on_detach()

        pane = TerminalPane(conn, title=title, on_detach=detached)
        dash.open_terminal(pane)
        return pane


# -- entry points the CLI calls ---------------------------------------------------------------


def build_app(source: Source, **kwargs: Any) -> DockerscopeApp:
    """The factory: tests and the CLI build the app the same way."""
    return DockerscopeApp(source, **kwargs)


def run_scope(source: Source, *, client: Client | None = None, title: str = "dockerscope",
              traffic_socket: str | None = None) -> None:
    """``dockerscope scope``: the dashboard on a live source (show-command runs for real).

    For a lab, the daemon's API calls (``traffic_socket``, else the observer's socket) are
    merged into the frames for the traffic and timeline panels.
    """
    sessions = lab_sessions(source.scope)
    socket_path = traffic_socket or traffic_socket_of(source)
    if sessions and socket_path:
        source = WithTraffic(source, socket_path, opener=open_traffic_feed)
    build_app(source, client=client, title=title, live=True, **sessions).run()


def lab_sessions(scope: str) -> dict[str, Any]:
    """Terminal sessions for a lab scope: ``-ti`` commands and the lab shell, via the CLI."""
    kind, _, name = scope.partition(":")
    if kind != "lab" or not name:
        return {}
    return {"terminal_argv": dockerscope_argv(lab=name),
            "lab_shell": [sys.executable, "-m", "dockerscope", "--lab", name, "ssh"]}


def _optional(module: str) -> Any | None:
    """A sibling module owned by another part of the project, when it exists."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


def run_course(lab: Any, *, source: Source | None = None, client: Client | None = None) -> None:
    """``dockerscope course``: the course menu when it is there, else the dashboard.

    The course menu module provides ``CourseMenuScreen(lab)``; it is pushed over the dashboard,
    which keeps showing the lab underneath.
    """
    menu = _optional("dockerscope.screens.course_menu")
    extra: list[ScreenFactory] = []
    if menu is not None and hasattr(menu, "CourseMenuScreen"):
        extra.append(lambda: menu.CourseMenuScreen(lab))
    live = source is not None
    socket_path = traffic_socket_of(source)
    if source is not None and socket_path:
        source = WithTraffic(source, socket_path, opener=open_traffic_feed)
    if source is None:
        source = NoFrames(f"lab:{getattr(lab, 'name', lab)}",
                          "the live observer is not available: panels stay empty")
    build_app(source, client=client, title="dockerscope course", extra_screens=extra,
              live=live, **lab_sessions(f"lab:{getattr(lab, 'name', lab)}")).run()


def run_replay(path: str | None, reason: str | None = None) -> None:
    """``dockerscope replay``: delegated to the replay menu (recordings, controls)."""
    menu = _optional("dockerscope.screens.replay_menu")
    if menu is not None and hasattr(menu, "run_replay"):
        menu.run_replay(path, reason=reason)
        return
    if path is None:
        raise SystemExit("dockerscope replay: give a recording path (no replay menu installed)")
    replay = importlib.import_module("dockerscope.scenario.replay")
    source = replay.ReplaySource(path)
    build_app(source, title=f"dockerscope replay {path}").run()


class NoFrames:
    """A source with one empty frame saying why nothing else will come."""

    def __init__(self, scope: str, reason: str) -> None:
        self.scope = scope
        self.reason = reason
        self._stopped = asyncio.Event()

    async def frames(self) -> AsyncIterator[Frame]:
        yield Frame(at=time.time(), snapshot=Snapshot(taken_at=time.time(), scope=self.scope),
                    note=self.reason)
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()
