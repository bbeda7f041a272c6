"""The dockerscope daemon: one lab's engine serving the Docker Engine API.

``python3 -m dockerscope.engine.daemon --lab NAME`` (or ``dockerscope daemon``) writes the
pidfile, brings the lab host up, restores container state left by an earlier run, makes sure the
built-in busybox image exists, and serves the API on the lab's unix socket (and, optionally, on
TCP with TLS client certificates). SIGTERM/SIGINT stop every running container (like dockerd
without live-restore), close the sockets and leave the lab and its state in place.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import grp
import ipaddress
import logging
import os
import signal
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

from dockerscope.engine import runtime as runtime_module
from dockerscope.engine.api.http import HttpServer
from dockerscope.engine.api.limits import LISTEN_BACKLOG
from dockerscope.engine.api.replies import Exchange, Reply
from dockerscope.engine.api.request import Request
from dockerscope.engine.api.router import API_VERSION, Router
from dockerscope.engine.api.routes_containers import ContainerRoutes
from dockerscope.engine.api.routes_images import ImageRoutes
from dockerscope.engine.api.routes_networks import NetworkRoutes
from dockerscope.engine.api.routes_system import SystemRoutes, engine_version
from dockerscope.engine.api.tap import TrafficTap
from dockerscope.engine.containers.manager import ContainerManager
from dockerscope.engine.containers.networking import ContainerNetworking, cleanup_stale_netns
from dockerscope.engine.events import EventBus
from dockerscope.engine.images import ImageStore
from dockerscope.engine.labcaps import BadCap, LabCaps, default_memory, parse_count, parse_size
from dockerscope.engine.network import LabHost, NetworkManager
from dockerscope.engine.paths import Lab
from dockerscope.engine.private import private_dir
from dockerscope.engine.procinfo import pid_alive
from dockerscope.engine.runtime import Runtime, cgroups

log = logging.getLogger("dockerscope.daemon")

SOCKET_GROUP = "dockerscope"


class DaemonError(RuntimeError):
    """The daemon cannot start (bad flags, a lab already served...)."""


def ensure_group(name: str = SOCKET_GROUP) -> int:
    """The gid of ``name``, creating the system group if it does not exist."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        pass
    subprocess.run(["groupadd", "--system", name], check=False, capture_output=True)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        log.warning("could not create group %s; the socket stays root-only", name)
        return 0


