"""The map stays true: every import of every module obeys the layer table.

``LAYERS`` below is the "Layers" table of docs/ARCHITECTURE.md as data; change both together.
Imports are read from the source with ``ast`` (``tests/unit/source_tree.py``), lazy ones inside
functions and ``import_module("...")`` calls included, so an arrow cannot hide in a function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.source_tree import REPO, Import, SourceFile, imports, is_stdlib, source_files


@dataclass(frozen=True)
class Layer:
    """What the modules of one package may import besides themselves.

    ``ours``: our packages or modules (a name covers everything under it). ``lazily``: ours,
    but only inside a function. ``third_party``: top-level distribution modules; ``()`` means
    the standard library only, ``None`` any installed package.
    """

    ours: tuple[str, ...] = ()
    lazily: tuple[str, ...] = ()
    third_party: tuple[str, ...] | None = ()


# Names that recur in the table.
CLIENT = "dockerscope.client"
KERNEL = "dockerscope.kernel"
FEED = "dockerscope.feed"
ENGINE = "dockerscope.engine"
SCENARIO = "dockerscope.scenario"
SCREENS = "dockerscope.screens"
CLI = "dockerscope.cli"
#: The one module that starts, pings, stops and takes down a lab, used by the CLI, the scenario
#: runner and the tests.
LAB_CONTROL = "dockerscope.labctl"
#: What any engine module may use outside the engine: kernel facts (``mounts.unescape``, the
#: ``ApiCall`` model) and two client modules (Docker's wording in ``formatting``, the files of
#: the client image in ``bundle``).
ENGINE_OUTSIDE = (KERNEL, f"{CLIENT}.bundle", f"{CLIENT}.formatting")
#: Leaf modules every part of the engine may use.
ENGINE_LEAVES = (
    f"{ENGINE}.errors",
    f"{ENGINE}.labcaps",
    f"{ENGINE}.paths",
    f"{ENGINE}.private",
    f"{ENGINE}.procinfo",
)

#: package (or module) -> its layer. A module belongs to the longest key naming it; the bare
#: ``dockerscope`` key is the package's ``__init__`` only, so a new package needs a row here.
LAYERS: dict[str, Layer] = {
    "dockerscope": Layer(),
    "dockerscope.__main__": Layer(ours=(CLI,)),
    # Runs inside containers that have nothing but python3.
    CLIENT: Layer(),
    KERNEL: Layer(ours=(CLIENT,), third_party=("pyroute2", "iptc", "watchfiles")),
    # The tap follower reads the daemon's traffic stream through the one socket client.
    FEED: Layer(ours=(KERNEL, f"{CLIENT}.transport")),
    # errors, events, paths: leaves the engine's parts share.
    ENGINE: Layer(ours=ENGINE_OUTSIDE),
    # The composition root: builds every part and wires them together.
    f"{ENGINE}.daemon": Layer(ours=(*ENGINE_OUTSIDE, ENGINE)),
    f"{ENGINE}.teardown": Layer(
        ours=(*ENGINE_OUTSIDE, *ENGINE_LEAVES, f"{ENGINE}.network", f"{ENGINE}.runtime")
    ),
    f"{ENGINE}.api": Layer(
        ours=(
            *ENGINE_OUTSIDE,
            *ENGINE_LEAVES,
            f"{ENGINE}.containers",
            f"{ENGINE}.events",
            f"{ENGINE}.images",
            f"{ENGINE}.network",
        ),
        third_party=("h11", "re2"),
    ),
    # A developer's tool, not run by the daemon: it turns Docker's swagger.yaml into the JSON
    # schema the API ships, so it alone may read YAML (a test dependency).
    f"{ENGINE}.api.schema_gen": Layer(ours=(f"{ENGINE}.api",), third_party=("yaml",)),
    f"{ENGINE}.containers": Layer(
        ours=(
            *ENGINE_OUTSIDE,
            *ENGINE_LEAVES,
            f"{ENGINE}.events",
            # The image type only: a container is made from an Image the store hands over.
            f"{ENGINE}.images.model",
            f"{ENGINE}.network",
            f"{ENGINE}.runtime",
        )
    ),
    f"{ENGINE}.images": Layer(ours=(*ENGINE_OUTSIDE, *ENGINE_LEAVES)),
    f"{ENGINE}.network": Layer(ours=(*ENGINE_OUTSIDE, *ENGINE_LEAVES), third_party=("pyroute2",)),
    f"{ENGINE}.runtime": Layer(ours=(*ENGINE_OUTSIDE, *ENGINE_LEAVES)),
    # engine.paths: a lab's names and places (plain data, no engine code runs).
    SCENARIO: Layer(ours=(CLIENT, KERNEL, FEED, LAB_CONTROL, f"{ENGINE}.paths")),
    # "dockerscope" itself: lab control finds where the package lives, for the daemon it spawns.
    LAB_CONTROL: Layer(ours=("dockerscope", CLIENT, ENGINE)),
    CLI: Layer(
        ours=("dockerscope", CLIENT, KERNEL, FEED, ENGINE, SCENARIO, LAB_CONTROL),
        lazily=(SCREENS,),  # the UI is launched, never imported at the top
        third_party=("rich",),
    ),
    SCREENS: Layer(ours=(CLIENT, KERNEL, FEED, ENGINE, SCENARIO, LAB_CONTROL), third_party=None),
}

#: Arrows that break the table today and are being removed by work in flight. Each entry is
#: (file, imported module). This list must only shrink: an entry no longer needed fails too.
PENDING: dict[tuple[str, str], str] = {}


def _names(module: str, names: tuple[str, ...]) -> bool:
    """True if one of ``names`` is ``module`` or a package holding it (``dockerscope`` itself
    names the package's ``__init__`` only)."""
    return any(module == n or (n != "dockerscope" and module.startswith(n + ".")) for n in names)


def layer_of(module: str) -> str | None:
    """The ``LAYERS`` key a module belongs to (the longest one naming it), or None."""
    return max((k for k in LAYERS if _names(module, (k,))), key=len, default=None)


def broken_rule(f: SourceFile, imp: Import) -> str | None:
    """Why ``imp`` in ``f`` breaks the table, or None if it is allowed."""
    key = layer_of(f.module)
    assert key is not None
    rule = LAYERS[key]
    target = imp.module
    if target.split(".")[0] == "dockerscope":
        if layer_of(target) == key or _names(target, rule.ours):
            return None
        if _names(target, rule.lazily):
            return None if imp.lazy else f"{key} may import {target} only inside a function"
        allowed = ", ".join(rule.ours) or "nothing of ours"
        return f"{key} may import {allowed}" + (
            f" (and lazily {', '.join(rule.lazily)})" if rule.lazily else ""
        )
    if is_stdlib(target) or rule.third_party is None:
        return None
    top = target.split(".")[0]
    if top in rule.third_party:
        return None
    allowed = ", ".join(rule.third_party) or "nothing"
    return f"{key} may use the standard library and {allowed}"


def test_every_module_has_a_layer() -> None:
    missing = [f.rel for f in source_files() if layer_of(f.module) is None]
    assert not missing, (
        f"no row in LAYERS (tests/unit/test_architecture.py) for {missing}: "
        "add the package there and to docs/ARCHITECTURE.md's Layers table"
    )


def test_every_import_follows_the_layer_table() -> None:
    wrong = []
    for f in source_files():
        for imp in imports(f):
            why = broken_rule(f, imp)
            if why is not None and (f.rel, imp.module) not in PENDING:
                wrong.append(f"{f.rel}:{imp.line}: `{imp.text}` imports {imp.module}: {why}")
    assert not wrong, "arrows the layer table forbids (docs/ARCHITECTURE.md):\n" + "\n".join(wrong)


def test_pending_arrows_still_exist() -> None:
    """A pending entry whose arrow is gone is removed, so the list only shrinks."""
    seen = {
        (f.rel, imp.module)
        for f in source_files()
        for imp in imports(f)
        if broken_rule(f, imp) is not None
    }
    stale = [f"{k} ({why})" for k, why in PENDING.items() if k not in seen]
    assert not stale, "PENDING entries no longer needed, remove them:\n" + "\n".join(stale)


def test_the_table_keeps_the_big_boundaries() -> None:
    """Loosening these needs more than a new row: the UI and the client's reach stay fixed."""
    for key, rule in LAYERS.items():
        if key != SCREENS:
            assert rule.third_party is not None and "textual" not in rule.third_party, key
            assert not _names(SCREENS, rule.ours), f"{key} may not import the UI at its top"
        if key != CLI:
            assert not _names(SCREENS, rule.lazily), f"only the cli launches the UI, not {key}"
    assert LAYERS[CLIENT] == Layer(), "the client imports nothing of ours and only the stdlib"
    assert LAYERS[KERNEL].ours == (CLIENT,), "the observer knows nothing of the engine"


def test_the_layers_table_of_the_doc_names_every_package() -> None:
    doc = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    section = doc.split("## Layers", 1)[1].split("\n## ", 1)[0]
    missing = [k for k in LAYERS if f"`{k}`" not in section]
    assert not missing, f"docs/ARCHITECTURE.md 'Layers' has no row for {missing}"


def _fake(module: str, rel: str) -> SourceFile:
    return SourceFile(module, REPO / rel, is_package=False)


@pytest.mark.parametrize(
    "module,rel,target,lazy,words",
    [
        (f"{KERNEL}.links", "dockerscope/kernel/links.py", f"{ENGINE}.paths", False, "kernel"),
        (f"{CLIENT}.api", "dockerscope/client/api.py", "h11", False, "standard library"),
        (f"{CLIENT}.api", "dockerscope/client/api.py", f"{KERNEL}.model", True, "nothing of ours"),
        (f"{ENGINE}.images.store", "x.py", f"{ENGINE}.containers.model", False, "engine.images"),
        (f"{ENGINE}.runtime.spec", "x.py", f"{CLIENT}.api", False, "client.formatting"),
        (f"{CLI}", "dockerscope/cli.py", f"{SCREENS}.app", False, "only inside a function"),
        (f"{SCENARIO}.runner", "x.py", f"{ENGINE}.daemon", True, "scenario may import"),
        (f"{FEED}", "dockerscope/feed.py", "textual", True, "standard library"),
    ],
)
def test_a_wrong_arrow_is_named(module: str, rel: str, target: str, lazy: bool, words: str) -> None:
    why = broken_rule(_fake(module, rel), Import(target, 1, f"import {target}", lazy))
    assert why is not None and words in why, why


def test_allowed_arrows_pass() -> None:
    cli = _fake(CLI, "dockerscope/cli.py")
    assert broken_rule(cli, Import(f"{SCREENS}.app", 9, "", lazy=True)) is None
    engine = _fake(f"{ENGINE}.containers.status", "x.py")
    assert broken_rule(engine, Import(f"{CLIENT}.formatting", 1, "", lazy=False)) is None
    assert broken_rule(engine, Import(f"{ENGINE}.containers.model", 1, "", lazy=False)) is None


def test_imports_are_read_from_every_kind_of_statement(tmp_path: Path) -> None:
    """The reader sees lazy, relative and ``from pkg import module`` imports, and import calls."""
    path = tmp_path / "mod.py"
    path.write_text(
        "import os\n"
        "from dockerscope.engine import runtime as rt\n"
        "from . import status\n"
        "from ..model import Container\n"
        "def later():\n"
        "    from dockerscope.kernel.model import ApiCall\n"
        "    return importlib.import_module('dockerscope.screens.app')\n"
    )
    f = SourceFile("dockerscope.engine.containers.mod", path, is_package=False)
    found = {(i.module, i.line, i.lazy) for i in imports(f)}
    assert found == {
        ("os", 1, False),
        (f"{ENGINE}.runtime", 2, False),
        (f"{ENGINE}.containers.status", 3, False),
        (f"{ENGINE}.model", 4, False),
        (f"{KERNEL}.model", 6, True),
        (f"{SCREENS}.app", 7, True),
    }
