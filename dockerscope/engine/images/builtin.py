"""Images built on this machine, with no registry: busybox (from busybox-static) and debian
(from debootstrap)."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dockerscope.engine.images.errors import ImageError, ImageNotFound
from dockerscope.engine.images.fsutil import remove_tree, unmount_under
from dockerscope.engine.images.model import format_rfc3339
from dockerscope.engine.images.tarstream import TarOutput, new_info
from dockerscope.engine.private import opener

Progress = Callable[[int, int, str], None]
"""``progress(done, total, text)``: the CLI draws it as a progress bar."""

BUSYBOX = Path("/bin/busybox")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BUILTIN_NAMES = ("busybox", "debian")

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"


def not_offline(name: str) -> ImageNotFound:
    """The error for a name no builtin provides."""
    return ImageNotFound(
        f"image '{name}' is not available offline: dockerscope builds busybox and debian "
        "locally; import a rootfs tar with `dockerscope import`"
    )


# -- busybox -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusyboxTar:
    """The busybox rootfs as a layer tar, and the facts its config needs."""

    data: bytes
    created: str
    version: str


def busybox_version(binary: Path = BUSYBOX) -> str:
    """``1.35.0`` from ``BusyBox v1.35.0 (Debian ...) multi-call binary.``"""
    out = subprocess.run([str(binary), "--help"], capture_output=True, text=True).stdout
    m = re.search(r"BusyBox v(\d+(?:\.\d+)*)", out)
    return m.group(1) if m else "unknown"


def busybox_tar(binary: Path = BUSYBOX) -> BusyboxTar:
    """Assemble the busybox rootfs tar in memory.

    Every member has owner 0:0 and the binary's mtime, in a fixed order, so the same busybox
    gives the same bytes, the same DiffID and (with ``created`` = that mtime) the same image id.
    """
    if not binary.is_file():
        raise ImageError(
            f"{binary} is missing: install Debian's busybox-static (apt-get install busybox-static)"
        )
    listing = subprocess.run([str(binary), "--list"], capture_output=True, text=True, check=True)
    applets = sorted({a for a in listing.stdout.split() if a and "/" not in a} - {"busybox"})
    mtime = int(binary.stat().st_mtime)
    content = binary.read_bytes()

    buf = io.BytesIO()
    out = TarOutput(out=buf)

    def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
        info = new_info(name)
        info.type = kind
        info.mode = mode
        info.mtime = mtime
        info.linkname = link
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        out.add(info, data=data if kind == tarfile.REGTYPE else None)

    add("bin", tarfile.DIRTYPE, 0o755)
    for name in sorted(applets + ["busybox"]):
        if name == "busybox":
            add("bin/busybox", tarfile.REGTYPE, 0o755, content)
        else:
            add(f"bin/{name}", tarfile.SYMTYPE, 0o777, link="busybox")
    add("dev", tarfile.DIRTYPE, 0o755)
    add("etc", tarfile.DIRTYPE, 0o755)
    add("etc/group", tarfile.REGTYPE, 0o644, GROUP.encode())
    # Empty mount points: the runtime bind-mounts the container's own files over these.
    add("etc/hostname", tarfile.REGTYPE, 0o644)
    add("etc/hosts", tarfile.REGTYPE, 0o644)
    add("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD.encode())
    add("etc/resolv.conf", tarfile.REGTYPE, 0o644)
    add("home", tarfile.DIRTYPE, 0o755)
    add("proc", tarfile.DIRTYPE, 0o755)
    add("root", tarfile.DIRTYPE, 0o700)
    add("sys", tarfile.DIRTYPE, 0o755)
    add("tmp", tarfile.DIRTYPE, 0o1777)
    add("var", tarfile.DIRTYPE, 0o755)
    out.close()
    return BusyboxTar(
        buf.getvalue(), format_rfc3339(mtime * 1_000_000_000), busybox_version(binary)
    )


# -- debian --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostRelease:
    """The host's Debian release, the one debootstrap builds."""

    codename: str
    version_id: str


