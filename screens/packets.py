"""The Packets view: packets on the lab's interfaces as they pass, and the lab's ARP table.

Opened from the dashboard (``P``). A packet feed (``dockerscope.kernel.packets.feed``) runs the
captures on its own thread and posts ``PacketsArrived`` (any number collapse into one); the
handler takes what is queued, folds each packet's other sightings under it and redraws the
newest rows once. Paused, the feed's bounded queue holds what comes (the oldest go, counted).
"""

from __future__ import annotations

import shlex
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockerscope.screens.help import HelpScreen
from dockerscope.screens.packetrows import PacketRows
from dockerscope.screens.printable import printable
from dockerscope.screens.shell import CommandLine, ShellCommand, can_run_live, netns_of_scope
from dockerscope.screens.showcmd import ShowCommandScreen
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from dockerscope.kernel.neighbours import Neighbour
from dockerscope.kernel.packets import bpf
from dockerscope.kernel.packets.capture import CaptureError
from dockerscope.kernel.packets.feed import PacketFeed, check_filter
from dockerscope.kernel.packets.pcapng import PcapngWriter

#: Opens a feed for (interfaces, filter); raises CaptureError or BpfError when it cannot.
FeedFactory = Callable[[list[str], str], PacketFeed]
#: The keys of this view, for its help screen (``?``).
KEYS = (
    ("P", "(on the dashboard) open this packets view"),
    ("space", "pause / resume the list (packets wait meanwhile; past a limit the oldest go)"),
    ("w", "save every packet listed as pcapng (tcpdump -r or Wireshark reads it)"),
    ("f", "type a filter as for tcpdump (icmp, tcp port 80, arp); enter applies it"),
    ("i", "type interface names (docker0, a bridge, a veth, or any); enter applies them"),
    ("c", "show me the command: the tcpdump line for the same view, and its output"),
    ("esc", "leave an input; from the list, back to the dashboard"),
    ("also on ...", "the same packet seen at another interface, and what NAT rewrote"),
)
#: Rows drawn (the list keeps more, for saving): enough to scroll back a few screens.
ROWS_DRAWN = 300
#: From this width the neighbour table goes beside the packets, else below them.
SIDE_BY_SIDE_WIDTH = 120
#: How often the neighbour table is read again (seconds).
NEIGHBOURS_EVERY = 2.0


