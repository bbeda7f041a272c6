"""Re-capture the raw netlink samples (*.nl) in this directory (run as root, from the repo root).

    python3 tests/data/kernel/capture_netlink.py

Builds a lab-shaped pair of namespaces (a bridge, a veth into a "container" netns, addresses,
a default route, Docker-shaped NAT rules, one connection through a published port), records
the datagrams of each dump the observer makes, and removes everything.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))

from dockerscope.kernel import conntrack, netlink, nftables, rtnetlink  # noqa: E402
from dockerscope.kernel.setns import in_netns, netlink_socket  # noqa: E402

RULES = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A OUTPUT -d 198.51.100.1/32 -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:8080
COMMIT
"""


def sh(*cmd: str, input: str | None = None) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, input=input)


def record(path: str, protocol: int, name: str, fn) -> None:
    conn = netlink.Conn(netlink_socket(path, protocol))
    conn.tap = []
    try:
        fn(conn)
    finally:
        conn.close()
    (HERE / name).write_bytes(b"".join(conn.tap))


def main() -> None:
    lab, web = "cap" + uuid.uuid4().hex[:6], "cap" + uuid.uuid4().hex[:6]
    try:
        sh("ip", "netns", "add", lab)
        sh("ip", "netns", "add", web)
        batch = (
            "link set lo up\naddr add 198.51.100.1/32 dev lo\nlink add docker0 type bridge\n"
            "link set docker0 address 02:42:97:f1:7b:4f\naddr add 172.17.0.1/16 dev docker0\n"
            f"link set docker0 up\nlink add vethd98d5a6 type veth peer name eth0 netns {web}\n"
            "link set vethd98d5a6 master docker0 up\n"
        )
        sh("ip", "-n", lab, "-batch", "-", input=batch)
        sh(
            "ip",
            "-n",
            web,
            "-batch",
            "-",
            input="link set lo up\naddr add 172.17.0.2/16 dev eth0\n"
            "link set eth0 up\nroute add default via 172.17.0.1\n",
        )
        sh("ip", "netns", "exec", lab, "iptables-restore", input=RULES)
        srv = in_netns(f"/run/netns/{web}", lambda: socket.create_server(("0.0.0.0", 8080)))
        srv.settimeout(10)
        threading.Thread(target=lambda: srv.accept()[0].close(), daemon=True).start()
        for _ in range(50):
            try:
                in_netns(
                    f"/run/netns/{lab}",
                    lambda: socket.create_connection(("198.51.100.1", 8080), 2).close(),
                )
                break
            except OSError:
                time.sleep(0.1)
        srv.close()
        p = f"/run/netns/{lab}"
        record(p, 0, "rtnl-links.nl", rtnetlink.dump_links)
        record(p, 0, "rtnl-addrs.nl", rtnetlink.dump_addrs)
        record(f"/run/netns/{web}", 0, "rtnl-routes-web.nl", rtnetlink.dump_routes)
        record(p, 0, "rtnl-stats.nl", rtnetlink.link_packets)
        record(p, 12, "nft-tables.nl", nftables.nft_tables)
        record(p, 12, "nft-rules.nl", nftables.nft_rule_counters)
        record(p, 12, "ct-dump.nl", lambda c: conntrack.read_netlink(c, lab))
        print("captured into", HERE)
    finally:
        subprocess.run(["ip", "netns", "del", lab], capture_output=True)
        subprocess.run(["ip", "netns", "del", web], capture_output=True)


if __name__ == "__main__":
    main()
