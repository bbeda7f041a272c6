"""The core never imports Textual: the UI depends on the core, never the reverse.

Importing every core module in a fresh interpreter loads neither ``textual`` nor
``dockerscope.screens``. ``test_architecture.py`` checks each import statement against the
layer table; this test also catches an arrow that goes through a third party or ``importlib``.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import dockerscope


def _core_modules() -> list[str]:
    names = []
    for mod in pkgutil.walk_packages(dockerscope.__path__, "dockerscope."):
        if mod.name.startswith(("dockerscope.screens", "dockerscope.course")):
            continue
        if mod.name.endswith("__main__"):
            continue
        names.append(mod.name)
    return names


def test_core_modules_found() -> None:
    assert "dockerscope.kernel.model" in _core_modules()


def test_core_never_imports_textual() -> None:
    mods = _core_modules()
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "ui = ('textual', 'dockerscope.screens')\n"
        "under = tuple(u + '.' for u in ui)\n"
        "bad = sorted(m for m in sys.modules if m in ui or m.startswith(under))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"core imported the UI: {out.stdout}"
