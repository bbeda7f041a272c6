"""IPv4 routes of the main table of one namespace (``ip route``)."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

from dockerscope.kernel import netlink, rtnetlink
from dockerscope.kernel.links import RtnlReader
from dockerscope.kernel.model import Route
from dockerscope.kernel.netlink_constants import (
    RT_SCOPE_HOST,
    RT_SCOPE_LINK,
    RT_SCOPE_NOWHERE,
    RT_SCOPE_SITE,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_MAIN,
)

#: route scopes as ``ip route`` names them
_SCOPES = {
    RT_SCOPE_UNIVERSE: "universe",
    RT_SCOPE_SITE: "site",
    RT_SCOPE_LINK: "link",
    RT_SCOPE_HOST: "host",
    RT_SCOPE_NOWHERE: "nowhere",
}


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
    """The main table of the reader's namespace, read from the kernel.

    When the messages are byte for byte the ones decoded last time on this reader (sequence
    numbers aside) and the link names are the same, the routes built then are returned.
    """
    replies = rtnetlink.route_replies(reader.conn, table=RT_TABLE_MAIN)
    key = netlink.content(replies)
    last = reader.memo.get("routes")
    if last is not None and last[0] == key and last[1] == names:
        return list(last[2])
    msgs = [rtnetlink.decode_route(d, o) for _t, _f, d, o in replies]
    routes = routes_from_messages(reader.ref.label, msgs, names)
    reader.memo["routes"] = (key, dict(names), tuple(routes))
    return routes
