"""The files Docker bind-mounts over a container's /etc: hostname, hosts, resolv.conf."""

from __future__ import annotations

import re
from pathlib import Path

from dockerscope.engine.containers.model import Container, Endpoint

HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")  # Docker's choice when the host only has a local resolver


def hosts_text(c: Container, endpoints: tuple[Endpoint, ...]) -> str:
    text = HOSTS_HEADER
    for entry in c.host.extra_hosts:
        name, _, ip = entry.rpartition(":")
        if name and ip:
            text += f"{ip}\t{name}\n"
    if endpoints and endpoints[0].ip_address:
        names = c.config.hostname
        if c.config.domainname:
            names = f"{c.config.hostname}.{c.config.domainname} {c.config.hostname}"
        text += f"{endpoints[0].ip_address}\t{names}\n"
    return text


def resolv_text(c: Container, host_resolv: str) -> str:
    """The host's resolv.conf minus loopback nameservers (unreachable from the container)."""
    if c.host.dns or c.host.dns_search or c.host.dns_options:
        lines = [f"nameserver {ip}" for ip in c.host.dns]
        if c.host.dns_search:
            lines.append("search " + " ".join(c.host.dns_search))
        if c.host.dns_options:
            lines.append("options " + " ".join(c.host.dns_options))
        return "\n".join(lines) + "\n"
    out, servers = [], 0
    for line in host_resolv.splitlines():
        m = re.match(r"^\s*nameserver\s+(\S+)", line)
        if m:
            if m.group(1).startswith("127.") or m.group(1) == "::1":
                continue
            servers += 1
        out.append(line)
    if servers == 0 and c.host.network_mode != "host":
        out += [f"nameserver {ip}" for ip in FALLBACK_DNS]
    return "\n".join(out) + "\n"


def write(d: Path, c: Container, endpoints: tuple[Endpoint, ...]) -> tuple[tuple[str, str], ...]:
    """Write the three files into the container dir; returns (target, host file) pairs."""
    try:
        host_resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        host_resolv = ""
    files = {
        "/etc/hostname": (d / "hostname", c.config.hostname + "\n"),
        "/etc/hosts": (d / "hosts", hosts_text(c, endpoints)),
        "/etc/resolv.conf": (d / "resolv.conf", resolv_text(c, host_resolv)),
    }
    for path, text in files.values():
        path.write_text(text)
    return tuple((target, str(path)) for target, (path, _) in files.items())
