"""Safe file writes for a program that runs as root.

- atomic: temp file in the same directory, fsync, rename, fsync the directory: a reader (or a crash)
  sees the old file or the new one, never a torn one;
- symlink-safe: the temp file is created with O_EXCL|O_NOFOLLOW, an existing symlink at the target
  is refused rather than followed, and a directory that others may write into is refused (someone
  could swap names under us).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

from netwarden.platform.source import answers
from netwarden.record import record


class UnsafePath(OSError):
    pass


def _others_can_write(st: os.stat_result) -> bool:
    others_can_write = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX
    return st.st_uid not in (0, os.geteuid()) or bool(others_can_write)


def _open_safe_dir(directory: Path, private: bool = False) -> int:
    if private:
        return open_private_dir(directory)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    if _others_can_write(os.fstat(fd)):
        os.close(fd)
        raise UnsafePath(errno.EPERM, "refusing to write in a directory other users can write to", str(directory))
    return fd


# ---- netwarden's own state (journal, apply lock, history, findings, pid file) ----------------------
# What root reads back from there it acts on (a journal's originals are written over system
# files), so it is used only from a directory nobody else can write, nor rename away: stricter
# than _open_safe_dir, a sticky directory such as /tmp is refused too (others may create names
# in it). Windows has no POSIX owners or modes: there the folder's ACL decides (README).

def _private_problem(st: os.stat_result) -> str | None:
    if st.st_uid not in (0, os.geteuid()):
        return f"it belongs to uid {st.st_uid}"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"other users can write to it (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _unsafe_ancestor(directory: Path) -> str | None:
    """A directory on the way (as written, and as its symlinks resolve) from which someone else
    could rename `directory` away, or a symlink on the way that someone else owns; or None."""
    given = Path(os.path.abspath(directory))
    for path in [*given.parents, *Path(os.path.realpath(directory)).parents]:
        if _others_can_write(os.stat(path)):
            return f"other users can write to {path}, which holds it"
    for path in [given, *given.parents]:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) and st.st_uid not in (0, os.geteuid()):
            return f"{path} is a symlink that uid {st.st_uid} owns"
    return None


def open_private_dir(directory: Path, create: bool = False) -> int:
    """A descriptor of `directory` (made 0700 first if `create`), which must belong to root or to
    this user, and which no one else may write to or rename away; UnsafePath (an OSError: its
    filename the directory, its strerror why) if it is not."""
    if create:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        why = _private_problem(os.fstat(fd)) or _unsafe_ancestor(Path(directory))
    except OSError:
        os.close(fd)
        raise
    if why:
        os.close(fd)
        raise UnsafePath(errno.EPERM, why, str(directory))
    return fd


def open_private_file(dir_fd: int, name: str, flags: int, directory: Path) -> int:
    """`name` in a private directory (open_private_dir), never through a symlink, and only when it
    is a regular file of this user's that no one else may write (UnsafePath otherwise)."""
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(errno.ELOOP, "a symlink", str(Path(directory) / name)) from None
        # What cannot even be opened so (a directory for writing: EISDIR; a socket, or a FIFO
        # without a reader: ENXIO) is refused as a FIFO opened for reading is, below.
        if e.errno != errno.ENOENT and not _regular_at(dir_fd, name):
            raise UnsafePath(errno.EPERM, "not a regular file", str(Path(directory) / name)) from None
        raise
    st = os.fstat(fd)
    why = ("not a regular file" if not stat.S_ISREG(st.st_mode) else f"it belongs to uid {st.st_uid}"
           if st.st_uid != os.geteuid() else _private_problem(st))
    if why:
        os.close(fd)
        raise UnsafePath(errno.EPERM, why, str(Path(directory) / name))
    return fd


