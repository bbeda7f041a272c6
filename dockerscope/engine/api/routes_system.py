"""``/_ping``, ``/version``, ``/info``, ``/events``, ``/system/df`` and the traffic tap stream."""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import time
from pathlib import Path
from typing import Any

from dockerscope.engine.api.backend import Backend
from dockerscope.engine.api.render import summary
from dockerscope.engine.api.replies import Response, StreamResponse
from dockerscope.engine.api.request import Request
from dockerscope.engine.api.router import API_VERSION, MIN_API_VERSION, Router
from dockerscope.engine.containers.status import iso
from dockerscope.engine.errors import InvalidArgument, NotFound, NotSupported
from dockerscope.engine.events import EventFilter, _parse_time
from dockerscope.engine.images.fsutil import tree_bytes


def engine_version() -> str:
    try:
        from importlib.metadata import version

        return version("dockerscope")
    except Exception:
        return "0.1.0"


def go_arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def cgroup_version() -> str:
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


def _os_release() -> tuple[str, str]:
    try:
        fields = dict(
            line.split("=", 1)
            for line in Path("/etc/os-release").read_text().splitlines()
            if "=" in line
        )
    except OSError:
        return "Linux", ""
    return fields.get("PRETTY_NAME", "Linux").strip('"'), fields.get("VERSION_ID", "").strip('"')


def _mem_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def daemon_id(lab_name: str) -> str:
    """A stable id in Docker's ``XXXX:XXXX:...`` form (12 groups of 4), derived from the lab."""
    raw = base64.b32encode(hashlib.sha256(lab_name.encode()).digest()).decode()[:48]
    return ":".join(raw[i : i + 4] for i in range(0, 48, 4))


#: ``/info``: the storage driver, plugins and the limits the engine enforces (what Docker
#: 20.10 reports for overlay2 with cgroupfs).
STORAGE_AND_LIMITS: dict[str, Any] = {
    "Driver": "overlay2",
    "DriverStatus": [
        ["Backing Filesystem", "extfs"],
        ["Supports d_type", "true"],
        ["Native Overlay Diff", "true"],
        ["userxattr", "false"],
    ],
    "Plugins": {
        "Volume": [],
        "Network": ["bridge", "host", "null"],
        "Authorization": None,
        "Log": ["json-file"],
    },
    "MemoryLimit": True,
    "SwapLimit": False,
    "KernelMemory": False,
    "KernelMemoryTCP": False,
    "CpuCfsPeriod": True,
    "CpuCfsQuota": True,
    "CPUShares": True,
    "CPUSet": False,
    "PidsLimit": True,
    "IPv4Forwarding": True,
    "BridgeNfIptables": True,
    "BridgeNfIp6tables": True,
    "Debug": False,
}

#: ``/info``: no registry (dockerscope is offline).
NO_REGISTRY: dict[str, Any] = {
    "AllowNondistributableArtifactsCIDRs": [],
    "AllowNondistributableArtifactsHostnames": [],
    "InsecureRegistryCIDRs": [],
    "IndexConfigs": {},
    "Mirrors": [],
}

#: ``/info``: the runtime, and no swarm.
RUNTIME_AND_SWARM: dict[str, Any] = {
    "Runtimes": {"dockerscope": {"path": "dockerscope-init"}},
    "DefaultRuntime": "dockerscope",
    "Swarm": {
        "NodeID": "",
        "NodeAddr": "",
        "LocalNodeState": "inactive",
        "ControlAvailable": False,
        "Error": "",
        "RemoteManagers": None,
    },
    "LiveRestoreEnabled": False,
    "Isolation": "",
    "InitBinary": "",
    "ContainerdCommit": {"ID": "", "Expected": ""},
    "RuncCommit": {"ID": "", "Expected": ""},
    "InitCommit": {"ID": "", "Expected": ""},
    "SecurityOptions": ["name=no-new-privileges"],
    "Warnings": None,
}


