"""Speed of the dashboard (the UI half of issue 4 "Speed"). Prints a table; not a test.

    python3 bench/ui.py                 # everything (the live parts need root)
    python3 bench/ui.py --fake-only     # key presses on fake data, anywhere
    python3 bench/ui.py --presses 30 --trials 20 --idle 20 --idle-seconds 30 \
        --sizes 200x60,80x24 [--live-only] [--no-idle]

What is measured, and how:

1. Key press -> repaint with 100 containers and 1,000 rules (``fake.big_snapshot()``), on the
   headless app at 200x60 (grid) and 80x24 (tabs): switch panel, nat/filter, scroll, a filter
   keystroke, and a panel switch right after a frame (1,000 counters moved) left hidden panels
   dirty. Also a frame -> repaint (the UI's share of a full refresh).
2. Kernel change -> panel, live (root): the bench lab of bench/observer.py (a lab netns with a
   bridge, container netns joined by veths, Docker-shaped NAT rules) seen through a real
   ``LiveSource(Scope.lab(...))``; each change made once the dashboard has settled (no paint
   for 150 ms); from making the change (link add / address add through
   netlink, ``iptables -A`` in the netns (process included), a TCP connect through the DNAT
   rule from a known source port) to the first paint after which the relevant panel's rendered
   lines hold it (Bridges: the bridge name, its address; NAT: the rule; Flows: the source port).
   In tabs (80x24) the panel is brought to the front before the change. "frame->paint" is the
   UI's share: from the source handing over the frame to that paint.
3. Idle CPU of the app (its process, threads and children: the observer runs in it) with N
   idle containers in a live lab scope, after 15 s of settling.

The "paint" is the app's ``_display`` call: Textual's compositor has rendered the changed
regions (every visible widget's ``render_line``) into a ``CompositorUpdate``, which a real
driver turns into escape codes and writes. The headless driver skips that last step, so the
bench does it (``render_segments(console)``) inside the hook, then stamps the time: the stamp
is the moment the bytes for the new screen exist. Each paint also records what the dashboard
shows (``MeasuredApp.shown``: the panel in front, the focus, the identity of each panel's
lines, scroll offsets, filters, the NAT table). A key is handed to the app as its terminal
driver hands it (``Driver.send_message``; ``pilot.press`` would add its own waits on every
widget to the measured time), and its time runs from then to the first paint showing the final
content (the bench sleeps until 150 ms pass with no paint, then takes the first paint whose
``shown`` equals the last one's); the
"settled" column is the last paint, which includes animations that repaint the same content
(the tab underline sliding, ~0.4 s) and the footer's rebuild. Nothing else paints meanwhile:
the fake source is quiet and no highlight is fading.

Wall times on a 2-core machine shared with other work swing; the CPU column (this process,
from the press to that paint) says how much of it was the app's own work. The 100-300 ms
outliers of earlier versions were full garbage collections (now at quiet moments, see
docs/ui.md), restyles of whole panel subtrees on focus moves and every panel's scrollbars
redrawn after any layout (both gone); what remains is mostly a screen's paint.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import importlib.util
import os
import resource
import socket
import statistics
import sys
import threading
import time
import unicodedata
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dockerscope.screens import app as app_module  # noqa: E402
from dockerscope.screens.app import DockerscopeApp  # noqa: E402
from dockerscope.screens.fake import FakeSource, big_snapshot  # noqa: E402
from dockerscope.screens.lines import LinesView  # noqa: E402
from rich.console import RenderableType  # noqa: E402
from textual import events  # noqa: E402
from textual._compositor import CompositorUpdate  # noqa: E402
from textual.keys import (  # noqa: E402
    REPLACED_KEYS,
    _character_to_key,
    _get_unicode_name_from_key,
)
from textual.screen import Screen  # noqa: E402

from dockerscope.feed import Frame  # noqa: E402
from dockerscope.kernel.model import Diff, Snapshot, diff  # noqa: E402

Row = tuple[str, str, str]
TRACE = False  #: --trace: one line per live trial on stderr
BACK_TO_BACK = False  #: --back-to-back: live changes made without waiting for the paints to settle


class MeasuredApp(DockerscopeApp):
    """The real app, with every paint stamped (and turned into terminal bytes, as a driver
    would) and optional watchers called after each paint."""

    # Textual reads CSS_PATH relative to the class's own file: point back at the app's.
    CSS_PATH = [str(Path(app_module.__file__).parent / "dockerscope.tcss")]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paints: list[tuple[float, float, tuple[object, ...]]] = []
        """(perf_counter, process_time, what the dashboard shows) of each paint"""
        self.after_paint: list[Callable[[float], None]] = []
        self.paint_bytes = 0

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        super()._display(screen, renderable)
        if renderable is None or self._batch_count:
            return
        if self.is_headless and isinstance(renderable, CompositorUpdate):
            self.paint_bytes += len(renderable.render_segments(self.console))
        now = time.perf_counter()
        self.paints.append((now, time.process_time(), self.shown()))
        for watcher in list(self.after_paint):
            watcher(now)


    def shown(self) -> tuple[object, ...]:
        """What the dashboard shows, as identities: the panel in front, the focus, each
        panel's lines (a render replaces the list), scroll offsets, the NAT table, filters.
        Equal values mean equal content on screen, whatever animation is still running."""
        try:
            dash = self.dashboard
        except LookupError:
            return ()
        out: list[object] = [dash.active, id(self.focused), dash.grid]
        for panel in dash.panels:
            body = panel.query_one(LinesView)
            out += [id(panel._lines), body.scroll_offset, panel.query_text,
                    getattr(panel, "table", None)]
        return tuple(out)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def summary(values: list[float]) -> str:
    return (f"p50 {statistics.median(values):6.1f}  p95 {pct(values, 0.95):6.1f}  "
            f"max {max(values):6.1f}")


# -- 1. key presses on fake data --------------------------------------------------------------


class TickSource(FakeSource):
    """The big snapshot, then, each time ``release()`` is called, a frame in which every
    rule's counters moved. The bench calls ``prepare()`` before it starts the clock, so the
    time from ``release()`` to the paint is the app's alone (making 1,000 rules and their diff
    is the observer's share, measured by bench/observer.py). Frames are made one at a time, so
    the process holds what the app would (two or three snapshots), not every frame of the run:
    the garbage collector's pauses grow with the objects alive."""

    def __init__(self) -> None:
        self.base = big_snapshot()
        self._prev = self.base
        self._made = 0
        self._ready: list[Frame] = []
        super().__init__([Frame(at=1.0, snapshot=self.base, diff=Diff(), note="bench")],
                         auto=False, scope="lab:bench")

    def prepare(self) -> None:
        """Make the next frame now (outside the measured time)."""
        self._made += 1
        n = self._made
        rules = tuple(dataclasses.replace(r, packets=r.packets + n, bytes=r.bytes + 60 * n)
                      for r in self.base.rules)
        snap: Snapshot = dataclasses.replace(self.base, rules=rules,
                                             taken_at=self.base.taken_at + n)
        self._ready.append(Frame(at=1.0 + n, snapshot=snap, diff=diff(self._prev, snap)))
        self._prev = snap

    async def frames(self) -> AsyncIterator[Frame]:
        yield Frame(at=1.0, snapshot=self.base, diff=Diff(), note="bench")
        self.sent = 1
        while not self._stopped.is_set():
            while self.sent >= self._budget and not self._stopped.is_set():
                self._released.clear()
                await self._wait_any(self._released)
            if self._stopped.is_set():
                return
            if not self._ready:
                self.prepare()
            self.sent += 1
            yield self._ready.pop(0)


