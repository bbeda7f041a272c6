"""Connection tracking entries of one network namespace (``conntrack -L``).

Each entry has an original tuple (as the first packet looked) and a reply tuple (what the answer
will look like). NAT shows as a reply tuple that is not the mirror image of the original one.
The entries are read by running ``conntrack -L -o extended`` inside the namespace and parsing
its text; events (new and destroyed entries) come from a netlink socket in observer.py.
"""

from __future__ import annotations

import subprocess

from dockerscope.kernel.model import Flow

_KNOWN_PROTOS = {"tcp", "udp", "icmp", "udplite", "sctp", "dccp", "gre", "icmpv6", "unknown"}


class ConntrackFormatError(ValueError):
    """A conntrack line that does not have the two tuples."""


def parse_line(line: str, netns: str) -> Flow:
    """One line of ``conntrack -L`` (with or without ``-o extended``)."""
    tokens = line.split()
    # Extended output starts with "ipv4 2"; plain output starts with the protocol name.
    if tokens and tokens[0] in ("ipv4", "ipv6"):
        tokens = tokens[2:]
    if not tokens or tokens[0] not in _KNOWN_PROTOS:
        raise ConntrackFormatError(f"not a conntrack entry: {line!r}")
    proto = tokens[0]
    state = ""
    tuples: list[dict[str, str]] = []
    counters: list[tuple[int, int]] = []
    current: dict[str, str] | None = None
    for tok in tokens[1:]:
        if "=" not in tok:
            if tok.isupper() and not tok.startswith("[") and not tuples:
                state = tok  # "ESTABLISHED", "TIME_WAIT", ...
            continue
        key, _, value = tok.partition("=")
        if key == "src":
            current = {}
            tuples.append(current)
        if current is None:
            continue
        if key in ("packets", "bytes"):
            current[key] = value
            continue
        if key in ("mark", "use", "zone", "id", "secctx"):
            current = None  # tuple ended; what follows belongs to the entry
            continue
        current.setdefault(key, value)
    if len(tuples) < 2:
        raise ConntrackFormatError(f"need an original and a reply tuple: {line!r}")
    orig, reply = tuples[0], tuples[1]
    for t in (orig, reply):
        counters.append((int(t.get("packets", 0)), int(t.get("bytes", 0))))

    def port(t: dict[str, str], key: str) -> int:
        # icmp has no ports: use its id so an echo and its reply line up.
        value = t.get(key) or t.get("id") or "0"
        return int(value) if value.isdigit() else 0

    return Flow(
        netns=netns,
        proto=proto,
        state=state,
        orig_src=orig["src"],
        orig_dst=orig.get("dst", ""),
        orig_sport=port(orig, "sport"),
        orig_dport=port(orig, "dport"),
        reply_src=reply["src"],
        reply_dst=reply.get("dst", ""),
        reply_sport=port(reply, "sport"),
        reply_dport=port(reply, "dport"),
        packets=counters[0][0] + counters[1][0],
        bytes=counters[0][1] + counters[1][1],
    )


def parse(text: str, netns: str) -> list[Flow]:
    """All entries of a ``conntrack -L`` listing; summary and blank lines are skipped."""
    flows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("conntrack v") or "flow entries have been shown" in line:
            continue
        flows.append(parse_line(line, netns))
    return flows


def read(ns_path: str | None, netns: str, timeout: float = 10) -> list[Flow]:
    """Entries of the netns at ``ns_path`` (None: our own)."""
    cmd = ["conntrack", "-L", "-o", "extended"]
    if ns_path is not None:
        cmd = ["nsenter", f"--net={ns_path}", "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise OSError(f"conntrack -L failed: {proc.stderr.strip()}")
    return parse(proc.stdout, netns)