@dataclass
class PacketsArrived(Message):
    """The feed has something queued. Carries nothing, so any number collapse into one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PacketsArrived)


def parse_interfaces(words: str) -> list[str]:
    """``docker0, br-1 veth2`` -> ``["docker0", "br-1", "veth2"]`` (duplicates dropped)."""
    out: list[str] = []
    for name in words.replace(",", " ").split():
        if name not in out:
            out.append(name)
    return out


def tcpdump_command(lab: str | None, interfaces: Sequence[str], expression: str) -> ShellCommand:
    """The tcpdump lines a student would type for the same view (one per interface)."""
    lines = []
    for name in interfaces:
        shown = f"tcpdump -n -e -i {shlex.quote(name)}"
        if expression:
            shown += f" {shlex.quote(expression)}"
        # Run for real with a count and a time limit: tcpdump alone would never return.
        argv = (
            "timeout",
            "3",
            "tcpdump",
            "-n",
            "-e",
            "-c",
            "20",
            "-i",
            name,
            *([expression] if expression else []),
        )
        lines.append(CommandLine(shown, argv))
    return ShellCommand(
        "Packets",
        tuple(lines),
        netns=lab,
        explain="tcpdump prints one line per packet: -n keeps addresses as numbers, -e adds "
        "the MAC addresses, -i picks the interface. Run here, it stops after 20 "
        "packets or 3 seconds.",
    )


class PacketsScreen(Screen[None]):
    """Decoded packets on chosen interfaces, folded by packet, beside the neighbour table."""

    DEFAULT_CSS = """
    #packets-status { height: auto; padding: 0 1; color: $text-muted; }
    #packets-inputs { height: 3; }
    #packets-ifaces { width: 2fr; }
    #packets-filter { width: 3fr; }
    #packets-error { display: none; height: auto; padding: 0 1; }
    #packets-error.-shown { display: block; }
    #packets-body { height: 1fr; }
    #packets-rows { text-wrap: nowrap; text-overflow: ellipsis; }
    #packets-list { width: 2fr; border: round $primary 50%; }
    #packets-list:focus { border: round $accent; }
    #packets-neigh { width: 1fr; border: round $primary 50%; padding: 0 1; }
    #packets-body.-stacked { layout: vertical; }
    #packets-body.-stacked #packets-list { width: 1fr; height: 2fr; }
    #packets-body.-stacked #packets-neigh { width: 1fr; height: 1fr; }
    """

    BINDINGS = [
        Binding("space", "pause", "Pause"),
        Binding("w", "save", "Save pcapng"),
        Binding("c", "show_command", "Command"),
        Binding("f", "focus_filter", "Filter"),
        Binding("i", "focus_interfaces", "Interfaces"),
        Binding("escape", "leave", "Back"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self,
        open_feed: FeedFactory,
        interfaces: Sequence[str],
        *,
        lab: str | None = None,
        neighbours: Callable[[], list[Neighbour]] | None = None,
        live: bool = False,
        save_dir: Path | None = None,
    ) -> None:
        """
        Args:
            open_feed: opens a packet feed for (interfaces, filter).
            interfaces: what to capture at first (the lab's docker0 and bridges).
            lab: the lab's netns name, for the tcpdump line.
            neighbours: reads the lab's neighbour table (None: there is none to read).
            live: whether "show me the command" may run tcpdump for real.
            save_dir: where ``w`` writes pcapng files (default: the current directory).
        """
        super().__init__()
        self.open_feed = open_feed
        self.interfaces = list(interfaces)
        self.expression = ""
        self.lab = lab
        self.read_neighbours = neighbours
        self.live = live
        self.save_dir = save_dir or Path.cwd()
        self.rows = PacketRows()
        self.feed: PacketFeed | None = None
        self.paused = False
        self.notes: list[str] = []
        self.painted = 0  #: redraws of the list so far (tests wait on it)
        #: seconds from a packet's kernel timestamp to its row painted (newest per redraw)
        self.paint_delays: deque[float] = deque(maxlen=1000)
        self.last_saved: tuple[Path, int] | None = None  #: the last file ``w`` wrote, and count

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Static("", id="packets-status")
        with Horizontal(id="packets-inputs"):
            yield Input(
                " ".join(self.interfaces),
                id="packets-ifaces",
                placeholder="interfaces, e.g. docker0 br-12eeb8c4266b, or any",
            )
            yield Input(
                "", id="packets-filter", placeholder="filter, as for tcpdump: icmp or tcp port 80"
            )
        yield Static("", id="packets-error")
        with Horizontal(id="packets-body"):
            with VerticalScroll(id="packets-list") as box:
                box.border_title = "Packets (folded: the same packet seen elsewhere)"
                yield Static("", id="packets-rows")
            with VerticalScroll(id="packets-neigh") as side:
                side.border_title = "ARP / neighbours"
                yield Static("", id="packets-neigh-table")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"packets in lab {self.lab}" if self.lab else "packets"
        self._layout(self.size.width)
        error = self._switch(self.interfaces, "")
        if error:
            self._say(error)
        self.query_one("#packets-list").focus()
        self._draw()
        self._refresh_neighbours()
        self.set_interval(NEIGHBOURS_EVERY, self._refresh_neighbours)
        self.set_interval(1.0, self._draw_status)

    def on_unmount(self) -> None:
        if self.feed is not None:
            self.feed.stop()
            self.feed = None

    def on_resize(self) -> None:
        self._layout(self.size.width)

    def _layout(self, width: int) -> None:
        self.query_one("#packets-body").set_class(width < SIDE_BY_SIDE_WIDTH, "-stacked")

    # -- the feed ---------------------------------------------------------------------------

    def _switch(self, interfaces: list[str], expression: str) -> str:
        """Open a feed for ``interfaces`` and ``expression``; on success it replaces the old
        one. Returns "" or why it could not open (the old feed then goes on)."""
        if not interfaces:
            return "Type at least one interface name (or any)."
        try:
            feed = self.open_feed(interfaces, expression)
        except bpf.BpfError as exc:
            return f"That filter was not accepted, so the old one stays: {exc}"
        except CaptureError as exc:
            return f"Could not capture there, so nothing changed: {exc}"
        if self.feed is not None:
            self.feed.stop()
        self.feed = feed
        self.interfaces, self.expression = interfaces, expression
        feed.start(self._wake)
        self._draw_status()
        return ""

    def _wake(self) -> None:
        # Called from the feed's thread: post_message is safe from there.
        self.post_message(PacketsArrived())

    @on(PacketsArrived)
    def _arrived(self) -> None:
        if self.paused or self.feed is None:
            return
        taken = self.feed.take()
        notes = self.feed.state.notes
        if len(notes) > len(self.notes):
            for note in notes[len(self.notes) :]:
                self.notify(
                    printable(note), title="capture ended", severity="warning", markup=False
                )
            self.notes = list(notes)
            self._draw_status()
        if taken:
            self.rows.add(taken)
            self._draw(newest=taken[-1].packet.time)

    def _draw(self, newest: float | None = None) -> None:
        lines = self.rows.lines(ROWS_DRAWN)
        body = Text(no_wrap=True, overflow="ellipsis")
        if not lines:
            body.append(
                "No packets yet. They appear here as they pass the interfaces above.",
                style="grey50",
            )
        for n, (line, folded) in enumerate(lines):
            if n:
                body.append("\n")
            body.append(line, style="grey62" if folded else "")
        self.query_one("#packets-rows", Static).update(body)
        self.query_one("#packets-list", VerticalScroll).scroll_end(animate=False)
        self._draw_status()
        self.call_after_refresh(self._painted, newest)

    def _painted(self, newest: float | None) -> None:
        self.painted += 1
        if newest is not None:
            self.paint_delays.append(time.time() - newest)

    def _draw_status(self) -> None:
        if self.feed is None:
            where = "No capture is running"
        else:
            where = "Capturing on " + ", ".join(self.interfaces)
        where += f", filter {self.expression}." if self.expression else ", no filter."
        parts = [printable(where), f"{len(self.rows.rows)} packets listed"]
        if self.feed is not None:
            parts.append(f"{self.feed.stats().dropped} dropped by the kernel")
            not_shown = self.feed.state.not_shown + self.rows.let_go
            if not_shown:
                parts.append(f"{not_shown} not shown (too many to keep)")
        text = parts[0] + " " + ", ".join(parts[1:]) + "."
        if self.paused:
            text += " Paused: space resumes."
        self.query_one("#packets-status", Static).update(Text(text))

    def _say(self, error: str) -> None:
        box = self.query_one("#packets-error", Static)
        box.update(Text(printable(error), style="red1") if error else "")
        box.set_class(bool(error), "-shown")

    # -- inputs -----------------------------------------------------------------------------

    @on(Input.Submitted, "#packets-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        expression = event.value.strip()
        problem = check_filter(expression)
        if problem is not None:
            self._say(f"That filter was not accepted, so the old one stays: {problem}")
            return
        self._say(self._switch(self.interfaces, expression))
        self.query_one("#packets-list").focus()

    @on(Input.Submitted, "#packets-ifaces")
    def _interfaces_submitted(self, event: Input.Submitted) -> None:
        self._say(self._switch(parse_interfaces(event.value), self.expression))
        self.query_one("#packets-list").focus()

    # -- neighbours -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="neighbours", exit_on_error=False)
    def _refresh_neighbours(self) -> None:
        if self.read_neighbours is None:
            table = Text(
                "No neighbour table to read here (it needs root and a live lab).", style="grey50"
            )
        else:
            try:
                table = neighbour_table(self.read_neighbours())
            except OSError as exc:
                table = Text(
                    f"Could not read the neighbour table: {exc.strerror or exc}", style="grey50"
                )
        self.app.call_from_thread(self._show_neighbours, table)

    def _show_neighbours(self, table: Text) -> None:
        self.query_one("#packets-neigh-table", Static).update(table)

    # -- actions ----------------------------------------------------------------------------

    def action_pause(self) -> None:
        """Stop drawing new packets (they wait in the feed's bounded queue); again resumes."""
        self.paused = not self.paused
        self._draw_status()
        if not self.paused:
            self._arrived()

    def action_save(self) -> None:
        """Write every packet listed (with its other sightings) to a pcapng file."""
        packets = self.rows.packets()
        path = self.save_dir / time.strftime("packets-%Y%m%d-%H%M%S.pcapng")
        try:
            with path.open("wb") as out:
                writer = PcapngWriter(out)
                for p in packets:
                    writer.write(p)
        except OSError as exc:
            self.notify(f"Could not save to {path}: {exc.strerror}", severity="error", markup=False)
            return
        self.notify(
            printable(
                f"Saved {len(packets)} packets to {path} (open it with tcpdump -r or Wireshark)."
            ),
            title="saved",
            markup=False,
        )
        self.last_saved = (path, len(packets))

    def action_show_command(self) -> None:
        command = tcpdump_command(self.lab, self.interfaces, self.expression)
        self.app.push_screen(ShowCommandScreen(command, can_run_live(self.live)))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen([], KEYS))

    def action_focus_filter(self) -> None:
        self.query_one("#packets-filter").focus()

    def action_focus_interfaces(self) -> None:
        self.query_one("#packets-ifaces").focus()

    def action_leave(self) -> None:
        """Leave an input for the list; from the list, back to the dashboard."""
        if isinstance(self.focused, Input):
            self.query_one("#packets-list").focus()
        else:
            self.app.pop_screen()


def neighbour_table(entries: list[Neighbour]) -> Text:
    """The ARP / neighbour table as lines a student reads (multicast and NOARP left out)."""
    out = Text()
    out.append("Neighbours (ARP): who answers for an address\n", style="bold")
    shown = [n for n in entries if n.state not in ("NOARP",)]
    if not shown:
        out.append("none yet: an address appears once something talks to it", style="grey50")
    for n, entry in enumerate(shown):
        if n:
            out.append("\n")
        mac = entry.mac or "(no answer yet)"
        out.append(
            printable(f"{entry.address} is at {mac} on {entry.interface}, {entry.state.lower()}")
        )
    return out


# -- opening the screen from the dashboard ----------------------------------------------------


def default_interfaces(snapshot: Any, lab: str | None) -> list[str]:
    """docker0 and every bridge of the lab (from the observer's snapshot), docker0 first."""
    names = ["docker0"]
    for link in getattr(snapshot, "links", ()):
        if link.kind == "bridge" and link.name not in names and (lab is None or link.netns == lab):
            names.append(link.name)
    return names


def live_feed_factory(netns: str | None) -> FeedFactory:
    """Opens real captures in the netns at ``netns``."""
    from dockerscope.kernel.packets.feed import LivePacketFeed

    def open_feed(interfaces: list[str], expression: str) -> PacketFeed:
        return LivePacketFeed(netns, interfaces, expression)

    return open_feed


def packets_screen_for(app: Any) -> PacketsScreen | None:
    """The Packets screen for ``app``'s source, or None after telling the user why not.

    A source may offer ``packet_feed`` (a FeedFactory: the fake lab does); otherwise live
    packets need a live lab and root.
    """
    import os

    scope = app.source.scope
    lab = netns_of_scope(scope)
    snapshot = app.state.snapshot
    interfaces = default_interfaces(snapshot, lab)
    factory = getattr(app.source, "packet_feed", None)
    if factory is not None:
        return PacketsScreen(
            factory, interfaces, lab=lab, neighbours=getattr(app.source, "packet_neighbours", None)
        )
    if not app.live or os.geteuid() != 0 or lab is None:
        app.notify(
            "Live packets need root and a live lab: run dockerscope scope as root on "
            "a lab that is up. A replay has no packets to show.",
            title="packets",
            severity="warning",
            markup=False,
        )
        return None
    from dockerscope.kernel.neighbours import read_neighbours

    netns = f"/run/netns/{lab}"
    return PacketsScreen(
        live_feed_factory(netns),
        interfaces,
        lab=lab,
        neighbours=lambda: read_neighbours(netns),
        live=True,
    )
