"""Re-capture the sock_diag samples (sockdiag-*.nl) in this directory (root, from the repo root).

    python3 tests/data/kernel/capture_sockdiag.py

Builds one namespace holding a TCP listener on 0.0.0.0:80, a v6-only TCP listener on
[::]:8080, a connection from 127.0.0.1 to port 80 (both of its ends), a UDP socket on
0.0.0.0:53 and a dual-stack UDP socket on [::]:5353, records the datagrams of the observer's
four dumps (tcp/udp x IPv4/IPv6) and removes everything. The inodes it printed go into
tests/unit/test_kernel_sockets.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))

from dockerscope.kernel import netlink, sockets  # noqa: E402
from dockerscope.kernel.setns import in_netns  # noqa: E402


def main() -> None:
    ns = "cap" + uuid.uuid4().hex[:6]
    path = f"/run/netns/{ns}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    held: list[socket.socket] = []
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)

        def make() -> None:
            web = socket.create_server(("0.0.0.0", 80))
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::", 8080))
            v6.listen()
            client = socket.create_connection(("127.0.0.1", 80))
            server_end, _ = web.accept()
            dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            dns.bind(("0.0.0.0", 53))
            mdns = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            mdns.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            mdns.bind(("::", 5353))
            held.extend((web, v6, client, server_end, dns, mdns))

        in_netns(path, make)
        for s in held:
            print(s, "inode", __import__("os").fstat(s.fileno()).st_ino)
        conn = netlink.Conn(in_netns(path, sockets.open_diag))
        try:
            for name, number, family in sockets.DUMPS:
                conn.tap = []
                conn.dump(20, sockets.diag_request(number, family))
                fam = "4" if family == socket.AF_INET else "6"
                (HERE / f"sockdiag-{name}{fam}.nl").write_bytes(b"".join(conn.tap))
        finally:
            conn.close()
        print("captured into", HERE)
    finally:
        for s in held:
            s.close()
        subprocess.run(["ip", "netns", "del", ns], check=True)


if __name__ == "__main__":
    main()
