"""Container processes: namespaces, the overlay rootfs, capabilities and cgroups.

``launch`` starts a container's PID 1, ``exec_in`` a process inside a running one; both go
through a small stdlib-only helper (``init.py``) so the daemon itself never forks.
"""

from dockerscope.engine.runtime.cgroups import CgroupError, CgroupLayout
from dockerscope.engine.runtime.initlayer import make_init_layer
from dockerscope.engine.runtime.launcher import (
    LaunchError,
    exec_in,
    launch,
    oom_killed,
    remove_parent,
    set_subreaper,
    teardown,
)
from dockerscope.engine.runtime.spec import Bind, ContainerSpec, Launched, Resources
from dockerscope.engine.runtime.status import exit_code, parse_signal

__all__ = [
    "Bind",
    "CgroupError",
    "CgroupLayout",
    "ContainerSpec",
    "LaunchError",
    "Launched",
    "Resources",
    "exec_in",
    "exit_code",
    "launch",
    "make_init_layer",
    "oom_killed",
    "parse_signal",
    "remove_parent",
    "set_subreaper",
    "teardown",
]
