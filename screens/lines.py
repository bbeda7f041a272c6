"""Line-based rendering: panels hand over lines of Rich ``Text``; only visible rows are drawn.

With a thousand rules or a hundred containers a Rich ``Table`` or one big ``Static`` costs
hundreds of milliseconds per frame. Here a panel's content is a list of ``Text`` lines, tables
are laid out by ``grid_lines`` (column widths from the cells, no wrapping), and ``LinesView``
renders just the rows on screen, caching each row's segments until the next update.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dockerscope.screens.printable import printable
from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = Text | str | tuple[str, str]  #: a table cell (see ``grid_lines``)


class Row:
    """One line: plain text and styled ranges, like a ``Text`` but built without Rich's
    sanitising pass (our text holds no control codes, and at a thousand rows that pass is the
    main cost). It becomes a ``Text`` only when drawn, so only visible rows pay for it."""

    __slots__ = ("plain", "spans", "style")

    def __init__(self, plain: str, spans: list[Span] | None = None, style: str = "") -> None:
        self.plain = plain
        self.spans = spans or []
        self.style = style

    @property
    def cell_len(self) -> int:
        return cell_len(self.plain)

    def to_text(self) -> Text:
        # Pictures for control characters: one for one, so the spans stay where they were.
        return Text(printable(self.plain), style=self.style, spans=self.spans, no_wrap=True)

    def render(self, console: Console) -> Iterable[Segment]:
        return self.to_text().render(console)


Line = Text | Row


def as_lines(text: Text) -> list[Text]:
    """One ``Text`` per line (a trailing newline does not add an empty line)."""
    lines = text.split("\n", allow_blank=True)
    if lines and not lines[-1].plain and text.plain.endswith("\n"):
        lines.pop()
    return list(lines)


def grid_lines(headers: Sequence[str], rows: Sequence[Sequence[Cell]], *,
               right: Sequence[int] = (), header_style: str = "bold", gap: int = 2) -> list[Line]:
    """A table as aligned lines: one header line, then the rows.

    A cell is a ``Text``, a plain ``str`` or a ``(str, style)`` pair (the cheap way to style a
    cell: no ``Text`` is made for it). A cell holding newlines spreads over several lines (like
    brctl's interface list). Columns listed in ``right`` are right-aligned.
    """
    grid: list[list[_Cell]] = []
    for row in rows:
        cells = [_cell(c) for c in row]
        if not any("\n" in c[0] for c in cells):
            grid.append(cells)
            continue
        split = [_split(c) for c in cells]
        for i in range(max(len(s) for s in split)):
            grid.append([s[i] if i < len(s) else _EMPTY for s in split])
    widths = [len(h) for h in headers]
    for cells in grid:
        for i, cell in enumerate(cells):
            if cell[3] > widths[i]:
                widths[i] = cell[3]
    out: list[Line] = [_join([_cell((h, header_style)) for h in headers], widths, right, gap)]
    out += [_join(cells, widths, right, gap) for cells in grid]
    return out


#: A table cell as ``grid_lines`` handles it: plain text, style, spans, width in cells.
_Cell = tuple[str, "str | Style", "Sequence[Span]", int]
_EMPTY: _Cell = ("", "", (), 0)


def _cell(cell: Cell) -> _Cell:
    if isinstance(cell, Text):
        return (cell.plain, cell.style, cell.spans, cell.cell_len)
    if isinstance(cell, tuple):
        return (cell[0], cell[1], (), cell_len(cell[0]))
    return (cell, "", (), cell_len(cell))


def _split(cell: _Cell) -> list[_Cell]:
    if "\n" not in cell[0]:
        return [cell]
    if cell[2]:  # spans across lines: let Rich cut them
        text = Text(cell[0], style=cell[1], spans=list(cell[2]))
        return [_cell(part) for part in as_lines(text)]
    parts = cell[0].split("\n")
    if len(parts) > 1 and not parts[-1]:
        parts.pop()  # a trailing newline does not add a line (as ``as_lines``)
    return [(part, cell[1], (), cell_len(part)) for part in parts]


def _join(cells: Sequence[_Cell], widths: Sequence[int], right: Sequence[int], gap: int) -> Row:
    parts: list[str] = []
    spans: list[Span] = []
    at = 0
    last = len(cells) - 1
    for i, (text, style, cell_spans, width) in enumerate(cells):
        pad = " " * (widths[i] - width)
        if i in right:
            parts.append(pad)
            at += len(pad)
        if style and text:
            spans.append(Span(at, at + len(text), style))
        if cell_spans:
            spans.extend(Span(at + sp.start, at + sp.end, sp.style) for sp in cell_spans)
        parts.append(text)
        at += len(text)
        if i < last:
            if i not in right:
                parts.append(pad)
                at += len(pad)
            parts.append(" " * gap)
            at += gap
    plain = "".join(parts).rstrip()
    # Trailing padding is gone: keep spans inside the text (Rich needs them well-formed).
    end = len(plain)
    return Row(plain, [Span(sp.start, min(sp.end, end), sp.style) for sp in spans
                       if sp.start < end and sp.end > sp.start])


class LinesView(ScrollView, can_focus=False):
    """Scrollable lines of ``Text``; draws only what is visible."""

    DEFAULT_CSS = """
    LinesView {
        height: 1fr;
        scrollbar-size: 1 1;
    }
    """

    def __init__(self, *, classes: str | None = None, follow: bool = False) -> None:
        super().__init__(classes=classes)
        self.follow = follow  #: stay at the bottom as lines arrive (unless scrolled up)
        self.lines: list[Line] = []
        self._cache: dict[int, Strip] = {}

    def set_lines(self, lines: list[Line]) -> None:
        """Replace the content (keeps the scroll position)."""
        at_end = self.scroll_offset.y >= self.max_scroll_y
        self.lines = lines
        self._cache.clear()
        size = Size(max((line.cell_len for line in lines), default=0), len(lines))
        if size != self.virtual_size:
            # No layout of the whole screen for new content: only the scrollbars change (a
            # scrollbar that appears or goes away asks for its own layout).
            self.set_reactive(LinesView.virtual_size, size)
            self._scroll_update(size)
        if self.follow and at_end:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # The compositor hands every scroll view its box as the virtual size, never the
        # content's (kept by ``set_lines``), so Textual saw a change on every layout anywhere
        # on the screen and redrew every panel's scrollbars: compare the real one.
        return super()._size_updated(size, self.virtual_size, container_size, layout)

    def reveal(self, index: int, above: int = 2) -> None:
        """Scroll (after the next layout, when the new size is known) so line ``index`` is in
        view, with ``above`` lines of context over it; no scroll when it already is."""

        def go() -> None:
            top, height = self.scroll_offset.y, self.scrollable_content_region.height
            if height and not top <= index < top + height:
                self.scroll_to(y=max(0, index - above), animate=False, immediate=True)

        self.call_after_refresh(go)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = y + scroll_y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, base)
        strip = self._cache.get(index)
        if strip is None:
            line = self.lines[index]
            segments = [
                Segment(printable(seg.text), base + seg.style if seg.style else base)
                for seg in line.render(self.app.console)
                if seg.text and seg.text != "\n"
            ]
            # A control character has no width until it is drawn as a picture of itself.
            strip = Strip(segments, line.cell_len if line.plain.isprintable() else None)
            self._cache[index] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, base)


class LineBuilder:
    """Builds lines with ``append`` calls, like one ``Text``, without splitting it afterwards
    (splitting a big ``Text`` is what made large panels slow). The lines are ``Row``s: plain
    text and spans, with no Rich ``Text`` made per piece."""

    def __init__(self) -> None:
        self._lines: list[Line] = []
        self._parts: list[str] = []
        self._spans: list[Span] = []
        self._at = 0

    def append(self, text: str | Text, style: str = "") -> LineBuilder:
        """Add text; each newline in it ends the current line."""
        if isinstance(text, Text):
            if "\n" not in text.plain:
                self._add(text.plain, text.style, text.spans)
                return self
            parts = as_lines(text)
            ends_line = text.plain.endswith("\n")
            for i, part in enumerate(parts):
                self._add(part.plain, part.style, part.spans)
                if i < len(parts) - 1 or ends_line:
                    self.newline()
            return self
        if "\n" not in text:
            self._add(text, style, ())
            return self
        pieces = text.split("\n")
        for i, piece in enumerate(pieces):
            self._add(piece, style, ())
            if i < len(pieces) - 1:
                self.newline()
        return self

    def _add(self, plain: str, style: str | Style, spans: Sequence[Span]) -> None:
        if not plain:
            return
        at = self._at
        self._parts.append(plain)
        self._at = end = at + len(plain)
        if style:
            self._spans.append(Span(at, end, style))
        if spans:
            self._spans.extend(Span(at + sp.start, at + sp.end, sp.style) for sp in spans)

    def newline(self) -> None:
        """End the current line."""
        self._lines.append(Row("".join(self._parts), self._spans))
        self._parts, self._spans, self._at = [], [], 0

    def __bool__(self) -> bool:
        return bool(self._lines) or self._at > 0

    def lines(self) -> list[Line]:
        """The lines so far (an unfinished last line included)."""
        if self._at:
            return [*self._lines, Row("".join(self._parts), list(self._spans))]
        return list(self._lines)
