"""The base of every dashboard panel: a titled, focusable box with a filter and a body.

A panel turns the dashboard's ``DashState`` into lines of text (``render_body``; a ``Text``
or any Rich renderable works too, more slowly) and names the shell command behind its view
(``shell_command``). It never reads a source and never
runs in a worker: the dashboard calls ``show`` on the message loop, one refresh at a time.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import ClassVar, cast

from dockerscope.screens.lines import Line, LinesView, as_lines
from dockerscope.screens.shell import ShellCommand
from dockerscope.screens.state import DashState
from rich.console import Console, RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input

_CONSOLE = Console(file=io.StringIO(), width=1000, color_system=None, legacy_windows=False)


def to_lines(content: RenderableType | Sequence[Line]) -> list[Line]:
    """Whatever a panel rendered, as lines (Rich renderables go the slow way)."""
    if isinstance(content, (list, tuple)):
        return list(content)
    if isinstance(content, Text):
        return as_lines(content)
    renderable = cast(RenderableType, content)
    rendered = _CONSOLE.render_lines(renderable, _CONSOLE.options, pad=False)
    return [Text.assemble(*((seg.text, seg.style or "") for seg in line if seg.text))
            for line in rendered]


class FilterInput(Input):
    """A panel's filter box. The filter is applied as the value changes, in the same step as
    the keystroke, so the box and the filtered body are laid out and painted once (an
    ``Input.Changed`` message would arrive a paint later)."""

    def watch_value(self, value: str) -> None:
        panel = self.parent
        if isinstance(panel, Panel):
            panel.set_filter(value)


class Panel(Vertical, can_focus=True):
    """One view of the lab. Subclasses set the class variables and implement ``render_body``."""

    BINDINGS = [
        Binding("up", "scroll('up')", show=False),
        Binding("down", "scroll('down')", show=False),
        Binding("left", "scroll('left')", show=False),
        Binding("right", "scroll('right')", show=False),
        Binding("pageup", "scroll('page_up')", show=False),
        Binding("pagedown", "scroll('page_down')", show=False),
        Binding("home", "scroll('home')", show=False),
        Binding("end", "scroll('end')", show=False),
    ]

    PANEL_ID: ClassVar[str] = "panel"
    TITLE: ClassVar[str] = "Panel"
    HINT: ClassVar[str] = ""  # one line telling what the panel shows, for the help screen
    #: What the panel draws from (snapshot collections, "traffic"); empty = everything.
    WATCHES: ClassVar[frozenset[str]] = frozenset()
    #: A log-like panel: keep the newest lines (at the bottom) in view.
    FOLLOW: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__(id=self.PANEL_ID, classes="panel")
        self.border_title = self.TITLE
        self.query_text = ""  #: the filter typed by the user, lower-cased
        self.dirty = True  #: state moved on since the last render
        self._renderable: RenderableType | Sequence[Line] = Text("waiting for the first frame...")
        self._lines: list[Line] = to_lines(self._renderable)
        self._state: DashState | None = None  # the state last drawn, to redraw on resize
        self._reveal: int | None = None  # a line to bring into view after this render

    def compose(self) -> ComposeResult:
        yield FilterInput(placeholder="filter (enter to keep, esc to clear)", classes="filter")
        yield LinesView(classes="body", follow=self.FOLLOW)

    def on_mount(self) -> None:
        self.query_one(LinesView).set_lines(to_lines(self._renderable))

    # -- the border of the panel holding the keyboard --------------------------------------
    # Textual restyles a widget's whole subtree (filter input, body, scrollbars) when its
    # focus changes, and with a ``:focus-within`` rule the subtrees of both panels once more:
    # four subtree restyles per panel switch, 20-40 ms of a switch's cost at 200x60. Only the
    # panel's own border depends on focus, so the panel lights itself and restyles itself alone.

    def watch_has_focus(self, has_focus: bool) -> None:
        self._light()

    def on_descendant_focus(self) -> None:
        self._light()

    def on_descendant_blur(self) -> None:
        self._light()

    def _light(self) -> None:
        lit = self.has_focus_within
        if lit != self.has_class("-lit"):
            self.set_class(lit, "-lit", update=False)
            self.app.stylesheet.update_nodes([self], animate=False)

    def render_body(self, state: DashState) -> RenderableType | Sequence[Line]:
        """The panel's content for the current state: a ``Text``, lines of it, or (slower)
        any Rich renderable."""
        raise NotImplementedError

    def reveal_line(self, index: int) -> None:
        """From ``render_body``: bring line ``index`` into view once drawn (news the class
        should see); the first call of a render wins."""
        if self._reveal is None:
            self._reveal = index

    def layout_changed(self) -> bool:
        """True when the panel's size calls for a different layout than the one drawn."""
        return False

    def on_resize(self) -> None:
        if self._state is not None and self.layout_changed():
            self.show(self._state)

    def wants(self, touched: set[str]) -> bool:
        """True when something this panel draws from changed."""
        return not self.WATCHES or bool(self.WATCHES & touched)

    def shell_command(self, state: DashState) -> ShellCommand | None:
        """The command a student would type for the same view."""
        return None

    def matches(self, *texts: str) -> bool:
        """True when the filter is empty or any text contains it."""
        if not self.query_text:
            return True
        return any(self.query_text in t.lower() for t in texts if t)

    def show(self, state: DashState) -> None:
        """Render the state into the body now."""
        if state.snapshot is None:
            return  # stays dirty: the first frame will draw it
        self.dirty = False
        self._state = state
        self._reveal = None
        self._renderable = self.render_body(state)
        self._lines = to_lines(self._renderable)
        body = self.query_one(LinesView)
        body.set_lines(self._lines)
        if self._reveal is not None:
            body.reveal(self._reveal)

    def rendered_text(self) -> str:
        """The body as plain text (what a reader sees), for tests and the clipboard."""
        return "\n".join(line.plain for line in self._lines)

    def action_scroll(self, where: str) -> None:
        """Keyboard scrolling of the body (it does not take focus itself)."""
        body = self.query_one(LinesView)
        step = max(1, body.scrollable_content_region.width // 4)
        moves = {
            "up": lambda: body.scroll_relative(y=-1, animate=False),
            "down": lambda: body.scroll_relative(y=1, animate=False),
            "left": lambda: body.scroll_relative(x=-step, animate=False),
            "right": lambda: body.scroll_relative(x=step, animate=False),
            "page_up": lambda: body.scroll_page_up(animate=False),
            "page_down": lambda: body.scroll_page_down(animate=False),
            "home": lambda: body.scroll_to(x=0, y=0, animate=False),
            "end": lambda: body.scroll_end(animate=False),
        }
        moves[where]()

    def open_filter(self) -> None:
        """Show the filter input and focus it."""
        box = self.query_one(Input)
        box.add_class("-open")
        box.focus()

    def set_filter(self, value: str) -> None:
        """Show only what contains ``value`` (case-insensitive); redraw with the last state."""
        query = value.strip().lower()
        self.border_subtitle = f"filter: {value}" if value else ""
        if query == self.query_text:
            return
        self.query_text = query
        if self._state is not None:
            self.show(self._state)

    @on(Input.Submitted, ".filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        box = self.query_one(Input)
        if not box.value:
            box.remove_class("-open")
        self.focus()

    def key_escape(self) -> bool:
        """Esc in the filter clears it and hides it."""
        box = self.query_one(Input)
        if box.has_class("-open"):
            box.value = ""
            box.remove_class("-open")
            self.focus()
            return True
        return False
