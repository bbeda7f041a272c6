"""Deletions and opaque directories in both of their forms.

In a tar stream (Docker's layer format) a deleted ``name`` is an empty file ``.wh.name`` and an
opaque directory (one whose lower contents are hidden) holds an empty ``.wh..wh..opq``. In a layer
directory, used directly as an overlayfs lower dir, the same facts are a character device 0/0
and the xattr ``trusted.overlay.opaque=y``, because that is what overlayfs reads.
"""

from __future__ import annotations

import errno
import os
import stat

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
META_PREFIX = ".wh..wh."
"""Other ``.wh..wh.*`` names are aufs bookkeeping; they carry nothing for overlayfs."""
OPAQUE_XATTR = "trusted.overlay.opaque"


def is_whiteout_stat(st: os.stat_result) -> bool:
    """True for an overlayfs whiteout: a character device with device number 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def make_whiteout(path: str) -> None:
    """Create an overlayfs whiteout at ``path`` (needs CAP_MKNOD, i.e. root)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
    except PermissionError as exc:
        raise PermissionError(
            errno.EPERM, "storing a deletion (overlay whiteout, char 0/0) needs root", path
        ) from exc


def is_opaque(path: str) -> bool:
    """True if the directory at ``path`` carries ``trusted.overlay.opaque=y``."""
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        # ENODATA (not set), ENOTSUP, or EPERM when not root: not opaque as far as we can tell.
        return False


def set_opaque(path: str) -> None:
    """Mark the directory at ``path`` opaque for overlayfs (trusted.* xattrs need root)."""
    try:
        os.setxattr(path, OPAQUE_XATTR, b"y", follow_symlinks=False)
    except PermissionError as exc:
        raise PermissionError(
            errno.EPERM, "storing an opaque directory (trusted.overlay.opaque) needs root", path
        ) from exc
