"""The files that put this client into an image as a ``docker`` command.

Issue 6's ``docker`` image holds a client: an image builder adds ``bundle_files()`` to a layer
on a python3 runtime, and ``docker run -ti -v <lab socket>:/var/run/docker.sock docker sh``
then has a working ``docker`` (this client, standard library only) on its PATH.
"""

from __future__ import annotations

from pathlib import Path

LIB_DIR = "usr/local/lib/dockerscope"
BIN = "usr/local/bin/docker"

LAUNCHER = f"""#!/usr/bin/env python3
# docker: dockerscope's standard-library client (uses /var/run/docker.sock or DOCKER_HOST)
import sys
sys.path.insert(0, "/{LIB_DIR}")
from dockerscope.client.commands import main
sys.exit(main())
"""


def bundle_files() -> dict[str, tuple[bytes, int]]:
    """Path inside the image (relative, no leading "/") -> (content, mode) for every file the
    client needs: its modules, an empty ``dockerscope`` package, and the ``docker`` launcher."""
    here = Path(__file__).resolve().parent
    files: dict[str, tuple[bytes, int]] = {
        f"{LIB_DIR}/dockerscope/__init__.py": (b"", 0o644),
        BIN: (LAUNCHER.encode(), 0o755),
    }
    for src in sorted(here.rglob("*.py")):
        rel = src.relative_to(here).as_posix()
        files[f"{LIB_DIR}/dockerscope/client/{rel}"] = (src.read_bytes(), 0o644)
    return files
