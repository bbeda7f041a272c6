"""docker's ``--format`` and table output: its tabwriter layout and a small Go-template subset.

``table`` aligns rows like the CLI's tabwriter (minimum width 10, padding 3); ``render_template``
fills ``{{.A.B}}`` and ``{{json .A}}``; ``render_rows`` prints a list with a "table ..." format
under docker's column headers. Standard library only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

MIN_WIDTH = 10
PADDING = 3


def table(rows: Sequence[Sequence[str]], min_width: int = MIN_WIDTH) -> str:
    """Rows aligned like docker's tabwriter: every column but the last padded to
    max(min_width, widest cell + 3). Returns the text with a newline after each row."""
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [min_width] * ncols
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell) + PADDING)
    out = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        cells.append(row[-1] if row else "")
        out.append("".join(cells))
    return "".join(line + "\n" for line in out)


_TEMPLATE = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}")


def render_template(template: str, obj: Any) -> str:
    """A small subset of docker's Go templates: ``{{.A.B}}`` and ``{{json .A}}``.

    Unknown field paths give "<no value>", like Go's template engine.
    """

    def lookup(path: str) -> Any:
        value = obj
        for part in [p for p in path.split(".") if p]:
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            else:
                return _Missing
        return value

    def sub(m: re.Match[str]) -> str:
        value = lookup(m.group(2))
        if m.group(1):
            return "null" if value is _Missing else json.dumps(value, separators=(",", ":"))
        return go_value(value)

    return _TEMPLATE.sub(sub, template)


class _MissingType:
    pass


_Missing = _MissingType()


def go_value(value: Any) -> str:
    """A value printed like Go's fmt %v: true/false, maps as map[k:v], nil as <nil>."""
    if value is _Missing:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        inner = " ".join(f"{k}:{go_value(v)}" for k, v in sorted(value.items()))
        return f"map[{inner}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render_rows(
    template: str, rows: Sequence[Mapping[str, Any]], headers: Mapping[str, str]
) -> str:
    """``--format`` output for a list: one line per row, or, with a "table" prefix, an aligned
    table under docker's column headers. ``\\t`` and ``\\n`` typed in the format are honoured."""
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    if not template.startswith("table"):
        return "".join(render_template(template, row) + "\n" for row in rows)
    body = template[len("table") :].strip()

    def title(m: re.Match[str]) -> str:
        field_name = m.group(2)
        return headers.get(field_name, field_name.upper())

    lines = [_TEMPLATE.sub(title, body)] + [render_template(body, row) for row in rows]
    return table([line.split("\t") for line in lines])
