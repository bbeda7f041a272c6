"""The dashboard screen: the nine panels, as tabs on a small terminal and a grid on a big one.

The screen owns no data: the app applies frames to a ``DashState`` and calls
``refresh_panels``; only visible panels render (hidden ones are marked dirty and render when
shown), so a frame costs one render per visible panel, on the message loop, never overlapping.
"""

from __future__ import annotations

from dockerscope.screens.bridges import BridgesPanel
from dockerscope.screens.cgroups import CgroupsPanel
from dockerscope.screens.commandbar import Client, CommandBar
from dockerscope.screens.flows import FlowsPanel
from dockerscope.screens.footer import QuietFooter
from dockerscope.screens.help import HelpScreen
from dockerscope.screens.namespaces import NamespacesPanel
from dockerscope.screens.nat import NatPanel
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import can_run_live
from dockerscope.screens.showcmd import ShowCommandScreen
from dockerscope.screens.sockets import SocketsPanel
from dockerscope.screens.state import DashState
from dockerscope.screens.storage import StoragePanel
from dockerscope.screens.terminal import TerminalPane
from dockerscope.screens.timeline import TimelinePanel
from dockerscope.screens.traffic import TrafficPanel
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header, Static, Tab, Tabs

PANEL_TYPES: tuple[type[Panel], ...] = (
    BridgesPanel, NatPanel, NamespacesPanel, CgroupsPanel, StoragePanel, FlowsPanel,
    TrafficPanel, TimelinePanel, SocketsPanel,
)

#: From this size up the panels show as a grid (unless the user chose a layout with ``g``).
GRID_MIN_WIDTH = 150
GRID_MIN_HEIGHT = 40