def host_release(os_release: Path = Path("/etc/os-release")) -> HostRelease:
    """Read VERSION_CODENAME and VERSION_ID from os-release."""
    fields: dict[str, str] = {}
    try:
        text = os_release.read_text()
    except OSError as exc:
        raise ImageError(f"cannot read {os_release}: {exc}") from exc
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq:
            fields[key.strip()] = value.strip().strip('"')
    codename = fields.get("VERSION_CODENAME", "")
    if not codename:
        raise ImageError(
            f"{os_release} has no VERSION_CODENAME: cannot tell which Debian release to bootstrap"
        )
    return HostRelease(codename, fields.get("VERSION_ID", ""))


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` source: its URI, suites and keyring."""

    uri: str
    suites: tuple[str, ...]
    signed_by: str = ""


def apt_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """The host's ``deb`` sources, from sources.list, sources.list.d/*.list and *.sources."""
    found: list[AptSource] = []
    files = [apt_dir / "sources.list"]
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            found += _deb822_sources(text)
        else:
            found += _one_line_sources(text)
    return found


def _one_line_sources(text: str) -> list[AptSource]:
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        signed_by = ""
        rest = line[4:].strip()
        if rest.startswith("["):
            opts, _, rest = rest[1:].partition("]")
            for opt in opts.split():
                key, _, value = opt.partition("=")
                if key == "signed-by":
                    signed_by = value
        words = rest.split()
        if len(words) >= 2:
            out.append(AptSource(words[0], (words[1],), signed_by))
    return out


def _deb822_sources(text: str) -> list[AptSource]:
    out = []
    for para in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for raw in para.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:
                fields[key] += "\n" + raw.strip()
                continue
            key, colon, value = raw.partition(":")
            if colon:
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        signed_by = fields.get("signed-by", "")
        if "\n" in signed_by or not signed_by.startswith("/"):
            signed_by = ""  # an inline key block: debootstrap's default keyring will do
        for uri in fields.get("uris", "").split():
            out.append(AptSource(uri, tuple(fields.get("suites", "").split()), signed_by))
    return out


def debian_mirror(codename: str, apt_dir: Path = Path("/etc/apt")) -> AptSource:
    """The host's source for ``codename`` itself (not -security or -updates)."""
    for source in apt_sources(apt_dir):
        if codename in source.suites:
            return source
    return AptSource(DEFAULT_MIRROR, (codename,))


# debootstrap --debian-installer reports "P: now end PHASE" on fd 3. Each phase gets a share of
# the bar in proportion to the time it took in a bootstrap of bookworm measured here (43 s, see
# docs/images.md). RESOLVE is not a phase of debootstrap's: it is the dependency resolution
# between the "I: RESOLVEREQ" message and SIZEDEBS, ten silent seconds. The last share is ours.
_PHASES = (
    ("DOWNREL", 1),
    ("DOWNRELSIG", 1),
    ("DOWNPKGS", 20),
    ("RESOLVE", 24),
    ("SIZEDEBS", 1),
    ("DOWNDEBS", 21),
    ("EXTRACTPKGS", 7),
    ("INSTCORE", 5),
    ("UNPACKREQ", 12),
    ("CONFREQ", 5),
    ("CONFBASE", 1),
)
PACK_SHARE = 2
TOTAL = 1000


class _ProgressParser:
    """Turns debootstrap's installer protocol into ``progress(done, TOTAL, text)`` calls."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.weights = dict(_PHASES)
        self.starts: dict[str, int] = {}
        at = 0
        for name, weight in _PHASES:
            self.starts[name] = at
            at += weight
        self.scale = TOTAL / (at + PACK_SHARE)
        self.phase = ""
        self.done = 0
        self.text = "Starting debootstrap"
        self.info_fmt = ""
        self.info_args: list[str] = []
        self.last: tuple[int, str] = (-1, "")

    def line(self, line: str) -> None:
        tag, _, rest = line.partition(": ")
        if tag == "P":
            words = rest.split()
            if len(words) >= 3:
                self.phase = words[2]
            if len(words) >= 2 and self.phase in self.starts:
                now, end = int(words[0]), max(int(words[1]), 1)
                share = self.weights[self.phase] * min(now / end, 1.0)
                self._report((self.starts[self.phase] + share) * self.scale)
        elif tag == "I":
            self.info_args = []
            if rest in ("RESOLVEREQ", "RESOLVEBASE"):
                half = 0.0 if rest == "RESOLVEREQ" else 0.5
                self._report((self.starts["RESOLVE"] + half * self.weights["RESOLVE"]) * self.scale)
        elif tag == "IA":
            self.info_args.append(rest)
        elif tag == "IF":
            try:
                self.text = rest % tuple(self.info_args)
            except (TypeError, ValueError):
                self.text = rest
            self.text = " ".join(self.text.split())
            self._report(self.done)

    def _report(self, done: float) -> None:
        self.done = max(self.done, int(done))
        # Only what changed: the API streams each call as a JSON line to the client.
        if self.progress is not None and (self.done, self.text) != self.last:
            self.last = (self.done, self.text)
            self.progress(self.done, TOTAL, self.text)

    def packing(self, fraction: float) -> None:
        self.text = "Storing the layer"
        self._report(TOTAL - PACK_SHARE * self.scale * (1.0 - min(fraction, 1.0)))


_PRIVATE_MOUNTS = ("unshare", "--mount", "--propagation", "private")


def debootstrap(
    target: Path,
    progress: Progress | None = None,
    *,
    release: HostRelease | None = None,
    source: AptSource | None = None,
) -> _ProgressParser:
    """Bootstrap a minbase Debian of the host's release into the empty dir ``target``.

    Raises ImageError with the end of debootstrap's log if it fails; whatever it mounted under
    ``target`` is unmounted in every case.
    """
    release = release or host_release()
    source = source or debian_mirror(release.codename)
    parser = _ProgressParser(progress)
    cmd = ["debootstrap", "--debian-installer", "--variant=minbase"]
    if source.signed_by and os.path.exists(source.signed_by):
        cmd.append(f"--keyring={source.signed_by}")
    cmd += [release.codename, str(target), source.uri]
    log_path = target.parent / "debootstrap.log"
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "DEBIAN_FRONTEND": "noninteractive",
        "HOME": "/root",
    }
    if shutil.which("debootstrap", path=env["PATH"]) is None:
        raise ImageError("debootstrap is not installed: apt-get install debootstrap")
    read_fd, write_fd = os.pipe()
    proc: subprocess.Popen[bytes] | None = None
    try:
        with open(log_path, "wb", opener=opener) as log:  # 0600, as the rest of the state
            try:
                # debootstrap speaks its progress protocol on fd 3: put our pipe there. Its own
                # mount namespace makes its /proc and /sys mounts vanish with it, even if killed.
                shell = f'exec 3>&{write_fd} {write_fd}>&-; exec "$@"'
                proc = subprocess.Popen(
                    [*_PRIVATE_MOUNTS, "bash", "-c", shell, "bash", *cmd],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(write_fd,),
                    env=env,
                    start_new_session=True,
                )
            finally:
                os.close(write_fd)
            with os.fdopen(read_fd, "r", errors="replace") as events:
                read_fd = -1
                for line in events:
                    parser.line(line.rstrip("\n"))
            code = proc.wait()
    finally:
        if read_fd >= 0:
            os.close(read_fd)
        if proc is not None and proc.poll() is None:
            # Interrupted (an exception in a progress callback, a signal): stop the whole run.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        unmount_under(target)
    if code != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-8:]
        raise ImageError(
            f"debootstrap {release.codename} from {source.uri} failed (exit {code}):\n"
            + "\n".join(tail)
        )
    log_path.unlink()
    return parser


def trim_debian(root: Path) -> None:
    """Make a bootstrapped tree an image: no device nodes, no apt caches, no host files."""
    dev = root / "dev"
    for entry in os.listdir(dev):
        remove_tree(dev / entry)
    for rel in ("var/cache/apt/archives", "var/lib/apt/lists"):
        directory = root / rel
        for entry in os.listdir(directory) if directory.is_dir() else ():
            path = directory / entry
            if entry not in ("partial", "lock"):
                remove_tree(path)
    for rel in (
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
        "var/log/bootstrap.log",
    ):
        (root / rel).unlink(missing_ok=True)
    # debootstrap copies the host's hostname and resolver: a container gets its own.
    for rel in ("etc/hostname", "etc/resolv.conf", "etc/hosts"):
        path = root / rel
        if path.is_symlink() or path.exists():
            path.unlink()
        path.write_bytes(b"")
        path.chmod(0o644)
