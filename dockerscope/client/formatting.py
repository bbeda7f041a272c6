"""Text the way the docker CLI prints it: tables, durations, sizes, ports, commands.

The rules follow docker's documented output (go-units' HumanDuration and HumanSize, the CLI's
tabwriter with minimum width 10 and padding 3, 12-character ids, 20-character quoted commands).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ELLIPSIS = "\u2026"
MIN_WIDTH = 10
PADDING = 3

_DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
_BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]


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


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "About a minute", "3 hours", ..."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def _go_g(value: float, precision: int) -> str:
    text = f"{value:.{precision}g}"
    return text


def _scaled(size: float, base: float, units: list[str]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 4) -> str:
    """go-units HumanSizeWithPrecision: decimal units, e.g. 1984132 -> "1.984MB"."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL_UNITS)
    return _go_g(value, precision) + unit


def image_size(size: float) -> str:
    """The SIZE column of ``docker images``: three significant digits, "1.98MB"."""
    return human_size(size, 3)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units with two decimals, e.g. "23.54GiB"."""
    value, unit = _scaled(float(size), 1024.0, _BINARY_UNITS)
    return f"{value:.4g}{unit}"


def parse_ram(text: str) -> int:
    """go-units RAMInBytes: "512m", "1g", "100k", "1024b", "1.5G" -> bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)[iI]?[bB]?\s*", text)
    if not m:
        raise ValueError(f"invalid size: '{text}'")
    number = float(m.group(1))
    power = " kmgtp".index(m.group(2).lower() or " ")
    return int(number * (1024**power))


def short_id(ident: str) -> str:
    """The 12-hex short id, without any "sha256:" prefix."""
    if ":" in ident:
        ident = ident.split(":", 1)[1]
    return ident[:12]