def _regular_at(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return True  # gone, or unreadable: the open's own error says it better


def read_private(directory: Path, name: str, tail: int | None = None) -> bytes | None:
    """The bytes of netwarden's own state file `directory/name`, or None when it (or the directory)
    does not exist. UnsafePath when the directory or the file is not netwarden's alone. `tail`:
    at most its last that many bytes (a log that grew by hand must not be read whole)."""
    if sys.platform == "win32":
        try:
            with open(Path(directory) / name, "rb") as f:
                return _tail_of(f, tail)
        except FileNotFoundError:
            return None
    try:
        dfd = open_private_dir(directory)
    except FileNotFoundError:
        return None
    try:
        fd = open_private_file(dfd, name, os.O_RDONLY, directory)
    except FileNotFoundError:
        return None
    finally:
        os.close(dfd)
    with os.fdopen(fd, "rb") as f:
        return _tail_of(f, tail)


def _tail_of(f, tail: int | None) -> bytes:
    size = os.fstat(f.fileno()).st_size
    if tail is not None and size > tail:
        f.seek(size - tail)
    return f.read()


def append_private(directory: Path, name: str, data: bytes) -> None:
    """Append to netwarden's own state file `directory/name` (created 0600)."""
    if sys.platform == "win32":
        with open(Path(directory) / name, "ab") as f:
            f.write(data)
        return
    dfd = open_private_dir(directory)
    try:
        fd = open_private_file(dfd, name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, directory)
    finally:
        os.close(dfd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


@answers((str, type(None)))
def write_refusal(path: str) -> str | None:
    """Why replace_file would refuse `path` (known before trying: what `--dry-run` must not plan),
    or None. Plain strings, so a Source can record the answer."""
    target = Path(path)
    try:
        parent = os.stat(target.parent)
    except FileNotFoundError:
        return f"{target.parent} does not exist"
    except OSError as e:
        return f"{target.parent}: {e.strerror}"
    if not stat.S_ISDIR(parent.st_mode):
        return f"{target.parent} is not a directory"
    if _others_can_write(parent):
        return f"other users can write to {target.parent}: netwarden does not write there"
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"{path}: {e.strerror}"
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symlink (to {os.readlink(target)}): netwarden does not write through links"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    return None


def _temp_name(name: str, pid: int) -> str:
    return f".{name}.netwarden-{pid}.tmp"


def remove_stale_temps(directory: Path) -> list[str]:
    """Delete the temp files that a killed netwarden left in `directory` (its own names only, of
    processes that are gone); the paths removed."""
    import re

    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        m = re.fullmatch(r"\.(.+)\.netwarden-(\d+)\.tmp", name)
        if not m or name != _temp_name(m.group(1), int(m.group(2))) or _alive(int(m.group(2))):
            continue
        dfd = _open_safe_dir(Path(directory))
        try:
            if stat.S_ISREG(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
                os.unlink(name, dir_fd=dfd)
                removed.append(str(Path(directory) / name))
        except FileNotFoundError:
            pass
        finally:
            os.close(dfd)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid() or sys.platform == "win32":  # Windows' os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        return True
    return True


def atomic_write(path: Path, data: bytes, mode: int = 0o644, uid: int | None = None, gid: int | None = None,
                 private: bool = False) -> None:
    """private: `path` is one of netwarden's own state files (open_private_dir's rule)."""
    path = Path(path)
    if sys.platform == "win32":
        return atomic_write_portable(path, data)
    dfd = _open_safe_dir(path.parent, private)
    tmp = _temp_name(path.name, os.getpid())
    try:
        try:
            if stat.S_ISLNK(os.stat(path.name, dir_fd=dfd, follow_symlinks=False).st_mode):
                raise UnsafePath(errno.ELOOP, "refusing to replace a symlink", str(path))
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)  # not subject to the umask
            st = os.fstat(fd)
            # Only when the owner differs: the hardened unit filters the chown family, and a file
            # root creates is already root's.
            if (uid is not None and uid != st.st_uid) or (gid is not None and gid != st.st_gid):
                os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        os.fsync(dfd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dfd)
        except FileNotFoundError:
            pass
        raise
    finally:
        os.close(dfd)


def atomic_write_portable(path: Path, data: bytes) -> None:
    """atomic_write where there are no directory descriptors, POSIX modes or owners (Windows, where
    the folder's ACL decides who may write; README says how to lock down the state folder): a temp
    file beside the target, flushed to disk, then os.replace, so a reader sees the old file or the
    new one. A symlink at the target is refused, as everywhere."""
    if path.is_symlink():
        raise UnsafePath(errno.ELOOP, "refusing to replace a symlink", str(path))
    tmp = path.with_name(_temp_name(path.name, os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# What rename() says when the target is a bind mount (EBUSY), or the directory is read-only while
# the file itself is a writable mount (EROFS: a hardened unit's ReadWritePaths=/etc/gai.conf,
# `ip netns exec`'s /etc/netns/NAME/resolv.conf).
_MOUNTED_FILE = (errno.EBUSY, errno.EROFS, errno.EXDEV)


def replace_file(path: Path, data: bytes, mode: int = 0o644, uid: int | None = None, gid: int | None = None) -> None:
    """atomic_write, or for a file that is a mount point of its own, a careful in-place write.

    In place is not atomic: a reader racing the write can see a mix. The caller journals the
    original first, so `--revert` can always put it back."""
    try:
        atomic_write(path, data, mode, uid, gid)
    except OSError as e:
        if e.errno not in _MOUNTED_FILE or isinstance(e, UnsafePath):
            raise
        _write_in_place(Path(path), data, mode, uid, gid)


def _write_in_place(path: Path, data: bytes, mode: int, uid: int | None, gid: int | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)  # never creates: it is a mount
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(errno.EINVAL, "not a regular file", str(path))
        view, offset = memoryview(data), 0
        while offset < len(data):
            offset += os.pwrite(fd, view[offset:], offset)
        os.ftruncate(fd, len(data))
        if stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
        if (uid is not None and uid != st.st_uid) or (gid is not None and gid != st.st_gid):
            os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        os.fsync(fd)
    finally:
        os.close(fd)


@record(frozen=True)
class FileOriginal:
    """A file as it was before netwarden touched it: enough to put it back byte for byte."""

    exists: bool
    content: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0

    def to_json(self) -> dict:
        import base64

        return {"exists": self.exists, "content_b64": base64.b64encode(self.content).decode(),
                "mode": self.mode, "uid": self.uid, "gid": self.gid}

    @classmethod
    def from_json(cls, data: dict) -> FileOriginal:
        """The inverse of to_json; ValueError (or KeyError/TypeError) for anything it did not write."""
        import base64

        numbers = [data[k] for k in ("mode", "uid", "gid")]
        if not isinstance(data["exists"], bool) or not isinstance(data["content_b64"], str) or not all(
                type(n) is int and 0 <= n < 2**32 for n in numbers) or numbers[0] > 0o7777:
            raise ValueError("not a file original")
        return cls(data["exists"], base64.b64decode(data["content_b64"], validate=True), *numbers)


def read_original(path: Path) -> FileOriginal:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return FileOriginal(exists=False)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(errno.ELOOP, "refusing to manage a symlink", str(path)) from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(errno.EINVAL, "not a regular file", str(path))
        return FileOriginal(True, f.read(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def restore_original(path: Path, original: FileOriginal) -> None:
    """Put a file back as it was; nothing is written when it already is."""
    try:
        if read_original(Path(path)) == original:
            return
    except UnsafePath:
        pass  # a symlink or non-file where the original was: replace it below
    if original.exists:
        replace_file(path, original.content, original.mode, original.uid, original.gid)
        return
    dfd = _open_safe_dir(Path(path).parent)
    try:
        os.unlink(Path(path).name, dir_fd=dfd)
        os.fsync(dfd)
    except FileNotFoundError:
        pass
    finally:
        os.close(dfd)
