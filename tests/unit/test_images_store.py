"""ImageStore: import, references, save/load, tags, history, rmi and layer clean-up."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from dockerscope.engine.api.errors import as_api_error
from dockerscope.engine.images import (
    BadImage,
    Conflict,
    ImageInUse,
    ImageNotFound,
    ImageStore,
    UnsafeTar,
)
from dockerscope.engine.images.layers import chain_id
from dockerscope.engine.images.tarstream import LayerCorrupt


def rootfs_tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


ROOTFS = rootfs_tar(
    {"bin/hello": b"#!/bin/sh\necho hello\n", "etc/motd": b"hi\n"},
    {"lib64": "/usr/lib", "bin/hi": "hello"},
)


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def test_import_and_references(store: ImageStore) -> None:
    img = store.import_tar(io.BytesIO(ROOTFS), "hello:1", ["CMD /bin/hello", "ENV A=1"])
    assert img.repo_tags == ("hello:1",)
    assert img.config.cmd == ("/bin/sh", "-c", "/bin/hello")
    assert img.config.env == ("A=1",)
    assert img.history[0].comment == "Imported from -"
    hexid = img.id.removeprefix("sha256:")
    for ref in ("hello:1", img.id, hexid, hexid[:12], "sha256:" + hexid[:10]):
        assert store.get(ref).id == img.id
    with pytest.raises(ImageNotFound, match=r"No such image: hello:latest"):
        store.get("hello")
    with pytest.raises(ImageNotFound, match=r"No such image: nosuch:latest"):
        store.get("nosuch")
    # The layer dir is the extracted rootfs, absolute symlinks kept.
    (layer,) = store.layer_dirs(img)
    assert (Path(layer) / "bin" / "hello").read_bytes() == b"#!/bin/sh\necho hello\n"
    assert os.readlink(Path(layer) / "lib64") == "/usr/lib"
    assert img.size == len(b"#!/bin/sh\necho hello\n") + 3 + len("/usr/lib") + len("hello")


def test_same_tar_is_stored_once_and_compression_does_not_matter(store: ImageStore) -> None:
    a = store.import_tar(io.BytesIO(ROOTFS), "a")
    b = store.import_tar(io.BytesIO(gzip.compress(ROOTFS)), "b")
    assert a.diff_ids == b.diff_ids
    assert len(store.layers.all()) == 1
    assert store.layer_dirs(a) == store.layer_dirs(b)


def test_hostile_import_leaves_nothing(store: ImageStore) -> None:
    evil = rootfs_tar({"ok": b"1", "../../escape": b"2"})
    with pytest.raises(UnsafeTar, match="escape"):
        store.import_tar(io.BytesIO(evil), "evil")
    assert store.list() == []
    assert store.layers.all() == []
    assert os.listdir(store.layers.tmp_dir) == []
    with pytest.raises(BadImage):
        store.import_tar(io.BytesIO(b""), "empty")
    with pytest.raises(BadImage):
        store.import_tar(io.BytesIO(ROOTFS), "Bad:Name!")
    assert store.list() == []


def test_save_load_round_trip_keeps_the_id(store: ImageStore, tmp_path: Path) -> None:
    img = store.import_tar(io.BytesIO(ROOTFS), "hello:1", ["CMD /bin/hello"])
    store.tag("hello:1", "hello:latest")
    out = io.BytesIO()
    store.save(["hello:1", "hello"], out)

    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        names = tf.getnames()
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
        layer_path = manifest[0]["Layers"][0]
        layer_tar = tf.extractfile(layer_path).read()  # type: ignore[union-attr]
        repositories = json.loads(tf.extractfile("repositories").read())  # type: ignore[union-attr]
    assert manifest == [
        {
            "Config": img.id.removeprefix("sha256:") + ".json",
            "RepoTags": ["hello:1", "hello:latest"],
            "Layers": [layer_path],
        }
    ]
    assert {"manifest.json", "repositories", layer_path.split("/")[0] + "/VERSION"} <= set(names)
    assert repositories == {
        "hello": {"1": layer_path.split("/")[0], "latest": layer_path.split("/")[0]}
    }
    # The saved layer is the very tar that was imported.
    assert layer_tar == ROOTFS

    other = ImageStore(tmp_path / "other")
    loaded = other.load(io.BytesIO(out.getvalue()))
    assert loaded == ["hello:1", "hello:latest"]
    again = other.get("hello:1")
    assert again.id == img.id
    assert again.diff_ids == img.diff_ids
    assert again.config == img.config
    # gzip-compressed archive, loaded into the first store: nothing new is stored.
    assert store.load(io.BytesIO(gzip.compress(out.getvalue()))) == ["hello:1", "hello:latest"]
    assert len(store.layers.all()) == 1


def test_load_refuses_a_layer_that_does_not_match_its_config(
    store: ImageStore, tmp_path: Path
) -> None:
    store.import_tar(io.BytesIO(ROOTFS), "hello")
    out = io.BytesIO()
    store.save(["hello"], out)
    # Rebuild the archive with a different layer.tar under the same name.
    src = tarfile.open(fileobj=io.BytesIO(out.getvalue()))  # noqa: SIM115
    bad = io.BytesIO()
    with tarfile.open(fileobj=bad, mode="w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if member.name.endswith("layer.tar"):
                data = rootfs_tar({"other": b"x"})
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    other = ImageStore(tmp_path / "other")
    with pytest.raises(BadImage, match="does not match the image config"):
        other.load(io.BytesIO(bad.getvalue()))
    assert other.list() == []
    assert other.layers.all() == []
    with pytest.raises(BadImage, match="manifest.json"):
        other.load(io.BytesIO(ROOTFS))


def test_save_notices_a_layer_changed_on_disk(store: ImageStore) -> None:
    img = store.import_tar(io.BytesIO(ROOTFS), "hello")
    (Path(store.layer_dirs(img)[0]) / "etc" / "motd").write_bytes(b"HI\n")
    with pytest.raises(LayerCorrupt, match="changed on disk"):
        store.save(["hello"], io.BytesIO())


def test_tags_move_and_list_is_newest_first(store: ImageStore) -> None:
    first = store.import_tar(io.BytesIO(ROOTFS), "app")
    second = store.import_tar(io.BytesIO(rootfs_tar({"x": b"2"})), "app")
    assert store.get("app").id == second.id
    assert store.get(first.id).repo_tags == ()
    store.tag(first.id, "app:old")
    assert store.get("app:old").id == first.id
    assert [i.id for i in store.list()] == [second.id, first.id]
    with pytest.raises(BadImage):
        store.tag("app", "UPPER")
    with pytest.raises(ImageNotFound):
        store.tag("nothing", "x")


def test_remove_refuses_while_in_use_and_cleans_layers(store: ImageStore) -> None:
    img = store.import_tar(io.BytesIO(ROOTFS), "hello")
    shared = store.import_tar(io.BytesIO(ROOTFS), "twin")  # same layer, another image
    layer_dir = Path(store.layer_dirs(img)[0]).parent

    def used(image_id: str) -> str | None:
        return "web" if image_id == img.id else None

    with pytest.raises(ImageInUse, match="container web") as err:
        store.remove("hello", in_use=used)
    assert as_api_error(err.value).status == 409
    with pytest.raises(ImageInUse):
        store.remove(img.id, in_use=used)
    assert store.get("hello").id == img.id

    assert store.remove("hello") == [{"Untagged": "hello:latest"}, {"Deleted": img.id}]
    assert layer_dir.exists()  # still used by twin
    result = store.remove("twin")
    assert result[:2] == [{"Untagged": "twin:latest"}, {"Deleted": shared.id}]
    assert result[2:] == [{"Deleted": chain_id("", shared.diff_ids[0])}]
    assert not layer_dir.exists()
    assert store.layers.all() == []
    with pytest.raises(ImageNotFound):
        store.remove("twin")


def test_remove_by_id_with_several_tags_needs_force(store: ImageStore) -> None:
    img = store.import_tar(io.BytesIO(ROOTFS), "a")
    store.tag("a", "b")
    with pytest.raises(Conflict, match="must be forced"):
        store.remove(img.id)
    assert store.remove("b") == [{"Untagged": "b:latest"}]
    store.tag("a", "b")
    records = store.remove(img.id[7:19], force=True)
    assert records[:3] == [{"Untagged": "a:latest"}, {"Untagged": "b:latest"}, {"Deleted": img.id}]
    assert store.list() == []


def test_commit_and_history_without_whiteouts(store: ImageStore, tmp_path: Path) -> None:
    base = store.import_tar(io.BytesIO(ROOTFS), "base", ["CMD /bin/hello"])
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "motd").write_text("changed\n")
    (upper / "new").mkdir()
    (upper / "new" / "file").write_text("n\n")
    assert store.diff_changes(store.layer_dirs(base), upper) == [
        ("C", "/etc"),
        ("C", "/etc/motd"),
        ("A", "/new"),
        ("A", "/new/file"),
    ]
    img = store.commit(
        upper,
        base,
        "mine:v1",
        ["ENV X=1"],
        comment="first",
        author="me",
        config={"Cmd": ["cat", "/etc/motd"], "Env": None},
    )
    assert img.parent == base.id
    assert img.diff_ids[:-1] == base.diff_ids and len(img.diff_ids) == 2
    assert img.config.cmd == ("cat", "/etc/motd")
    assert img.config.env == ("X=1",)
    assert img.author == "me" and img.comment == "first"
    top = Path(store.layer_dirs(img)[0])
    assert (top / "new" / "file").read_text() == "n\n"
    rows = store.history("mine:v1")
    assert [r.id for r in rows] == [img.id, base.id]
    assert rows[0].comment == "first" and rows[0].tags == ("mine:v1",)
    assert rows[0].size == len("changed\n") + len("n\n")
    # Removing the base while a child exists only untags it.
    assert store.remove("base") == [{"Untagged": "base:latest"}]
    with pytest.raises(Conflict, match="dependent child images"):
        store.remove(base.id)
    # Removing the child takes the untagged parent with it.
    deleted = [r["Deleted"] for r in store.remove("mine:v1") if "Deleted" in r]
    assert deleted[:2] == [img.id, base.id]
    assert store.layers.all() == []


def test_busybox_builds_offline_and_deterministically(tmp_path: Path) -> None:
    seen: list[tuple[int, int, str]] = []
    store = ImageStore(tmp_path / "one")
    img = store.ensure_builtin("busybox", progress=lambda d, t, s: seen.append((d, t, s)))
    assert img.repo_tags == ("busybox:latest",)
    assert img.config.cmd == ("sh",)
    assert img.config.env == ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    assert seen and seen[-1][0] == seen[-1][1]
    root = Path(store.layer_dirs(img)[0])
    assert (root / "bin" / "busybox").stat().st_size == Path("/bin/busybox").stat().st_size
    assert os.readlink(root / "bin" / "sh") == "busybox"
    assert os.readlink(root / "bin" / "ls") == "busybox"
    assert (root / "etc" / "passwd").read_text().startswith("root:x:0:0:")
    assert oct((root / "tmp").stat().st_mode & 0o7777) == oct(0o1777)
    assert store.ensure_builtin("busybox").id == img.id  # built once
    # Another store builds the very same image id.
    assert ImageStore(tmp_path / "two").ensure_builtin("busybox:latest").id == img.id


def test_other_names_are_not_available_offline(store: ImageStore) -> None:
    with pytest.raises(ImageNotFound, match="image 'nginx' is not available offline") as err:
        store.ensure_builtin("nginx")
    assert "dockerscope import" in str(err.value)
    assert as_api_error(err.value).status == 404
    with pytest.raises(ImageNotFound, match="busybox:latest"):
        store.ensure_builtin("busybox:0.1")
    assert store.is_builtin("debian:bookworm") and not store.is_builtin("nginx")


def test_prune_deletes_dangling_images_only(store: ImageStore, tmp_path: Path) -> None:
    kept = store.import_tar(io.BytesIO(ROOTFS), "kept")
    dangling = store.import_tar(io.BytesIO(rootfs_tar({"d": b"1"})))
    used = store.import_tar(io.BytesIO(rootfs_tar({"u": b"2"})))
    parent = store.import_tar(io.BytesIO(rootfs_tar({"p": b"3"})))
    upper = tmp_path / "upper"
    upper.mkdir()
    child = store.commit(upper, parent, "child")
    records = store.prune(in_use=lambda i: "web" if i == used.id else None)
    deleted = [r["Deleted"] for r in records]
    assert deleted[0] == dangling.id
    assert dangling.diff_ids[0] in deleted  # its layer went too
    remaining = {i.id for i in store.list()}
    assert remaining == {kept.id, used.id, parent.id, child.id}


def test_load_reads_gzipped_layers_behind_symlinks(store: ImageStore, tmp_path: Path) -> None:
    """Newer Docker writes blobs/sha256/<digest> with symlinks; layers may be gzip-compressed."""
    img = store.import_tar(io.BytesIO(ROOTFS), "hello")
    config = (store.images_dir / img.id.removeprefix("sha256:") / "config.json").read_bytes()
    blob = gzip.compress(ROOTFS)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tf:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

        add("blobs/sha256/layerblob", blob)
        link = tarfile.TarInfo("abc/layer.tar")
        link.type = tarfile.SYMTYPE
        link.linkname = "../blobs/sha256/layerblob"
        tf.addfile(link)
        add("blobs/sha256/config", config)
        manifest = [
            {
                "Config": "blobs/sha256/config",
                "RepoTags": ["re:loaded"],
                "Layers": ["abc/layer.tar"],
            }
        ]
        add("manifest.json", json.dumps(manifest).encode())
    other = ImageStore(tmp_path / "other")
    assert other.load(io.BytesIO(archive.getvalue())) == ["re:loaded"]
    assert other.get("re:loaded").id == img.id
    # The stored layer gives back the uncompressed tar its DiffID names.
    (layer,) = other.layers.all()
    assert b"".join(other.layers.tar_stream(layer)) == ROOTFS


def test_concurrent_builds_and_imports_store_one_layer(store: ImageStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        built = list(pool.map(lambda _: store.ensure_builtin("busybox").id, range(4)))
        imported = list(
            pool.map(lambda i: store.import_tar(io.BytesIO(ROOTFS), f"t{i}").diff_ids, range(4))
        )
    assert len(set(built)) == 1
    assert len({d for ids in imported for d in ids}) == 1
    assert len(store.layers.all()) == 2
    assert os.listdir(store.layers.tmp_dir) == []
