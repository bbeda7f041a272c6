"""Pilot tests of the dashboard on the fake lab: panels, keys, highlights, command bar, help."""

from __future__ import annotations

import os
import shutil

import pytest
from dockerscope.screens import styles
from dockerscope.screens.app import DockerscopeApp, FramesReady
from dockerscope.screens.dashboard import PANEL_TYPES
from dockerscope.screens.fake import FakeSource, lab_frames
from dockerscope.screens.help import HelpScreen
from dockerscope.screens.lines import LinesView
from dockerscope.screens.nat import NatPanel
from dockerscope.screens.showcmd import ShowCommandScreen
from rich.text import Text
from textual.widgets import RichLog

from tests.ui.helpers import Clock, RecordingClient, frames, make_app, screen_text, until

#: What each panel must show from the fake lab's first frame.
EXPECTED = {
    "bridges": [
        "docker0",
        "8000.024297f17b4f",
        "vethd98d5a6",
        "eth0 in web 172.17.0.2/16",
        "◂ network bridge",
    ],
    "nat": [
        "Chain DOCKER (2 references)",
        "Chain POSTROUTING (policy ACCEPT",
        "tcp dpt:8080 to:172.17.0.2:8080 ◂ port web 8080/tcp",
        "!docker0",
        "172.17.0.0/16",
    ],
    "namespaces": ["4026532301", "net 4026532301 (netns demo) shared by container tools, lab demo"],
    "cgroups": ["container web", "3.0 MiB / 64.0 MiB", "2 / 100", "1.0 MiB / no limit"],
    "storage": [
        "✗ etc/motd",
        "whiteout: deleted from a lower layer",
        "◼ var/cache/",
        "lower2 /var/lib/dockerscope/demo/images/layers/b27d8cdf43f1",
    ],
    "flows": [
        "tcp ESTABLISHED  172.17.0.2:40112 -> 93.184.216.34:80",
        "src 172.17.0.2 -> rewritten to 100.64.0.2 on the way out",
    ],
    "traffic": ["HEAD", "/_ping", "/v1.41/containers/json", "pid 5120 uid 1000", "from host"],
    "timeline": ["HEAD /_ping 200", "(no kernel changes)"],
    "sockets": ["netns demo  (lab demo)", "netns web  (container web)", "0.0.0.0:8080",
                "4100/dockerscope", "◂ port 8080/tcp -> web", "4251/nc"],
}


def style_of(lines: object, needle: str) -> set[str]:
    """Styles of the spans on the rendered line that contains ``needle``."""
    assert isinstance(lines, list)
    line = next(t for t in lines if needle in t.plain)
    return {str(span.style) for span in line.spans} | {str(line.style)}


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_every_panel_renders_the_fake_lab(size: tuple[int, int]) -> None:
    app, _ = make_app()
    async with app.run_test(size=size) as pilot:
        await frames(pilot, app, 1)
        dash = app.dashboard
        assert dash.grid == (size == (200, 60))
        for n, cls in enumerate(PANEL_TYPES, 1):
            await pilot.press(str(n))
            await pilot.pause()
            assert dash.active == cls.PANEL_ID
            text = dash.panel(cls.PANEL_ID).rendered_text()
            for needle in EXPECTED[cls.PANEL_ID]:
                assert needle in text, f"{cls.PANEL_ID}: {needle!r} missing"
        # and the terminal really shows it, not only the widget's renderable
        await pilot.press("1")
        await pilot.pause()
        assert "docker0" in screen_text(app)


async def test_tabs_show_one_panel_and_keys_switch() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        dash = app.dashboard
        await pilot.press("3")
        await pilot.pause()
        assert dash.panel("namespaces").display and dash.panel("namespaces").region.height > 0
        assert dash.panel("bridges").region.height == 0
        assert "COMMAND" in screen_text(app)
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert dash.active == "cgroups"
        await pilot.press("left_square_bracket", "left_square_bracket")
        await pilot.pause()
        assert dash.active == "nat"
        assert "Chain PREROUTING" in screen_text(app)


