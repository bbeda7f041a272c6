"""NAT panel: iptables chains laid out like ``iptables -n -v -L -t nat`` (``t`` flips to filter).

New rules are highlighted, removed ones fade out in place, counters that moved since the last
frame light up, and each rule says which container, network or port caused it.
"""

from __future__ import annotations

from dockerscope.screens import styles
from dockerscope.screens.iptables_listing import (
    COMPACT_HEADER,
    HEADER,
    chain_title,
    format_compact,
    format_row,
)
from dockerscope.screens.lines import Line, LinesView, Row
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import CommandLine, ShellCommand, netns_of_scope
from dockerscope.screens.state import DashState
from rich.text import Span, Text
from textual.widget import Widget

from dockerscope.kernel.model import Chain, Rule

TABLES = ("nat", "filter")

#: Below this many columns the full listing would hide the targets' options and the owners
#: off to the right: rules then take two lines (columns, then options and owner).
COMPACT_BELOW = 112


class NatPanel(Panel):
    """Docker's NAT (and filter) rules, with counters and owners."""

    PANEL_ID = "nat"
    TITLE = "NAT"
    HINT = "iptables -n -v -L -t nat; new rules green, removed ones fade; t: filter table"
    WATCHES = frozenset({"rules", "chains"})

    def __init__(self) -> None:
        super().__init__()
        self.table = "nat"  #: which table is shown: "nat" or "filter"
        self._drawn_compact: bool | None = None
        self._revealed: set[tuple[str, float]] = set()  #: new rules already scrolled to
        # Per rule object, what rendering it made last time: its lower-cased search text, and
        # its lines for a given look. A filter keystroke or a fading highlight renders the same
        # 1,000 rules again; only a frame brings new ones. Kept for the rules of the last
        # render only (``id`` keys are checked against the rule they were made for).
        self._search: dict[int, tuple[Rule, str]] = {}
        self._rows: dict[tuple[int, bool, str, str], tuple[Rule, list[Line]]] = {}
        self._search_next: dict[int, tuple[Rule, str]] = {}
        self._rows_next: dict[tuple[int, bool, str, str], tuple[Rule, list[Line]]] = {}

    def toggle_table(self) -> None:
        """Flip between the nat and filter tables."""
        self.table = TABLES[(TABLES.index(self.table) + 1) % len(TABLES)]
        self.border_title = f"{self.TITLE} (-t {self.table})"
        # Another table is another listing: start it at its top, not where the last one was.
        self.query_one(LinesView).scroll_to(x=0, y=0, animate=False, immediate=True)

    @property
    def compact(self) -> bool:
        """True when the panel is too narrow for ``iptables -n -v -L``'s one-line rules."""
        return 0 < (self.size.width or self._expected_width()) < COMPACT_BELOW

    def _expected_width(self) -> int:
        """The width a panel not laid out yet (a tab being brought to the front) will get: its
        container's, less border, padding and margin. Guessing it saves rendering 1,000 rules
        twice, once for no width and again when the resize comes."""
        parent = self.parent
        if not isinstance(parent, Widget) or not parent.size.width:
            return 0
        return max(0, parent.size.width - self.styles.gutter.width - self.styles.margin.width)

    def layout_changed(self) -> bool:
        return self._drawn_compact is not None and self._drawn_compact != self.compact

    def render_body(self, state: DashState) -> list[Line]:
        snap = state.snapshot
        assert snap is not None
        self._revealed = {seen for seen in self._revealed
                          if (mark := state.mark("rules", seen[0])) and mark.since == seen[1]}
        rules = [r for r in snap.rules if r.table == self.table]
        gone = [r for r in state.removed("rules") if r.table == self.table]
        groups = sorted({(r.netns, r.backend) for r in rules + gone}
                        | {(c.netns, c.backend) for c in snap.chains if c.table == self.table})
        out: list[Line] = []
        self._search_next, self._rows_next = {}, {}
        for netns, backend in groups:
            if len(groups) > 1:
                out.append(Text(f"── netns {netns} ({backend}) ──", style=styles.DIM))
            here = [r for r in rules if (r.netns, r.backend) == (netns, backend)]
            here_gone = [r for r in gone if (r.netns, r.backend) == (netns, backend)]
            chains = [c for c in snap.chains
                      if c.table == self.table and (c.netns, c.backend) == (netns, backend)]
            known = {c.name for c in chains}
            for name in dict.fromkeys(r.chain for r in here + here_gone):
                if name not in known:
                    chains.append(Chain(netns, backend, self.table, name, None))
            by_chain: dict[str, list[Rule]] = {}
            for r in here:
                by_chain.setdefault(r.chain, []).append(r)
            gone_by_chain: dict[str, list[Rule]] = {}
            for r in here_gone:
                gone_by_chain.setdefault(r.chain, []).append(r)
            for chain in chains:
                self._chain(out, state, chain_title(chain, here), by_chain.get(chain.name, []),
                            gone_by_chain.get(chain.name, []))
        self._search, self._rows = self._search_next, self._rows_next
        if not out:
            out.append(Text(f"no {self.table} rules seen", style=styles.DIM))
        return out

    def _search_text(self, rule: Rule) -> str:
        """What the filter looks in, lower-cased: the rule as listed (what the student sees,
        ``to:172.17.0.2:8080`` included), its owner and its ``iptables-save`` spec."""
        hit = self._search.get(id(rule))
        if hit is None or hit[0] is not rule:
            text = "\0".join((*format_row(rule), styles.owner_tag(rule), rule.spec))
            hit = (rule, text.lower())
        self._search_next[id(rule)] = hit
        return hit[1]

    def _chain(self, out: list[Line], state: DashState, title: str, mine: list[Rule],
               mine_gone: list[Rule]) -> None:
        shown = [(r, False) for r in mine] + [(r, True) for r in mine_gone]
        if self.query_text and not self.matches(title):
            query = self.query_text
            shown = [(r, g) for r, g in shown if query in self._search_text(r)]
            if not shown:
                return
        if out:
            out.append(Text(""))
        out.append(Text(title, style=styles.HEADING))
        compact = self._drawn_compact = self.compact
        out.append(Text((COMPACT_HEADER if compact else HEADER).rstrip(), style=styles.DIM))
        # A removed rule keeps its old position so it fades out where it was.
        for rule, was_removed in sorted(shown, key=lambda rg: (rg[0].position, rg[1])):
            key = rule.key
            mark = state.mark("rules", key)
            if was_removed and (mark is None or mark.action != "removed"):
                continue
            style = styles.mark_style(state, mark)
            if mark is not None and mark.action == "added" and not was_removed:
                # A rule that just appeared is what the class is looking for: bring the first
                # one of each frame into view once (Docker's DNAT sits low in a small panel).
                seen = (key, mark.since)
                if seen not in self._revealed:
                    self._revealed.add(seen)
                    self.reveal_line(len(out))
            ticked = mark is None and ("rules", key) in state.ticked
            counters_style = style or (styles.TICKED if ticked else "")
            look = (id(rule), compact, counters_style, style)
            made = self._rows.get(look)
            if made is None or made[0] is not rule:
                made = (rule, _rule_lines(rule, compact, counters_style, style))
            self._rows_next[look] = made
            out.extend(made[1])

    def shell_command(self, state: DashState) -> ShellCommand | None:
        scope = state.snapshot.scope if state.snapshot else ""
        argv = ("iptables", "-n", "-v", "-L", "-t", self.table)
        return ShellCommand(
            f"iptables ({self.table})", (CommandLine(" ".join(argv), argv),),
            netns=netns_of_scope(scope),
            explain="The course types `sudo iptables -n -L -t nat`; -v adds the counters.",
        )


def _rule_lines(rule: Rule, compact: bool, counters_style: str, style: str) -> list[Line]:
    """A rule's listing: one line, or in a narrow panel two (columns, then options+owner)."""
    if not compact:
        counters, rest = format_row(rule)
        return [_row(counters, counters_style, rest, style, styles.owner_tag(rule))]
    counters, main, extras = format_compact(rule)
    lines: list[Line] = [_row(counters, counters_style, main, style, "")]
    owner = styles.owner_tag(rule)
    if extras or owner:
        lines.append(_row("", "", f"       {extras}" if extras else "      ", style, owner))
    return lines


def _row(counters: str, counters_style: str, rest: str, style: str, owner: str) -> Row:
    """One listing line, built from spans directly (Rich's Text is the slow part at 1,000)."""
    a, b = len(counters), len(counters) + len(rest)
    spans = [Span(0, a, counters_style)] if counters_style else []
    if style:
        spans.append(Span(a, b, style))
    if owner:
        spans.append(Span(b, b + len(owner), styles.OWNER))
    return Row(counters + rest + owner, spans)
