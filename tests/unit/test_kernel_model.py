"""Snapshots round-trip through JSON and diff by key."""

from __future__ import annotations

import json

from dockerscope.kernel.model import Address, Link, Owner, Rule, Snapshot, diff


def _link(state: str = "UP") -> Link:
    return Link(
        netns="lab",
        index=3,
        name="docker0",
        kind="bridge",
        mac="02:42:00:00:00:01",
        state=state,
        mtu=1500,
        addresses=(Address(4, "172.17.0.1", 16),),
        owner=Owner("network", "bridge"),
    )


def test_snapshot_json_round_trip() -> None:
    rule = Rule("lab", "nf_tables", "nat", "POSTROUTING", 1, "-j MASQUERADE", 3, 180)
    snap = Snapshot(1.0, "lab:x", links=(_link(),), rules=(rule,))
    again = Snapshot.from_json(json.loads(json.dumps(snap.to_json())))
    assert again == snap


def test_diff_added_changed_removed() -> None:
    a = Snapshot(1.0, "lab:x", links=(_link("DOWN"),))
    rule = Rule("lab", "nf_tables", "nat", "DOCKER", 1, "-i docker0 -j RETURN")
    b = Snapshot(2.0, "lab:x", links=(_link("UP"),), rules=(rule,))
    d = diff(a, b)
    assert [(c.collection, c.action) for c in d.changes] == [
        ("links", "changed"),
        ("rules", "added"),
    ]
    back = diff(b, a)
    assert back.of("rules", "removed")[0].before == rule


def test_identical_rules_are_kept_apart() -> None:
    r = Rule("lab", "nf_tables", "filter", "X", 1, "-j ACCEPT")
    a = Snapshot(1.0, "s", rules=(r,))
    b = Snapshot(2.0, "s", rules=(r, Rule("lab", "nf_tables", "filter", "X", 2, "-j ACCEPT")))
    assert len(diff(a, b).of("rules", "added")) == 1
