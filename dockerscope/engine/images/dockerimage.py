"""The built-in image ``docker``: busybox plus a docker client, for the course's
``docker run -ti -v <lab socket>:/var/run/docker.sock docker sh``.

The client is the host's docker CLI when one is installed (a static binary as is, a dynamic
one with the libraries ``ldd`` names), else dockerscope's standard-library client
(dockerscope.client, ``bundle_files()``) on a copy of the host's python3 and its standard
library. With neither, building it fails with a clear error.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dockerscope.engine.images import builtin
from dockerscope.engine.images.errors import BadImage, ImageError, ImageNotFound
from dockerscope.engine.images.reference import parse_reference

NAME = "docker"
CLI_CANDIDATES = (Path("/usr/local/bin/docker"), Path("/usr/bin/docker"))
IMAGE_BIN = "usr/local/bin/docker"
PT_INTERP = 3
# Parts of a standard library a client never imports: left out of the image.
STDLIB_SKIP = frozenset(
    {
        "site-packages",
        "dist-packages",
        "test",
        "tests",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "lib2to3",
        "__pycache__",
        "config-3.11-x86_64-linux-gnu",
    }
)

_lock = threading.Lock()


def is_docker_image(ref: str) -> bool:
    """True for ``docker`` and ``docker:<tag>`` (docker.io/library/docker)."""
    try:
        return parse_reference(ref).name == NAME
    except BadImage:
        return False


def is_static(binary: Path) -> bool:
    """True if the ELF file has no program interpreter (needs no shared libraries)."""
    with open(binary, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return False  # not a 64-bit little-endian ELF: treat as dynamic, ldd decides
        phoff = struct.unpack_from("<Q", head, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    types = (struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum))
    return PT_INTERP not in types


def shared_libraries(binary: Path) -> list[Path]:
    """The libraries (and loader) a dynamic binary needs, as ``ldd`` lists them.

    Raises ImageError if one is missing ("not found").
    """
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    libs = []
    for line in out.stdout.splitlines():
        if "not found" in line:
            raise ImageError(f"{binary} needs a library this host lacks: {line.strip()}")
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.append(Path(m.group(1)))
    if out.returncode != 0 and not libs:
        raise ImageError(f"ldd {binary} failed: {out.stderr.strip() or out.stdout.strip()}")
    return libs


@dataclass(frozen=True)
class ClientChoice:
    """Which client goes into the image, and its files: image path -> host path or bytes."""

    kind: str  # "docker-cli" or "stdlib-client"
    description: str
    files: dict[str, Path | tuple[bytes, int]]
    links: dict[str, str]


def host_cli(candidates: tuple[Path, ...] = CLI_CANDIDATES) -> ClientChoice | None:
    """The first installed docker CLI that works in an image (static, or with its libs)."""
    for binary in candidates:
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            continue
        files: dict[str, Path | tuple[bytes, int]] = {IMAGE_BIN: binary}
        if not is_static(binary):
            try:
                for lib in shared_libraries(binary):
                    files[str(lib).lstrip("/")] = lib.resolve()
            except ImageError:
                continue
        version = _cli_version(binary)
        return ClientChoice("docker-cli", f"docker CLI {version} from {binary}", files, {})
    return None


def _cli_version(binary: Path) -> str:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    m = re.search(r"version ([^\s,]+)", out)
    return m.group(1) if m else "unknown"


def stdlib_client(python: str | None = None) -> ClientChoice:
    """dockerscope's standard-library client on a copy of the host's python3 runtime."""
    from dockerscope.client.bundle import bundle_files

    # The interpreter running us, not the first python3 on PATH: the standard library copied
    # below is this interpreter's, and PATH's python3 may be a wrapper script (pyenv's shims).
    exe = python or (sys.executable if os.path.isfile(sys.executable) else None)
    exe = exe or shutil.which("python3")
    if exe is None:
        raise ImageError(
            "cannot build the docker image: no docker CLI (/usr/local/bin/docker, "
            "/usr/bin/docker) and no python3 to run dockerscope's own client"
        )
    real = Path(exe).resolve()
    files: dict[str, Path | tuple[bytes, int]] = {str(real).lstrip("/"): real}
    if not is_static(real):
        for lib in shared_libraries(real):
            files[str(lib).lstrip("/")] = lib.resolve()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in _stdlib_files(stdlib):
        files[str(path).lstrip("/")] = path
        if path.suffix == ".so":
            # Extension modules (_ssl, _ctypes...) bring their own libraries; a module whose
            # library this host lacks would not import here either: leave it out.
            try:
                needed = shared_libraries(path)
            except ImageError:
                del files[str(path).lstrip("/")]
                continue
            for lib in needed:
                files[str(lib).lstrip("/")] = lib.resolve()
    # glibc dlopen()s libgcc_s for thread exit and cancellation: ldd does not list it.
    for rel in [r for r in files if r.endswith("/libc.so.6")]:
        gcc = Path("/" + rel).parent / "libgcc_s.so.1"
        if gcc.exists():
            files[str(gcc).lstrip("/")] = gcc.resolve()
    for rel, (data, mode) in bundle_files().items():
        files[rel] = (data, mode)
    # The launcher starts with "#!/usr/bin/env python3"; busybox has env only in /bin.
    links = {"usr/local/bin/python3": str(real), "usr/bin/env": "/bin/busybox"}
    if str(real) != "/usr/bin/python3":
        links["usr/bin/python3"] = str(real)
    return ClientChoice(
        "stdlib-client", f"dockerscope's standard-library client on {real}", files, links
    )


def _stdlib_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in STDLIB_SKIP)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file() and not name.endswith((".pyc", ".pyo")):
                yield path


def choose_client() -> ClientChoice:
    """The host's docker CLI if there is one, else the standard-library client."""
    return host_cli() or stdlib_client()


