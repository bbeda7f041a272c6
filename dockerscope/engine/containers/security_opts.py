"""``--security-opt``: the values dockerd takes, and what each means here."""

from __future__ import annotations

import os
from typing import Any

from dockerscope.engine.errors import InvalidArgument, NotSupported
from dockerscope.engine.runtime.seccomp import SeccompError, check_setting


def _strings(value: Any) -> tuple[str, ...]:
    """HostConfig.SecurityOpt as a tuple of strings (null is none)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument("HostConfig.SecurityOpt must be a list of strings")
    return tuple(value)


_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")


def _lsm_enabled(name: str) -> bool:
    """Whether the host runs Linux security module ``name`` (apparmor or selinux)."""
    if name == "apparmor":
        try:
            with open("/sys/module/apparmor/parameters/enabled") as f:
                return f.read().strip() == "Y"
        except OSError:
            return False
    return os.path.exists("/sys/fs/selinux/enforce")


def security_opts(value: Any) -> tuple[tuple[str, ...], str]:
    """``--security-opt`` values -> (the values as given, the seccomp setting: "default",
    "unconfined" or a profile's JSON text), with dockerd's parsing and messages.

    ``no-new-privileges`` (or ``=true``) is what every container gets already (the runtime
    always sets no_new_privs, as ``dockerd --no-new-privileges`` does); ``=false`` is refused.
    ``label=``/``disable`` and ``apparmor=`` are ignored when the host has no SELinux or
    AppArmor, as dockerd ignores them there; with that module running they are refused.
    """
    opts = _strings(value)
    seccomp = "default"
    for opt in opts:
        if opt == "no-new-privileges":
            continue
        if opt == "disable":
            key, val = "label", "disable"
        elif "=" in opt:
            key, _, val = opt.partition("=")
        elif ":" in opt:  # dockerd still takes the old separator (with a warning)
            key, _, val = opt.partition(":")
        else:
            raise InvalidArgument(f"invalid --security-opt 1: {opt!r}")
        if key == "seccomp":
            if val == "":
                raise InvalidArgument(f"invalid --security-opt 2: {opt!r}")
            try:
                check_setting(val)
            except SeccompError as exc:
                raise InvalidArgument(str(exc)) from None
            seccomp = val
        elif key == "no-new-privileges":
            if val in _FALSE:
                raise NotSupported(
                    "--security-opt no-new-privileges=false "
                    "(dockerscope sets no_new_privs in every container)"
                )
            if val not in _TRUE:
                raise InvalidArgument(f"invalid --security-opt 2: {opt!r}")
        elif key in ("label", "apparmor"):
            lsm = "selinux" if key == "label" else "apparmor"
            if _lsm_enabled(lsm):
                raise NotSupported(f"--security-opt {opt} (this host runs {lsm})")
        else:
            raise InvalidArgument(f"invalid --security-opt 2: {opt!r}")
    return opts, seccomp
