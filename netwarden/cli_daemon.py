"""`netwarden daemon`, and the commands that talk to a running daemon over its control socket:
`status`, `events`, `release`. Standard library only until the daemon itself starts: `netwarden
status` must start fast."""

from __future__ import annotations

import os
import sys

from netwarden.cli import (EXIT_IOERR, EXIT_NOPERM, EXIT_OK, EXIT_TEMPFAIL, EXIT_UNKNOWN, EXIT_USAGE, RELEASE_TIMEOUT,
                           STATUS_TIMEOUT, Fail, config_failure, require_root, settings_or_fail)
from netwarden.target import one_line


def run_daemon(args) -> int:
    from netwarden.config import ConfigError, config_file_path
    from netwarden.daemon.lifecycle import DaemonError
    from netwarden.daemon.service import Daemon
    from netwarden.platform.detect import UnsupportedPlatform

    settings = settings_or_fail(args)
    path = config_file_path(args.config)
    try:
        code = Daemon(settings, str(path), named=args.config is not None).run()
    except DaemonError as e:
        raise Fail(e.exit_code, str(e)) from None  # 75, or 74 for an unusable state dir
    except ConfigError as e:  # found only at start: socket_path names a file that is not a socket
        raise config_failure(e) from None
    except UnsupportedPlatform as e:
        raise Fail(EXIT_UNKNOWN, str(e)) from None
    except PermissionError as e:
        where = e.filename or settings.state_dir
        raise Fail(EXIT_NOPERM, f"{where}: permission denied (the daemon runs as root)") from None
    # Stopped in order (journal, sockets, files all done). A target probe still waiting on the
    # network would hold the interpreter's exit for its timeouts (the interpreter joins threads
    # that are not daemons), and a service manager expects SIGTERM to end the process promptly.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_release(args) -> int:
    from netwarden.platform.parse.sysctl_conf import valid_sysctl_key

    for key in args.keys:
        if not valid_sysctl_key(key):
            raise Fail(EXIT_USAGE, f"not a sysctl key: {key[:100]!r} (a name such as net.ipv4.ip_local_port_range)")
    if CONTROL_SOCKET:  # (Windows has none: ask_daemon says where to look instead)
        known = keys_checks_use()
        for key in args.keys:
            if key not in known:  # said here too, so that it is 64 whether a daemon runs or not
                raise Fail(EXIT_USAGE, f"{key} is not a key netwarden's checks use: {', '.join(known)}")
    require_root("release")
    for key in args.keys:
        answer = ask_daemon(args, "release", {"key": key}, RELEASE_TIMEOUT, shape={"was_held": bool})
        print(f"released {key}" + ("" if answer["was_held"] else " (it was not held back)"))
    return EXIT_OK


def keys_checks_use(system: str = sys.platform) -> tuple[str, ...]:
    """The sysctls netwarden's checks on `system` read, which a daemon there polls and may stand
    back from: what `release` can hand back. From the checks' declared facts and the backend's
    table of their sources, without a backend (no /proc read, no pydantic)."""
    from netwarden.checks import all_checks

    if system == "darwin":
        from netwarden.platform.darwin_facts import setting_keys
    else:
        from netwarden.platform.linux_facts import setting_keys
    return setting_keys({fact for spec in all_checks().values() if spec.runs_on(system) for fact in spec.facts})


def _socket_path(args):
    from netwarden.config import ConfigError, control_socket_path

    socket = getattr(args, "socket", None)
    if socket and len(os.fsencode(socket)) > 107:  # nothing can listen there: a mistake, not "no daemon"
        raise Fail(EXIT_USAGE, f"--socket {socket[:80]}…: longer than a Unix socket's 107 bytes")
    try:  # with --socket too: a named config or variable netwarden cannot use is refused by every command
        found = control_socket_path(getattr(args, "config", None))
    except ConfigError as e:
        raise config_failure(e) from None
    return socket or found


