"""A deterministic fake lab: frames that look like a real dockerscope lab, for tests and demos.

The story follows the course (shared/reference/docker-20.10/03-publish.*): a lab ``demo`` with
``docker0`` and a user network ``br-12eeb8c4266b``, a container ``web`` publishing 8080 and a
``tools`` container running with ``--net=host``. Then, frame by frame:

1. ``docker run -d --name api --network my-new-network -p 8081:80 ...``: a veth appears on the
   user bridge, a DNAT rule and its filter ACCEPT appear, counters tick;
2. a client on the host's loopback reaches ``web`` through the published port: a DNAT flow;
3. ``docker stop api``: its veth goes, its rules are removed.

Times are fixed (``T0``) so screenshots never change.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable, Sequence

from dockerscope.feed import Frame
from dockerscope.kernel.model import (
    Address,
    ApiCall,
    Cgroup,
    Chain,
    Diff,
    Flow,
    Link,
    NetNs,
    OverlayMount,
    Owner,
    ProcessNs,
    Route,
    Rule,
    Snapshot,
    Socket,
    UpperEntry,
    diff,
)

#: Time of the first frame (2023-11-14 22:13:20 UTC), fixed for screenshots.
T0 = 1_700_000_000.0
LAB = "demo"
NET_ID = "12eeb8c4266b"
WEB_ID = "669aecfd3d6dd102a20eba856487f4e21617f7f0f354923c9052594168263d89"
API_ID = "3f1c2a9be0d84c6f9a7e51d2b8c0f4e6a1d3b5c7e9f1a2b3c4d5e6f708192a3b"
TOOLS_ID = "b7e4d1c0a9f8e7d6c5b4a3928170f6e5d4c3b2a1908f7e6d5c4b3a2918070605"

_LAB_OWNER = Owner("lab", LAB)
_DOCKER0 = Owner("network", "bridge")
_USERNET = Owner("network", "my-new-network", NET_ID)
_WEB = Owner("container", "web", WEB_ID[:12])
_API = Owner("container", "api", API_ID[:12])
_TOOLS = Owner("container", "tools", TOOLS_ID[:12])
_WEB_PORT = Owner("port", "web 8080/tcp", WEB_ID[:12])
_API_PORT = Owner("port", "api 8081/tcp", API_ID[:12])
#: The proxies' owners as the observer names a published port's listener in the lab.
_WEB_PROXY = Owner("port", "8080/tcp -> web", WEB_ID[:12])
_API_PROXY = Owner("port", "8081/tcp -> api:80", API_ID[:12])
#: The lab daemon: it runs the published ports' proxies inside the lab's namespace.
DAEMON_PID = 4100

_NS_TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
_HOST_NS = dict(zip(_NS_TYPES, (4026531835, 4026531839, 4026531841, 4026531840,
                                4026531836, 4026531834, 4026531837, 4026531838), strict=True))
LAB_NET_INODE = 4026532301


#: CapEff of root in a Docker container: Docker's 14 default capabilities.
_DOCKER_CAPS = 0xA80425FB


def _ns(net: int, base: int | None) -> tuple[tuple[str, int], ...]:
    """Namespaces of a container process: its own except user/time/cgroup, ``net`` as given."""
    own = dict(_HOST_NS)
    if base is not None:
        own.update(ipc=base + 1, mnt=base, pid=base + 2, uts=base + 3)
    own["net"] = net
    return tuple(sorted(own.items()))


def _mac(ip_tail: int, prefix: str = "02:42:ac:11:00") -> str:
    return f"{prefix}:{ip_tail:02x}"


def _bridge(name: str, index: int, bridge_id: str, cidr: str, owner: Owner, up: bool) -> Link:
    addr, plen = cidr.split("/")
    return Link(
        netns=LAB, index=index, name=name, kind="bridge", mac=_pretty_mac(bridge_id),
        state="UP" if up else "DOWN", mtu=1500, addresses=(Address(4, addr, int(plen)),),
        bridge_id=bridge_id, stp=False, owner=owner,
    )


def _pretty_mac(bridge_id: str) -> str:
    raw = bridge_id.split(".", 1)[1]
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


def _veth_pair(
    host_name: str, host_index: int, container: str, c_index: int, bridge: str, ip: str,
    mac: str, owner: Owner,
) -> tuple[Link, Link]:
    """The host end (enslaved to ``bridge`` in the lab) and the container's ``eth0``."""
    host_end = Link(
        netns=LAB, index=host_index, name=host_name, kind="veth",
        mac="8e:5d:01:95:cb:" + f"{host_index:02x}", state="UP", mtu=1500, master=bridge,
        peer_index=c_index, peer_netns=container, owner=owner,
    )
    eth0 = Link(
        netns=container, index=c_index, name="eth0", kind="veth", mac=mac, state="UP", mtu=1500,
        peer_index=host_index, peer_netns=LAB, addresses=(Address(4, ip, 16),), owner=owner,
    )
    return host_end, eth0


