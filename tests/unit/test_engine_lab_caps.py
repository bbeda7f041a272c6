"""The lab's container cap at create, and the modes of what the engine writes in a lab's state
(no kernel: a stand-in image store, no runtime, no network)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockerscope.engine.api.errors import as_api_error
from dockerscope.engine.containers.create_request import parse_create
from dockerscope.engine.containers.creating import ContainerCapReached
from dockerscope.engine.containers.manager import ContainerManager
from dockerscope.engine.containers.networking import ContainerNetworking
from dockerscope.engine.errors import Conflict
from dockerscope.engine.events import EventBus
from dockerscope.engine.images.fsutil import write_json
from dockerscope.engine.images.model import Image, ImageConfig
from dockerscope.engine.network.model import Network
from dockerscope.engine.network.store import NetworkStore
from dockerscope.engine.paths import Lab
from dockerscope.engine.private import create_private, private_dir, write_private

BUSYBOX = Image(
    id="sha256:" + "ab" * 32,
    repo_tags=("busybox:latest",),
    created="2024-01-01T00:00:00Z",
    config=ImageConfig(cmd=("sh",)),
    diff_ids=(),
    size=0,
)


class OneImage:
    """The image store as containers see it, holding busybox only."""

    def get(self, ref: str) -> Image:
        return BUSYBOX

    def layer_dirs(self, image: Image | str) -> list[str]:
        return []


def _manager(tmp_path: Path, cap: int | None) -> ContainerManager:
    lab = Lab.named("tcaps", tmp_path / "data", tmp_path / "run")
    private_dir(lab.containers_dir)
    return ContainerManager(
        lab,
        OneImage(),
        None,  # type: ignore[arg-type]  # create never reaches the runtime
        EventBus(),
        ContainerNetworking(lab, None),
        max_containers=cap,
    )


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


async def test_create_past_the_cap_is_a_409_naming_the_flag(tmp_path: Path) -> None:
    m = _manager(tmp_path, 2)
    first = m.create(parse_create({"Image": "busybox"}))
    m.create(parse_create({"Image": "busybox", "Cmd": ["true"]}))
    with pytest.raises(ContainerCapReached) as refused:
        m.create(parse_create({"Image": "busybox"}, name="third"))
    assert isinstance(refused.value, Conflict)
    err = as_api_error(refused.value)
    assert err.status == 409
    assert err.message == (
        "lab tcaps: at most 2 containers (dockerscope daemon --max-containers); "
        "remove some with docker rm"
    )
    assert len(m.containers) == 2 and len(list(m.store.root.iterdir())) == 2  # nothing written
    # Stopped ones count too; removing one makes room.
    m.reg.containers.pop(first.id)
    m.store.delete(first.id)
    assert m.create(parse_create({"Image": "busybox"}, name="third")).name == "third"


async def test_no_cap_means_no_refusal(tmp_path: Path) -> None:
    m = _manager(tmp_path, None)
    for _ in range(5):
        m.create(parse_create({"Image": "busybox"}))
    assert len(m.containers) == 5


async def test_a_created_container_is_private_on_disk(tmp_path: Path) -> None:
    m = _manager(tmp_path, None)
    c = m.create(parse_create({"Image": "busybox", "Env": ["DB_PASSWORD=hunter2"]}))
    d = m.store.dir(c.id)
    assert _mode(d) == 0o700
    assert _mode(d / "config.v2.json") == 0o600
    assert b"hunter2" in (d / "config.v2.json").read_bytes()
    assert _mode(m.store.log_path(c.id)) == 0o600
    assert sorted(p.name for p in d.iterdir()) == sorted(["config.v2.json", f"{c.id}-json.log"])


def test_private_writers_create_with_their_mode_under_any_umask(tmp_path: Path) -> None:
    old = os.umask(0)  # a umask that removes nothing: the modes come from the creation alone
    try:
        private_dir(tmp_path / "a" / "b")
        write_private(tmp_path / "a" / "b" / "f.json", b"{}")
        write_private(tmp_path / "a" / "b" / "f.json", b"[]")  # replaced atomically
        create_private(tmp_path / "a" / "log")
        write_json(tmp_path / "a" / "meta.json", {"parent": ""})
        store = NetworkStore(tmp_path / "a" / "networks")
        store.load()
        store.save_network(
            Network(id="1" * 64, name="n1", driver="bridge", created="", bridge="br-1")
        )
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a") == _mode(tmp_path / "a" / "b") == 0o700
    assert (tmp_path / "a" / "b" / "f.json").read_bytes() == b"[]"
    assert _mode(tmp_path / "a" / "b" / "f.json") == 0o600
    assert _mode(tmp_path / "a" / "log") == 0o600
    assert _mode(tmp_path / "a" / "meta.json") == 0o600
    assert _mode(tmp_path / "a" / "networks") == _mode(tmp_path / "a/networks/sandboxes") == 0o700
    assert _mode(tmp_path / "a" / "networks" / f"{'1' * 64}.json") == 0o600
    leftovers = [p.name for p in (tmp_path / "a").rglob("*.tmp")]
    assert leftovers == []