async def test_namespaces_panel_shows_seccomp_mode_and_capeff() -> None:
    app, _ = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await frames(pilot, app, 1)
        lines = app.dashboard.panel("namespaces").render_body(app.state)
        header = next(t.plain for t in lines if "COMMAND" in t.plain)
        assert header.split()[:5] == ["PID", "COMMAND", "OWNER", "SECCOMP", "CAPEFF"]
        row = {t.plain.split()[0]: t for t in lines if t.plain.split()[:1] != []}
        # root in web: filter mode, Docker's 14 capabilities; nobody in web: none
        assert row["4242"].plain.split()[1:6] == ["sh", "container", "web", "filter", "a80425fb"]
        assert row["4251"].plain.split()[1:6] == ["nc", "container", "web", "filter", "0"]
        # tools runs unconfined: it stands out
        assert row["4300"].plain.split()[4] == "off"
        assert "bold dark_orange" in style_of([row["4300"]], "off")
        await pilot.press("3")
        await pilot.pause()
        assert "CAPEFF" in screen_text(app)


async def test_grid_on_a_big_terminal_and_g_toggles() -> None:
    app, _ = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await frames(pilot, app, 1)
        dash = app.dashboard
        assert dash.grid
        assert all(p.region.height > 0 for p in dash.panels)
        shown = screen_text(app)
        for title in (
            "Bridges",
            "NAT",
            "Namespaces",
            "cgroups",
            "Storage",
            "Flows",
            "Socket traffic",
            "Timeline",
        ):
            assert title in shown
        await pilot.press("g")
        await pilot.pause()
        assert not dash.grid
        assert sum(1 for p in dash.panels if p.region.height > 0) == 1


async def test_new_rule_is_highlighted_after_the_next_frame_then_fades() -> None:
    clock = Clock()
    app, source = make_app(clock=clock)
    async with app.run_test(size=(120, 30)) as pilot:  # wide enough for one-line rules
        await frames(pilot, app, 1)
        await pilot.press("2")
        nat = app.dashboard.panel("nat")
        assert "dpt:8081" not in nat.rendered_text()
        source.release()
        await frames(pilot, app, 2)
        text = nat._renderable
        assert "to:172.18.0.2:80 ◂ port api 8081/tcp" in nat.rendered_text()
        assert styles.NEW in style_of(text, "dpt:8081 to:172.18.0.2:80")
        assert styles.NEW not in style_of(text, "dpt:8080 to:172.17.0.2:8080")
        # counters that moved since the last frame light up
        assert styles.TICKED in style_of(text, "ADDRTYPE match dst-type LOCAL ◂ lab demo")
        # half-way through the highlight it settles to a softer style, then goes
        clock.now += 2.5
        await until(
            pilot,
            lambda: styles.NEW_SETTLING in style_of(nat._renderable, "dpt:8081 to:172.18.0.2:80"),
        )
        clock.now += 5
        await until(
            pilot,
            lambda: (
                not style_of(nat._renderable, "dpt:8081 to:172.18.0.2:80")
                & {styles.NEW, styles.NEW_SETTLING}
            ),
        )


