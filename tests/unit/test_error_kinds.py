"""Errors are kinds in the engine and statuses only in ``engine/api``.

Every engine error class maps to an HTTP status through ``as_api_error``; no exception defined
outside ``engine/api`` carries a ``status`` of its own (the kind says what went wrong, the API
says how HTTP spells it).
"""

from __future__ import annotations

import ast
import importlib

import pytest

from dockerscope.engine.api.errors import STATUS_OF_KIND, as_api_error
from dockerscope.engine.errors import EngineError
from tests.unit.source_tree import SourceFile, source_files

#: Outside ``engine/api``, exceptions that may keep a status: the client's errors carry the
#: status a server answered (it reads statuses, it maps none).
MAY_CARRY_STATUS = ("dockerscope.client.",)


def _engine_modules() -> list[SourceFile]:
    return [f for f in source_files() if f.module.startswith("dockerscope.engine")]


def _engine_errors() -> list[type[EngineError]]:
    """Every subclass of ``EngineError`` defined in a module of dockerscope.engine."""
    for f in _engine_modules():
        if not f.module.endswith("__main__"):
            importlib.import_module(f.module)
    found: list[type[EngineError]] = []
    todo: list[type[EngineError]] = [EngineError]
    while todo:
        cls = todo.pop()
        if cls not in found and cls.__module__.startswith("dockerscope.engine"):
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _instance(cls: type[EngineError]) -> EngineError:
    """An instance without calling the class's own ``__init__`` (their arguments differ)."""
    exc = cls.__new__(cls)
    Exception.__init__(exc, "why")
    exc.message = "why"
    return exc


def test_the_walk_finds_the_domain_errors() -> None:
    names = {c.__qualname__ for c in _engine_errors()}
    assert {"NotFound", "ImageNotFound", "NetworkInUse", "UnsafeTar", "NotSupported"} <= names


@pytest.mark.parametrize("cls", _engine_errors(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_engine_error_maps_to_an_http_status(cls: type[EngineError]) -> None:
    err = as_api_error(_instance(cls))
    assert 300 <= err.status < 600, (cls, err.status)
    assert err.message == "why"
    kinds = [status for kind, status in STATUS_OF_KIND if issubclass(cls, kind)]
    # The most specific kind wins (NotSupported is an InvalidArgument: 400).
    assert err.status == (kinds[0] if kinds else 500)


def _status_attributes(f: SourceFile) -> list[str]:
    """``status`` set on an exception class of ``f``, in its body or on ``self``."""
    module = importlib.import_module(f.module)
    out = []
    for node in ast.walk(f.tree()):
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(module, node.name, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            continue
        for inner in ast.walk(node):
            targets: list[ast.expr] = []
            if isinstance(inner, ast.Assign):
                targets = inner.targets
            elif isinstance(inner, ast.AnnAssign):
                targets = [inner.target]
            for t in targets:
                is_field = isinstance(t, ast.Name) and t.id == "status"
                is_self = (
                    isinstance(t, ast.Attribute)
                    and t.attr == "status"
                    and isinstance(t.value, ast.Name)
                    and t.value.id == "self"
                )
                if is_field or is_self:
                    out.append(f"{f.rel}:{inner.lineno} {node.name}")
    return out


def test_no_exception_outside_the_api_carries_a_status() -> None:
    found = []
    for f in source_files():
        if f.module.startswith("dockerscope.engine.api."):
            continue
        if f.module.endswith("__main__") or f.module.startswith(MAY_CARRY_STATUS):
            continue
        found += _status_attributes(f)
    assert not found, "statuses belong to engine/api/errors.py, raise a kind instead:\n" + (
        "\n".join(found)
    )


def test_the_status_check_sees_a_status_attribute() -> None:
    """The AST check finds ``self.status = ...`` in an exception class (here the api's own)."""
    api = next(f for f in source_files() if f.module == "dockerscope.engine.api.errors")
    assert [where.split()[-1] for where in _status_attributes(api)] == ["ApiError"]


def test_only_the_http_layer_answers_with_a_status_of_its_own() -> None:
    """Handlers raise kinds; ``ApiError(message, status)`` is built by the HTTP layer only."""
    allowed = {
        "dockerscope.engine.api.errors",
        "dockerscope.engine.api.http",
        "dockerscope.engine.api.connection",
    }
    found = []
    for f in source_files():
        if f.module in allowed:
            continue
        for node in ast.walk(f.tree()):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "ApiError"
            ):
                found.append(f"{f.rel}:{node.lineno}")
    assert not found, "raise an error kind (dockerscope.engine.errors) instead:\n" + "\n".join(
        found
    )