def ellipsis(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, the last one an ellipsis, as docker does."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    return text[: width - 1] + ELLIPSIS


def go_quote(text: str) -> str:
    """A string quoted like Go's strconv.Quote (for the COMMAND column)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def ago(created: float, now: float) -> str:
    """The CREATED column: "3 seconds ago"."""
    return human_duration(max(0.0, now - created)) + " ago"


def _join_host_port(ip: str, port: str) -> str:
    # Docker 20.10's CLI (the fidelity reference) joins without brackets: ":::8080";
    # CLIs from 23 on print "[::]:8080".
    return f"{ip}:{port}"


def _port_key(p: Mapping[str, Any]) -> tuple[int, str, int, str]:
    return (
        int(p.get("PrivatePort") or 0),
        str(p.get("IP") or ""),
        int(p.get("PublicPort") or 0),
        str(p.get("Type") or ""),
    )


def display_ports(ports: Iterable[Mapping[str, Any]] | None) -> str:
    """The PORTS column: "0.0.0.0:8080->8080/tcp, :::8080->8080/tcp", consecutive ports
    grouped into ranges ("80-81/tcp"), unpublished ports as "80/tcp"."""
    groups: dict[tuple[str, str], list[int]] = {}
    order: list[tuple[str, str]] = []
    result: list[str] = []
    mappings: list[str] = []

    def form(key: tuple[str, str], first: int, last: int) -> str:
        ip, proto = key
        span = str(first) if first == last else f"{first}-{last}"
        if ip:
            return f"{_join_host_port(ip, span)}->{span}/{proto}"
        return f"{span}/{proto}"

    for p in sorted(ports or [], key=_port_key):
        private = int(p.get("PrivatePort") or 0)
        public = int(p.get("PublicPort") or 0)
        ip = str(p.get("IP") or "")
        proto = str(p.get("Type") or "tcp")
        if ip and public != private:
            mappings.append(f"{_join_host_port(ip, str(public))}->{private}/{proto}")
            continue
        key = (ip, proto)
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
            order.append(key)
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(form(key, group[0], group[1]))
            groups[key] = [private, private]
    for key in order:
        first, last = groups[key]
        result.append(form(key, first, last))
    return ", ".join(result + mappings)


def container_names(names: Iterable[str] | None, trunc: bool = True) -> str:
    """The NAMES column: names without the leading "/"; truncated, only the first name that
    is not a link ("other/alias")."""
    stripped = [n[1:] if n.startswith("/") else n for n in names or []]
    if trunc:
        for name in stripped:
            if "/" not in name:
                return name
    return ",".join(stripped)


def ps_table(containers: Sequence[Mapping[str, Any]], now: float, no_trunc: bool = False) -> str:
    """``docker ps`` output for the answer of GET /containers/json."""
    rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]]
    for c in containers:
        cid = str(c.get("Id", ""))
        command = str(c.get("Command", ""))
        image = str(c.get("Image", ""))
        if not no_trunc:
            cid = short_id(cid)
            command = ellipsis(command, 20)
            image = image.split("@", 1)[0]
            if image.startswith("sha256:"):
                image = short_id(image)
        command = go_quote(command)
        rows.append(
            [
                cid,
                image,
                command,
                ago(float(c.get("Created") or 0), now),
                str(c.get("Status", "")),
                display_ports(c.get("Ports")),
                container_names(c.get("Names"), trunc=not no_trunc),
            ]
        )
    return table(rows)


def split_repo_tag(ref: str) -> tuple[str, str]:
    """("busybox", "latest") from "busybox:latest"; the tag is "<none>" if missing."""
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "<none>"


def images_table(images: Sequence[Mapping[str, Any]], now: float, no_trunc: bool = False) -> str:
    """``docker images`` output for the answer of GET /images/json."""
    rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]]
    for img in images:
        ident = str(img.get("Id", ""))
        shown = ident if no_trunc else short_id(ident)
        created = ago(float(img.get("Created") or 0), now)
        size = image_size(float(img.get("Size") or img.get("VirtualSize") or 0))
        tags = [t for t in (img.get("RepoTags") or []) if t != "<none>:<none>"]
        if not tags:
            rows.append(["<none>", "<none>", shown, created, size])
        for tag in tags:
            repo, name = split_repo_tag(tag)
            rows.append([repo, name, shown, created, size])
    return table(rows)


def networks_table(networks: Sequence[Mapping[str, Any]], no_trunc: bool = False) -> str:
    """``docker network ls`` output, sorted by name like the CLI."""
    rows = [["NETWORK ID", "NAME", "DRIVER", "SCOPE"]]
    for net in sorted(networks, key=lambda n: str(n.get("Name", ""))):
        ident = str(net.get("Id", ""))
        rows.append(
            [
                ident if no_trunc else ident[:12],
                str(net.get("Name", "")),
                str(net.get("Driver", "")),
                str(net.get("Scope", "")),
            ]
        )
    return table(rows)


def top_table(answer: Mapping[str, Any]) -> str:
    """``docker top`` output from {"Titles": [...], "Processes": [[...], ...]}."""
    rows = [list(answer.get("Titles") or [])]
    rows += [[str(x) for x in proc] for proc in answer.get("Processes") or []]
    return table(rows, min_width=20)  # docker top's tabwriter is wider than the lists'


def history_table(entries: Sequence[Mapping[str, Any]], now: float) -> str:
    """``docker history`` output from GET /images/{name}/history."""
    rows = [["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
    for e in entries:
        ident = str(e.get("Id", ""))
        shown = "<missing>" if ident in ("", "<missing>") else short_id(ident)
        rows.append(
            [
                shown,
                ago(float(e.get("Created") or 0), now),
                ellipsis(str(e.get("CreatedBy", "")), 45),
                human_size(float(e.get("Size") or 0), 3),
                str(e.get("Comment", "")),
            ]
        )
    return table(rows)


DIFF_KINDS = {0: "C", 1: "A", 2: "D"}


def diff_lines(changes: Sequence[Mapping[str, Any]] | None) -> str:
    """``docker diff`` output: "C /etc", "A /etc/x", "D /tmp/y"."""
    return "".join(
        f"{DIFF_KINDS.get(int(c.get('Kind', 0)), '?')} {c.get('Path', '')}\n" for c in changes or []
    )


def port_lines(ports: Mapping[str, Any] | None, only: str | None = None) -> str:
    """``docker port`` output from NetworkSettings.Ports: "8080/tcp -> 0.0.0.0:8080"."""
    lines = []

    def sort_key(key: str) -> tuple[int, str]:
        num, _, proto = key.partition("/")
        return (int(num) if num.isdigit() else 0, proto)

    want = None
    if only:
        want = only if "/" in only else only + "/tcp"
    for key in sorted(ports or {}, key=sort_key):
        if want and key != want:
            continue
        for binding in (ports or {}).get(key) or []:
            addr = _join_host_port(binding.get("HostIp") or "0.0.0.0", binding.get("HostPort", ""))
            lines.append(addr if want else f"{key} -> {addr}")
    return "".join(line + "\n" for line in lines)


def inspect_json(objects: Sequence[Any]) -> str:
    """``docker inspect`` output: a JSON array indented by 4 spaces."""
    return json.dumps(list(objects), indent=4) + "\n"


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


def event_line(event: Mapping[str, Any]) -> str:
    """``docker events`` line: time, type, action, actor id and its attributes."""
    nanos = int(event.get("timeNano") or int(event.get("time") or 0) * 10**9)
    when = _dt.datetime.fromtimestamp(nanos // 10**9, _dt.UTC).astimezone()
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos % 10**9:09d}"
    offset = when.strftime("%z")
    stamp += "Z" if offset in ("+0000", "") else offset[:3] + ":" + offset[3:]
    actor = event.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    line = f"{stamp} {event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    if attrs:
        line += " (" + ", ".join(f"{k}={v}" for k, v in sorted(attrs.items())) + ")"
    return line


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --format for the list commands: docker's field names, and "table ..." with headers.

PS_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "Status": "STATUS", "Names": "NAMES",
    "State": "STATE", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
    "Size": "SIZE",
}  # fmt: skip
IMAGE_HEADERS = {
    "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
}  # fmt: skip
NETWORK_HEADERS = {
    "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
    "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
}  # fmt: skip


def created_at(seconds: float) -> str:
    """A creation time as docker's CreatedAt prints it: "2026-11-27 20:37:09 +0000 UTC"."""
    when = _dt.datetime.fromtimestamp(seconds, _dt.UTC).astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S %z %Z")


def _labels(labels: Mapping[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def ps_fields(c: Mapping[str, Any], now: float, no_trunc: bool = False) -> dict[str, str]:
    """One container of GET /containers/json as the fields of ``docker ps --format``."""
    cid = str(c.get("Id", ""))
    command = str(c.get("Command", ""))
    if not no_trunc:
        cid = short_id(cid)
        command = ellipsis(command, 20)
    created = float(c.get("Created") or 0)
    networks = ((c.get("NetworkSettings") or {}).get("Networks")) or {}
    mounts = [str(m.get("Name") or m.get("Source") or "") for m in c.get("Mounts") or []]
    return {
        "ID": cid,
        "Image": str(c.get("Image", "")),
        "Command": go_quote(command),
        "CreatedAt": created_at(created),
        "RunningFor": ago(created, now),
        "Ports": display_ports(c.get("Ports")),
        "Status": str(c.get("Status", "")),
        "State": str(c.get("State", "")),
        "Names": container_names(c.get("Names"), trunc=not no_trunc),
        "Labels": _labels(c.get("Labels")),
        "Mounts": ",".join(mounts),
        "Networks": ",".join(sorted(networks)),
        "Size": "",
    }


def image_fields(
    img: Mapping[str, Any], now: float, no_trunc: bool = False
) -> list[dict[str, str]]:
    """One image of GET /images/json as ``docker images --format`` rows (one per tag)."""
    ident = str(img.get("Id", ""))
    created = float(img.get("Created") or 0)
    base = {
        "ID": ident if no_trunc else short_id(ident),
        "Digest": "<none>",
        "CreatedSince": ago(created, now),
        "CreatedAt": created_at(created),
        "Size": image_size(float(img.get("Size") or img.get("VirtualSize") or 0)),
    }
    tags = [t for t in (img.get("RepoTags") or []) if t != "<none>:<none>"] or ["<none>"]
    rows = []
    for tag in tags:
        repo, name = split_repo_tag(tag) if tag != "<none>" else ("<none>", "<none>")
        rows.append({**base, "Repository": repo, "Tag": name})
    return rows


def network_fields(net: Mapping[str, Any], no_trunc: bool = False) -> dict[str, str]:
    """One network of GET /networks as the fields of ``docker network ls --format``."""
    ident = str(net.get("Id", ""))
    return {
        "ID": ident if no_trunc else ident[:12],
        "Name": str(net.get("Name", "")),
        "Driver": str(net.get("Driver", "")),
        "Scope": str(net.get("Scope", "")),
        "IPv6": go_value(bool(net.get("EnableIPv6"))),
        "Internal": go_value(bool(net.get("Internal"))),
        "Labels": _labels(net.get("Labels")),
        "CreatedAt": str(net.get("Created", "")),
    }


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
