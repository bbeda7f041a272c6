"""Declarative expectations, each a pure function of what the observer saw around a step.

An expectation kind is three functions kept together in its family's module: ``validate(params)``
(used by the loader, raises ``ParamError`` naming the bad field), ``check(observed, params) ->
Verdict`` and the sentence a class reads. ``observed`` bundles the observer's snapshot before and
after the step, the diff between them, the commands' results and the socket traffic seen
meanwhile. Nothing here looks at the engine's own state: a bridge is "there" only if the kernel
shows it.

Families: ``links`` (link, veth_on, route), ``netfilter`` (rule, flow), ``cgroups`` (cgroup,
cpu_ratio), ``commands`` (output, exit_code), ``storage`` (mount, layers_shared, whiteout),
``namespaces`` (netns_shared, netns, process), ``sockets`` (socket), ``traffic`` (api).
``registry`` holds the table.
"""

from __future__ import annotations

# Importing a family registers its kinds.
from dockerscope.scenario.expectations import (  # noqa: F401
    cgroups,
    commands,
    links,
    namespaces,
    netfilter,
    sockets,
    storage,
    traffic,
)
from dockerscope.scenario.expectations.compare import compare, parse_compare
from dockerscope.scenario.expectations.observed import Observed, Verdict
from dockerscope.scenario.expectations.registry import KINDS, Kind, check, describe, validate
from dockerscope.scenario.expectations.schema import ParamError

__all__ = [
    "KINDS",
    "Kind",
    "Observed",
    "ParamError",
    "Verdict",
    "check",
    "compare",
    "describe",
    "parse_compare",
    "validate",
]
