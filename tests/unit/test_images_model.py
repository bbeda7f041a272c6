"""Image configs: Docker's JSON shape, stable ids, --change lines, chain ids, times."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from dockerscope.engine.images.changes import apply_changes
from dockerscope.engine.images.errors import BadImage
from dockerscope.engine.images.model import (
    EMPTY_LAYER_DIFF_ID,
    HistoryEntry,
    ImageConfig,
    build_config,
    chain_ids,
    format_rfc3339,
    image_id,
    parse_config,
    parse_rfc3339,
)
from dockerscope.engine.images.tarstream import TarOutput, new_info

DIFF = "sha256:" + "ab" * 32


def make(config: ImageConfig, created: str = "2026-11-27T20:37:43.5Z") -> bytes:
    return build_config(
        config=config,
        diff_ids=[DIFF],
        history=[HistoryEntry(created=created, created_by="test")],
        created=created,
    )


def test_config_has_dockers_shape() -> None:
    cfg = ImageConfig(
        env=("PATH=/bin",),
        cmd=("sh",),
        exposed_ports=("80/tcp",),
        labels={"a": "b"},
        working_dir="/w",
        user="nobody",
    )
    obj = json.loads(make(cfg))
    assert list(obj) == [
        "architecture",
        "config",
        "created",
        "docker_version",
        "history",
        "os",
        "rootfs",
    ]
    assert obj["rootfs"] == {"type": "layers", "diff_ids": [DIFF]}
    c = obj["config"]
    assert c["Env"] == ["PATH=/bin"] and c["Cmd"] == ["sh"] and c["Entrypoint"] is None
    assert c["ExposedPorts"] == {"80/tcp": {}}
    assert c["Labels"] == {"a": "b"} and c["WorkingDir"] == "/w" and c["User"] == "nobody"
    assert obj["history"] == [{"created": "2026-11-27T20:37:43.5Z", "created_by": "test"}]
    assert ImageConfig.from_docker(c) == cfg


def test_image_id_is_sha256_of_the_config_bytes_and_stable() -> None:
    cfg = ImageConfig(cmd=("sh",))
    first, second = make(cfg), make(cfg)
    assert first == second
    assert image_id(first) == "sha256:" + hashlib.sha256(first).hexdigest()
    assert image_id(make(ImageConfig(cmd=("bash",)))) != image_id(first)
    assert image_id(make(cfg, created="2026-11-27T20:37:44Z")) != image_id(first)


def test_unknown_config_fields_survive_from_a_parent() -> None:
    parent = {"config": {"StopSignal": "SIGQUIT", "Volumes": {"/data": {}}, "Cmd": ["x"]}}
    data = build_config(
        config=ImageConfig(cmd=("y",)),
        diff_ids=[],
        history=[],
        created="2026-01-01T00:00:00Z",
        parent_raw=parent,
    )
    c = json.loads(data)["config"]
    assert c["StopSignal"] == "SIGQUIT" and c["Volumes"] == {"/data": {}} and c["Cmd"] == ["y"]


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b"[]",
        b'{"rootfs": {"type": "x"}}',
        b'{"rootfs": {"type": "layers", "diff_ids": ["md5:1"]}}',
    ],
)
def test_parse_config_refuses_malformed(bad: bytes) -> None:
    with pytest.raises(BadImage):
        parse_config(bad)


def test_changes() -> None:
    cfg = apply_changes(
        ImageConfig(env=("PATH=/bin", "A=1")),
        [
            'CMD ["echo", "hi"]',
            "ENTRYPOINT /bin/run --fast",
            "ENV A=2 B=two",
            "ENV C some value",
            "WORKDIR /srv",
            "WORKDIR app",
            "EXPOSE 80 53/udp",
            "USER nobody",
            'LABEL version="1.0" team=core',
        ],
    )
    assert cfg.cmd == ("echo", "hi")
    assert cfg.entrypoint == ("/bin/sh", "-c", "/bin/run --fast")
    assert cfg.env == ("PATH=/bin", "A=2", "B=two", "C=some value")
    assert cfg.working_dir == "/srv/app"
    assert cfg.exposed_ports == ("53/udp", "80/tcp")
    assert cfg.user == "nobody"
    assert cfg.labels == {"version": "1.0", "team": "core"}


@pytest.mark.parametrize("line", ["RUN make", "CMD", 'CMD ["a", 1]', "EXPOSE http", "LABEL x"])
def test_bad_changes_are_refused(line: str) -> None:
    with pytest.raises(BadImage):
        apply_changes(ImageConfig(), [line])


def test_chain_ids_follow_docker() -> None:
    a, b = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    chains = chain_ids([a, b])
    assert chains[0] == a
    assert chains[1] == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()


def test_empty_layer_digest_is_dockers() -> None:
    out = TarOutput()
    out.close()
    assert out.diff_id == EMPTY_LAYER_DIFF_ID


def test_tar_output_is_a_valid_tar() -> None:
    buf = io.BytesIO()
    out = TarOutput(out=buf)
    info = new_info("hello.txt")
    info.size = 5
    out.add(info, data=b"hello")
    out.close()
    assert len(buf.getvalue()) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tf:
        member = tf.extractfile("hello.txt")
        assert member is not None and member.read() == b"hello"


def test_times() -> None:
    assert format_rfc3339(1_795_810_663_120_000_000) == "2026-11-27T20:17:43.12Z"
    assert format_rfc3339(1_795_810_663_000_000_000) == "2026-11-27T20:17:43Z"
    assert parse_rfc3339("2026-11-27T20:17:43.123456789Z") == pytest.approx(1_795_810_663.123456789)
    assert parse_rfc3339("2026-11-27T21:17:43+01:00") == 1_795_810_663
    with pytest.raises(BadImage):
        parse_rfc3339("yesterday")
