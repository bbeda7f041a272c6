"""Size rules: no module over 500 lines, no function over 80, unless it says why.

A long module or function is allowed when it is one concern and says so: a line of its
docstring starting ``One concern:`` followed by why it stays whole (a parser's one table, one
protocol's state machine). ``OVER_TODAY`` lists what breaks the rule today; it must only shrink
(an entry that now fits fails the test, so it gets removed).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tests.unit.source_tree import SourceFile, source_files

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
NOTE = "One concern:"

#: Over the limit while work is in flight ("path" or "path::function"). Must shrink: remove an
#: entry once its module or function fits (or says "One concern:" and why).
OVER_TODAY: frozenset[str] = frozenset()  # empty: every module and function fits


def says_one_concern(node: ast.Module | ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True if the docstring has a line starting with ``One concern:`` and some words after."""
    doc = ast.get_docstring(node) or ""
    return any(
        line.strip().startswith(NOTE) and len(line.strip()) > len(NOTE) + 3
        for line in doc.splitlines()
    )


def functions(
    tree: ast.AST, prefix: str = ""
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method with its qualified name (``Class.method``, ``outer.inner``)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
            yield from functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from functions(node, f"{prefix}{node.name}.")
        else:
            yield from functions(node, prefix)


def oversized(f: SourceFile) -> Iterator[tuple[str, str]]:
    """(key, what) for each part of ``f`` over its limit without a one-concern note."""
    tree = f.tree()
    lines = len(f.path.read_text().splitlines())
    if lines > MAX_MODULE_LINES and not says_one_concern(tree):
        yield f.rel, f"{lines} lines (max {MAX_MODULE_LINES})"
    for name, node in functions(tree):
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > MAX_FUNCTION_LINES and not says_one_concern(node):
            yield (
                f"{f.rel}::{name}",
                f"line {node.lineno}: {length} lines (max {MAX_FUNCTION_LINES})",
            )


def _all_oversized() -> dict[str, str]:
    return {key: what for f in source_files() for key, what in oversized(f)}


def test_no_module_or_function_is_over_its_size() -> None:
    over = {k: v for k, v in _all_oversized().items() if k not in OVER_TODAY}
    assert not over, (
        f"split these, or give the docstring a line '{NOTE} <why it stays whole>':\n"
        + "\n".join(f"{k}: {v}" for k, v in sorted(over.items()))
    )


def test_the_list_of_oversized_parts_only_shrinks() -> None:
    fits = sorted(OVER_TODAY - set(_all_oversized()))
    assert not fits, "these fit now: remove them from OVER_TODAY (tests/unit/test_sizes.py):\n" + (
        "\n".join(fits)
    )


def test_the_rules_see_long_parts_and_notes() -> None:
    def body(indent: str) -> str:
        return "\n".join(f"{indent}x{i} = {i}" for i in range(MAX_FUNCTION_LINES))

    source = (
        '"""A module."""\n'
        f"class C:\n    def long(self):\n{body(' ' * 8)}\n"
        f'def noted():\n    """Does one thing.\n\n    {NOTE} one table, read top to bottom."""\n'
        f"{body(' ' * 4)}\n"
    )
    tree = ast.parse(source)
    found = {name: node for name, node in functions(tree)}
    assert set(found) == {"C.long", "noted"}
    assert not says_one_concern(found["C.long"])
    assert says_one_concern(found["noted"])
    assert not says_one_concern(ast.parse(f'"""{NOTE}"""'))  # the note needs its reason
