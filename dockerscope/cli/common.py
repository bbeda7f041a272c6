"""What every ``dockerscope`` subcommand shares: its error, root and version checks, optional
parts, and which lab or Docker host the command line names."""

from __future__ import annotations

import argparse
import os

from dockerscope.client.transport import DockerHost, DockerHostError
from dockerscope.engine.paths import DEFAULT_LAB, BadLabName, Lab


class CliError(Exception):
    """A clear, one-line failure of a dockerscope subcommand (exit code 1)."""


def version() -> str:
    """The installed package's version."""
    try:
        from importlib.metadata import version as _v

        return _v("dockerscope")
    except Exception:  # not installed (running from a source tree)
        return "0.1.0"


def is_root() -> bool:
    """True for uid 0 (False where there are no uids, e.g. Windows: replay still works)."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def lab_from(args: argparse.Namespace, name: str | None = None) -> Lab:
    """The lab named on the command line (subcommand --lab, then global --lab, then default)."""
    name = name or getattr(args, "lab", None) or DEFAULT_LAB
    try:
        return Lab.named(
            name,
            data_root=getattr(args, "data_root", None),
            run_root=getattr(args, "run_root", None),
        )
    except BadLabName as exc:
        raise CliError(str(exc)) from None


def lab_host(lab: Lab) -> DockerHost:
    """The Docker host of a lab: its control socket."""
    return DockerHost(scheme="unix", path=str(lab.socket))


def docker_host_for(args: argparse.Namespace, env: dict[str, str] | None = None) -> DockerHost:
    """-H, else --lab's socket, else DOCKER_HOST, else the default lab's socket."""
    env = dict(os.environ) if env is None else env
    try:
        if args.host:
            return DockerHost.from_env(env, override=args.host)
        if args.lab:
            return lab_host(lab_from(args))
        if env.get("DOCKER_HOST"):
            return DockerHost.from_env(env)
    except DockerHostError as exc:
        raise CliError(str(exc)) from None
    return lab_host(Lab.named(DEFAULT_LAB))
