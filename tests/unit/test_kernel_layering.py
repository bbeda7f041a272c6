"""The kernel observer imports nothing of ours outside dockerscope.kernel; the feed imports the
kernel, never the reverse; a replay (dockerscope.feed alone) does not load the observer."""

from __future__ import annotations

import ast
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


def test_kernel_imports_only_kernel() -> None:
    files = sorted((ROOT / "kernel").glob("*.py"))
    assert len(files) > 10
    outside = {
        f.name: sorted(m for m in _our_imports(f) if not m.startswith("dockerscope.kernel"))
        for f in files
    }
    assert {name: mods for name, mods in outside.items() if mods} == {}


def test_feed_core_does_not_load_the_observer() -> None:
    code = (
        "import sys\n"
        "import dockerscope.feed, dockerscope.feed.traffic\n"
        "print(','.join(m for m in sys.modules if m.startswith('dockerscope.kernel.observer')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
