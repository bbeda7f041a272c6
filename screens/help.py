"""The help screen (``?``): keys, panels and what the colours mean."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("1-9, [ ]", "show a panel / previous, next panel (tabs layout)"),
    ("tab", "move between panels and inputs"),
    ("c", "show me the command: the shell command behind the panel"),
    ("/", "filter the panel (esc clears)"),
    (":", "command bar: run a docker command against the lab (-ti opens a terminal pane)"),
    ("s", "lab shell in a terminal pane (dockerscope ssh)"),
    ("ctrl+] / F12", "in a terminal pane: close it (detach) / give the keys back to the panels"),
    ("arrows, pgup/pgdn", "scroll the panel (sideways too)"),
    ("t", "NAT panel: flip between the nat and filter tables"),
    ("g", "grid of panels / tabs (auto: grid on a big terminal)"),
    ("p", "pause drawing (frames keep coming)"),
    ("d", "light / dark theme"),
    ("ctrl+p", "command palette"),
    ("?", "this help"),
    ("q", "quit"),
)

COLOURS = (
    ("green", "appeared in the last few seconds"),
    ("red, struck through", "just removed; fades out"),
    ("yellow counters", "moved since the last frame"),
    ("cyan ◂ owner", "the container, network or port that caused it"),
    ("same colour inode", "a namespace shared between containers"),
)


class HelpScreen(ModalScreen[None]):
    """Keys and legend."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, panels: list[tuple[str, str]],
                 keys: tuple[tuple[str, str], ...] = KEYS) -> None:
        super().__init__()
        self.panels = panels  # (title, hint)
        self.keys = keys  # (key, what it does): the dashboard's, or another screen's

    def compose(self) -> ComposeResult:
        keys = Table(box=None, show_header=False, pad_edge=False)
        keys.add_column(style="bold")
        keys.add_column()
        for key, what in self.keys:
            keys.add_row(key, what)
        panels = Table(box=None, show_header=False, pad_edge=False)
        panels.add_column(style="bold")
        panels.add_column()
        for n, (title, hint) in enumerate(self.panels, 1):
            panels.add_row(f"{n} {title}", hint)
        legend = Table(box=None, show_header=False, pad_edge=False)
        legend.add_column(style="bold")
        legend.add_column()
        for colour, what in COLOURS:
            legend.add_row(colour, what)
        with VerticalScroll(id="help-box") as box:
            box.border_title = "dockerscope help (esc closes)"
            yield Static(Text("Keys", style="bold underline"))
            yield Static(keys)
            if self.panels:
                yield Static(Text("\nPanels", style="bold underline"))
                yield Static(panels)
            yield Static(Text("\nColours", style="bold underline"))
            yield Static(legend)
