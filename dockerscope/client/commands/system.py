"""version, info, events."""

from __future__ import annotations

import argparse
import os
import sys

from .. import formatting as fmt
from ..api import DockerClient
from ..options import (
    parse_filters,
    timestamp_param,
)
from .base import CLIENT_VERSION, Console, command, current_time


def _version_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format output using a Go template")


@command("version", "Show the Docker version information", flags=_version_flags)
def cmd_version(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    server = client.version()
    if args.format:
        data = {
            "Client": {"Version": CLIENT_VERSION, "ApiVersion": client.api.version},
            "Server": server,
        }
        console.out(fmt.render_template(args.format, data) + "\n")
        return 0
    lines = [
        "Client:",
        f" Version:           {CLIENT_VERSION}",
        f" API version:       {client.api.version}",
        f" Python version:    {sys.version.split()[0]}",
        f" OS/Arch:           {sys.platform}/{os.uname().machine}",
        " Context:           default",
        "",
        "Server:",
        " Engine:",
        f"  Version:          {server.get('Version', '')}",
        f"  API version:      {server.get('ApiVersion', '')}"
        f" (minimum version {server.get('MinAPIVersion', '')})",
        f"  Go version:       {server.get('GoVersion', '')}",
        f"  Git commit:       {server.get('GitCommit', '')}",
        f"  Built:            {server.get('BuildTime', '')}",
        f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}",
        f"  Experimental:     {str(server.get('Experimental', False)).lower()}",
    ]
    for comp in server.get("Components") or []:
        if comp.get("Name") == "Engine":
            continue
        lines.append(f" {comp.get('Name', '')}:")
        lines.append(f"  Version:          {comp.get('Version', '')}")
        commit = (comp.get("Details") or {}).get("GitCommit")
        if commit is not None:
            lines.append(f"  GitCommit:        {commit}")
    console.out("\n".join(lines) + "\n")
    return 0


def _info_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format output using a Go template")


@command("info", "Display system-wide information", flags=_info_flags)
def cmd_info(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    info = client.info()
    if args.format:
        console.out(fmt.render_template(args.format, info) + "\n")
        return 0
    get = info.get
    lines = [
        "Client:",
        " Context:    default",
        " Debug Mode: false",
        "",
        "Server:",
        f" Containers: {get('Containers', 0)}",
        f"  Running: {get('ContainersRunning', 0)}",
        f"  Paused: {get('ContainersPaused', 0)}",
        f"  Stopped: {get('ContainersStopped', 0)}",
        f" Images: {get('Images', 0)}",
        f" Server Version: {get('ServerVersion', '')}",
        f" Storage Driver: {get('Driver', '')}",
    ]
    for key, value in get("DriverStatus") or []:
        lines.append(f"  {key}: {value}")
    lines += [
        f" Logging Driver: {get('LoggingDriver', '')}",
        f" Cgroup Driver: {get('CgroupDriver', '')}",
        f" Cgroup Version: {get('CgroupVersion', '')}",
        f" Kernel Version: {get('KernelVersion', '')}",
        f" Operating System: {get('OperatingSystem', '')}",
        f" OSType: {get('OSType', '')}",
        f" Architecture: {get('Architecture', '')}",
        f" CPUs: {get('NCPU', 0)}",
        f" Total Memory: {fmt.bytes_size(float(get('MemTotal') or 0))}",
        f" Name: {get('Name', '')}",
        f" ID: {get('ID', '')}",
        f" Docker Root Dir: {get('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(get('Debug'))).lower()}",
    ]
    labels = get("Labels") or []  # the daemon's labels (a lab's caps), where docker shows them
    if labels:
        lines += [" Labels:", *(f"  {label}" for label in labels)]
    console.out("\n".join(lines) + "\n")
    for warning in get("Warnings") or []:
        console.err(f"{warning}\n")
    return 0


def _events_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="Show all events created since timestamp")
    p.add_argument("--until", help="Stream events until this timestamp")
    p.add_argument("-f", "--filter", action="append", help="Filter output based on conditions")
    p.add_argument("--format", help="Format the output using the given Go template")


@command("events", "Get real time events from the server", flags=_events_flags)
def cmd_events(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    now = current_time()
    since = timestamp_param(args.since, now)
    until = timestamp_param(args.until, now)
    for event in client.events(since, until, parse_filters(args.filter)):
        if args.format:
            console.out(fmt.render_template(args.format, event) + "\n")
        else:
            console.out(fmt.event_line(event) + "\n")
    return 0