async def test_removed_rule_fades_out_in_place() -> None:
    clock = Clock()
    app, source = make_app(clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        source.release(3)
        await frames(pilot, app, 4)
        await pilot.press("2")
        await pilot.pause()
        nat = app.dashboard.panel("nat")
        text = nat._renderable
        assert "dpt:8081" in nat.rendered_text()  # api is stopped, but its rule is still fading out
        assert styles.GONE in style_of(text, "dpt:8081 to:172.18.0.2:80")
        clock.now += 10
        await until(pilot, lambda: "dpt:8081" not in nat.rendered_text())


async def test_flows_say_the_rewrite_the_course_way() -> None:
    app, source = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        source.release(2)
        await frames(pilot, app, 3)
        await pilot.press("6")
        await pilot.pause()
        text = app.dashboard.panel("flows").rendered_text()
        assert "dst 127.0.0.1:8080 -> 172.17.0.2:8080 on the way in" in text
        assert "src 172.17.0.2 -> rewritten to 100.64.0.2 on the way out" in text


async def test_sockets_name_the_program_behind_each_port() -> None:
    app, source = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        source.release(2)
        await frames(pilot, app, 3)
        await pilot.press("9")
        await pilot.pause()
        lines = [t.plain for t in app.dashboard.panel("sockets").render_body(app.dashboard.state)]
        text = "\n".join(lines)
        # The lab's block first, its listeners before its connections; then the containers'.
        assert lines.index("netns demo  (lab demo)") < lines.index("netns api  (container api)")
        assert text.index("netns api") < text.index("netns web")
        lab_block = text[: text.index("netns api")]
        assert lab_block.index("LISTEN") < lab_block.index("ESTAB")
        # A published port shows twice: the proxy in the lab and the program in the container.
        proxy = next(n for n, x in enumerate(lines) if "0.0.0.0:8081" in x)
        assert "4100/dockerscope" in lines[proxy]
        assert "◂ port 8081/tcp -> api:80" in lines[proxy + 1]
        assert any("[::]:80" in x and "4400/httpd" in x for x in lines)
        assert any("172.17.0.2:8080" in x and "172.17.0.1:40500" in x and "ESTAB" in x
                   for x in lines)
        await pilot.press("slash", *"httpd")
        await pilot.pause()
        shown = app.dashboard.panel("sockets").rendered_text()
        assert "4400/httpd" in shown and "/nc" not in shown and "netns web" not in shown
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ShowCommandScreen))
        await pilot.pause()
        shown = screen_text(app)
        assert "[demo]# ss -tulnp" in shown and "nsenter -t 4400 -n ss -tulnp" in shown


async def test_traffic_and_timeline_link_calls_to_kernel_changes() -> None:
    app, source = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        source.release()
        await frames(pilot, app, 2)
        await pilot.press("7")
        await pilot.pause()
        traffic = app.dashboard.panel("traffic").rendered_text()
        assert "from container tools" in traffic
        assert "/v1.41/containers/create?name=api" in traffic
        await pilot.press("8")
        await pilot.pause()
        timeline = app.dashboard.panel("timeline").rendered_text()
        start = timeline.index("POST /v1.41/containers/3f1c2a9be0d8/start 204")
        after = timeline[start:]
        assert "+ veth veth5e0f7a1 on br-12eeb8c4266b" in after
        assert "+ nat -A DOCKER ! -i br-12eeb8c4266b" in after
        create = timeline[timeline.index("containers/create") : start]
        assert "(no kernel changes)" in create


async def test_nat_listing_layout_follows_the_width() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("2")
        await pilot.pause()
        nat = app.dashboard.panel("nat")
        wide = nat.rendered_text()
        assert (
            " pkts bytes target     prot opt in     out     source               destination"
            in wide
        )
        assert (
            "DNAT       tcp  --  !docker0 *       0.0.0.0/0            0.0.0.0/0            "
            "tcp dpt:8080 to:172.17.0.2:8080 ◂ port web 8080/tcp" in wide
        )
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: " pkts target" in nat.rendered_text())
        lines = nat.rendered_text().splitlines()
        i = next(n for n, line in enumerate(lines) if "DNAT       tcp  !docker0" in line)
        assert lines[i + 1].strip() == "tcp dpt:8080 to:172.17.0.2:8080 ◂ port web 8080/tcp"
        assert max(len(line) for line in lines if "docker0" not in line and "br-" not in line) < 78


async def test_t_flips_to_the_filter_table() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("t")
        await pilot.pause()
        nat = app.dashboard.panel("nat")
        assert isinstance(nat, NatPanel) and nat.table == "filter"
        assert app.dashboard.active == "nat"
        text = nat.rendered_text()
        assert "Chain FORWARD (policy DROP 0 packets, 0 bytes)" in text
        assert "Chain DOCKER-ISOLATION-STAGE-2 (2 references)" in text
        assert "Chain DOCKER-USER (1 reference)" in text
        await pilot.press("t")
        await pilot.pause()
        assert "Chain POSTROUTING" in nat.rendered_text()


async def test_filter_within_a_panel() -> None:
    app, source = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        source.release()
        await frames(pilot, app, 2)
        await pilot.press("2", "slash")
        await pilot.pause()
        await pilot.press(*"8081")
        await pilot.pause()
        nat = app.dashboard.panel("nat")
        text = nat.rendered_text()
        assert "dpt:8081" in text
        assert "dpt:8080" not in text
        assert "Chain PREROUTING" not in text
        await pilot.press("escape")
        await pilot.pause()
        assert "dpt:8080" in nat.rendered_text()


