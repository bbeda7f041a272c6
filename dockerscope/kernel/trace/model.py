"""A traced packet's path through netfilter, as frozen dataclasses.

Plain data with no behaviour beyond small labels, so the CLI, the app and recordings can all
carry a ``Trace`` without importing the tracer.
"""

from __future__ import annotations

from dataclasses import dataclass

#: hook names as nft prints them, by NF_INET_* number
HOOKS = ("prerouting", "input", "forward", "output", "postrouting")


@dataclass(frozen=True)
class Header:
    """The addresses of a packet as one trace event saw them (network and transport header)."""

    proto: str  # "tcp", "udp", "icmp", or the protocol number as text
    src: str
    dst: str
    sport: int = 0  # icmp: 0 (its id is in ``icmp_id``)
    dport: int = 0
    icmp_type: int | None = None
    icmp_id: int | None = None

    def label(self) -> str:
        """``tcp 10.0.0.1:40000 -> 172.17.0.2:80``, ``icmp 172.17.0.2 -> 172.17.0.1 echo``."""
        if self.proto in ("tcp", "udp"):
            return f"{self.proto} {self.src}:{self.sport} -> {self.dst}:{self.dport}"
        extra = ""
        if self.icmp_type is not None:
            extra = {8: " echo-request", 0: " echo-reply"}.get(
                self.icmp_type, f" type {self.icmp_type}"
            )
        return f"{self.proto} {self.src} -> {self.dst}{extra}"


@dataclass(frozen=True)
class TraceEvent:
    """One NFT_MSG_TRACE message, decoded (what ``nft monitor trace`` prints one line for)."""

    id: int  # the kernel's trace id: the same for one packet (skb) across hooks
    kind: str  # "rule", "return", "policy"
    family: str  # "ip", "inet", "ip6", ...
    table: str
    chain: str
    handle: int | None = None  # the rule's handle (kind "rule")
    verdict: str = ""  # "accept", "drop", "continue", "jump", "goto", "return", ...
    target: str = ""  # the chain of a jump or goto
    policy: str = ""  # the base chain's policy (kind "policy")
    header: Header | None = None
    iif: int = 0
    oif: int = 0
    mark: int = 0


@dataclass(frozen=True)
class Hop:
    """One step of the path: a rule matched, a chain's policy applied, or a return."""

    hook: str  # "prerouting", "input", "forward", "output", "postrouting" ("" unknown)
    family: str
    table: str
    chain: str
    handle: int | None
    rule: str  # the rule as ``iptables -S`` spells it ("-A DOCKER ... -j DNAT ..."), or nft's
    verdict: str  # "accept", "continue", "jump DOCKER", "policy accept", "return", ...
    owner: str = ""  # "published port 8080/tcp -> 172.17.0.2:80", "" when no one says
    iif: str = ""
    oif: str = ""
    header: Header | None = None
    ours: bool = False  # a hop in our own tracing table (it only sets nftrace)


@dataclass(frozen=True)
class Rewrite:
    """An address rewrite seen on the path (DNAT before routing, SNAT/MASQUERADE after)."""

    kind: str  # "dnat" | "snat"
    before: str  # "172.17.0.1:8080"
    after: str  # "172.17.0.2:80"
    by: str = ""  # the rule that did it, as iptables -S spells it


@dataclass(frozen=True)
class RouteTaken:
    """The routing decision between hooks: where the packet left (or that it stayed)."""

    dst: str
    oif: str
    gateway: str | None = None  # None: on-link (or local)
    route: str = ""  # the route used, ``ip route`` style: "172.17.0.0/16 dev docker0"
    bridge_port: str = ""  # the bridge port when oif is a bridge and its FDB names one
    note: str = ""


@dataclass(frozen=True)
class Delivery:
    """A local socket the packet was delivered to (proto, address, port).

    ``process`` stays empty here; the socket observer (kernel/sockets.py) names the owner.
    """

    proto: str
    address: str
    port: int
    process: str = ""


@dataclass(frozen=True)
class Trace:
    """One packet's path through the netfilter hooks of one network namespace."""

    id: int
    netns: str  # "lab:<name>", "netns:<name>", "host"
    first: Header | None  # as the packet entered our first hook
    hops: tuple[Hop, ...]
    rewrites: tuple[Rewrite, ...] = ()
    route: RouteTaken | None = None
    delivered_to: Delivery | None = None
    outcome: str = ""  # "delivered locally", "forwarded out docker0", "dropped in filter FORWARD"
    started: float = 0.0  # monotonic time of the first event, for latency figures