def write_layer(out: IO[bytes], choice: ClientChoice) -> None:
    """The image's one layer: the busybox rootfs, then the client's files and links."""
    base = builtin.busybox_tar()
    with (
        tarfile.open(fileobj=io.BytesIO(base.data)) as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        seen: set[str] = set()
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            tar.addfile(member, data)
            seen.add(member.name.rstrip("/"))

        def parents(rel: str) -> None:
            parts = rel.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in seen:
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = base_mtime
                    tar.addfile(info)
                    seen.add(d)

        base_mtime = int(builtin.BUSYBOX.stat().st_mtime)
        for rel in sorted(choice.files):
            source = choice.files[rel]
            parents(rel)
            info = tarfile.TarInfo(rel)
            info.mtime = base_mtime
            if isinstance(source, tuple):
                data_bytes, mode = source
                info.size, info.mode = len(data_bytes), mode
                tar.addfile(info, io.BytesIO(data_bytes))
            else:
                st = source.stat()
                info.size, info.mode = st.st_size, st.st_mode & 0o7777
                with open(source, "rb") as f:
                    tar.addfile(info, f)
            seen.add(rel)
        for rel, target in sorted(choice.links.items()):
            if rel in seen:
                continue
            parents(rel)
            info = tarfile.TarInfo(rel)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            info.mode = 0o777
            info.mtime = base_mtime
            tar.addfile(info)
            seen.add(rel)


def ensure_docker_image(store: Any, ref: str, progress: builtin.Progress | None = None) -> Any:
    """The image ``docker`` (``docker:latest``), built on first use through ``store``'s import."""
    parsed = parse_reference(ref)
    if parsed.name != NAME:
        raise ImageNotFound(f"{ref} is not the docker image")
    if parsed.tag != "latest":
        raise ImageNotFound(
            f"image '{parsed}' is not available offline: dockerscope builds docker:latest "
            "(busybox and a docker client)"
        )
    with _lock:
        try:
            return store.get("docker:latest")
        except ImageNotFound:
            pass
        if progress:
            progress(0, 3, "Choosing a docker client")
        choice = choose_client()
        if progress:
            progress(1, 3, f"Assembling busybox and {choice.description}")
        with tempfile.TemporaryFile() as layer:
            write_layer(layer, choice)
            layer.seek(0)
            if progress:
                progress(2, 3, "Storing the layer")
            image = store.import_tar(
                layer,
                "docker:latest",
                changes=[f"ENV {builtin.DEFAULT_PATH}", 'CMD ["sh"]'],
                message=f"dockerscope: busybox and {choice.description}",
            )
        if progress:
            progress(3, 3, "docker ready")
        return image
