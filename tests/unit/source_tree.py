"""The project's own source files and what each imports, read with ``ast`` (nothing is run).

Shared by the architecture, size and error-kind tests. ``screens/`` installs as
``dockerscope.screens``, so its files get module names under that package.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import dockerscope

PACKAGE_DIR = Path(dockerscope.__file__).resolve().parent
REPO = PACKAGE_DIR.parent
#: source folder -> the module name it installs as
ROOTS = {PACKAGE_DIR: "dockerscope", REPO / "screens": "dockerscope.screens"}
#: calls that import the module named by their first (string) argument
IMPORTING_CALLS = ("import_module", "import_optional", "__import__")


@dataclass(frozen=True)
class SourceFile:
    """One module of ours: its dotted name, its file and whether it is a package's __init__."""

    module: str
    path: Path
    is_package: bool

    @property
    def rel(self) -> str:
        """The path from the repository root, for messages."""
        return str(self.path.relative_to(REPO))

    def tree(self) -> ast.Module:
        return _parse(self.path)


@dataclass(frozen=True)
class Import:
    """One import statement (or importing call): the absolute module it names, and where."""

    module: str
    line: int
    text: str  # the statement as written, for messages
    lazy: bool  # inside a function body (runs only when called)


@cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@cache
def source_files() -> tuple[SourceFile, ...]:
    """Every ``.py`` file of dockerscope and screens, sorted by module name."""
    out = []
    for root, base in ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            out.append(SourceFile(".".join([base, *parts]), path, is_package))
    return tuple(sorted(out, key=lambda f: f.module))


@cache
def _module_names() -> frozenset[str]:
    return frozenset(f.module for f in source_files())


def _absolute(f: SourceFile, level: int, module: str | None) -> str:
    """The absolute name of ``from <level dots><module> import ...`` written in ``f``."""
    if level == 0:
        return module or ""
    package = f.module.split(".") if f.is_package else f.module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _in_function(parents: dict[ast.AST, ast.AST], node: ast.AST) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return True
    return False


@cache
def imports(f: SourceFile) -> tuple[Import, ...]:
    """Every module ``f`` imports, at its top or lazily inside a function.

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module of ours, so
    ``from dockerscope.engine import runtime`` names the runtime package, not the engine.
    """
    tree = f.tree()
    lines = f.path.read_text().splitlines()
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    ours = _module_names()
    out: list[Import] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(f, node.level, node.module)
            for a in node.names:
                sub = f"{base}.{a.name}"
                names.append(sub if sub in ours else base)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0] if node.args else None
            if (
                called in IMPORTING_CALLS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                names = [first.value]
        if not names:
            continue
        text = " ".join(lines[node.lineno - 1 : node.end_lineno or node.lineno])
        lazy = _in_function(parents, node)
        for name in dict.fromkeys(names):
            out.append(Import(name, node.lineno, " ".join(text.split()), lazy))
    return tuple(sorted(out, key=lambda i: (i.line, i.module)))


def is_stdlib(module: str) -> bool:
    """True for a module of Python's standard library (``__future__`` included)."""
    return module.split(".")[0] in sys.stdlib_module_names