def _rule(table: str, chain: str, pos: int, spec: str, owner: Owner | None,
          packets: int = 0, nbytes: int = 0) -> Rule:
    return Rule(netns=LAB, backend="nf_tables", table=table, chain=chain, position=pos,
                spec=spec, packets=packets, bytes=nbytes, owner=owner)


def _renumber(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """Give rules their 1-based position within their chain, in the order given."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for r in rules:
        k = (r.table, r.chain)
        seen[k] = seen.get(k, 0) + 1
        out.append(dataclasses.replace(r, position=seen[k]))
    return tuple(out)


def _chains(table: str) -> tuple[Chain, ...]:
    if table == "nat":
        builtin = [("PREROUTING", "ACCEPT"), ("INPUT", "ACCEPT"), ("OUTPUT", "ACCEPT"),
                   ("POSTROUTING", "ACCEPT")]
        user = ["DOCKER"]
    else:
        builtin = [("INPUT", "ACCEPT"), ("FORWARD", "DROP"), ("OUTPUT", "ACCEPT")]
        user = ["DOCKER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"]
    chains = [Chain(LAB, "nf_tables", table, n, p) for n, p in builtin]
    chains += [Chain(LAB, "nf_tables", table, n, None) for n in user]
    return tuple(chains)


def _nat_rules(api: bool, tick: int) -> list[Rule]:
    """Docker's nat table for the lab (03-publish.nat), plus api's port when ``api``."""
    br = f"br-{NET_ID}"
    rules = [
        _rule("nat", "PREROUTING", 0, "-m addrtype --dst-type LOCAL -j DOCKER", _LAB_OWNER,
              12 + 3 * tick, 720 + 180 * tick),
        _rule("nat", "OUTPUT", 0, "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
              _LAB_OWNER, 2, 120),
        _rule("nat", "POSTROUTING", 0, f"-s 172.18.0.0/16 ! -o {br} -j MASQUERADE", _USERNET,
              tick, 60 * tick),
        _rule("nat", "POSTROUTING", 0, "-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE", _DOCKER0,
              5 + 2 * tick, 300 + 120 * tick),
        _rule("nat", "POSTROUTING", 0,
              "-s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 8080 -j MASQUERADE",
              _WEB_PORT),
    ]
    if api:
        rules.append(_rule(
            "nat", "POSTROUTING", 0,
            "-s 172.18.0.2/32 -d 172.18.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE", _API_PORT))
    rules += [
        _rule("nat", "DOCKER", 0, f"-i {br} -j RETURN", _USERNET),
        _rule("nat", "DOCKER", 0, "-i docker0 -j RETURN", _DOCKER0),
        _rule("nat", "DOCKER", 0,
              "! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:8080",
              _WEB_PORT, 4 + 2 * tick, 240 + 120 * tick),
    ]
    if api:
        rules.append(_rule(
            "nat", "DOCKER", 0,
            f"! -i {br} -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.18.0.2:80",
            _API_PORT, tick, 60 * tick))
    return rules


def _filter_rules(api: bool, tick: int) -> list[Rule]:
    """Docker's filter table for the lab (03-publish.filter), plus api's ACCEPT when ``api``."""
    br = f"br-{NET_ID}"
    f = "filter"
    rules = [
        _rule(f, "FORWARD", 0, "-j DOCKER-USER", _LAB_OWNER, 40 + 7 * tick, 4100 + 700 * tick),
        _rule(f, "FORWARD", 0, "-j DOCKER-ISOLATION-STAGE-1", _LAB_OWNER, 40 + 7 * tick,
              4100 + 700 * tick),
        _rule(f, "FORWARD", 0, f"-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
              _USERNET),
        _rule(f, "FORWARD", 0, f"-o {br} -j DOCKER", _USERNET),
        _rule(f, "FORWARD", 0, f"-i {br} ! -o {br} -j ACCEPT", _USERNET),
        _rule(f, "FORWARD", 0, f"-i {br} -o {br} -j ACCEPT", _USERNET),
        _rule(f, "FORWARD", 0, "-o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
              _DOCKER0, 20 + 4 * tick, 2400 + 400 * tick),
        _rule(f, "FORWARD", 0, "-o docker0 -j DOCKER", _DOCKER0, 4 + 2 * tick, 240 + 120 * tick),
        _rule(f, "FORWARD", 0, "-i docker0 ! -o docker0 -j ACCEPT", _DOCKER0, 16, 1460),
        _rule(f, "FORWARD", 0, "-i docker0 -o docker0 -j ACCEPT", _DOCKER0),
        _rule(f, "DOCKER", 0,
              "-d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 8080 -j ACCEPT",
              _WEB_PORT, 4 + 2 * tick, 240 + 120 * tick),
    ]
    if api:
        rules.append(_rule(
            f, "DOCKER", 0,
            f"-d 172.18.0.2/32 ! -i {br} -o {br} -p tcp -m tcp --dport 80 -j ACCEPT", _API_PORT))
    rules += [
        _rule(f, "DOCKER-ISOLATION-STAGE-1", 0,
              f"-i {br} ! -o {br} -j DOCKER-ISOLATION-STAGE-2", _USERNET),
        _rule(f, "DOCKER-ISOLATION-STAGE-1", 0,
              "-i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2", _DOCKER0, 16, 1460),
        _rule(f, "DOCKER-ISOLATION-STAGE-1", 0, "-j RETURN", _LAB_OWNER, 40, 4100),
        _rule(f, "DOCKER-ISOLATION-STAGE-2", 0, f"-o {br} -j DROP", _USERNET),
        _rule(f, "DOCKER-ISOLATION-STAGE-2", 0, "-o docker0 -j DROP", _DOCKER0),
        _rule(f, "DOCKER-ISOLATION-STAGE-2", 0, "-j RETURN", _LAB_OWNER, 16, 1460),
        _rule(f, "DOCKER-USER", 0, "-j RETURN", _LAB_OWNER, 40 + 7 * tick, 4100 + 700 * tick),
    ]
    return rules


def _container_dir(cid: str) -> str:
    return f"/var/lib/dockerscope/{LAB}/containers/{cid}"


def _layer(n: str) -> str:
    return f"/var/lib/dockerscope/{LAB}/images/layers/{n}"


def _mount(cid: str, owner: Owner, entries: tuple[UpperEntry, ...]) -> OverlayMount:
    d = _container_dir(cid)
    return OverlayMount(
        target=f"{d}/rootfs", lowerdirs=(f"{d}/init", _layer("b27d8cdf43f1")),
        upperdir=f"{d}/upper", workdir=f"{d}/work", upper_entries=entries, owner=owner,
    )


_WEB_ENTRIES = (
    UpperEntry("etc", "dir"),
    UpperEntry("etc/hostname", "file", 13),
    UpperEntry("etc/hosts", "file", 174),
    UpperEntry("etc/motd", "whiteout"),
    UpperEntry("tmp", "dir"),
    UpperEntry("tmp/index.html", "file", 6),
    UpperEntry("var/cache", "opaque"),
)


def _cgroup(cid: str, owner: Owner, mem: int, limit: int | None, cpu_ns: int, quota: int | None,
            pids: int, pids_limit: int | None) -> Cgroup:
    return Cgroup(
        path=f"/dockerscope/{LAB}/{cid}", version=1, memory_usage=mem, memory_limit=limit,
        cpu_usage_ns=cpu_ns, cpu_shares=1024, cpu_quota_us=quota,
        cpu_period_us=100_000 if quota else None, pids_current=pids, pids_limit=pids_limit,
        owner=owner,
    )


def lab_snapshot(step: int) -> Snapshot:
    """The lab at ``step`` (0..3) of the story in the module docstring."""
    api = step in (1, 2)
    tick = step
    br = f"br-{NET_ID}"
    links = [
        Link(LAB, 1, "lo", "loopback", "00:00:00:00:00:00", "UNKNOWN", 65536,
             addresses=(Address(4, "127.0.0.1", 8, "host"),), owner=_LAB_OWNER),
        Link(LAB, 2, "uplink0", "veth", "02:fc:00:00:00:01", "UP", 1500, peer_index=31,
             peer_netns="host", addresses=(Address(4, "100.64.0.2", 30),), owner=_LAB_OWNER),
        _bridge("docker0", 44, "8000.024297f17b4f", "172.17.0.1/16", _DOCKER0, True),
        _bridge(br, 45, "8000.02426439c214", "172.18.0.1/16", _USERNET, api),
    ]
    web_host, web_eth0 = _veth_pair("vethd98d5a6", 47, "web", 46, "docker0", "172.17.0.2",
                                    _mac(2), _WEB)
    links += [web_host, web_eth0]
    if api:
        api_host, api_eth0 = _veth_pair("veth5e0f7a1", 49, "api", 48, br, "172.18.0.2",
                                        _mac(2, "02:42:ac:12:00"), _API)
        links += [api_host, api_eth0]
    routes = [
        Route(LAB, "default", "uplink0", gateway="100.64.0.1", owner=_LAB_OWNER),
        Route(LAB, "172.17.0.0/16", "docker0", src="172.17.0.1", scope="link", owner=_DOCKER0),
        Route("web", "default", "eth0", gateway="172.17.0.1", owner=_WEB),
    ]
    netns = [
        NetNs(LAB_NET_INODE, LAB, (4300,), _LAB_OWNER),
        NetNs(4026532410, "web", (4242, 4251), _WEB),
    ]
    processes = [
        ProcessNs(4242, "sh", _ns(4026532410, 4026532405), f"/dockerscope/{LAB}/{WEB_ID}", _WEB,
                  seccomp=2, cap_eff=_DOCKER_CAPS),
        ProcessNs(4251, "nc", _ns(4026532410, 4026532405), f"/dockerscope/{LAB}/{WEB_ID}", _WEB,
                  seccomp=2, cap_eff=0),  # run as nobody: no capabilities
        # tools runs with --security-opt seccomp=unconfined
        ProcessNs(4300, "sh", _ns(LAB_NET_INODE, 4026532420), f"/dockerscope/{LAB}/{TOOLS_ID}",
                  _TOOLS, seccomp=0, cap_eff=_DOCKER_CAPS),
    ]
    cgroups = [
        _cgroup(WEB_ID, _WEB, 3_145_728 + 262_144 * tick, 64 * 2**20,
                120_000_000 + 50_000_000 * tick, 50_000, 2, 100),
        _cgroup(TOOLS_ID, _TOOLS, 1_048_576, None, 40_000_000, None, 1, None),
    ]
    mounts = [
        _mount(WEB_ID, _WEB, _WEB_ENTRIES),
        _mount(TOOLS_ID, _TOOLS, (UpperEntry("root", "dir"), UpperEntry("root/.ash_history",
                                                                        "file", 42))),
    ]
    flows = [
        Flow(LAB, "tcp", "ESTABLISHED", "172.17.0.2", "93.184.216.34", 40112, 80,
             "93.184.216.34", "100.64.0.2", 80, 40112, 6 + tick, 520 + 80 * tick, _WEB),
        Flow(LAB, "udp", "", "172.17.0.2", "100.64.0.1", 51000, 53, "100.64.0.1", "100.64.0.2",
             53, 51000, 2, 150, _WEB),
    ]
    if api:
        netns.append(NetNs(4026532430, "api", (4400,), _API))
        processes.append(ProcessNs(4400, "httpd", _ns(4026532430, 4026532425),
                                   f"/dockerscope/{LAB}/{API_ID}", _API, seccomp=2,
                                   cap_eff=_DOCKER_CAPS))
        cgroups.append(_cgroup(API_ID, _API, 2_097_152 * tick, 128 * 2**20, 30_000_000 * tick,
                               None, 1 + tick, 50))
        mounts.append(_mount(API_ID, _API, (UpperEntry("etc", "dir"),
                                            UpperEntry("etc/hostname", "file", 13))))
    if step >= 2:
        flows.append(Flow(LAB, "tcp", "TIME_WAIT", "127.0.0.1", "127.0.0.1", 53412, 8080,
                          "172.17.0.2", "172.17.0.1", 8080, 53412, 10, 734, _WEB_PORT))
    rules = _renumber(_nat_rules(api, tick) + _filter_rules(api, tick))
    sockets = _sockets(api, step)
    return Snapshot(
        taken_at=T0 + step, scope=f"lab:{LAB}", links=tuple(links), routes=tuple(routes),
        netns=tuple(netns), processes=tuple(processes), chains=_chains("nat") + _chains("filter"),
        rules=rules, cgroups=tuple(cgroups), mounts=tuple(mounts), flows=tuple(flows),
        sockets=sockets,
    )


def _listener(netns: str, port: int, pid: int, comm: str, owner: Owner, inode: int,
              local: str = "0.0.0.0") -> Socket:
    wild = "::" if ":" in local else "0.0.0.0"
    return Socket(netns, "tcp", 6 if ":" in local else 4, "LISTEN", local, port, wild, 0,
                  inode, tx_queue=128, pid=pid, command=comm, owner=owner)


def _sockets(api: bool, step: int) -> tuple[Socket, ...]:
    """``web``'s nc on 8080 and the daemon's proxy for it in the lab; ``api``'s httpd on 80
    and its proxy on 8081 while it runs; at step 2 the host's client went through the proxy."""
    out = [
        _listener("web", 8080, 4251, "nc", _WEB, 91001),
        _listener(LAB, 8080, DAEMON_PID, "dockerscope", _WEB_PROXY, 91002),
        Socket(LAB, "udp", 4, "UNCONN", "127.0.0.11", 53, "0.0.0.0", 0, 91003, pid=DAEMON_PID,
               command="dockerscope", owner=_LAB_OWNER),
    ]
    if api:
        out += [
            _listener("api", 80, 4400, "httpd", _API, 91011, "::"),
            _listener(LAB, 8081, DAEMON_PID, "dockerscope", _API_PROXY, 91012),
        ]
    if step == 2:  # the proxy holds both legs of the client's connection
        out += [
            Socket(LAB, "tcp", 4, "ESTAB", "127.0.0.1", 8080, "127.0.0.1", 53412, 91021,
                   pid=DAEMON_PID, command="dockerscope", owner=_LAB_OWNER),
            Socket(LAB, "tcp", 4, "ESTAB", "172.17.0.1", 40500, "172.17.0.2", 8080, 91022,
                   pid=DAEMON_PID, command="dockerscope", owner=_LAB_OWNER),
            Socket("web", "tcp", 4, "ESTAB", "172.17.0.2", 8080, "172.17.0.1", 40500, 91023,
                   pid=4251, command="nc", owner=_WEB),
        ]
    return tuple(out)


def _call(seq: int, at: float, method: str, path: str, status: int, ms: float, *,
          container: str | None = None, req: str = "", resp: str = "") -> ApiCall:
    return ApiCall(
        seq=seq, started_at=at, method=method, path=path, status=status, latency_ms=ms,
        client_pid=5120 if container is None else 4300, client_uid=1000 if container is None else 0,
        client_container=container, request_preview=req, response_preview=resp,
        user_agent="Docker-Client/20.10.24+dfsg1 (linux)",
    )


def lab_traffic(step: int) -> tuple[ApiCall, ...]:
    """API calls served just before the snapshot of ``step``."""
    if step == 0:
        return (
            _call(1, T0 - 0.5, "HEAD", "/_ping", 200, 0.4),
            _call(2, T0 - 0.4, "GET", "/v1.41/containers/json", 200, 1.8,
                  resp='[{"Id":"669aecfd3d6d","Names":["/web"]}]'),
        )
    if step == 1:
        return (
            _call(3, T0 + 0.2, "POST", "/v1.41/containers/create?name=api", 201, 14.2,
                  container="tools", req='{"Image":"busybox","HostConfig":{"PortBindings":'
                  '{"80/tcp":[{"HostPort":"8081"}]}}}', resp='{"Id":"3f1c2a9be0d8","Warnings":[]}'),
            _call(4, T0 + 0.7, "POST", f"/v1.41/containers/{API_ID[:12]}/start", 204, 480.0,
                  container="tools"),
        )
    if step == 2:
        return (_call(5, T0 + 1.6, "GET", "/v1.41/containers/web/json", 200, 2.1,
                      resp='{"Id":"669aecfd3d6d","Name":"/web","State":{"Status":"running"}}'),)
    return (_call(6, T0 + 2.6, "POST", f"/v1.41/containers/{API_ID[:12]}/stop", 204, 550.0),)


_NOTES = (
    "A lab with docker0, my-new-network and a container publishing 8080.",
    "docker run -p 8081:80 api: a veth on the user bridge, a DNAT rule, a filter ACCEPT.",
    "curl 127.0.0.1:8080: conntrack shows the destination rewritten on the way in.",
    "docker stop api: its veth and its rules go away.",
)


def lab_frames() -> list[Frame]:
    """The four frames of the story, each with the diff from the one before."""
    frames: list[Frame] = []
    prev: Snapshot | None = None
    for step in range(4):
        snap = lab_snapshot(step)
        frames.append(Frame(at=T0 + step, snapshot=snap,
                            diff=diff(prev, snap) if prev is not None else Diff(),
                            traffic=lab_traffic(step), note=_NOTES[step]))
        prev = snap
    return frames


class FakeSource:
    """A ``dockerscope.feed.Source`` that plays fixed frames.

    With ``auto=True`` it yields every frame (``interval`` seconds apart) and then waits for
    ``stop``. With ``auto=False`` it yields the first frame and each further one only when a test
    calls ``release()``, so a test decides exactly when the next frame lands.
    """

    def __init__(self, frames: Sequence[Frame] | None = None, *, auto: bool = True,
                 interval: float = 0.0, scope: str = f"lab:{LAB}", live: bool = False) -> None:
        self.scope = scope
        self.live = live
        self._frames = list(frames if frames is not None else lab_frames())
        self._auto = auto
        self._interval = interval
        self._released = asyncio.Event()
        self._budget = 1
        self._stopped = asyncio.Event()
        self.sent = 0  #: frames handed out so far

    def release(self, count: int = 1) -> None:
        """Let ``count`` more frames through (manual mode)."""
        self._budget += count
        self._released.set()

    async def frames(self) -> AsyncIterator[Frame]:
        for frame in self._frames:
            if self._stopped.is_set():
                return
            if not self._auto:
                while self.sent >= self._budget and not self._stopped.is_set():
                    self._released.clear()
                    await self._wait_any(self._released)
                if self._stopped.is_set():
                    return
            elif self.sent and self._interval:
                await asyncio.sleep(self._interval)
            self.sent += 1
            yield frame
        await self._stopped.wait()

    async def _wait_any(self, event: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stopped.wait())]
        _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for p in pending:
            p.cancel()

    async def stop(self) -> None:
        self._stopped.set()


