"""The control socket's listening end: the one systemd hands over (socket activation), or one
bound here safely: never in a directory others can write to, a stale socket replaced, a live one
(another daemon) refused, born 0600 and only then opened to the socket group."""

from __future__ import annotations

import grp
import os
import socket
import stat
from pathlib import Path


class ControlError(Exception):
    pass


def resolve_group(name: str | None) -> int | None:
    if not name:
        return None
    try:
        return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def open_listener(settings, group: int | None, log) -> tuple[socket.socket, bool]:
    """The listening socket, and whether it was inherited (then it is systemd's, not ours to remove)."""
    inherited = _socket_activation()
    if inherited is not None:
        return inherited, True
    return _bind(Path(settings.socket_path), group, settings.socket_group, log), False


def _socket_activation() -> socket.socket | None:
    """systemd socket activation: fd 3 when LISTEN_PID is us."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS", "0") or 0) < 1:
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    try:
        is_socket = stat.S_ISSOCK(os.fstat(3).st_mode)
    except OSError:
        is_socket = False
    if not is_socket:
        raise ControlError("LISTEN_FDS says the control socket is fd 3, but fd 3 is not a socket")
    return socket.socket(fileno=3)


def _bind(path: Path, group: int | None, group_name: str | None, log) -> socket.socket:
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    parent = os.stat(path.parent)
    if parent.st_uid not in (0, os.geteuid()) or parent.st_mode & stat.S_IWOTH and not parent.st_mode & stat.S_ISVTX:
        raise ControlError(f"{path.parent}: other users can write there; refusing to put the control socket in it")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode):  # not another daemon (75): the configuration names the wrong file (78)
            from netwarden.config import ConfigError

            raise ConfigError(f"socket_path {path} names a file that is not a socket; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
            raise ControlError(f"another netwarden daemon is listening on {path}")
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)  # a stale socket from a daemon that died
            log(f"replaced the stale control socket {path}")
        finally:
            probe.close()
    # macOS has no SOCK_CLOEXEC: Python's sockets are not inherited anyway (PEP 446)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | getattr(socket, "SOCK_CLOEXEC", 0))
    old = os.umask(0o177)  # born 0600: nobody can connect before the group is set
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    if group is not None:
        try:
            os.chown(path, -1, group)
            os.chmod(path, 0o660)
        except PermissionError:  # no CAP_CHOWN (the hardened unit expects netwarden.socket to do it)
            log(f"cannot give {path} to group {group_name}: it stays root-only "
                "(use netwarden.socket, which sets the group)")
    elif group_name:  # "" is the deliberate choice of a root-only socket: nothing to say
        log(f"socket group {group_name!r} does not exist: {path} is root-only")
    sock.listen(128)
    return sock