def _daemon_failure(e, params_sent: bool = True) -> Fail:
    """The one place that turns the daemon's refusals into exit codes. No netwarden daemon answering
    (nothing listens, something else does, no answer in time; or an error only a server that is not
    netwarden, or not this version, gives) is 3; anything else it answered is 74."""
    from netwarden.daemon import protocol as rpc
    from netwarden.daemon.client import RpcError

    foreign = (rpc.PARSE_ERROR, rpc.INVALID_REQUEST, rpc.METHOD_NOT_FOUND) + (() if params_sent else (rpc.INVALID_PARAMS,))
    if isinstance(e, RpcError) and e.code in foreign:  # bad params for a request that sent none: not netwarden
        return Fail(EXIT_UNKNOWN, f"no netwarden daemon answers on {e.path}: it did not understand the request "
                                  f"(error {e.code}: {one_line(str(e), 200)})")
    if isinstance(e, RpcError):
        return Fail({rpc.PERMISSION_DENIED: EXIT_NOPERM, rpc.TOO_MANY_CLIENTS: EXIT_TEMPFAIL, rpc.BUSY: EXIT_TEMPFAIL,
                     rpc.INVALID_PARAMS: EXIT_USAGE, rpc.REQUEST_TOO_LARGE: EXIT_USAGE}.get(e.code, EXIT_IOERR), str(e))
    return Fail(EXIT_UNKNOWN, str(e))  # NoDaemon


# CPython has no AF_UNIX on Windows: there the daemon offers no control socket, and writes
# <state_dir>/status.json instead (daemon/statusfile.py).
CONTROL_SOCKET = sys.platform != "win32"


def _no_socket(what: str) -> Fail:
    """What a command that needs the control socket says on Windows (a usage error: 64)."""
    return Fail(EXIT_USAGE, f"{what} needs the daemon's control socket, which Windows does not have: the drift events "
                            "are in history.jsonl in the state directory (%ProgramData%\\netwarden), "
                            "`netwarden status` reads status.json there, and restarting the netwarden task "
                            "releases every key it held back")


def ask_daemon(args, method: str, params: dict | None, timeout: float, absent_ok: bool = False,
               shape: dict | None = None):
    """The daemon's answer, a dict with `shape`'s keys and types; with absent_ok, None when nothing
    listens on the socket (the caller does the work itself)."""
    if not CONTROL_SOCKET:
        if absent_ok:  # --apply / --revert: done here, under the same apply lock as the daemon's
            return None
        raise _no_socket(f"`netwarden {method}`")
    from netwarden.daemon.client import NoAnswer, NoDaemon, RpcError, call

    path = _socket_path(args)
    try:
        answer = call(path, method, params or {}, timeout=timeout)
    except NoDaemon as e:
        if absent_ok and not isinstance(e, NoAnswer):
            return None
        raise _daemon_failure(e) from None
    except RpcError as e:
        raise _daemon_failure(e, params_sent=bool(params)) from None
    if shape is not None and not (isinstance(answer, dict) and all(isinstance(answer.get(k), t) for k, t in shape.items())):
        raise Fail(EXIT_UNKNOWN, f"no netwarden daemon answers on {path}: its answer to {method} is not netwarden's")
    return answer


def run_status(args) -> int:
    """The daemon's status; with --follow, subscribed first (so nothing is missed in between), then
    the status, then the events. With --json a failure is also a JSON object on stdout."""
    from netwarden.daemon.client import NoDaemon, check_status

    if not CONTROL_SOCKET:
        return _status_from_file(args)
    try:
        events = _subscribe(args) if args.follow else None
        status = ask_daemon(args, "status", None, STATUS_TIMEOUT)
        findings = ask_daemon(args, "findings", None, STATUS_TIMEOUT)
        try:
            check_status(status, findings, _socket_path(args))
        except NoDaemon as e:
            raise _daemon_failure(e) from None
        code = _print_status(status, findings, args)
        return _print_events(events, args) if events is not None else code
    except Fail as e:
        _json_failure(args, e)
        raise


