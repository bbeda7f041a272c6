"""Text the way the docker CLI prints it: tables, durations, sizes, ports, commands.

The rules follow docker's documented output (go-units' HumanDuration and HumanSize, the CLI's
tabwriter with minimum width 10 and padding 3, 12-character ids, 20-character quoted commands).
Sizes and durations live in ``units``, the tabwriter and ``--format`` templates in
``templates``; their names are re-exported here, where the commands look for them.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .options import split_image_ref
from .templates import go_value as go_value
from .templates import render_rows as render_rows
from .templates import render_template as render_template
from .templates import table as table
from .units import ago as ago
from .units import bytes_size as bytes_size
from .units import human_duration as human_duration
from .units import human_size as human_size
from .units import image_size as image_size
from .units import parse_ram as parse_ram

ELLIPSIS = "\u2026"


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
    return split_image_ref(ref, missing_tag="<none>")


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