def big_snapshot(containers: int = 100, rules: int = 1000) -> Snapshot:
    """A lab with many containers and rules, for measuring render cost (not a story)."""
    base = lab_snapshot(0)
    links = list(base.links)
    procs = list(base.processes)
    cgroups = list(base.cgroups)
    extra_rules = list(base.rules)
    for n in range(containers):
        name = f"c{n:03d}"
        ip = f"172.17.{1 + n // 250}.{2 + n % 250}"
        owner = Owner("container", name, f"{n:012x}")
        host_end, eth0 = _veth_pair(f"veth{n:07x}", 1000 + n, name, 2, "docker0", ip,
                                    _mac(n % 256), owner)
        links += [host_end, eth0]
        procs.append(ProcessNs(10_000 + n, "sh", _ns(4026540000 + n, 4026550000 + 10 * n),
                               f"/dockerscope/{LAB}/{n:064x}", owner))
        cgroups.append(_cgroup(f"{n:064x}", owner, 2**20 * (n % 50), 64 * 2**20, n * 1000,
                               None, 1, 100))
    for n in range(max(0, rules - len(extra_rules))):
        owner = Owner("port", f"c{n % containers:03d} {10000 + n}/tcp")
        extra_rules.append(_rule(
            "nat", "DOCKER", 0,
            f"! -i docker0 -p tcp -m tcp --dport {10000 + n} -j DNAT "
            f"--to-destination 172.17.0.{2 + n % 250}:80", owner, n, 60 * n))
    return dataclasses.replace(base, links=tuple(links), processes=tuple(procs),
                               cgroups=tuple(cgroups), rules=_renumber(extra_rules))