def parse_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:2376`` too; an empty host is 127.0.0.1) of ``--tcp``.

    Raises: ``DaemonError`` when there is no numeric port.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise DaemonError(f"--tcp wants HOST:PORT, not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def tls_context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    """Server TLS that requires a client certificate signed by ``ca`` (dockerd --tlsverify)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class Daemon:
    """Owns the image store, the networks, the containers and the API server of one lab.

    It is the ``Backend`` (engine/api/backend.py) the route handlers are bound to.
    """

    def __init__(
        self,
        lab: Lab,
        images: ImageStore | None = None,
        runtime: Runtime | None = None,
        lab_host: LabHost | None = None,
        networks: NetworkManager | None = None,
        use_network: bool = True,
        caps: LabCaps | None = None,
    ) -> None:
        """Args: ``images``, ``runtime``, ``lab_host`` and ``networks`` replace the lab's own
        (tests pass stand-ins); ``use_network=False`` (``--no-network``) leaves both network
        parts out, so containers get a bare netns and ``/networks`` lists nothing; ``caps``
        (default: none) bounds the lab (the count here, memory and pids in ``apply_caps``)."""
        self.lab = lab
        self.caps = caps if caps is not None else LabCaps.none()
        self.labels = self.caps.labels()  # docker info shows them under "Labels"
        self.images = images if images is not None else ImageStore(lab.images_dir)
        self.runtime: Runtime = runtime if runtime is not None else runtime_module
        if use_network and lab_host is None and networks is None:
            lab_host, networks = LabHost(lab), NetworkManager(lab)
        self.lab_host = lab_host
        self.networks = networks
        self.events = EventBus()
        self.containers = ContainerManager(
            lab,
            self.images,
            self.runtime,
            self.events,
            ContainerNetworking(lab, networks),
            max_containers=self.caps.containers,
        )
        self.tap = TrafficTap(self.containers.container_of_pid)
        self.router = Router()
        SystemRoutes(self).register(self.router)
        ContainerRoutes(self).register(self.router)
        ImageRoutes(self).register(self.router)
        NetworkRoutes(self).register(self.router)
        self.http = HttpServer(self.handle, self.common_headers, self._on_exchange)
        self.servers: list[asyncio.AbstractServer] = []
        self.stopping = asyncio.Event()

    # ---- HTTP glue ------------------------------------------------------------------------

    def common_headers(self) -> list[tuple[str, str]]:
        """The headers dockerd sends on every response."""
        return [
            ("Api-Version", API_VERSION),
            ("Docker-Experimental", "false"),
            ("Ostype", "linux"),
            ("Server", f"dockerscope/{engine_version()} (linux)"),
            ("Date", email.utils.formatdate(usegmt=True)),
        ]

    async def handle(self, request: Request) -> Reply:
        """Answer one request through the router (errors become Docker's JSON answers)."""
        return await self.router.dispatch(request)

    def _on_exchange(self, ex: Exchange) -> None:
        if self.router.is_tapped(ex.request):
            self.tap.record(ex)

    # ---- life -----------------------------------------------------------------------------

    async def prepare(self) -> list[str]:
        """Lab up, state restored, leftovers cleaned, busybox present. Returns notes."""
        self.lab.run_root.mkdir(parents=True, exist_ok=True)
        private_dir(self.lab.containers_dir)  # the state dir too, if missing: 0700 both
        self.lab.container_netns_dir.mkdir(parents=True, exist_ok=True)
        self.runtime.set_subreaper()
        if self.lab_host is not None:
            self.lab_host.up()
        notes = self.containers.restore()
        cleanup_stale_netns(self.lab, keep=set())
        if self.networks is not None:
            with contextlib.suppress(Exception):
                # No container survives a restart (restore killed the running ones), so every
                # sandbox left from before goes: its veths, rules and loopback listeners.
                self.networks.adopt([])
        try:
            self.images.ensure_builtin("busybox")
        except Exception as exc:  # serve anyway; pulls will say why
            log.warning("could not build the busybox image: %s", exc)
        return notes

    async def listen_unix(self) -> None:
        """Serve the lab's socket, which has its group and mode 0660 from the moment it appears:
        it is bound in a private 0700 directory, given its owner and mode there, then renamed
        into place (a chmod after binding left a gap in which any local user could connect)."""
        path = self.lab.socket
        gid = ensure_group()
        private = Path(tempfile.mkdtemp(prefix=".sock-", dir=path.parent))  # mode 0700
        try:
            staged = private / path.name
            server = await asyncio.start_unix_server(
                self.http.unix_handler(), path=str(staged), backlog=LISTEN_BACKLOG
            )
            os.chown(staged, 0, gid)
            os.chmod(staged, 0o660)
            os.replace(staged, path)
        finally:
            with contextlib.suppress(OSError):
                for leftover in private.iterdir():
                    leftover.unlink()
                private.rmdir()
        self.servers.append(server)

    async def listen_tcp(self, hostport: str, tls: ssl.SSLContext | None, insecure: bool) -> None:
        """Also serve on TCP: with TLS client certificates, or plain on loopback if ``insecure``."""
        host, port = parse_hostport(hostport)
        if tls is None:
            check_plain_tcp(hostport, insecure)
        server = await asyncio.start_server(
            self.http.tcp_handler(), host, port, ssl=tls, backlog=LISTEN_BACKLOG
        )
        self.servers.append(server)

    async def shutdown(self) -> None:
        """Stop serving, stop containers, end streams; the lab and its state stay."""
        for s in self.servers:
            s.close()
        await self.containers.shutdown()
        if self.networks is not None:
            with contextlib.suppress(Exception):
                self.networks.close()
        self.events.close()
        self.tap.close()
        await self.http.close_connections()
        for s in self.servers:
            with contextlib.suppress(Exception):
                await s.wait_closed()
        with contextlib.suppress(OSError):
            self.lab.socket.unlink()


def check_plain_tcp(hostport: str, insecure: bool) -> None:
    """Plain TCP is served only with --insecure-tcp, and only on a loopback address."""
    host, _ = parse_hostport(hostport)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not insecure:
        raise DaemonError(
            "refusing plain TCP: use --tlscacert/--tlscert/--tlskey "
            "(or --insecure-tcp on a loopback address)"
        )
    if not loopback:
        raise DaemonError(
            f"refusing --insecure-tcp on {host}: plain TCP is allowed on a loopback address "
            "only (127.0.0.1 or ::1); use --tlscacert/--tlscert/--tlskey for other addresses"
        )


def write_pidfile(lab: Lab) -> None:
    """Claim the lab: write our pid, unless a live daemon already serves it.

    Raises: ``DaemonError`` naming the pid that serves the lab.
    """
    pidfile = lab.pidfile
    if pidfile.exists():
        try:
            old = int(pidfile.read_text().strip())
        except ValueError:
            old = 0
        if old and old != os.getpid() and pid_alive(old) and _is_daemon(old):
            raise DaemonError(f"lab {lab.name} is already served by pid {old}")
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(f"{os.getpid()}\n")


def _is_daemon(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"dockerscope" in cmd and b"daemon" in cmd


def build_parser() -> argparse.ArgumentParser:
    """The ``dockerscope daemon`` flags."""
    p = argparse.ArgumentParser(
        prog="dockerscope daemon", description="Serve a lab's Docker Engine API."
    )
    p.add_argument("--lab", default="dockerscope", help="lab name (default: dockerscope)")
    p.add_argument("--data-root", type=Path, help="state dir (default /var/lib/dockerscope/LAB)")
    p.add_argument("--run-root", type=Path, help="run dir (default /run/dockerscope/LAB)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="also serve on TCP (TLS required)")
    p.add_argument("--tlscacert", help="CA certificate that client certificates must chain to")
    p.add_argument("--tlscert", help="server certificate")
    p.add_argument("--tlskey", help="server key")
    p.add_argument(
        "--insecure-tcp", action="store_true", help="allow plain TCP on a loopback address"
    )
    p.add_argument("--no-network", action="store_true", help="bare netns only (no lab host)")
    caps = p.add_argument_group(
        "lab caps", "what the lab's containers may use together (0 or none: no cap)"
    )
    caps.add_argument(
        "--max-containers",
        default="200",
        metavar="N",
        help="containers kept, running or not; a create past it is refused (default: 200)",
    )
    caps.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory of all containers together, e.g. 4g, enforced on the lab's cgroup "
        f"(default: half the machine's RAM, {default_memory() // 1024**2} MiB here)",
    )
    caps.add_argument(
        "--max-pids",
        default="8192",
        metavar="N",
        help="processes and threads of all containers together, enforced on the lab's "
        "cgroup: a fork bomb stops there (default: 8192)",
    )
    p.add_argument("--foreground", action="store_true", help="log to stderr (the default)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def caps_of(args: argparse.Namespace) -> LabCaps:
    """The lab's caps from the parsed flags. Raises ``DaemonError`` naming a bad value."""
    try:
        return LabCaps(
            containers=parse_count(args.max_containers, "--max-containers"),
            memory=default_memory()
            if args.max_memory is None
            else parse_size(args.max_memory, "--max-memory"),
            pids=parse_count(args.max_pids, "--max-pids"),
        )
    except BadCap as exc:
        raise DaemonError(str(exc)) from None


def apply_caps(lab: Lab, caps: LabCaps) -> None:
    """Cap memory and pids on the lab's cgroup parent, so the kernel bounds the sum of its
    containers; logs the caps. A cap the kernel cannot take (a controller missing, memory below
    what the lab uses now) is logged and the daemon serves on without it."""
    try:
        cgroups.set_parent_caps(
            cgroups.CgroupLayout.detect(), lab.cgroup_parent, caps.memory, caps.pids
        )
    except cgroups.CgroupError as exc:
        log.warning("lab %s: the memory/pids caps are not enforced: %s", lab.name, exc)
    log.info("lab %s caps: %s", lab.name, caps.describe())


async def serve(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM/SIGINT; returns the exit code."""
    lab = Lab.named(args.lab, args.data_root, args.run_root)
    caps = caps_of(args)  # a bad value is refused before anything is set up
    tls = None
    if args.tcp:
        tls_args = (args.tlscacert, args.tlscert, args.tlskey)
        if any(tls_args) and not all(tls_args):
            raise DaemonError("--tlscacert, --tlscert and --tlskey go together")
        if all(tls_args):
            tls = tls_context(*tls_args)
        else:
            # Refused before anything is set up (no lab host is made for a bad address).
            check_plain_tcp(args.tcp, args.insecure_tcp)
            log.warning(
                "plain TCP on %s: every local user who can connect there has root on this "
                "machine through the API; use TLS client certificates outside a test",
                args.tcp,
            )
    # As dockerd does: a known umask, so what the engine makes for containers (layer content,
    # their root dir, /etc/hosts) gets the modes it asks for whatever the caller's umask was
    # (077 would lock a non-root user out of its own container). Private state asks for
    # 0600/0700 itself (engine/private.py).
    os.umask(0o022)
    lab.run_root.mkdir(parents=True, exist_ok=True)
    # State is root's alone, as /var/lib/docker: containers' configs hold their environment
    # (passwords included) and their logs hold their output. Made 0700 (the base above it
    # stays readable, for `lab ls`); the chmod tightens a state dir of an older version.
    lab.data_root.parent.mkdir(parents=True, exist_ok=True)
    private_dir(lab.data_root)
    os.chmod(lab.data_root, 0o700)
    write_pidfile(lab)
    daemon = Daemon(lab, use_network=not args.no_network, caps=caps)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.stopping.set)
    try:
        for note in await daemon.prepare():
            log.info("%s", note)
        apply_caps(lab, caps)
        await daemon.listen_unix()
        if args.tcp:
            await daemon.listen_tcp(args.tcp, tls, args.insecure_tcp)
        log.info("lab %s: serving the Docker API on unix://%s", lab.name, lab.socket)
        await daemon.stopping.wait()
        log.info(
            "stopping: containers are stopped, the lab stays (dockerscope lab down %s)", lab.name
        )
    finally:
        await daemon.shutdown()
        with contextlib.suppress(OSError):
            if lab.pidfile.read_text().strip() == str(os.getpid()):
                lab.pidfile.unlink()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dockerscope daemon``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(serve(args))
    except DaemonError as exc:
        print(f"dockerscope daemon: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