def _status_from_file(args) -> int:
    """Windows: the status the daemon last wrote to <state_dir>/status.json (statusfile.py)."""
    from netwarden.daemon.client import NoDaemon
    from netwarden.daemon.statusfile import NAME, read_status

    try:
        if args.follow:
            raise _no_socket("`netwarden status --follow`")
        if getattr(args, "socket", None):
            raise Fail(EXIT_USAGE, "--socket: Windows has no control socket; status comes from status.json in "
                                   "the state directory (state_dir)")
        path = settings_or_fail(args).state_dir / NAME
        try:
            status, findings = read_status(path)
        except NoDaemon as e:
            raise _daemon_failure(e) from None
        return _print_status(status, findings, args)
    except Fail as e:
        _json_failure(args, e)
        raise


def _json_failure(args, e: Fail) -> None:
    """With --json, a failure is a JSON document on stdout too (the one line stays on stderr)."""
    if args.json:
        import json

        print(json.dumps({"error": {"exit_code": e.code, "message": str(e)}}), flush=True)


def _print_status(status: dict, findings: list, args) -> int:
    import json
    import time

    if args.json:  # one line when events follow: the whole output is then one JSON object per line
        print(json.dumps({"status": status, "findings": findings}, indent=None if args.follow else 2), flush=True)
        return status.get("exit_code", EXIT_UNKNOWN)
    if status.get("status") == "starting":
        print("netwarden daemon is starting: its first check is not done yet", flush=True)
        return EXIT_UNKNOWN
    up = int(time.time() - status["started_at"])
    print(f"netwarden daemon {status['netwarden']} (pid {status['pid']}) on {status['platform']}, "
          f"up {up // 3600}h {up % 3600 // 60:02d}m; {status['events_total']} drift events")
    print()
    for f in findings:
        policy = status["policy"].get(f["id"], "observe")
        print(f"  {f['severity'].upper():9} {f['id']:18} {one_line(f['title'], 300)}"
              + (f"  [{policy}]" if policy != "observe" else ""))
    for target, probe in status.get("probes", {}).items():
        phases = ", ".join(f"{p['name']} {p['verdict']}" + (f" {p['ms']:,.0f} ms" if p["ms"] is not None else "")
                           for p in probe["phases"])
        print(one_line(f"  probe     {target}: {probe['status']}" + (f" ({phases})" if phases else f" ({probe['error']})"),
                       500))
    for key in status["managed"]:
        print(f"\nmanaged by netwarden: {key}", end="")
    for key, held in status["contested"].items():
        print(f"\ncontested: {key} was set to {held['now']!r} by someone else (netwarden wrote {held['written']!r}); "
              f"`netwarden release {key}` hands it back", end="")
    for key in status["backed_off"]:
        print(f"\nbacked off: {key} was rewritten too often; `netwarden release {key}` hands it back", end="")
    print(flush=True)
    return status["exit_code"]


def run_events(args) -> int:
    try:
        if not CONTROL_SOCKET:
            raise _no_socket("`netwarden events`")
        return _print_events(_subscribe(args), args)
    except Fail as e:
        _json_failure(args, e)
        raise


def _subscribe(args):
    from netwarden.daemon.client import NoDaemon, RpcError, subscribe

    try:
        return subscribe(_socket_path(args), STATUS_TIMEOUT)
    except (NoDaemon, RpcError) as e:
        raise _daemon_failure(e, params_sent=False) from None


def _print_events(events, args) -> int:
    """Until the daemon stops (3) or Ctrl-C (0)."""
    import json
    import time

    from netwarden.daemon.client import NoDaemon, RpcError

    try:
        for event in events:
            if args.json:
                print(json.dumps(event), flush=True)
            else:
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event["time"]))
                print(f"{when}  {one_line(event['kind'], 30):14} {one_line(event['message'], 500)}", flush=True)
            if getattr(sys.stdout, "error", None) is not None:  # the reader is gone (`| head`): done
                return EXIT_OK
    except (NoDaemon, RpcError) as e:
        raise _daemon_failure(e) from None
    except KeyboardInterrupt:
        return EXIT_OK
    raise Fail(EXIT_UNKNOWN, "the daemon stopped")
