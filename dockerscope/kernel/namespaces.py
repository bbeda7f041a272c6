"""The network namespaces in an observer's scope: finding them, opening and closing them.

Each namespace in scope has a ``NamespaceState`` (its sockets and last reads), keyed by label.
New namespaces get their sockets in one hop of a thread through them all; gone ones are closed,
or handed to the event loop to close once it stopped watching their sockets.
"""

from __future__ import annotations

import os
from dataclasses import replace

from dockerscope.kernel import iptables
from dockerscope.kernel import netns as netns_mod
from dockerscope.kernel.failures import Failures
from dockerscope.kernel.netns import HOST, NsRef
from dockerscope.kernel.nsstate import NamespaceState, namespace_state, open_namespace_sockets
from dockerscope.kernel.scope import Scope
from dockerscope.kernel.setns import in_each_netns


class Namespaces:
    """The namespaces in scope and what the observer holds for each (``states``)."""

    def __init__(self, scope: Scope, failures: Failures, proc: str = "/proc") -> None:
        self.scope = scope
        self.proc = proc
        self.failures = failures
        self.states: dict[str, NamespaceState] = {}
        #: netns inode -> pids in it, as of the last discovery
        self.pids_by_inode: dict[int, list[int]] = {}
        #: the set of namespaces changed since the event loop last looked
        self.changed = False
        #: True while an event loop watches the namespaces' sockets: it closes gone ones
        self.watched = False
        #: gone namespaces not closed yet (see ``watched``)
        self.retired: list[NamespaceState] = []
        self._host_inode = os.stat(f"{proc}/{os.getpid()}/ns/net").st_ino

    def discover(self) -> list[NsRef]:
        """The namespaces in scope right now."""
        self.pids_by_inode = netns_mod.pids_by_netns(self.proc)
        refs: list[NsRef] = []
        if self.scope.include_host:
            refs.append(netns_mod.host_ref(self.proc))
        files = [f for f in self.scope.netns_files if os.path.exists(f)]
        for f in files:
            refs.extend(r for r in netns_mod.named([os.path.dirname(f)]) if r.path == f)
        # The observer's own namespace may also have a name (``ip netns exec foo`` or nsenter
        # into /run/netns/foo): list it once, as the host.
        host_inodes = {r.inode for r in refs if r.label == HOST}
        refs.extend(r for r in netns_mod.named(self.scope.netns_dirs) if r.inode not in host_inodes)
        known = {r.inode for r in refs}
        if self.scope.kind == "host":
            refs.extend(netns_mod.unnamed(known, self.pids_by_inode, self.proc))
        elif self.scope.kind == "lab":
            refs.extend(netns_mod.unnamed(known, self._lab_pids(known), self.proc))
        return _unique_labels(refs)

    def _lab_pids(self, known: set[int]) -> dict[int, list[int]]:
        """Unnamed namespaces of the lab's processes (found through their cgroups)."""
        marker = f"/{self.scope.cgroup_parent}/"
        return {
            inode: pids
            for inode, pids in self.pids_by_inode.items()
            if inode not in known
            and inode != self._host_inode
            and any(marker in self._cgroup_of(p) for p in pids[:3])
        }

    def _cgroup_of(self, pid: int) -> str:
        try:
            with open(f"{self.proc}/{pid}/cgroup") as f:
                return f.read()
        except OSError:
            return ""

    def sync(self) -> list[str]:
        """Open new namespaces, drop gone ones; returns the labels that are new."""
        refs = {r.label: r for r in self.discover()}
        for label in list(self.states):
            ref = refs.get(label)
            if ref is None or ref.inode != self.states[label].ref.inode:
                self._drop(label)
        fresh = [(label, r) for label, r in refs.items() if label not in self.states]
        # One thread hops through the new namespaces and opens their sockets there.
        opened = in_each_netns(
            [(None if label == HOST else r.path, open_namespace_sockets) for label, r in fresh]
        )
        new = []
        for (label, ref), sockets in zip(fresh, opened, strict=True):
            if isinstance(sockets, BaseException):
                self.failures.note(f"netns {label}", sockets)
                continue
            self.failures.clear(f"netns {label}")
            self.states[label] = namespace_state(ref, sockets)
            self.changed = True
            new.append(label)
        if new:
            self.check_legacy(new)
        return new

    def _drop(self, label: str) -> None:
        gone = self.states.pop(label)
        if self.watched:
            self.retired.append(gone)  # closed by the event loop, after its watcher
        else:
            gone.close()
        self.changed = True

    def check_legacy(self, labels: list[str]) -> None:
        """Which namespaces hold legacy (x_tables) tables, read in one hop through them all."""
        states = [self.states[lb] for lb in labels if lb in self.states]
        found = in_each_netns([(s.path, iptables.legacy_tables_here) for s in states])
        for state, tables in zip(states, found, strict=True):
            if not isinstance(tables, BaseException):
                was = state.has_legacy
                state.has_legacy = any(t in iptables.TABLES for t in tables)
                if state.has_legacy != was:
                    state.genid = None  # make the next rules read a full one

    def close_retired(self) -> None:
        """Close the namespaces dropped while the event loop watched them."""
        while self.retired:
            self.retired.pop().close()

    def close_all(self) -> None:
        """Close every namespace's sockets."""
        for state in self.states.values():
            state.close()
        self.states.clear()

    def watcher_key(self, label: str) -> str:
        """Name for a namespace's watcher: label and inode (a name can be reused)."""
        state = self.states.get(label)
        return f"{label}@{state.ref.inode if state else 0}"


def _unique_labels(refs: list[NsRef]) -> list[NsRef]:
    """Labels must be unique: a second namespace with the same label gets its inode."""
    seen: set[str] = set()
    out = []
    for ref in refs:
        if ref.label in seen:
            ref = replace(ref, label=f"ino:{ref.inode}")
        seen.add(ref.label)
        out.append(ref)
    return out
