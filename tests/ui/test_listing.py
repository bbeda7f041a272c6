"""Pure helpers behind the panels: iptables columns, counters, references, state and timeline."""

from __future__ import annotations

from dockerscope.screens.app import NoFrames
from dockerscope.screens.fake import T0, lab_frames, lab_snapshot
from dockerscope.screens.flows import rewrites
from dockerscope.screens.iptables_listing import chain_title, columns, human, listing
from dockerscope.screens.namespaces import shared_inodes
from dockerscope.screens.shell import netns_of_scope
from dockerscope.screens.state import DashState, significant

from dockerscope.feed import Frame
from dockerscope.kernel.model import ApiCall, Chain, Change, Rule, diff


def rule(chain: str, spec: str, packets: int = 0) -> Rule:
    return Rule("lab", "nf_tables", "nat", chain, 1, spec, packets)


def test_columns_of_docker_rules() -> None:
    dnat = columns(
        "! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:8080"
    )
    assert (dnat.target, dnat.prot, dnat.in_, dnat.out) == ("DNAT", "tcp", "!docker0", "*")
    assert dnat.extras == "tcp dpt:8080 to:172.17.0.2:8080"
    masq = columns("-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE")
    assert (masq.source, masq.destination, masq.out) == ("172.17.0.0/16", "0.0.0.0/0", "!docker0")
    local = columns("! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER")
    assert local.destination == "!127.0.0.0/8"
    assert local.extras == "ADDRTYPE match dst-type LOCAL"
    host = columns("-d 172.17.0.2/32 -j ACCEPT")
    assert host.destination == "172.17.0.2"  # -n prints a /32 without its prefix
    ct = columns("-o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    assert ct.extras == "ctstate RELATED,ESTABLISHED"


def test_human_counters_like_iptables() -> None:
    assert human(99999) == "99999"
    assert human(100000) == "100K"
    assert human(123_456_789) == "123M"


def test_chain_titles_and_references() -> None:
    rules = [
        rule("PREROUTING", "-m addrtype --dst-type LOCAL -j DOCKER"),
        rule("OUTPUT", "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"),
    ]
    assert (
        chain_title(Chain("lab", "nf_tables", "nat", "DOCKER", None), rules)
        == "Chain DOCKER (2 references)"
    )
    assert (
        chain_title(Chain("lab", "nf_tables", "filter", "FORWARD", "DROP", 3, 180), rules)
        == "Chain FORWARD (policy DROP 3 packets, 180 bytes)"
    )


def test_listing_matches_the_course_layout() -> None:
    snap = lab_snapshot(0)
    text = listing(
        [c for c in snap.chains if c.table == "nat"], [r for r in snap.rules if r.table == "nat"]
    )
    lines = text.splitlines()
    assert lines[0] == "Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)"
    assert lines[1].split() == [
        "pkts",
        "bytes",
        "target",
        "prot",
        "opt",
        "in",
        "out",
        "source",
        "destination",
    ]
    assert lines[2].split()[2:] == [
        "DOCKER",
        "all",
        "--",
        "*",
        "*",
        "0.0.0.0/0",
        "0.0.0.0/0",
        "ADDRTYPE",
        "match",
        "dst-type",
        "LOCAL",
    ]


def test_counter_ticks_are_not_news() -> None:
    a, b = rule("DOCKER", "-j RETURN", 1), rule("DOCKER", "-j RETURN", 9)
    assert not significant(Change("rules", "changed", a.key, a, b))
    c = Rule("lab", "nf_tables", "nat", "DOCKER", 2, "-j RETURN", 9)
    assert significant(Change("rules", "changed", a.key, a, c))


def test_state_marks_and_timeline_window() -> None:
    now = [0.0]
    state = DashState(lambda: now[0])
    for frame in lab_frames()[:2]:
        state.apply(frame)
    dnat = next(r for r in state.snapshot.rules if "--dport 8081 -j DNAT" in r.spec)  # type: ignore[union-attr]
    mark = state.mark("rules", dnat.key)
    assert mark is not None and mark.action == "added"
    start = state.calls[4]
    assert any(c.change.key == dnat.key for c in state.changes_during(start))
    assert state.changes_during(state.calls[3]) == []  # create touched nothing in the kernel
    now[0] = 100.0
    assert state.mark("rules", dnat.key) is None
    assert state.expire() and not state.marks


def test_open_call_collects_everything_since_it_began() -> None:
    state = DashState(lambda: 0.0)
    frames = lab_frames()
    state.apply(frames[0])
    pending = ApiCall(seq=99, started_at=T0 + 0.5, method="POST", path="/x")
    state.apply(
        Frame(at=frames[1].at, snapshot=frames[1].snapshot, diff=frames[1].diff, traffic=(pending,))
    )
    assert len(state.changes_during(pending)) > 0


def test_rewrites_and_shared_namespaces() -> None:
    snap = lab_snapshot(2)
    local = next(f for f in snap.flows if f.orig_dst == "127.0.0.1")
    assert "dst 127.0.0.1:8080 -> 172.17.0.2:8080 on the way in" in rewrites(local)
    shared = shared_inodes(snap)
    assert shared[("net", 4026532301)] == ["container tools", "lab demo"]
    assert ("net", 4026532410) not in shared  # web's two processes are one owner


def test_fake_frames_diff_like_the_observer() -> None:
    frames = lab_frames()
    assert not frames[0].diff
    assert frames[1].diff == diff(frames[0].snapshot, frames[1].snapshot)
    removed = frames[3].diff.of("links", "removed")
    assert {c.before.name for c in removed} == {"veth5e0f7a1", "eth0"}


def test_scope_to_netns() -> None:
    assert netns_of_scope("lab:demo") == "demo"
    assert netns_of_scope("netns:foo") == "foo"
    assert netns_of_scope("host") is None


async def test_no_frames_source_explains_itself() -> None:
    source = NoFrames("lab:x", "observer missing")
    stream = source.frames()
    first = await stream.__anext__()
    assert first.note == "observer missing" and first.snapshot.scope == "lab:x"
    await source.stop()
    rest = [f async for f in stream]
    assert rest == []


def test_old_calls_are_forgotten() -> None:
    state = DashState(lambda: 0.0, max_calls=3)
    snap = lab_snapshot(0)
    calls = tuple(ApiCall(seq=n, started_at=T0 + n, method="GET", path="/_ping") for n in range(5))
    state.apply(Frame(at=T0, snapshot=snap, traffic=calls))
    assert sorted(state.calls) == [2, 3, 4]


def test_grid_rows_keep_spans_inside_the_text() -> None:
    from dockerscope.screens.lines import grid_lines
    from rich.console import Console
    from rich.text import Text

    rows = grid_lines(
        ("a", "b", "c"),
        [
            [Text("x", style="red"), "", Text("", style="bold")],
            ["1\n2", Text("yy", style="green"), ""],
        ],
    )
    assert [r.plain for r in rows] == ["a  b   c", "x", "1  yy", "2"]
    console = Console(width=40)
    for row in rows:
        assert all(0 <= sp.start < sp.end <= len(row.plain) for sp in row.spans)
        list(row.render(console))  # renders without error


def test_grid_cells_as_pairs_and_multiline_cells_style_every_line() -> None:
    from dockerscope.screens.lines import grid_lines
    from rich.text import Text

    rows = grid_lines(
        ("pid", "ns"),
        [
            [("10", "red"), "a\nb"],
            ["7", ("4026531836", "cyan")],
            [Text("1\n2", style="green"), "x\n"],
        ],
        right=(0,),
    )
    assert [r.plain for r in rows] == [
        "pid  ns",
        " 10  a",
        "     b",
        "  7  4026531836",
        "  1  x",
        "  2",
    ]
    spans = {r.plain: [(sp.start, sp.end, str(sp.style)) for sp in r.spans] for r in rows}
    assert spans[" 10  a"] == [(1, 3, "red")]
    assert spans["  7  4026531836"] == [(5, 15, "cyan")]
    assert spans["  1  x"] == [(2, 3, "green")] and spans["  2"] == [(2, 3, "green")]


def test_line_builder_rows_carry_styles_and_spans_like_text() -> None:
    from dockerscope.screens.lines import LineBuilder
    from rich.text import Text

    out = LineBuilder()
    out.append("web", style="bold").append("  /sys/fs/cgroup/x\n", style="grey50")
    out.append("  mem ").append(Text.assemble(("[##", "green"), ("--]", "grey50")))
    out.append(" 3 MiB\n\n").append("tail")
    lines = out.lines()
    assert [line.plain for line in lines] == [
        "web  /sys/fs/cgroup/x",
        "  mem [##--] 3 MiB",
        "",
        "tail",
    ]
    assert [(sp.start, sp.end, str(sp.style)) for sp in lines[0].spans] == [
        (0, 3, "bold"),
        (3, 21, "grey50"),
    ]
    assert [(sp.start, sp.end, str(sp.style)) for sp in lines[1].spans] == [
        (6, 9, "green"),
        (9, 12, "grey50"),
    ]
    assert bool(out) and not LineBuilder()


def test_touched_names_what_changed_since_last_taken() -> None:
    state = DashState(lambda: 0.0)
    frames = lab_frames()
    state.apply(frames[0])
    assert {"links", "rules", "cgroups"} <= state.take_touched()
    assert state.take_touched() == set()
    state.apply(frames[1])
    touched = state.take_touched()
    assert {"links", "rules", "traffic", "cgroups", "flows"} <= touched
    quiet = Frame(at=frames[1].at + 1, snapshot=frames[1].snapshot)
    state.apply(quiet)
    assert "rules" in state.take_touched()  # yesterday's ticking counters need a redraw
    state.apply(Frame(at=quiet.at + 1, snapshot=frames[1].snapshot))
    assert state.take_touched() == set()