class DashboardScreen(Screen[None]):
    """All panels of one lab (or netns, or host), fed by the app's frames."""

    BINDINGS = [
        *(Binding(str(n), f"show_panel('{cls.PANEL_ID}')", cls.TITLE, show=False)
          for n, cls in enumerate(PANEL_TYPES, 1)),
        Binding("right_square_bracket", "cycle(1)", "Next panel", show=False),
        Binding("left_square_bracket", "cycle(-1)", "Prev panel", show=False),
        # Tab moves between panels in both layouts (Textual's default would stop on the tab
        # bar in the tabs layout and never reach the next panel).
        Binding("tab", "cycle(1)", "Next panel", show=False),
        Binding("shift+tab", "cycle(-1)", "Prev panel", show=False),
        Binding("c", "show_command", "Command"),
        Binding("slash", "filter", "Filter"),
        Binding("colon", "command_bar", "docker"),
        Binding("t", "toggle_table", "nat/filter"),
        Binding("g", "toggle_layout", "Layout"),
        Binding("p", "pause", "Pause"),
        Binding("P", "packets", "Packets", show=False),
        Binding("escape", "escape", show=False),
    ]

    #: Textual's ``Screen.focused`` repaints the whole screen when focus moves; at 200x60 that
    #: full-screen render was most of a panel switch's cost. The widgets whose look depends on
    #: focus (the panels' borders, via ``:focus-within``) are restyled and refresh themselves,
    #: so the rest of the screen need not be redrawn.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    def __init__(self, state: DashState, *, client: Client | None = None, live: bool = False,
                 title: str = "dockerscope") -> None:
        super().__init__()
        self.state = state
        self.client = client
        self.live = live
        self.title = title
        self.active = PANEL_TYPES[0].PANEL_ID  #: the panel shown in the tabs layout
        self.layout_choice: str | None = None  #: "grid" / "tabs" chosen with g; None = auto
        self.paused = False  #: drawing paused with p (frames still accumulate)
        self._fade_phase: frozenset[tuple[tuple[str, str], bool]] = frozenset()
        self._note_shown: str | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Tabs(*(Tab(f"{n} {cls.TITLE}", id=f"tab-{cls.PANEL_ID}")
                     for n, cls in enumerate(PANEL_TYPES, 1)), id="panel-tabs")
        with Horizontal(id="main"):
            with Container(id="panels", classes="-tabs"):
                for cls in PANEL_TYPES:
                    yield cls()
            yield Container(id="terminals")
        yield Static("", id="note")
        yield CommandBar(self.client, id="commandbar")
        yield QuietFooter()

    # -- panels -----------------------------------------------------------------------------

    @property
    def panels(self) -> list[Panel]:
        """The panels, in tab order."""
        return list(self.query_one("#panels").query_children(Panel))

    def panel(self, panel_id: str) -> Panel:
        """One panel by id ("nat", "bridges", ...)."""
        return self.query_one(f"#panels > #{panel_id}", Panel)

    @property
    def grid(self) -> bool:
        """True when all panels show at once."""
        return self.query_one("#panels").has_class("-grid")

    def current_panel(self) -> Panel:
        """The panel keys act on: the focused one, else the active tab."""
        focused: Widget | None = self.focused
        while focused is not None and not isinstance(focused, Panel):
            focused = focused.parent if isinstance(focused.parent, Widget) else None
        return focused if isinstance(focused, Panel) else self.panel(self.active)

    def panel_shown(self, panel: Panel) -> bool:
        """True when ``panel`` is on screen (all in the grid, the active one in tabs)."""
        return self.grid or self.active == panel.PANEL_ID

    def refresh_panels(self, force: bool = False) -> None:
        """Render the visible panels whose data changed; mark hidden ones for later.

        ``force`` redraws every visible panel (highlights fading, resuming from pause).
        """
        if self.state.note != self._note_shown:
            # Static.update re-lays out the screen: only when the words change.
            self._note_shown = self.state.note
            self.query_one("#note", Static).update(self.state.note)
        if self.paused:
            return
        touched = self.state.take_touched()
        for panel in self.panels:
            if not (force or panel.dirty or panel.wants(touched)):
                continue
            if self.panel_shown(panel):
                panel.show(self.state)
            else:
                panel.dirty = True
        self._fade_phase = self._phase()

    def catch_up(self) -> bool:
        """Render one hidden panel that frames left behind, so bringing it to the front later
        only costs the switch. False when there was none (or drawing is paused)."""
        if self.paused:
            return False
        for panel in self.panels:
            if panel.dirty and not self.panel_shown(panel):
                panel.show(self.state)
                return not panel.dirty
        return False

    def on_mount(self) -> None:
        self._apply_layout(self.size.width, self.size.height)
        self._select(self.active)
        self.panel(self.active).focus()
        # Fading highlights need a redraw as they age, not only when a frame lands.
        self.set_interval(0.5, self._fade_tick)
        self.refresh_panels()

    def _phase(self) -> frozenset[tuple[tuple[str, str], bool]]:
        return frozenset((key, self.state.age(mark) >= 0.5)
                         for key, mark in self.state.marks.items())

    def _fade_tick(self) -> None:
        # Redraw only the panels showing a highlight that stepped or went out: forcing every
        # visible panel (the whole grid, NAT's 1,000 rules included) each half second while
        # anything faded kept the loop busy when the next frame or key came.
        self.state.expire()
        stepped = self._phase() ^ self._fade_phase
        if stepped:
            self.state.touched.update(collection for (collection, _key), _old in stepped)
            self.refresh_panels()

    def _select(self, panel_id: str) -> None:
        self.active = panel_id
        if not self.grid:
            self._sync_tabs()
        panel = self.panel(panel_id)
        if panel.dirty:
            panel.show(self.state)

    def _sync_tabs(self) -> None:
        # Only the tabs layout hides panels and shows the tab bar; the grid skips both and
        # they are brought in step when the layout turns to tabs. Hiding is the ``display``
        # style set on the panel itself, not a class: a class change restyles the panel's
        # whole subtree (input, body, scrollbars), which was most of a tab switch's cost.
        for panel in self.panels:
            panel.display = self.active == panel.PANEL_ID
        tabs = self.query_one(Tabs)
        if tabs.active != f"tab-{self.active}":
            tabs.active = f"tab-{self.active}"

    # -- layout -----------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        # A terminal pane goes beside the panels on a wide screen, below them on a narrow one.
        self.query_one("#main").set_class(width < GRID_MIN_WIDTH, "-stacked")
        grid = (self.layout_choice == "grid" if self.layout_choice
                else width >= GRID_MIN_WIDTH and height >= GRID_MIN_HEIGHT)
        box = self.query_one("#panels")
        if grid == box.has_class("-grid"):
            return
        box.set_class(grid, "-grid")
        box.set_class(not grid, "-tabs")
        self.query_one(Tabs).display = not grid
        if grid:
            for panel in self.panels:
                panel.display = True
        else:
            self._sync_tabs()
        for panel in self.panels:
            if panel.dirty and self.panel_shown(panel):
                panel.show(self.state)

    # -- actions ----------------------------------------------------------------------------

    def action_show_panel(self, panel_id: str) -> None:
        """Bring a panel to the front and give it the keyboard (arrows scroll it)."""
        self._select(panel_id)
        self.panel(panel_id).focus()

    def action_cycle(self, step: int) -> None:
        ids = [cls.PANEL_ID for cls in PANEL_TYPES]
        self.action_show_panel(ids[(ids.index(self.current_panel().PANEL_ID) + step) % len(ids)])

    @on(Tabs.TabActivated, "#panel-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab.id and event.tab.id.startswith("tab-"):
            panel_id = event.tab.id[4:]
            if panel_id != self.active:
                self._select(panel_id)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # In the grid, the panel with focus is the one keys act on: keep the tab in step.
        widget: Widget | None = event.widget
        while widget is not None and not isinstance(widget, Panel):
            widget = widget.parent if isinstance(widget.parent, Widget) else None
        if isinstance(widget, Panel) and self.grid:
            self.active = widget.PANEL_ID

    def action_show_command(self) -> None:
        command = self.current_panel().shell_command(self.state)
        if command is not None:
            self.app.push_screen(ShowCommandScreen(command, can_run_live(self.live)))

    def action_filter(self) -> None:
        self.current_panel().open_filter()

    def action_command_bar(self) -> None:
        self.query_one(CommandBar).focus_input()

    def action_toggle_table(self) -> None:
        nat = self.panel(NatPanel.PANEL_ID)
        assert isinstance(nat, NatPanel)
        nat.toggle_table()
        self._select(nat.PANEL_ID)
        nat.show(self.state)

    def action_toggle_layout(self) -> None:
        self.layout_choice = "tabs" if self.grid else "grid"
        self._apply_layout(self.size.width, self.size.height)

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.sub_title = "paused (p resumes)" if self.paused else None
        if not self.paused:
            self.refresh_panels(force=True)

    def action_packets(self) -> None:
        """Open the Packets view (live packets on the lab's bridges) over the dashboard."""
        from dockerscope.screens.packets import packets_screen_for

        screen = packets_screen_for(self.app)
        if screen is not None:
            self.app.push_screen(screen)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen([(cls.TITLE, cls.HINT) for cls in PANEL_TYPES]))

    def action_escape(self) -> None:
        """Close the command bar (a panel's filter handles its own escape)."""
        bar = self.query_one(CommandBar)
        if bar.has_class("-open"):
            bar.remove_class("-open")
            self.current_panel().focus()

    # -- terminals --------------------------------------------------------------------------

    def open_terminal(self, pane: TerminalPane) -> None:
        """Show a terminal pane beside the panels (issue 6: ``-ti`` sessions)."""
        box = self.query_one("#terminals")
        box.add_class("-open")
        box.mount(pane)
        pane.focus()

    @on(TerminalPane.Left)
    def _left_terminal(self) -> None:
        self.current_panel().focus()

    def terminal_closed(self, pane: Widget) -> None:
        """Hide the terminal column when ``pane`` (being removed) was the last one."""
        box = self.query_one("#terminals")
        if not [child for child in box.children if child is not pane]:
            box.remove_class("-open")
            self.current_panel().focus()
