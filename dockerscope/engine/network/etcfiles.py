"""Contents of a container's /etc/hosts, /etc/hostname and /etc/resolv.conf, as Docker writes them.

Name resolution on user networks: instead of an embedded DNS server (Docker's 127.0.0.11),
the engine keeps each container's /etc/hosts listing the other containers on its user
networks by name. The files live on the host and the runtime bind-mounts them, so rewriting
them in place updates running containers.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")  # what Docker uses when the host has none left


def hosts_file_content(
    hostname: str,
    ip: str | None = None,
    peers: Iterable[tuple[str, str]] = (),
    *,
    extra_hosts: Iterable[str] = (),
    domainname: str = "",
) -> str:
    """/etc/hosts: the localhost lines, one line per ``--add-host name:ip``, ``ip hostname``
    (``ip hostname.domain hostname`` with a domain) if the container has an address, then
    :func:`peer_lines`."""
    text = HOSTS_HEADER
    for entry in extra_hosts:
        name, _, host_ip = entry.rpartition(":")
        if name and host_ip:
            text += f"{host_ip}\t{name}\n"
    if ip:
        names = f"{hostname}.{domainname} {hostname}" if domainname else hostname
        text += f"{ip}\t{names}\n"
    return text + peer_lines(peers)


def peer_lines(peers: Iterable[tuple[str, str]]) -> str:
    """One ``ip\tname`` line per peer on the same user networks (sorted by address, then
    name, without duplicates)."""
    ordered = sorted(set(peers), key=lambda p: (ipaddress.ip_address(p[0]), p[1]))
    return "".join(f"{peer_ip}\t{name}\n" for peer_ip, name in ordered)


def hostname_content(hostname: str) -> str:
    """/etc/hostname."""
    return hostname + "\n"


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def resolv_conf_content(
    host_resolv_conf: str | None = None,
    *,
    dns: tuple[str, ...] = (),
    dns_search: tuple[str, ...] = (),
    dns_options: tuple[str, ...] = (),
    fallback: bool = True,
) -> str:
    """/etc/resolv.conf: ``--dns``/``--dns-search``/``--dns-option`` if any is given; else the
    host's, without loopback nameservers (they mean nothing inside a container's netns), and
    Google's public resolvers if none is left and ``fallback`` (Docker adds none for
    ``--network host``, where the host's loopback resolver does answer)."""
    if dns or dns_search or dns_options:
        lines = [f"nameserver {ip}" for ip in dns]
        if dns_search:
            lines.append("search " + " ".join(dns_search))
        if dns_options:
            lines.append("options " + " ".join(dns_options))
        return "\n".join(lines) + "\n"
    if host_resolv_conf is None:
        try:
            host_resolv_conf = Path("/etc/resolv.conf").read_text()
        except OSError:
            host_resolv_conf = ""
    kept: list[str] = []
    nameservers = 0
    for line in host_resolv_conf.splitlines():
        fields = line.split()
        if fields[:1] == ["nameserver"] and len(fields) > 1:
            if _is_loopback(fields[1]):
                continue
            nameservers += 1
        kept.append(line)
    if nameservers == 0 and fallback:
        kept += [f"nameserver {ns}" for ns in FALLBACK_NAMESERVERS]
    return "\n".join(kept).strip("\n") + "\n"


def write_in_place(path: Path, content: str) -> None:
    """Rewrite a file keeping its inode, so bind mounts of it see the new content."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        data = content.encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def write_etc_files(
    directory: Path, hostname: str, hosts: str, resolv_conf: str
) -> tuple[tuple[str, str], ...]:
    """Write hostname, hosts and resolv.conf into ``directory`` (in place); returns the
    (target in the container, host file) pairs the runtime bind-mounts."""
    files = {
        "/etc/hostname": (directory / "hostname", hostname_content(hostname)),
        "/etc/hosts": (directory / "hosts", hosts),
        "/etc/resolv.conf": (directory / "resolv.conf", resolv_conf),
    }
    for path, text in files.values():
        write_in_place(path, text)
    return tuple((target, str(path)) for target, (path, _) in files.items())