class SystemRoutes:
    """Handlers about the engine as a whole, bound to a daemon's parts."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def register(self, r: Router) -> None:
        r.add("GET", "/_ping", self.ping)
        r.add("GET", "/version", self.version)
        r.add("GET", "/info", self.info)
        r.add("GET", "/events", self.events)
        r.add("GET", "/system/df", self.df)
        r.add("GET", "/dockerscope/traffic", self.traffic, tapped=False)
        r.add("POST", "/auth", self.auth)
        r.add("GET", "/volumes", self.volumes)
        r.add("POST", "/volumes/create", self.no_volumes)
        r.add("POST", "/volumes/prune", self.volumes_prune)
        r.add("GET", "/volumes/{name}", self.no_such_volume)
        r.add("DELETE", "/volumes/{name}", self.no_such_volume)

    async def ping(self, req: Request) -> Response:
        headers = [
            ("Cache-Control", "no-cache, no-store, must-revalidate"),
            ("Pragma", "no-cache"),
        ]
        if req.method == "HEAD":
            return Response(200, b"", "text/plain; charset=utf-8", headers + [])
        return Response(200, b"OK", "text/plain; charset=utf-8", headers)

    async def version(self, req: Request) -> Response:
        v = engine_version()
        kernel = platform.release()
        details = {
            "ApiVersion": API_VERSION,
            "Arch": go_arch(),
            "BuildTime": "",
            "Experimental": "false",
            "GitCommit": "",
            "GoVersion": f"python{platform.python_version()}",
            "KernelVersion": kernel,
            "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux",
        }
        return Response.json(
            {
                "Platform": {"Name": "dockerscope"},
                "Components": [{"Name": "Engine", "Version": v, "Details": details}],
                "Version": v,
                "ApiVersion": API_VERSION,
                "MinAPIVersion": MIN_API_VERSION,
                "GitCommit": "",
                "GoVersion": details["GoVersion"],
                "Os": "linux",
                "Arch": go_arch(),
                "KernelVersion": kernel,
                "BuildTime": "",
            }
        )

    async def info(self, req: Request) -> Response:
        d = self.backend
        states = [c.state.status for c in d.containers.containers.values()]
        running = sum(s == "running" for s in states)
        paused = sum(s == "paused" for s in states)
        try:
            n_images = len(d.images.list())
        except Exception:
            n_images = 0
        os_name, os_version = _os_release()
        return Response.json(
            {
                "ID": daemon_id(d.lab.name),
                "Containers": len(states),
                "ContainersRunning": running,
                "ContainersPaused": paused,
                "ContainersStopped": len(states) - running - paused,
                "Images": n_images,
                **STORAGE_AND_LIMITS,
                "NFd": len(os.listdir("/proc/self/fd")),
                "OomKillDisable": False,
                "NGoroutines": 1,
                "SystemTime": iso(time.time()),
                "LoggingDriver": "json-file",
                "CgroupDriver": "cgroupfs",
                "CgroupVersion": cgroup_version(),
                "NEventsListener": d.events.listeners(),
                "KernelVersion": platform.release(),
                "OperatingSystem": os_name,
                "OSVersion": os_version,
                "OSType": "linux",
                "Architecture": platform.machine(),
                "IndexServerAddress": "",
                "RegistryConfig": NO_REGISTRY,
                "NCPU": os.cpu_count() or 1,
                "MemTotal": _mem_total(),
                "GenericResources": None,
                "DockerRootDir": str(d.lab.data_root),
                "HttpProxy": "",
                "HttpsProxy": "",
                "NoProxy": "",
                "Name": d.lab.name,
                "Labels": list(d.labels),
                "ExperimentalBuild": False,
                "ServerVersion": engine_version(),
                **RUNTIME_AND_SWARM,
            }
        )

    async def events(self, req: Request) -> StreamResponse:
        try:
            filters = req.json_q("filters")
            stream = self.backend.events.stream(req.q("since"), req.q("until"), filters)
            # Validate now, so a bad filter is a 400 rather than a broken stream.
            EventFilter.parse(filters)
            _parse_time(req.q("since"))
            _parse_time(req.q("until"))
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        return StreamResponse(stream)

    async def df(self, req: Request) -> Response:
        d = self.backend
        images = []
        try:
            for img in d.images.list():
                users = sum(c.image_id == img.id for c in d.containers.containers.values())
                images.append(
                    {
                        "Containers": users,
                        "Created": img.created_unix,
                        "Id": img.id,
                        "Labels": dict(img.config.labels) or None,
                        "ParentId": img.parent,
                        "RepoDigests": None,
                        "RepoTags": list(img.repo_tags),
                        "SharedSize": -1,
                        "Size": img.size,
                        "VirtualSize": img.size,
                    }
                )
        except Exception:
            images = []
        containers = []
        for c in d.containers.containers.values():
            s = summary(c)
            s["SizeRw"] = tree_bytes(d.containers.store.dir(c.id) / "upper")
            s["SizeRootFs"] = 0
            containers.append(s)
        return Response.json(
            {
                "LayersSize": sum(i["Size"] for i in images),
                "Images": images,
                "Containers": containers,
                "Volumes": [],
                "BuildCache": [],
            }
        )

    async def traffic(self, req: Request) -> StreamResponse:
        return StreamResponse(
            self.backend.tap.stream(backlog=req.flag("backlog", True)),
            content_type="application/json",
        )

    async def volumes(self, req: Request) -> Response:
        """No named volumes exist in dockerscope (host-path binds only): an honest empty list."""
        return Response.json({"Volumes": [], "Warnings": None})

    async def volumes_prune(self, req: Request) -> Response:
        return Response.json({"VolumesDeleted": None, "SpaceReclaimed": 0})

    async def no_volumes(self, req: Request) -> Response:
        raise NotSupported("named volumes (docker volume create): use -v /host/path:/path")

    async def no_such_volume(self, req: Request, name: str) -> Response:
        raise NotFound(f"get {name}: no such volume")

    async def auth(self, req: Request) -> Response:
        await req.drain()
        return Response.json({"Status": "Login Succeeded", "IdentityToken": ""})
