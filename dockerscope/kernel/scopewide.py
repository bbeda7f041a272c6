"""Reads that span the whole scope rather than one namespace: processes, cgroups, overlay
mounts and their upper dirs, and the API's hints (names for what the kernel shows)."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from dockerscope.kernel import cgroups as cgroups_mod
from dockerscope.kernel import mounts, processes
from dockerscope.kernel.failures import Failures
from dockerscope.kernel.hints import Hints, hints_from_socket
from dockerscope.kernel.model import OverlayMount, ProcessNs, UpperEntry
from dockerscope.kernel.netns import HOST
from dockerscope.kernel.scope import Scope


class ScopeWide:
    """The scope-wide collections of one observer and how to re-read each."""

    def __init__(
        self,
        scope: Scope,
        failures: Failures,
        hints: Hints | None = None,
        cgroup_root: str = "/sys/fs/cgroup",
        proc: str = "/proc",
        upper_cap: int = 200,
        upper_every: float = 3.0,
    ) -> None:
        self.scope = scope
        self.failures = failures
        self.cgroup_root = cgroup_root
        self.proc = proc
        self.upper_cap = upper_cap
        self.upper_every = upper_every
        self.processes: list[ProcessNs] = []
        self.cgroups: list[Any] = []
        self.mounts: list[OverlayMount] = []
        self.hints = hints or Hints()
        self.docker_uppers: dict[str, str] = {}  # upper dir -> container id, Docker's layerdb
        self._given_hints = hints
        self._hints_at = 0.0
        self._upperdirs: dict[str, str] = {}  # container id -> upper dir, asked once each
        self._uppers: dict[str, tuple[float, tuple[UpperEntry, ...]]] = {}

    # -- processes ---------------------------------------------------------------------------

    def read_processes(self, inodes: set[int], pids_by_inode: dict[int, list[int]]) -> None:
        """Processes in scope: in the namespaces ``inodes``, or in the scope's cgroups."""
        scope = self.scope
        candidates: list[int] | None = None
        if scope.kind != "host":
            candidates = [p for inode in inodes for p in pids_by_inode.get(inode, [])]
        host_ns = dict(processes.namespaces_of(1, self.proc)) if scope.kind == "host" else {}
        marker = f"/{scope.cgroup_parent}/" if scope.cgroup_parent else None

        def keep(p: ProcessNs) -> bool:
            if scope.kind == "host":
                return p.pid == 1 or dict(p.namespaces) != host_ns
            return p.ns("net") in inodes or (marker is not None and marker in p.cgroup + "/")

        if scope.kind == "lab" and scope.cgroup_parent:
            # Processes of the lab's cgroups may live outside its namespaces (--net=host).
            dirs = cgroups_mod.cgroup_dirs(scope.cgroup_parent, self.cgroup_root)
            extra = [int(x) for x in _procs_under(dirs[0])] if dirs else []
            candidates = (candidates or []) + extra
        self.processes = self.failures.attempt(
            "processes",
            lambda: processes.read_processes(keep, candidates, self.proc),
            self.processes,
        )

    # -- cgroups -----------------------------------------------------------------------------

    def read_cgroups(self) -> None:
        """The cgroups under the scope's parent, and the API's containers' wherever they are."""
        parent = self.scope.cgroup_parent
        if not parent:
            self.cgroups = []
            return

        def read() -> list[Any]:
            found = cgroups_mod.read_cgroups(parent, self.cgroup_root)
            have = {c.path.strip("/") for c in found}
            for rel in self._docker_cgroups():
                if rel not in have:
                    have.add(rel)
                    found.extend(cgroups_mod.read_cgroups_at([rel], self.cgroup_root))
            return found

        self.cgroups = self.failures.attempt("cgroups", read, self.cgroups)

    def _docker_cgroups(self) -> list[str]:
        """Cgroups of the API's containers found through their processes, wherever they are.

        A real Docker puts a container in ``<cgroup parent>/<id>`` (``docker`` unless the
        daemon was started with ``--cgroup-parent``) or, with the systemd driver, in
        ``system.slice/docker-<id>.scope``: the process's own cgroup says which.
        """
        if not self.scope.docker or not self.hints.containers:
            return []
        ids = {c.id for c in self.hints.containers if c.id}
        out = []
        for p in self.processes:
            rel = p.cgroup.strip("/")
            last = rel.rsplit("/", 1)[-1].removeprefix("docker-").removesuffix(".scope")
            if last in ids:
                out.append(rel)
        return sorted(set(out))

    # -- overlay mounts ----------------------------------------------------------------------

    def read_mounts(self, relist: bool = False) -> None:
        """Overlay mounts in scope; ``relist``: walk every upper dir now (a full re-read)."""
        self.mounts = self.failures.attempt(
            "mounts", lambda: self._overlay_mounts(relist), self.mounts
        )

    def _mountinfo_sources(self) -> list[tuple[str, str, int]]:
        """(seen from, mountinfo path, mount ns inode): the host's own first, then one
        process (the first listed) per other mount namespace of the processes in scope."""
        host_mnt = os.stat(f"{self.proc}/{os.getpid()}/ns/mnt").st_ino
        sources: list[tuple[str, str, int]] = []
        seen_mnt = {host_mnt}
        for p in self.processes:
            mnt = p.ns("mnt")
            if mnt is None or mnt in seen_mnt:
                continue
            seen_mnt.add(mnt)
            sources.append((f"pid:{p.pid}", f"{self.proc}/{p.pid}/mountinfo", mnt))
        sources.append((HOST, f"{self.proc}/{os.getpid()}/mountinfo", host_mnt))
        sources.reverse()  # the host's own first: an overlay it shows is listed as its
        return sources

    def _overlay_mounts(self, relist: bool) -> list[OverlayMount]:
        found: dict[tuple[int, str], OverlayMount] = {}
        sources = self._mountinfo_sources()
        host_mnt = sources[0][2]
        uppers: set[str] = set()
        now = time.monotonic()
        for seen_from, path, mnt in sources:
            try:
                text = Path(path).read_text()
            except OSError:
                continue
            for entry in mounts.parse_mountinfo(text):
                if seen_from == HOST and not self._host_mount_in_scope(entry.upperdir):
                    continue
                if entry.upperdir in uppers:  # inherited by a child mount namespace
                    continue
                uppers.add(entry.upperdir)
                target = entry.target if mnt == host_mnt else f"{entry.target} (mnt:{mnt})"
                found[(mnt, entry.target)] = OverlayMount(
                    target=target,
                    lowerdirs=entry.lowerdirs,
                    upperdir=entry.upperdir,
                    workdir=entry.workdir,
                    upper_entries=self._upper_entries(entry.upperdir, now, relist),
                    seen_from=seen_from,
                )
        self._uppers = {k: v for k, v in self._uppers.items() if k in uppers}
        if self.scope.docker:
            self._docker_layers(uppers)
        return sorted(found.values(), key=lambda m: m.target)

    def _docker_layers(self, uppers: set[str]) -> None:
        """Which container each Docker overlay2 upper dir is, from Docker's layer store.

        Read only for upper dirs not known yet: a container's layer never changes.
        """
        known = {u: c for u, c in self.docker_uppers.items() if u in uppers}
        new = [u for u in uppers if u not in known and "/overlay2/" in u]
        if new:
            known.update(mounts.docker_layer_owners(new))
        self.docker_uppers = known

    def _upper_entries(
        self, upperdir: str, now: float, relist: bool = False
    ) -> tuple[UpperEntry, ...]:
        """An upper dir's listing, walked again at most every ``upper_every`` seconds.

        Walking a hundred container upper dirs every second would be the observer's largest
        idle cost; a file written in a container shows within a few seconds instead. A full
        re-read (``relist``) walks it regardless.
        """
        cached = self._uppers.get(upperdir)
        if not relist and cached is not None and now - cached[0] < self.upper_every:
            return cached[1]
        entries = mounts.upper_entries(upperdir, self.upper_cap)
        self._uppers[upperdir] = (now, entries)
        return entries

    def _host_mount_in_scope(self, upperdir: str) -> bool:
        if self.scope.kind == "host":
            return True
        if self.scope.kind == "lab":
            return f"/{self.scope.name}/" in upperdir
        return False

    # -- hints -------------------------------------------------------------------------------

    def read_hints(self, force: bool = False) -> None:
        """Ask the scope's API socket for names (at most once a second unless ``force``)."""
        sock = self.scope.api_socket
        if self._given_hints is not None or not sock:
            return
        now = time.monotonic()
        if not force and now - self._hints_at < 1.0:
            return
        self._hints_at = now
        if not os.path.exists(sock):
            self.hints = Hints()
            return
        self.hints = self.failures.attempt(
            "hints",
            lambda: hints_from_socket(sock, docker=self.scope.docker, upperdirs=self._upperdirs),
            self.hints,
        )


def _procs_under(path: Path) -> list[str]:
    """Pids in ``path`` and its child cgroups (cgroup.procs files)."""
    out: list[str] = []
    if not path.is_dir():
        return out
    for dirpath, _dirs, files in os.walk(path):
        if "cgroup.procs" in files:
            with contextlib.suppress(OSError):
                out.extend(Path(dirpath, "cgroup.procs").read_text().split())
    return out