async def settle(app: MeasuredApp, quiet: float = 0.15, limit: float = 5.0) -> None:
    """Let the app run until no paint happened for ``quiet`` seconds. The bench only sleeps:
    Textual's ``pilot.pause`` would post a callback to every widget and force a screen
    update, work a user's terminal never causes."""
    deadline = time.perf_counter() + limit
    seen = len(app.paints)
    while time.perf_counter() < deadline:
        await asyncio.sleep(quiet)
        if len(app.paints) == seen:
            return
        seen = len(app.paints)


def send_key(app: MeasuredApp, key: str) -> None:
    """Hand the app a key the way its terminal driver does (``Driver.send_message`` from the
    input thread), named as ``pilot.press`` names it. ``pilot.press`` itself also waits for
    every widget to take a posted callback and for animations, inside the measured time."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    char: str | None
    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    assert app._driver is not None
    app._driver.send_message(event)


async def press(app: MeasuredApp, key: str) -> Sample | None:
    """Press ``key``; the paints it caused (None: no paint)."""
    n0 = len(app.paints)
    t0, c0 = time.perf_counter(), time.process_time()
    send_key(app, key)
    await settle(app)
    return sample(app, n0, t0, c0)


@dataclasses.dataclass(frozen=True)
class Sample:
    """Milliseconds from an input to the paint showing its result and to its last paint (an
    animation, e.g. the tab underline sliding, paints on with the same content)."""

    first: float
    last: float
    cpu_first: float  # this process's CPU time from the input to that paint
    paints: int


def sample(app: MeasuredApp, n0: int, t0: float, c0: float) -> Sample | None:
    """The paint that first showed the final content (``shown()`` as after the last paint),
    and the last paint, counted from ``t0``."""
    if len(app.paints) == n0:
        return None
    final = app.paints[-1][2]
    t1, c1, _ = next(p for p in app.paints[n0:] if p[2] == final)
    t2 = app.paints[-1][0]
    return Sample((t1 - t0) * 1000, (t2 - t0) * 1000, (c1 - c0) * 1000, len(app.paints) - n0)


async def keys_bench(size: tuple[int, int], presses: int) -> list[Row]:
    """Key presses on the big fake lab at one terminal size."""
    source = TickSource()
    app = MeasuredApp(source, clock=lambda: 1000.0)
    results: dict[str, list[Sample]] = {}
    missed: dict[str, int] = {}

    async def measure(kind: str, key: str) -> None:
        got = await press(app, key)
        if got is None:
            missed[kind] = missed.get(kind, 0) + 1
        else:
            results.setdefault(kind, []).append(got)

    async with app.run_test(size=size) as pilot:
        while app.frames_applied < 1:
            await pilot.pause(0.02)
        await settle(app)
        dash = app.dashboard
        # Hidden panels render in the background at the first quiet moments; start measuring
        # once they have, or those renders would land in the first keys' samples.
        # Then the collector's first quiet moment, as a user looking at the screen gives it.
        deadline = time.perf_counter() + 5.0
        while any(p.dirty for p in dash.panels) and time.perf_counter() < deadline:
            await pilot.pause(0.05)
        collections = app.idle_gc.collections
        while app.idle_gc.collections == collections and time.perf_counter() < deadline:
            await pilot.pause(0.05)
        await settle(app)
        for i in range(presses):  # panel switches, through all eight in turn
            await measure("switch panel (1-8 in turn)", str((i + 1) % 8 + 1))
        await measure("-", "2")
        for _ in range(presses):
            await measure("t: nat <-> filter", "t")
        if dash.panel("nat").table != "nat":  # type: ignore[attr-defined]
            await press(app, "t")
        for _ in range(presses):
            await measure("down (NAT, one line)", "down")
        for i in range(presses):
            await measure("pagedown/pageup (NAT)", "pagedown" if i % 10 < 5 else "pageup")
        await press(app, "slash")
        for i in range(presses):
            await measure("filter keystroke (NAT)", "1" if i % 2 == 0 else "backspace")
        await press(app, "escape")
        await press(app, "1")
        for i in range(presses):
            # A frame lands (1,000 counters moved) while Bridges is shown. In the tabs layout
            # NAT is hidden and left dirty: after 0.1 s of quiet the app renders it in the
            # background, else the key that brings it to the front renders 1,000 rules first.
            # Every other trial presses as soon as the frame is painted (no quiet moment),
            # the others after the paint settled; rows say which state NAT was in.
            source.prepare()
            n0, t0, c0 = len(app.paints), time.perf_counter(), time.process_time()
            source.release()
            while app.frames_applied < i + 2:
                await asyncio.sleep(0.001)
            if i % 2:
                # (a paint if anything shown changed; in tabs with Bridges in front, none)
                wait_until = time.perf_counter() + 0.05
                while len(app.paints) == n0 and time.perf_counter() < wait_until:
                    await asyncio.sleep(0.001)
            else:
                await settle(app)
                got = sample(app, n0, t0, c0)
                if got is not None:
                    results.setdefault("frame (1,000 counters) -> paint", []).append(got)
            how = ("NAT dirty, rendered by the key" if dash.panel("nat").dirty
                   else "NAT drawn already")
            await measure(f"switch to NAT after a frame ({how})", "2")
            await press(app, "1")
        await source.stop()
    rows: list[Row] = []
    w, h = size
    for kind, values in results.items():
        if kind == "-":
            continue
        miss = f", {missed[kind]} no paint" if kind in missed else ""
        rows.append((f"{w}x{h} {kind} (ms, n={len(values)}{miss})",
                     f"{summary([v.first for v in values])}  "
                     f"cpu p50 {statistics.median(v.cpu_first for v in values):5.1f}  "
                     f"settled p50 {statistics.median(v.last for v in values):5.1f} "
                     f"({max(v.paints for v in values)} paints)",
                     "p95 <= 100"))
    return rows


# -- 2 and 3. live ---------------------------------------------------------------------------


def _bench_lab_class() -> Any:
    """``BenchLab`` of bench/observer.py: the same lab-shaped namespaces, the same clean-up."""
    path = Path(__file__).resolve().parent / "observer.py"
    spec = importlib.util.spec_from_file_location("bench_observer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


async def live_latency(lab: Any, module: Any, trials: int, size: tuple[int, int],
                       run: int) -> list[Row]:
    """Kernel change -> the panel showing it, through a real LiveSource.

    ``run`` keeps names, addresses, rules and ports of successive runs on one lab apart.
    """
    from pyroute2 import IPRoute

    from dockerscope.feed.live import LiveSource
    from dockerscope.kernel.setns import in_netns, netlink_socket

    source = LiveSource(lab.scope())
    arrived: list[float] = []  # when the source handed each frame over
    what: list[str] = []  # what each frame's refresh re-read (for --trace)
    frames_of = source.frames

    async def stamped() -> AsyncIterator[Frame]:
        async for frame in frames_of():
            arrived.append(time.perf_counter())
            what.append(",".join(frame.extra.get("refreshed", ())) if frame.extra else "")
            yield frame

    source.frames = stamped  # type: ignore[method-assign]
    app = MeasuredApp(source, live=False)
    loop = asyncio.get_running_loop()
    ui_share: dict[str, list[float]] = {}
    changer = concurrent.futures.ThreadPoolExecutor(1)
    results: dict[str, list[float]] = {}
    server = in_netns(str(lab.files[0]), lambda: socket.create_server(("0.0.0.0", 20000)))
    threading.Thread(target=module._accept_forever, args=(server,), daemon=True).start()
    ipr = await loop.run_in_executor(
        changer, lambda: IPRoute(fileno=netlink_socket(lab.path, 0).detach()))

    def connect(sport: int) -> None:
        def go() -> None:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", sport))
            s.settimeout(5)
            s.connect(("198.51.100.1", 20000))
            s.close()

        in_netns(lab.path, go)

    for _ in range(50):  # the new bridge port needs a moment before it forwards
        try:
            await loop.run_in_executor(changer, connect, 0)
            break
        except OSError:
            await asyncio.sleep(0.1)

    async def trial(kind: str, panel: str, needle: str, change: Callable[[], Any]) -> None:
        dash = app.dashboard
        if dash.active != panel:  # in tabs only the shown panel renders: show the right one
            dash.action_show_panel(panel)
        # Each change is made on a settled dashboard (no paint for 150 ms), as a class types
        # its commands: the last trial's follow-up paints (NAT scrolling its new rule into
        # view) are not this trial's. Back to back, those delayed the next change's frame by
        # up to ~80 ms (the observer's event tasks share the app's loop).
        if not BACK_TO_BACK:
            await settle(app)
        if needle in dash.panel(panel).rendered_text():
            raise RuntimeError(f"{needle!r} is in the {panel} panel before the change")
        done: asyncio.Future[float] = loop.create_future()

        def check(now: float) -> None:
            if not done.done() and needle in dash.panel(panel).rendered_text():
                done.set_result(now)

        app.after_paint.append(check)
        try:
            t0 = time.perf_counter()
            await loop.run_in_executor(changer, change)
            at = await asyncio.wait_for(done, 10)
            results.setdefault(kind, []).append((at - t0) * 1000)
            frame_at = max((t for t in arrived if t0 <= t <= at), default=t0)
            ui_share.setdefault(kind, []).append((at - frame_at) * 1000)
            if TRACE:
                seen = [f"+{(t - t0) * 1000:.0f}ms {w}" for t, w in zip(arrived, what, strict=True)
                        if t0 <= t <= at]
                print(f"trace {size[0]}x{size[1]} {kind}: {(at - t0) * 1000:.0f} ms, "
                      f"frame->paint {(at - frame_at) * 1000:.0f} ms; frames {seen}",
                      file=sys.stderr)
        except TimeoutError:
            results.setdefault(kind + " TIMEOUT", []).append(10_000.0)
        finally:
            app.after_paint.remove(check)

    try:
        async with app.run_test(size=size) as pilot:
            while app.frames_applied < 1:
                await pilot.pause(0.02)
            await pilot.pause(1.0)
            for i in range(trials):
                name = f"lu{run}x{i}"
                await trial("link add", "bridges", name,
                            partial(ipr.link, "add", ifname=name, kind="bridge"))
                idx = (await loop.run_in_executor(
                    changer, partial(ipr.link_lookup, ifname=name)))[0]
                ip = f"10.{200 + run}.{i % 250}.1"
                await trial("address add", "bridges", f"{ip}/24",
                            partial(ipr.addr, "add", index=idx, address=ip, prefixlen=24))
                spec = f"10.{90 + run}.{i % 250}.0/24"
                await trial("rule add (iptables -A process included)", "nat", spec,
                            partial(module.sh, "ip", "netns", "exec", lab.name, "iptables",
                                    "-t", "nat", "-A", "POSTROUTING", "-s", spec,
                                    "-j", "MASQUERADE"))
                sport = 31000 + 1000 * run + i
                await trial("conntrack entry (TCP connect via DNAT)", "flows",
                            f":{sport} -> 198.51.100.1:20000", partial(connect, sport))
                await loop.run_in_executor(changer, partial(ipr.link, "del", index=idx))
                await pilot.pause(0.05)
            await source.stop()
    finally:
        server.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone does not
        server.close()
        await loop.run_in_executor(changer, ipr.close)
        changer.shutdown()
    w, h = size
    return [(f"{w}x{h} change -> panel, {kind} (ms, n={len(v)})",
             f"{summary(v)}  frame->paint p50 {statistics.median(ui_share.get(kind, [0])):5.1f} "
             f"p95 {pct(ui_share.get(kind, [0]), 0.95):5.1f}", "p95 <= 100")
            for kind, v in results.items()]


async def idle_cpu(lab: Any, seconds: float, size: tuple[int, int]) -> Row:
    """% of one core used by the whole app (UI, observer threads, children) while idle."""
    from dockerscope.feed.live import LiveSource

    source = LiveSource(lab.scope())
    app = MeasuredApp(source, live=False)
    async with app.run_test(size=size) as pilot:
        while app.frames_applied < 1:
            await pilot.pause(0.02)
        # Fresh veths chatter (IPv6 DAD, router solicitations) for some seconds: let it pass.
        await asyncio.sleep(15.0)
        f0, p0 = app.frames_applied, len(app.paints)
        r0 = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        r1 = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        t1 = time.perf_counter()
        frames, paints = app.frames_applied - f0, len(app.paints) - p0
        await source.stop()
    cpu = sum(getattr(b, f) - getattr(a, f) for a, b in zip(r0, r1, strict=True)
              for f in ("ru_utime", "ru_stime"))
    w, h = size
    return (f"{w}x{h} idle CPU of the app, {lab.containers} containers ({seconds:.0f} s)",
            f"{cpu / (t1 - t0) * 100:.2f} % of a core ({frames} frames, {paints} paints)",
            "<= 3 %")


def print_table(rows: list[Row]) -> None:
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"{'measure':<{w0}}  {'result':<{w1}}  target")
    print(f"{'-' * w0}  {'-' * w1}  ------")
    for a, b, c in rows:
        print(f"{a:<{w0}}  {b:<{w1}}  {c}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--presses", type=int, default=30)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--idle", type=int, default=20, help="containers for the idle CPU run")
    ap.add_argument("--idle-seconds", type=float, default=30.0)
    ap.add_argument("--fake-only", action="store_true", help="skip the live (root) parts")
    ap.add_argument("--live-only", action="store_true", help="skip the key presses")
    ap.add_argument("--no-idle", action="store_true", help="skip the idle CPU run")
    ap.add_argument("--sizes", default="200x60,80x24", help="terminal sizes, e.g. 200x60")
    ap.add_argument("--back-to-back", action="store_true",
                    help="live part: make each change as soon as the last one showed, without "
                         "waiting for the dashboard to settle")
    ap.add_argument("--trace", action="store_true",
                    help="live part: print each trial (time, frame->paint, what was re-read)")
    args = ap.parse_args()
    global TRACE, BACK_TO_BACK
    TRACE = args.trace
    BACK_TO_BACK = args.back_to_back
    rows: list[Row] = []
    sizes = [(int(w), int(h)) for w, h in (s.split("x") for s in args.sizes.split(","))]
    if not args.live_only:
        for size in sizes:
            rows += asyncio.run(keys_bench(size, args.presses))
    if not args.fake_only:
        if os.geteuid() != 0:
            print("the live parts need root (or pass --fake-only)", file=sys.stderr)
        else:
            module = _bench_lab_class()
            lab = module.BenchLab(args.idle, 50)
            try:
                lab.up()
                for run, size in enumerate(sizes):
                    rows += asyncio.run(live_latency(lab, module, args.trials, size, run))
                if not args.no_idle:
                    rows.append(asyncio.run(idle_cpu(lab, args.idle_seconds, sizes[0])))
            finally:
                lab.down()
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
