"""``dockerscope capture``: watch packets on interfaces of a lab, a netns or the host.

``dockerscope capture [--lab L | --netns N | --container C | --host] -i IFACE [-c N] [-w FILE]
[FILTER...]`` prints one decoded packet a line, like tcpdump, or writes pcapng with ``-w``.
``-i`` may be repeated and may name another netns as ``IFACE@NETNS`` (``host``, a name under
/run/netns, a container of the lab, or a path); with several interfaces, a packet already seen
at another one says so, with any address NAT rewrote on the way.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dockerscope.cli.common import CliError, is_root, lab_from

if TYPE_CHECKING:
    from dockerscope.kernel.packets.capture import Capture

#: The netns word that means the machine's own.
HOST = "host"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``capture`` on the top-level subparsers."""
    p = sub.add_parser(
        "capture",
        help="print (or save as pcapng) the packets on interfaces of a lab, a netns or the host",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--lab", default=argparse.SUPPRESS, help="the lab host's netns (default)")
    where.add_argument("--netns", help="a netns: a name under /run/netns or a path")
    where.add_argument("--container", help="a container of the lab (its netns)")
    where.add_argument(
        "--host", dest="capture_host", action="store_true", help="the machine's own netns"
    )
    p.add_argument(
        "-i",
        "--interface",
        dest="interfaces",
        action="append",
        metavar="IFACE",
        help="interface (or 'any'); IFACE@NETNS for another netns; repeatable (default: any)",
    )
    p.add_argument("-c", "--count", type=int, help="stop after this many packets")
    p.add_argument("-w", "--write", type=Path, metavar="FILE", help="write pcapng to FILE")
    p.add_argument("--run-root", type=Path, help=argparse.SUPPRESS)
    p.add_argument("filter", nargs="*", help="a tcpdump-style filter, e.g. tcp port 80")


def resolve_netns(word: str | None, args: argparse.Namespace) -> str | None:
    """A netns word (``host``, a /run/netns name, a lab container, a path) to a path."""
    if word == HOST:
        return None
    if word is None:
        lab = lab_from(args)
        if not lab.netns_path.exists():
            raise CliError(f"lab {lab.name} is not up (no {lab.netns_path})")
        return str(lab.netns_path)
    if "/" in word:
        candidates = [Path(word)]
    else:
        lab = lab_from(args)
        candidates = [Path("/run/netns") / word, lab.container_netns_dir / word]
    for path in candidates:
        if path.exists():
            return str(path)
    raise CliError(f"no netns {word} (looked at {', '.join(str(c) for c in candidates)})")


def _default_netns(args: argparse.Namespace) -> str | None:
    if args.capture_host:
        return None
    if args.container:
        lab = lab_from(args)
        path = lab.container_netns_dir / args.container
        if not path.exists():
            raise CliError(f"no container {args.container} in lab {lab.name} (no {path})")
        return str(path)
    return resolve_netns(args.netns, args)


def cmd_capture(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the capture until ^C, ``-c`` packets, or every interface is gone."""
    from dockerscope.kernel.packets import bpf
    from dockerscope.kernel.packets.capture import Capture, CaptureError

    out = out or sys.stdout
    if not is_root():
        raise CliError("capturing packets needs root (AF_PACKET sockets and setns)")
    expression = " ".join(args.filter)
    default = _default_netns(args)
    captures: list[Capture] = []
    try:
        for spec in args.interfaces or ["any"]:
            iface, _, word = spec.partition("@")
            netns = resolve_netns(word, args) if word else default
            captures.append(Capture(iface, netns, expression))
    except (CaptureError, bpf.BpfError) as exc:
        for c in captures:
            c.close()
        raise CliError(str(exc)) from None
    for c in captures:
        what = f" ({c.expression})" if c.expression else ""
        print(f"capturing on {c.interface} in netns {c.label}{what}", file=sys.stderr, flush=True)
    return _run(captures, args, out)


def _run(captures: list[Capture], args: argparse.Namespace, out: TextIO) -> int:
    from dockerscope.kernel.packets import text
    from dockerscope.kernel.packets.linking import Linker
    from dockerscope.kernel.packets.pcapng import PcapngWriter
    from dockerscope.kernel.packets.several import Captures

    group = Captures(captures)
    # `any` sees a packet on each interface it crosses (a veth, then the bridge): link those too.
    several_places = len(captures) > 1 or captures[0].interface == "any"
    mixed_netns = len({c.netns for c in captures}) > 1
    linker = Linker()
    stop = threading.Event()
    writer = None
    shown = 0
    file = args.write.open("wb") if args.write else None
    try:
        if file is not None:
            writer = PcapngWriter(file)
        for p in group.packets(stop, args.count):
            shown += 1
            if writer is not None:
                writer.write(p)
                continue
            line = text.line(p, netns=mixed_netns)
            link = linker.add(p) if several_places else None
            if link is not None:
                line += f"  [{link.describe()}]"
            print(line, file=out, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        if file is not None:
            file.close()
        stats = group.stats()
        group.close()
    for note in group.notes:
        print(f"capture ended: {note}", file=sys.stderr)
    where = f" written to {args.write}" if args.write else ""
    print(
        f"{shown} packets{where}; {stats.received} seen by the filter, "
        f"{stats.dropped} dropped by the kernel",
        file=sys.stderr,
    )
    return 0
