"""The iptables-save parser on a captured Docker-shaped ruleset, and the python-iptables spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockerscope.kernel.iptables import SaveFormatError, _cidr, iptc_spec, parse_save

DATA = Path(__file__).parent.parent / "data" / "kernel"


@pytest.fixture
def ruleset():
    return parse_save((DATA / "iptables-save-c.txt").read_text(), "lab", "nf_tables")


def test_keeps_nat_and_filter_with_backend(ruleset):
    assert {r.table for r in ruleset.rules} == {"nat", "filter"}
    assert {r.backend for r in ruleset.rules} == {"nf_tables"}
    assert {r.netns for r in ruleset.chains} == {"lab"}


def test_rule_counters_and_spec(ruleset):
    dnat = [r for r in ruleset.rules if "DNAT" in r.spec]
    assert len(dnat) == 1
    rule = dnat[0]
    assert rule.chain == "DOCKER" and rule.table == "nat"
    assert (
        rule.spec
        == "! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:8080"
    )
    assert (rule.packets, rule.bytes) == (1, 60)
    masq = next(r for r in ruleset.rules if r.spec.startswith("-s 172.17.0.0/16"))
    assert masq.packets == 1 and masq.bytes == 84


def test_positions_count_per_chain(ruleset):
    forward = [r for r in ruleset.rules if r.table == "filter" and r.chain == "FORWARD"]
    assert [r.position for r in forward] == [1, 2, 3, 4, 5, 6]
    assert forward[0].spec == "-j DOCKER-USER"


def test_chain_headers(ruleset):
    chains = {(c.table, c.name): c for c in ruleset.chains}
    assert chains[("filter", "FORWARD")].policy == "DROP"
    assert chains[("nat", "DOCKER")].policy is None
    assert chains[("filter", "INPUT")].packets == 3 and chains[("filter", "INPUT")].bytes == 170


def test_table_filter_and_other_formats():
    text = "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MARK --set-mark 1\nCOMMIT\n"
    assert parse_save(text, "x", "legacy").rules == ()
    kept = parse_save(text, "x", "legacy", tables=None)
    assert kept.rules[0].spec == "-j MARK --set-mark 1" and kept.rules[0].packets == 0
    # Older save format: counters after "-c"
    text = (
        "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -c 7 420 -j MASQUERADE\nCOMMIT\n"
    )
    rule = parse_save(text, "x", "legacy").rules[0]
    assert (rule.packets, rule.bytes, rule.spec) == (7, 420, "-o eth0 -j MASQUERADE")


@pytest.mark.parametrize(
    "text",
    ["-A FORWARD -j ACCEPT\n", "*filter\n:BROKEN\nCOMMIT\n", "*filter\nhello world\nCOMMIT\n"],
)
def test_bad_input_is_an_error(text):
    with pytest.raises(SaveFormatError):
        parse_save(text, "x", "nf_tables")


class _Param:
    def __init__(self, name, params):
        self.name = name
        self._params = params

    def get_all_parameters(self):
        return self._params


class _FakeRule:
    src = "172.17.0.0/255.255.0.0"
    dst = "0.0.0.0/0.0.0.0"
    in_interface = None
    out_interface = "!docker0"
    protocol = "tcp"
    matches = [_Param("tcp", {"dport": ["8080"]})]
    target = _Param("MASQUERADE", {})


def test_iptc_spec_reads_like_iptables_save():
    assert (
        iptc_spec(_FakeRule())
        == "-s 172.17.0.0/16 ! -o docker0 -p tcp -m tcp --dport 8080 -j MASQUERADE"
    )


def test_cidr():
    assert _cidr("10.0.0.1") == "10.0.0.1/32"
    assert _cidr("10.0.0.0/255.255.255.0") == "10.0.0.0/24"
    assert _cidr("10.0.0.0/8") == "10.0.0.0/8"


def test_apply_counters(ruleset):
    from dockerscope.kernel.iptables import apply_counters

    shape: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for r in ruleset.rules:
        shape.setdefault((r.table, r.chain), []).append((r.packets, r.bytes))
    assert apply_counters(ruleset, shape) is ruleset  # nothing moved: the same object
    shape[("nat", "DOCKER")][1] = (5, 300)
    shape[("raw", "PREROUTING")] = [(1, 1)]  # tables we do not show are ignored
    fresh = apply_counters(ruleset, shape)
    assert fresh is not None
    dnat = next(r for r in fresh.rules if "DNAT" in r.spec)
    assert (dnat.packets, dnat.bytes) == (5, 300)
    shape[("nat", "DOCKER")].append((0, 0))  # a rule appeared: counters can't be matched
    assert apply_counters(ruleset, shape) is None


def test_parse_reuses_unchanged_lines_and_gives_what_a_fresh_parse_gives():
    text = (DATA / "iptables-save-c.txt").read_text()
    memo: dict = {}
    first = parse_save(text, "lab", "nf_tables", reuse=memo)
    assert first == parse_save(text, "lab", "nf_tables")
    again = parse_save(text, "lab", "nf_tables", reuse=memo)
    assert again == first and all(a is b for a, b in zip(again.rules, first.rules, strict=True))
    # A rule inserted at the top of a chain and a counter that moved: positions shift, the
    # changed line is parsed again, and the result is exactly a fresh parse's.
    dnat = next(line for line in text.splitlines() if "DNAT" in line)
    changed = text.replace(dnat, dnat.replace("[1:60]", "[2:120]"))
    lines = changed.splitlines()
    at = next(i for i, line in enumerate(lines) if " -A DOCKER " in line)
    lines.insert(at, "[0:0] -A DOCKER -i br-x -j RETURN")
    changed = "\n".join(lines) + "\n"
    third = parse_save(changed, "lab", "nf_tables", reuse=memo)
    assert third == parse_save(changed, "lab", "nf_tables")
    moved = next(r for r in third.rules if "DNAT" in r.spec)
    assert (moved.packets, moved.bytes) == (2, 120)
    # Another namespace's memo entries are never taken for this one's rules.
    other = parse_save(text, "other", "nf_tables", reuse=memo)
    assert {r.netns for r in other.rules} == {"other"}


def test_finish_save_reports_a_failed_or_stuck_save():
    import subprocess

    from dockerscope.kernel.iptables import finish_save

    ok = subprocess.Popen(["sh", "-c", "echo '*nat'"], stdout=subprocess.PIPE, text=True)
    assert finish_save(ok) == "*nat\n"
    bad = subprocess.Popen(
        ["sh", "-c", "echo 'no table' >&2; exit 3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with pytest.raises(OSError, match="failed: no table"):
        finish_save(bad)
    stuck = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE, text=True)
    with pytest.raises(OSError, match="took over"):
        finish_save(stuck, timeout=0.2)
    assert stuck.returncode is not None  # killed and reaped, not left running
