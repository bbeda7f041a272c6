"""Container records on disk: ``<containers_dir>/<id>/config.v2.json``, written atomically."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from dockerscope.engine.containers.model import Container

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
        d = self.dir(c.id)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / (CONFIG_FILE + ".tmp")
        tmp.write_text(json.dumps(c.to_json(), indent=1))
        os.replace(tmp, d / CONFIG_FILE)

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
