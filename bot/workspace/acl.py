"""Opening a worktree to the sandbox's unprivileged uid when the bot runs as root: POSIX ACLs
(written as the kernel's xattr format, no package needed), owners and modes unchanged."""

from __future__ import annotations

import contextlib
import os
import struct
import time
from pathlib import Path

_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_MASK, _ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
_ACL_UNDEFINED = 0xFFFFFFFF


def _acl(mode: int, uid: int, perm: int) -> bytes:
    owner, group, other = (mode >> 6) & 7, (mode >> 3) & 7, mode & 7
    entries = [
        (_ACL_USER_OBJ, owner, _ACL_UNDEFINED),
        (_ACL_USER, perm, uid),
        (_ACL_GROUP_OBJ, group, _ACL_UNDEFINED),
        (_ACL_MASK, group | perm, _ACL_UNDEFINED),
        (_ACL_OTHER, other, _ACL_UNDEFINED),
    ]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


_STAMP = "user.milestone-bot.granted"  # when the tree was last opened to the uid (ns since epoch)


def _grant_tree(folder: str, uid: int, dir_acl: bytes, since: int) -> None:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name == ".git":
                    continue  # mounted read-only in the sandbox anyway; a checkout's objects are many
                _grant_one(entry.path, uid, True, dir_acl, since)
                _grant_tree(entry.path, uid, dir_acl, since)
            else:
                _grant_one(entry.path, uid, False, dir_acl, since)


def _grant_one(path: str, uid: int, is_dir: bool, dir_acl: bytes, since: int = 0) -> None:
    st = os.lstat(path)
    if st.st_ctime_ns < since:
        return  # unchanged since the last grant: its ACL is still there (a change moves ctime)
    perm = 7 if is_dir or st.st_mode & 0o100 else 6
    os.setxattr(path, "system.posix_acl_access", _acl(st.st_mode, uid, perm), follow_symlinks=False)
    if is_dir:
        os.setxattr(path, "system.posix_acl_default", dir_acl, follow_symlinks=False)


def grant_write(path: Path, uid: int) -> None:
    """Let ``uid`` read and write ``path`` and everything under it, and what is created there later
    (default ACLs), without changing owners (git keeps trusting the worktree) or modes (the
    executable bit is part of a commit). A file git wrote since has a masked ACL, so every run
    walks the tree, and sets the ACL of what changed since the last grant."""
    dir_acl = _acl(0o755, uid, 7)
    since = 0
    if path.is_dir():
        with contextlib.suppress(OSError, ValueError):
            since = int(os.getxattr(path, _STAMP).decode())
    started = time.time_ns() - 2_000_000_000  # file system timestamps are coarser than the clock
    _grant_one(str(path), uid, path.is_dir(), dir_acl)
    if path.is_dir():
        _grant_tree(str(path), uid, dir_acl, since)
        with contextlib.suppress(OSError):
            os.setxattr(path, _STAMP, str(started).encode())
