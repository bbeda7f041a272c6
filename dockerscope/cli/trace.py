"""``dockerscope trace [--lab L | --netns N | --host] FILTER... [--count N] [--timeout S]``:
follow packets through netfilter and print each one's path, one hop per line.

Also ``dockerscope trace --cleanup`` (remove tracing tables a killed tracer left). The tracer
is imported inside the command, as the other commands import the heavy parts.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from types import FrameType

from dockerscope.cli.common import CliError
from dockerscope.engine.paths import DEFAULT_LAB


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``trace`` subcommand's options."""
    t = sub.add_parser(
        "trace",
        help="follow packets matching a filter through netfilter (nftables tracing)",
        description="Trace packets matching FILTER (e.g. 'tcp dport 8080', 'icmp', "
        "'udp port 53', 'host 172.17.0.2') through the netfilter hooks of a lab, a named "
        "netns or the host, and print each packet's path. Needs root.",
    )
    where = t.add_mutually_exclusive_group()
    where.add_argument("--lab", dest="trace_lab", help=f"a lab's netns (default: {DEFAULT_LAB})")
    where.add_argument("--netns", help="a named netns (/run/netns/NAME) or a netns path")
    where.add_argument("--host", dest="trace_host", action="store_true", help="the host's netns")
    t.add_argument("filter", nargs="*", help="what to trace: tcp|udp|icmp, port N, host A, ...")
    t.add_argument("--count", type=int, default=None, help="stop after N packets")
    t.add_argument("--timeout", type=float, default=None, help="stop after S seconds")
    t.add_argument(
        "--cleanup", action="store_true", help="only remove tracing tables of dead tracers"
    )


def _where(args: argparse.Namespace) -> tuple[str | None, str]:
    if getattr(args, "trace_host", False):
        return None, "host"
    if args.netns:
        path = args.netns if os.path.isabs(args.netns) else f"/run/netns/{args.netns}"
        return path, f"netns:{os.path.basename(path)}"
    lab = args.trace_lab or getattr(args, "lab", None) or DEFAULT_LAB
    return f"/run/netns/{lab}", f"lab:{lab}"


def render(trace: object) -> str:
    """A Trace as text: a head line, one hop per line, the rewrites, the route, the end."""
    from dockerscope.kernel.trace.model import Trace

    assert isinstance(trace, Trace)
    head = trace.first.label() if trace.first is not None else "packet"
    lines = [f"packet {trace.id:08x} in {trace.netns}: {head}"]
    for h in trace.hops:
        where = f"{h.family} {h.table} {h.chain}"
        ifs = " ".join(
            x for x in (f"iif {h.iif}" if h.iif else "", f"oif {h.oif}" if h.oif else "") if x
        )
        rule = h.rule or "-"
        line = f"  {h.hook or '?':<11} {where:<28} {rule}  => {h.verdict}"
        if h.owner:
            line += f"  [{h.owner}]"
        if ifs:
            line += f"  ({ifs})"
        lines.append(line)
    for r in trace.rewrites:
        by = f" by {r.by}" if r.by else ""
        what = "destination" if r.kind == "dnat" else "source"
        lines.append(f"  rewrite: {what} {r.before} -> {r.after} ({r.kind}{by})")
    if trace.route is not None:
        rt = trace.route
        via = f" via {rt.gateway}" if rt.gateway else ""
        text = f"  route: to {rt.dst} out {rt.oif or '?'}{via}"
        if rt.route:
            text += f" (route {rt.route})"
        if rt.bridge_port:
            text += f", bridge port {rt.bridge_port}"
        elif rt.note:
            text += f"; {rt.note}"
        lines.append(text)
    if trace.delivered_to is not None:
        d = trace.delivered_to
        if d.proto in ("tcp", "udp"):
            lines.append(f"  delivered to local socket {d.proto} {d.address}:{d.port}")
        else:
            lines.append(f"  delivered to {d.address} ({d.proto}: the kernel answers)")
    if trace.outcome:
        lines.append(f"  => {trace.outcome}")
    return "\n".join(lines)


def _container_names(args: argparse.Namespace, label: str) -> dict[str, str]:
    """Container address -> name from the lab's socket (or Docker's, for the host), so a
    published port's rule names its container; empty when no API answers."""
    from dockerscope.kernel.hints import hints_from_socket
    from dockerscope.kernel.scope import default_docker_socket

    if label.startswith("lab:"):
        sock = f"/run/dockerscope/{label[4:]}/docker.sock"
    elif label == "host":
        sock = default_docker_socket()
    else:
        return {}
    try:
        hints = hints_from_socket(sock, timeout=0.5)
    except (OSError, ValueError):
        return {}
    return {ip.split("/")[0]: c.name for c in hints.containers for ip in c.ips}


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    # SIGTERM unwinds like ^C, so the finally that removes our table runs.
    raise SystemExit(128 + signum)


def cmd_trace(args: argparse.Namespace) -> int:
    """Run a trace (or the cleanup) and print each packet's path as it completes."""
    if os.geteuid() != 0:
        raise CliError("trace needs root (it adds a tracing table and reads netfilter events)")
    from dockerscope.kernel.trace import session
    from dockerscope.kernel.trace.filters import FilterError, parse

    path, label = _where(args)
    if path is not None and not os.path.exists(path):
        raise CliError(f"no network namespace at {path} (is the lab up?)")
    if args.cleanup:
        gone = session.cleanup(path)
        print(f"removed {len(gone)} tracing table(s)" + (f": {', '.join(gone)}" if gone else ""))
        return 0
    try:
        flt = parse(args.filter)
    except FilterError as exc:
        raise CliError(f"bad filter: {exc}") from None
    previous = signal.signal(signal.SIGTERM, _raise_exit)
    tracer = session.TraceSession(path, label, flt)
    tracer.containers = _container_names(args, label)
    try:
        tracer.start()
    except session.TraceError as exc:
        raise CliError(str(exc)) from None
    try:
        print(
            f"tracing '{flt.text}' in {label} (table inet {tracer.table}); ^C to stop", flush=True
        )
        for trace in tracer.traces(count=args.count, timeout=args.timeout):
            print(render(trace), flush=True)
            lag = (time.monotonic() - trace.started) * 1000
            print(f"  (printed {lag:.0f} ms after its first event)", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        tracer.close()
        signal.signal(signal.SIGTERM, previous)
    return 0
