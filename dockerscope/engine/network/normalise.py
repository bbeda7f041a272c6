"""Normalise ``iptables-save``/``brctl show`` text so runs can be compared with the reference.

Ids differ from run to run: ``br-<12 hex>`` becomes ``br-1``, ``br-2`` in order of first
appearance, ``veth<7 hex>`` likewise, counters become ``[0:0]``, and comments and
``# Generated``/``# Completed`` lines go.
"""

from __future__ import annotations

import re

_BRIDGE = re.compile(r"\bbr-[0-9a-f]{12}\b")
_VETH = re.compile(r"\bveth[0-9a-f]{7}\b")
_COUNTERS = re.compile(r"\[\d+:\d+\]")
_COMMENT = re.compile(r' -m comment --comment (?:"[^"]*"|\S+)')
_BRIDGE_ID = re.compile(r"\b8000\.[0-9a-f]{12}\b")


def _numbered(pattern: re.Pattern[str], prefix: str, text: str) -> str:
    seen: dict[str, str] = {}

    def sub(m: re.Match[str]) -> str:
        return seen.setdefault(m.group(0), f"{prefix}{len(seen) + 1}")

    return pattern.sub(sub, text)


def normalise_save(text: str) -> str:
    """``iptables-save`` output with ids, counters, comments and timestamps removed."""
    lines = [line.rstrip() for line in text.splitlines() if not line.startswith("#")]
    body = "\n".join(line for line in lines if line)
    body = _COUNTERS.sub("[0:0]", body)
    body = _COMMENT.sub("", body)
    body = _numbered(_BRIDGE, "br-", body)
    return _numbered(_VETH, "veth", body) + "\n"


def normalise_brctl(text: str) -> str:
    """``brctl show`` output with bridge names, bridge ids and veth names made stable."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        rows.append("\t".join(part for part in re.split(r"\s+", line.strip())))
    body = "\n".join(rows)
    body = _BRIDGE_ID.sub("8000.MAC", body)
    body = _numbered(_BRIDGE, "br-", body)
    return _numbered(_VETH, "veth", body) + "\n"