async def test_command_bar_runs_commands_through_the_client() -> None:
    client = RecordingClient()
    app, _ = make_app(client=client)
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("colon")
        await pilot.pause()
        await pilot.press(*"docker", "space", *"ps", "enter")
        log = app.dashboard.query_one("#commandbar-log", RichLog)
        await until(pilot, lambda: len(log.lines) >= 3)
        assert client.commands == ["docker ps"]
        shown = "\n".join(line.text for line in log.lines)
        assert "$ docker ps" in shown and "669aecfd3d6d" in shown
        await pilot.press(*"nope", "enter")
        await until(pilot, lambda: any("unknown command" in line.text for line in log.lines))


async def test_command_bar_without_a_client_says_so() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("colon", *"ps", "enter")
        await pilot.pause()
        log = app.dashboard.query_one("#commandbar-log", RichLog)
        assert any("no lab to talk to" in line.text for line in log.lines)
        bar = app.dashboard.query_one("#commandbar")
        assert bar.has_class("-open")
        await pilot.press("escape")
        await pilot.pause()
        assert not bar.has_class("-open")
        assert app.focused is app.dashboard.panel("bridges")


async def test_help_screen_opens_and_closes() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "show me the command" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.dashboard


async def test_theme_toggle() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        before = app.theme
        await pilot.press("d")
        await pilot.pause()
        assert app.theme != before
        assert app.theme in ("textual-light", "textual-dark")
        await pilot.press("d")
        await pilot.pause()
        assert app.theme == before


