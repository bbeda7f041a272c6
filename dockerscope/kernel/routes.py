"""IPv4 routes of the main table of one namespace (``ip route``)."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

from dockerscope.kernel.links import RtnlReader
from dockerscope.kernel.model import Route

RT_TABLE_MAIN = 254
_SCOPES = {0: "universe", 200: "site", 253: "link", 254: "host", 255: "nowhere"}


def routes_from_messages(label: str, msgs: Iterable[Any], names: dict[int, str]) -> list[Route]:
    """Routes from RTM_NEWROUTE messages; ``names`` maps ifindex -> link name."""
    out = []
    for m in msgs:
        table = m.get_attr("RTA_TABLE") or m.get("table")
        if table != RT_TABLE_MAIN or m.get("family") != socket.AF_INET:
            continue
        dst = m.get_attr("RTA_DST")
        dst_len = m.get("dst_len", 0)
        oif = m.get_attr("RTA_OIF")
        out.append(
            Route(
                netns=label,
                dst=f"{dst}/{dst_len}" if dst else "default",
                dev=names.get(oif, "") if oif else "",
                gateway=m.get_attr("RTA_GATEWAY"),
                src=m.get_attr("RTA_PREFSRC"),
                scope=_SCOPES.get(m.get("scope", 0), str(m.get("scope"))),
            )
        )
    return out


def read_routes(reader: RtnlReader, names: dict[int, str]) -> list[Route]:
    """The main table of the reader's namespace."""
    return routes_from_messages(reader.ref.label, reader.dump_routes(), names)
