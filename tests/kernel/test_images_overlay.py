"""Layers as overlayfs sees them: whiteouts (char 0/0), opaque dirs, commit, diff, a real mount."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockerscope.engine.images import BadImage, ImageStore
from dockerscope.engine.images.whiteouts import (
    OPAQUE_XATTR,
    is_opaque,
    is_whiteout_stat,
    make_whiteout,
    set_opaque,
)

pytestmark = pytest.mark.kernel


def write(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.getnames()


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def test_diff_changes_understands_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    bottom, top, upper = tmp_path / "bottom", tmp_path / "top", tmp_path / "upper"
    write(bottom / "etc" / "passwd")
    write(bottom / "etc" / "group")
    write(bottom / "srv" / "old" / "a")
    write(bottom / "gone" / "deep")
    write(top / "usr" / "bin" / "tool")
    make_whiteout(str(top / "gone"))  # the top lower layer deleted /gone
    # The container: deleted /etc/passwd, changed /usr/bin/tool, replaced /srv/old wholesale,
    # recreated /gone (hidden below by a whiteout, so new), added /tmp/new.
    (upper / "etc").mkdir(parents=True)
    make_whiteout(str(upper / "etc" / "passwd"))
    write(upper / "usr" / "bin" / "tool", "changed")
    (upper / "srv" / "old").mkdir(parents=True)
    set_opaque(str(upper / "srv" / "old"))
    write(upper / "srv" / "old" / "a", "fresh")
    write(upper / "gone" / "deep")
    write(upper / "tmp" / "new")

    changes = ImageStore.diff_changes([str(top), str(bottom)], upper)
    assert changes == [
        ("C", "/etc"),
        ("D", "/etc/passwd"),
        ("A", "/gone"),
        ("A", "/gone/deep"),
        ("C", "/srv"),
        ("C", "/srv/old"),
        ("A", "/srv/old/a"),
        ("A", "/tmp"),
        ("A", "/tmp/new"),
        ("C", "/usr"),
        ("C", "/usr/bin"),
        ("C", "/usr/bin/tool"),
    ]
    assert ImageStore.diff_changes([str(top), str(bottom)], upper, ignore=["/tmp", "/usr"]) == [
        c for c in changes if not c[1].startswith(("/tmp", "/usr"))
    ]


def test_commit_turns_whiteouts_into_wh_entries(store: ImageStore, tmp_path: Path) -> None:
    base = store.ensure_builtin("busybox")
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    make_whiteout(str(upper / "etc" / "passwd"))
    (upper / "var" / "spool").mkdir(parents=True)
    set_opaque(str(upper / "var" / "spool"))
    write(upper / "var" / "spool" / "job", "1")
    os.setxattr(upper / "etc", "trusted.overlay.origin", b"junk")  # overlayfs bookkeeping

    img = store.commit(upper, base, "gone:latest", comment="rm passwd")
    top = store.layers.stack(img.diff_ids)[-1]
    data = b"".join(store.layers.tar_stream(top))
    names = tar_names(data)
    assert "etc/.wh.passwd" in names
    assert "var/spool/.wh..wh..opq" in names
    assert "var/spool/job" in names
    # The layer dir keeps the overlay form, without overlayfs's own xattrs.
    assert is_whiteout_stat(os.lstat(top.diff_dir / "etc" / "passwd"))
    assert is_opaque(str(top.diff_dir / "var" / "spool"))
    assert "trusted.overlay.origin" not in os.listxattr(top.diff_dir / "etc")
    # docker diff of that upper dir says the same thing.
    assert ("D", "/etc/passwd") in store.diff_changes(store.layer_dirs(base), upper)


def test_wh_entries_in_a_tar_become_whiteouts(store: ImageStore, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in ("etc/.wh.shadow", "opt/.wh..wh..opq", "opt/keep", ".wh..wh.plnk"):
            tf.addfile(tarfile.TarInfo(name))
    img = store.import_tar(io.BytesIO(buf.getvalue()), "wh")
    root = Path(store.layer_dirs(img)[0])
    st = os.lstat(root / "etc" / "shadow")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(root / "opt", OPAQUE_XATTR) == b"y"
    assert not (root / ".wh..wh.plnk").exists()
    # save -> load gives the same id and the same .wh. entries back.
    out = io.BytesIO()
    store.save(["wh"], out)
    other = ImageStore(tmp_path / "other")
    assert other.load(io.BytesIO(out.getvalue())) == ["wh:latest"]
    assert other.get("wh").id == img.id
    assert is_whiteout_stat(os.lstat(Path(other.layer_dirs("wh")[0]) / "etc" / "shadow"))


def test_layers_mount_as_overlay_lower_dirs(store: ImageStore, tmp_path: Path) -> None:
    base = store.ensure_builtin("busybox")
    upper = tmp_path / "c1" / "upper"
    (upper / "etc").mkdir(parents=True)
    make_whiteout(str(upper / "etc" / "passwd"))
    write(upper / "hello.txt", "from the new layer\n")
    img = store.commit(upper, base, "layered")
    lowers = store.layer_dirs(img)
    assert len(lowers) == 2 and lowers[1] == store.layer_dirs(base)[0]  # shared, not copied

    work = tmp_path / "c2"
    for d in ("upper", "work", "merged"):
        (work / d).mkdir(parents=True)
    opts = f"lowerdir={':'.join(lowers)},upperdir={work}/upper,workdir={work}/work"
    script = (
        f"mount -t overlay overlay -o {opts} {work}/merged && "
        f"chroot {work}/merged /bin/sh -c 'cat /hello.txt; ls /etc; test ! -e /etc/passwd'"
    )
    # A private mount namespace: the mount disappears with the process.
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert "from the new layer" in proc.stdout
    assert "group" in proc.stdout and "passwd" not in proc.stdout


def test_commit_refuses_overlay_redirects(store: ImageStore, tmp_path: Path) -> None:
    """A renamed dir under redirect_dir=on holds no data of its own: refuse, don't lose it."""
    base = store.ensure_builtin("busybox")
    upper = tmp_path / "upper"
    (upper / "moved").mkdir(parents=True)
    os.setxattr(upper / "moved", "trusted.overlay.redirect", b"/etc")
    with pytest.raises(BadImage, match="redirect_dir=off"):
        store.commit(upper, base, "bad")
    assert [i.id for i in store.list()] == [base.id]
    assert os.listdir(store.layers.tmp_dir) == []
