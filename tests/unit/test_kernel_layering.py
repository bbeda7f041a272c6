"""The kernel observer imports nothing of ours outside dockerscope.kernel; the feed imports the
kernel, never the reverse; a replay (dockerscope.feed alone) does not load the observer."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import dockerscope

ROOT = Path(dockerscope.__file__).parent


def _our_imports(path: Path) -> set[str]:
    """Every ``dockerscope...`` module a file imports, at the top or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out.update(n for n in names if n.split(".")[0] == "dockerscope")
    return out


#: What the kernel may import besides itself: the stdlib-only client (a leaf package), which
#: the hints from an API socket may go through.
KERNEL_MAY_USE = ("dockerscope.kernel", "dockerscope.client")


def test_kernel_imports_only_kernel() -> None:
    files = sorted((ROOT / "kernel").glob("*.py"))
    assert len(files) > 10
    outside = {
        f.name: sorted(m for m in _our_imports(f) if not m.startswith(KERNEL_MAY_USE))
        for f in files
    }
    assert {name: mods for name, mods in outside.items() if mods} == {}


def test_the_client_imports_nothing_of_ours_outside_it() -> None:
    files = sorted((ROOT / "client").rglob("*.py"))
    outside = {
        f.name: sorted(m for m in _our_imports(f) if not m.startswith("dockerscope.client"))
        for f in files
    }
    assert files and {name: mods for name, mods in outside.items() if mods} == {}


def test_live_source_is_asked_of_the_feed() -> None:
    """LiveSource moved from kernel.observer to feed.live: nothing looks for it in the kernel."""
    by_name = re.compile(r"[\"']dockerscope\.kernel\.observer[\"']")  # import_optional(...)
    by_import = re.compile(r"from dockerscope\.kernel\.observer import [^\n]*LiveSource")
    files = [*ROOT.rglob("*.py"), *(ROOT.parent / "bench").glob("*.py")]
    stale = [
        str(f.relative_to(ROOT.parent))
        for f in sorted(files)
        if (by_name.search(text := f.read_text()) and "LiveSource" in text)
        or by_import.search(text)
    ]
    assert stale == []


def test_feed_core_does_not_load_the_observer() -> None:
    code = (
        "import sys\n"
        "import dockerscope.feed, dockerscope.feed.traffic\n"
        "print(','.join(m for m in sys.modules if m.startswith('dockerscope.kernel.observer')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


_NETLINK_NAME = re.compile(
    r"^(NETLINK|NLMSG|NLM_F|NLA|RTM|RTNLGRP|RTA|RT|IFLA|IFA|IFF|IF_OPER|NFTA|NFT_MSG|NFNL|NFNLGRP"
    r"|NFPROTO|CTA|IPCTNL|NETNSA|VETH_INFO|ARPHRD|SOCK_DIAG|INET_DIAG)_[A-Z0-9_]*$"
)


def _module_level_names(path: Path) -> set[str]:
    out = set()
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            elts = target.elts if isinstance(target, ast.Tuple) else [target]
            out.update(e.id for e in elts if isinstance(e, ast.Name))
    return out


def test_one_netlink_constants_table() -> None:
    table = ROOT / "kernel" / "netlink_constants.py"
    assert {"IFLA_IFNAME", "RTM_NEWLINK", "NFTA_RULE_TABLE"} <= _module_level_names(table)
    files = [*(ROOT / "kernel").glob("*.py"), ROOT / "engine" / "network" / "rawlink.py"]
    own = {
        f.name: sorted(n for n in _module_level_names(f) if _NETLINK_NAME.match(n))
        for f in files
        if f != table
    }
    assert {name: names for name, names in own.items() if names} == {}
