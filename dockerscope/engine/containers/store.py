"""Container records on disk: ``<containers_dir>/<id>/config.v2.json``, written atomically,
in a 0700 dir and 0600 (as Docker keeps /var/lib/docker/containers)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from dockerscope.engine.containers.model import Container
from dockerscope.engine.private import private_dir, write_private

log = logging.getLogger(__name__)

CONFIG_FILE = "config.v2.json"


class ContainerStore:
    """Loads, saves and deletes container records under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def dir(self, container_id: str) -> Path:
        return self.root / container_id

    def log_path(self, container_id: str) -> Path:
        return self.dir(container_id) / f"{container_id}-json.log"

    def save(self, c: Container) -> None:
        """Write ``c``'s record atomically; its dir 0700 and the record 0600 from the start
        (the record holds the container's environment, passwords included)."""
        d = self.dir(c.id)
        private_dir(d)
        write_private(d / CONFIG_FILE, json.dumps(c.to_json(), indent=1).encode())

    def load_all(self) -> list[Container]:
        """Every readable record; unreadable ones are logged and left for a human to inspect."""
        out: list[Container] = []
        if not self.root.is_dir():
            return out
        for d in sorted(self.root.iterdir()):
            f = d / CONFIG_FILE
            if not f.is_file():
                continue
            try:
                out.append(Container.from_json(json.loads(f.read_text())))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("skipping unreadable container record %s: %s", f, exc)
        return out

    def delete(self, container_id: str) -> None:
        shutil.rmtree(self.dir(container_id), ignore_errors=True)
