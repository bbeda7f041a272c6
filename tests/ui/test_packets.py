"""The Packets view on the fake packet story: list, folding, pause, filter, save, help."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dockerscope.screens.help import HelpScreen
from dockerscope.screens.packets import PacketsScreen
from dockerscope.screens.showcmd import ShowCommandScreen
from textual.widgets import Static

from dockerscope.kernel.neighbours import Neighbour
from dockerscope.kernel.packets import fakepackets
from dockerscope.kernel.packets.capture import CaptureError
from dockerscope.kernel.packets.feed import FakePacketFeed, PacketFeed
from dockerscope.kernel.packets.pcapng import BYTE_ORDER_MAGIC
from tests.ui.helpers import frames, make_app, until

SIZES = [(80, 24), (200, 60)]
NEIGHBOURS = [
    Neighbour("172.17.0.3", "02:42:ac:11:00:03", "docker0", "REACHABLE"),
    Neighbour("172.17.0.9", "", "docker0", "INCOMPLETE"),
    Neighbour("ff02::1", "33:33:00:00:00:01", "docker0", "NOARP"),
]


class FakeFeeds:
    """Opens fake feeds and remembers them (the test releases packets through them)."""

    def __init__(self) -> None:
        self.opened: list[FakePacketFeed] = []
        self.asked: list[tuple[list[str], str]] = []

    def __call__(self, interfaces: list[str], expression: str) -> PacketFeed:
        self.asked.append((interfaces, expression))
        feed = FakePacketFeed(fakepackets.story(), expression)
        self.opened.append(feed)
        return feed

    @property
    def current(self) -> FakePacketFeed:
        return self.opened[-1]


def packets_app(tmp_path: Path | None = None) -> tuple[Any, FakeFeeds]:
    app, source = make_app()
    feeds = FakeFeeds()
    source.packet_feed = feeds  # type: ignore[attr-defined]
    source.packet_neighbours = lambda: list(NEIGHBOURS)  # type: ignore[attr-defined]
    return app, feeds


async def open_packets(pilot: Any, app: Any, tmp_path: Path | None = None) -> PacketsScreen:
    await frames(pilot, app, 1)
    await pilot.press("P")
    await until(pilot, lambda: isinstance(app.screen, PacketsScreen))
    screen = app.screen
    assert isinstance(screen, PacketsScreen)
    if tmp_path is not None:
        screen.save_dir = tmp_path
    return screen


def shown(screen: PacketsScreen) -> str:
    return str(screen.query_one("#packets-rows", Static).render())


@pytest.mark.parametrize("size", SIZES)
async def test_the_list_fills_and_folds_the_second_sighting(size: tuple[int, int]) -> None:
    app, feeds = packets_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_packets(pilot, app)
        assert feeds.asked[0] == (["docker0", "br-12eeb8c4266b"], "")
        assert "No packets yet" in shown(screen)
        before = screen.painted
        feeds.current.release(3)  # ARP who-has on the veth, then on docker0; the is-at
        await until(pilot, lambda: screen.painted > before and "is-at" in shown(screen))
        text = shown(screen)
        assert "ARP who-has 172.17.0.3 tell 172.17.0.2" in text
        assert "    also on docker0 (In)" in text
        assert len(screen.rows.rows) == 2  # three sightings, two packets
        feeds.current.release()
        await until(pilot, lambda: "ds-uplink" in shown(screen))
        assert "also on ds-uplink (Out), source 172.17.0.2:43512 -> 100.64.0.2:43512" in shown(
            screen
        )
        status = str(screen.query_one("#packets-status", Static).render())
        assert "Capturing on docker0, br-12eeb8c4266b" in status
        assert f"{len(screen.rows.rows)} packets listed" in status
        neigh = str(screen.query_one("#packets-neigh-table", Static).render())
        assert "172.17.0.3 is at 02:42:ac:11:00:03 on docker0, reachable" in neigh
        assert "(no answer yet)" in neigh and "ff02::1" not in neigh


@pytest.mark.parametrize("size", SIZES)
async def test_pause_stops_updates_and_resume_catches_up(size: tuple[int, int]) -> None:
    app, feeds = packets_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_packets(pilot, app)
        feeds.current.release(2)
        await until(pilot, lambda: len(screen.rows.rows) == 1)
        await pilot.press("space")
        assert screen.paused
        feeds.current.release()
        await pilot.pause(0.2)
        assert len(screen.rows.rows) == 1 and "ds-uplink" not in shown(screen)
        assert "Paused: space resumes." in str(screen.query_one("#packets-status", Static).render())
        await pilot.press("space")
        await until(pilot, lambda: "ds-uplink" in shown(screen))


@pytest.mark.parametrize("size", SIZES)
async def test_a_bad_filter_is_refused_in_words_old_one_stays(size: tuple[int, int]) -> None:
    app, feeds = packets_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_packets(pilot, app)
        await pilot.press("f")
        for ch in "icmp":
            await pilot.press(ch)
        await pilot.press("enter")
        await until(pilot, lambda: screen.expression == "icmp")
        assert feeds.asked[-1] == (["docker0", "br-12eeb8c4266b"], "icmp")
        await pilot.press("f")
        for _ in range(4):
            await pilot.press("backspace")
        for ch in "tcp prot 80":
            await pilot.press("space" if ch == " " else ch)
        await pilot.press("enter")
        error = screen.query_one("#packets-error", Static)
        await until(pilot, lambda: error.has_class("-shown"))
        words = str(error.render())
        assert "That filter was not accepted, so the old one stays" in words
        assert "syntax error" in words or "parse" in words
        assert screen.expression == "icmp" and len(feeds.opened) == 2
        assert not feeds.opened[-1].stopped


async def test_save_writes_pcapng_with_the_shown_count(tmp_path: Path) -> None:
    app, feeds = packets_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_packets(pilot, app, tmp_path)
        feeds.current.release()
        await until(pilot, lambda: "ds-uplink" in shown(screen))
        await pilot.press("w")
        await until(pilot, lambda: screen.last_saved is not None)
        assert screen.last_saved is not None
        path, count = screen.last_saved
        assert count == len(fakepackets.story())
        assert path.parent == tmp_path
        data = path.read_bytes()
        assert int.from_bytes(data[8:12], "little") == BYTE_ORDER_MAGIC
        if shutil.which("tcpdump"):
            out = subprocess.run(
                ["tcpdump", "-n", "-r", str(path)], capture_output=True, text=True, check=True
            )
            assert len(out.stdout.splitlines()) == count


async def test_show_command_help_and_escape_back() -> None:
    app, feeds = packets_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_packets(pilot, app)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ShowCommandScreen))
        command = app.screen.command
        assert command.netns == "demo"
        assert command.lines[0].display == "tcpdump -n -e -i docker0"
        await pilot.press("escape")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PacketsScreen))
        assert feeds.current.stopped


async def test_without_a_packet_source_the_key_says_root_and_a_live_lab() -> None:
    app, _source = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("P")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, PacketsScreen)
        said = [str(n.message) for n in app._notifications]
        assert any("Live packets need root and a live lab" in m for m in said)


def test_snapshot_80x24(snap_compare: Any) -> None:
    app, feeds = packets_app()

    async def run_before(pilot: Any) -> None:
        screen = await open_packets(pilot, app)
        feeds.current.release()
        await until(pilot, lambda: "ds-uplink" in shown(screen))
        await until(
            pilot, lambda: "is at" in str(screen.query_one("#packets-neigh-table", Static).render())
        )
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def test_an_unknown_interface_is_refused_and_a_vanished_one_is_told() -> None:
    app, feeds = packets_app()

    def picky(interfaces: list[str], expression: str) -> PacketFeed:
        if "nosuch0" in interfaces:
            raise CaptureError("no interface nosuch0 in netns demo")
        return feeds(interfaces, expression)

    app.source.packet_feed = picky
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_packets(pilot, app)
        await pilot.press("i")
        for ch in " nosuch0":
            await pilot.press("space" if ch == " " else ch)
        await pilot.press("enter")
        error = screen.query_one("#packets-error", Static)
        await until(pilot, lambda: error.has_class("-shown"))
        assert "Could not capture there, so nothing changed" in str(error.render())
        assert screen.interfaces == ["docker0", "br-12eeb8c4266b"] and len(feeds.opened) == 1
        feeds.current.end("capture on br-12eeb8c4266b ended: the interface went away")
        await until(pilot, lambda: bool(screen.notes))
        said = [str(n.message) for n in app._notifications]
        assert any("the interface went away" in m for m in said)