async def test_show_me_the_command_in_replay_shows_only_the_command() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("2", "c")
        await pilot.pause()
        assert isinstance(app.screen, ShowCommandScreen)
        shown = screen_text(app)
        assert "[demo]# iptables -n -v -L -t nat" in shown
        assert "shown, not run" in shown
        await pilot.press("escape")
        await pilot.pause()
        await until(pilot, lambda: app.screen is app.dashboard)
        await pilot.press("5", "c")
        await until(pilot, lambda: isinstance(app.screen, ShowCommandScreen))
        await pilot.pause()
        shown = screen_text(app)
        assert "# ls -la" in shown and "upper dir of container web" in shown


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("lsns"), reason="needs root and lsns")
async def test_show_me_the_command_live_runs_it() -> None:
    app, _ = make_app(live=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("3", "c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ShowCommandScreen)
        await until(pilot, lambda: "NS TYPE" in screen_text(app))


async def test_palette_offers_the_dashboard_commands() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Show me the command" in titles
        assert "Panel: NAT" in titles
        assert "Light / dark theme" in titles


async def test_pause_freezes_drawing_until_resumed() -> None:
    app, source = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("2", "p")
        source.release()
        await frames(pilot, app, 2)
        nat = app.dashboard.panel("nat")
        assert "dpt:8081" not in nat.rendered_text()
        await pilot.press("p")
        await pilot.pause()
        assert "dpt:8081" in nat.rendered_text()


async def test_a_burst_of_frames_is_applied_in_order() -> None:
    assert FramesReady().can_replace(FramesReady())  # a flood of notifications collapses
    app, source = make_app(auto=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 4)
        snap = app.state.snapshot
        assert snap is not None and snap.taken_at == lab_frames()[-1].snapshot.taken_at
        assert set(app.state.calls) == {1, 2, 3, 4, 5, 6}
        assert app.frames_applied == 4
        assert source.sent == 4


async def test_arrows_scroll_the_focused_panel() -> None:
    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("2")
        await pilot.pause()
        nat = app.dashboard.panel("nat")
        assert app.focused is nat
        body = nat.query_one(LinesView)
        await pilot.press("right", "down", "down")
        await pilot.pause()
        assert body.scroll_offset.x > 0 and body.scroll_offset.y == 2
        await pilot.press("home")
        await pilot.pause()
        assert tuple(body.scroll_offset) == (0, 0)


async def test_a_first_frame_without_traffic_still_draws_every_panel() -> None:
    first = lab_frames()[0]
    quiet = type(first)(at=first.at, snapshot=first.snapshot)  # no traffic, no note
    app = DockerscopeApp(FakeSource([quiet]), clock=Clock())
    async with app.run_test(size=(200, 60)) as pilot:
        await frames(pilot, app, 1)
        for panel in app.dashboard.panels:
            assert "waiting for the first frame" not in panel.rendered_text(), panel.PANEL_ID
        assert "method" in app.dashboard.panel("traffic").rendered_text()


async def test_traffic_follows_the_newest_call() -> None:
    from dockerscope.screens.fake import T0

    from dockerscope.feed import Frame
    from dockerscope.kernel.model import ApiCall

    base = lab_frames()[0]
    calls = tuple(
        ApiCall(seq=n, started_at=T0 + n / 10, method="GET", path=f"/v1.41/call/{n}", status=200)
        for n in range(1, 60)
    )
    frames_ = [base, Frame(at=T0 + 10, snapshot=base.snapshot, traffic=calls)]
    source = FakeSource(frames_, auto=False)
    app = DockerscopeApp(source, clock=Clock())
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        await pilot.press("7")
        await pilot.pause()
        source.release()
        await frames(pilot, app, 2)
        await pilot.pause()
        assert "/v1.41/call/59" in screen_text(app)
        assert "/v1.41/call/1 " not in screen_text(app)


async def test_grid_focus_change_repaints_the_two_panels_not_the_screen() -> None:
    # Textual's Screen.focused repaints the whole screen; the dashboard turns that off and
    # the panels light and unlight themselves (Panel._light), so they must still be redrawn.
    from textual._compositor import Compositor

    seen: list[list[object]] = []
    original = Compositor.render_update

    def spy(self: Compositor, *args: object, **kwargs: object) -> object:
        seen.append(sorted(self._dirty_regions))
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    app, _ = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await frames(pilot, app, 1)
        await pilot.pause(0.2)
        dash = app.dashboard
        assert dash.grid
        Compositor.render_update = spy  # type: ignore[method-assign]
        try:
            await pilot.press("2")
            await pilot.pause(0.2)
        finally:
            Compositor.render_update = original  # type: ignore[method-assign]
        assert seen, "no paint after the key"
        first = seen[0]
        assert app.screen.size.region not in first
        for panel_id in ("bridges", "nat"):
            region = dash.panel(panel_id).region
            assert any(r.contains_region(region) for r in first), (panel_id, first)
        assert dash.panel("nat").has_focus_within


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_tab_moves_through_the_panels(size: tuple[int, int]) -> None:
    app, _ = make_app()
    async with app.run_test(size=size) as pilot:
        await frames(pilot, app, 1)
        dash = app.dashboard
        seen = []
        for _ in range(len(PANEL_TYPES)):
            await pilot.press("tab")
            await pilot.pause()
            seen.append(dash.current_panel().PANEL_ID)
            assert app.focused is dash.current_panel()
        assert seen == [cls.PANEL_ID for cls in PANEL_TYPES[1:]] + [PANEL_TYPES[0].PANEL_ID]
        await pilot.press("shift+tab")
        await pilot.pause()
        assert dash.current_panel().PANEL_ID == PANEL_TYPES[-1].PANEL_ID


async def test_nat_brings_new_rules_into_view() -> None:
    # At 200x60 the NAT cell (one of the grid's four rows) shows about a dozen lines: the
    # rules `docker run -p` adds (hairpin MASQUERADE, DNAT in DOCKER) sit below them until
    # the panel scrolls to them.
    app, source = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await frames(pilot, app, 1)
        await pilot.pause(0.2)
        nat = app.dashboard.panel("nat")
        body = nat.query_one(LinesView)
        assert body.scroll_offset.y == 0
        assert "to:172.18.0.2:80" not in screen_text(app)
        source.release()
        await frames(pilot, app, 2)
        await until(pilot, lambda: body.scroll_offset.y > 0)
        shown = screen_text(app)
        assert "172.18.0.2           172.18.0.2" in shown  # the new hairpin MASQUERADE
        assert "to:172.18.0.2:80" in shown  # the new DNAT
        # once only: scrolling back up stays put on the next frame
        body.scroll_to(y=0, animate=False, immediate=True)
        source.release()
        await frames(pilot, app, 3)
        await pilot.pause(0.2)
        assert body.scroll_offset.y == 0


async def test_hidden_panels_catch_up_at_a_quiet_moment() -> None:
    # In tabs a frame only marks hidden panels dirty; the app renders them when nothing else
    # happens, so the key that brings one to the front does not pay for it.
    app, source = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        dash = app.dashboard
        await until(pilot, lambda: not any(p.dirty for p in dash.panels))
        nat = dash.panel("nat")
        drawn = nat.rendered_text()
        assert not dash.panel_shown(nat)
        source.release()  # `docker run -p 8081:80 api`: new NAT rules, Bridges in front
        await frames(pilot, app, 2)
        await until(pilot, lambda: not nat.dirty)
        assert "to:172.18.0.2:80" in nat.rendered_text() != drawn
        assert dash.active == "bridges"


async def test_the_panel_holding_the_keyboard_is_lit_and_only_it_is_restyled() -> None:
    from textual.css.stylesheet import Stylesheet

    restyled: list[list[object]] = []
    original = Stylesheet.update_nodes

    def spy(self: Stylesheet, nodes: object, animate: bool = False) -> None:
        nodes = list(nodes)  # type: ignore[call-overload]
        restyled.append(nodes)
        original(self, nodes, animate)

    app, _ = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await frames(pilot, app, 1)
        await pilot.pause(0.2)
        dash = app.dashboard
        bridges, nat = dash.panel("bridges"), dash.panel("nat")
        assert bridges.has_class("-lit") and not nat.has_class("-lit")
        Stylesheet.update_nodes = spy  # type: ignore[method-assign]
        try:
            await pilot.press("2")
            await pilot.pause(0.2)
        finally:
            Stylesheet.update_nodes = original  # type: ignore[method-assign]
        assert nat.has_class("-lit") and not bridges.has_class("-lit")
        assert nat.styles.border_top != bridges.styles.border_top  # the accent colour
        # Each panel restyled alone, not its filter, body and scrollbars with it.
        assert sorted(map(id, sum(restyled, []))) == sorted([id(nat), id(bridges)]), restyled
        # The filter box taking the keyboard keeps its panel lit; leaving it too.
        await pilot.press("slash")
        await pilot.pause()
        assert app.focused is not nat and nat.has_focus_within and nat.has_class("-lit")
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is nat and nat.has_class("-lit")
        await pilot.press("slash", "3")  # typed into the filter: no panel switch
        await pilot.pause()
        assert nat.has_class("-lit")
        await pilot.press("enter", "3")
        await pilot.pause()
        assert dash.panel("namespaces").has_class("-lit") and not nat.has_class("-lit")


async def test_scrollbars_follow_new_content_and_other_panels_stay_untouched() -> None:
    from textual.scrollbar import ScrollBar

    app, _ = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await frames(pilot, app, 1)
        await pilot.pause(0.2)
        nat = app.dashboard.panel("nat")
        body = nat.query_one(LinesView)
        height = body.scrollable_content_region.height
        refreshed: list[ScrollBar] = []
        original = ScrollBar.refresh

        def spy(self: ScrollBar, *args: object, **kwargs: object) -> ScrollBar:
            refreshed.append(self)
            return original(self, *args, **kwargs)  # type: ignore[arg-type]

        ScrollBar.refresh = spy  # type: ignore[method-assign,assignment]
        try:
            body.set_lines([Text(f"line {n}") for n in range(height * 5)])
            await pilot.pause(0.2)
        finally:
            ScrollBar.refresh = original  # type: ignore[method-assign]
        assert body.show_vertical_scrollbar
        assert body.vertical_scrollbar.window_virtual_size == height * 5
        assert refreshed and all(bar.parent is body for bar in refreshed), {
            bar.parent.parent.id
            for bar in refreshed  # type: ignore[union-attr]
        }
        body.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert body.scroll_offset.y > 0
        body.set_lines([Text("short")])
        await pilot.pause(0.2)
        assert not body.show_vertical_scrollbar
        assert body.scroll_offset.y == 0  # nothing to scroll to any more
        assert "short" in screen_text(app)
