"""Facts, fake /proc trees, a clean environment and an in-process command line, for tests that
need no namespace."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from netwarden.config import Settings
from netwarden.model import Census, Destination, Facts, PlatformInfo
from netwarden.platform.linux_types import BootSysctls, SysctlAssignment

LINUX = PlatformInfo("linux", "linux", "6.1.0")
ROOT = Path(__file__).resolve().parents[1]


def on_linux(check):
    """A check as the Linux backend runs it: the neutral facts derived from the raw ones the test
    built (linux_facts.derive), its intents turned into Linux changes and advice (linux_plan)."""
    from netwarden.platform import linux_facts, linux_plan

    def run(facts: Facts, settings: Settings) -> list:
        linux_facts.derive(facts, linux_facts.SOURCES, settings)
        return [linux_plan.realize(f, facts, settings) for f in check(facts, settings)]
    return run


def clean_env(**netwarden: str) -> dict[str, str]:
    """This environment without NETWARDEN_* (the developer's own must not leak into a test), plus `netwarden`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETWARDEN_")}
    env.update(netwarden)
    return env


def run_main(*argv: str) -> tuple[int, str, str]:
    """netwarden.cli.main in this process (hundreds of replays in seconds): (exit code, stdout, stderr)."""
    from netwarden.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def run_cli(*args: str, env: dict | None = None, prefix: tuple[str, ...] = (), timeout: float = 60):
    """`python -m netwarden ARGS` in the clean environment plus `env`; prefix: e.g. setpriv."""
    return subprocess.run([*prefix, sys.executable, "-m", "netwarden", *args], capture_output=True, text=True,
                          env=clean_env(**(env or {})), cwd=ROOT, timeout=timeout)


def assert_one_line_error(result, code: int, *words: str) -> str:
    """Refused as a user error: exit `code`, one line on stderr naming `words`, no traceback."""
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr[-2000:]
    assert result.stderr.startswith("netwarden: "), result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    return result.stderr


def _a_directory(path):
    path.mkdir()


def _a_fifo(path):
    os.mkfifo(path)


def _a_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the socket file stays


def _a_symlink_to_a_file(path):
    path.with_name("elsewhere").write_text("")
    path.symlink_to(path.with_name("elsewhere"))


def _a_dangling_symlink(path):
    path.symlink_to(path.with_name("nowhere"))


# What can be found where netwarden expects one of its own regular files, each made at `path`.
NOT_REGULAR = {f.__name__.lstrip("_"): f for f in (_a_directory, _a_fifo, _a_socket, _a_symlink_to_a_file,
                                                     _a_dangling_symlink)}


def facts(port_range="32768 60999", reserved="", tw_reuse="2", destinations=(), platform=LINUX,
          boot=()) -> Facts:
    census = Census(10, sum(d.total for d in destinations), sum(d.time_wait for d in destinations),
                    tuple(destinations))
    return Facts(
        platform=platform,
        sysctls={"net.ipv4.ip_local_port_range": port_range, "net.ipv4.ip_local_reserved_ports": reserved,
                 "net.ipv4.tcp_tw_reuse": tw_reuse},
        boot_sysctls=BootSysctls(tuple(SysctlAssignment(p, 1, k, v) for p, k, v in boot)),
        census=census,
    )


def dest(total, time_wait=None, young=0, expiring=0, address="198.18.0.2", port=443) -> Destination:
    return Destination(address, port, total, total if time_wait is None else time_wait, young, expiring)


def fake_proc(root: Path, **values: str) -> Path:
    """A /proc look-alike under root: values by sysctl key with '_' for '.' (net_ipv4_tcp_tw_reuse)."""
    proc = root / "proc"
    (proc / "sys/net/ipv4").mkdir(parents=True)
    (proc / "net").mkdir()
    (proc / "version").write_text("Linux version 6.1.0-test (gcc) #1 SMP\n")
    (proc / "net/sockstat").write_text("sockets: used 5\nTCP: inuse 1 orphan 0 tw 0 alloc 1 mem 0\n")
    defaults = {"ip_local_port_range": "60700\t61000\n", "ip_local_reserved_ports": "\n", "tcp_tw_reuse": "2\n"}
    defaults.update({k: v for k, v in values.items()})
    for name, value in defaults.items():
        if value is not None:
            (proc / "sys/net/ipv4" / name).write_text(value)
    return proc


def fake_host(root: Path, monkeypatch=None, state: Path | None = None) -> tuple[Path, dict[str, str]]:
    """A fake /proc under `root` (fake_proc) and the NETWARDEN_* that put every path netwarden reads
    or writes there (its state dir `state`, else root/state), set in the test's environment when
    `monkeypatch` is given: (proc, env)."""
    proc = fake_proc(root)
    sysctl_dir = root / "sysctl.d"
    sysctl_dir.mkdir(exist_ok=True)
    (root / "none.toml").write_text("")
    env = {"NETWARDEN_PROC_DIR": str(proc), "NETWARDEN_STATE_DIR": str(state or root / "state"),
           "NETWARDEN_SYSCTL_DIR": str(sysctl_dir), "NETWARDEN_SYSCTL_SEARCH_DIRS": json.dumps([str(sysctl_dir)]),
           "NETWARDEN_SYSCTL_CONF": str(root / "sysctl.conf"), "NETWARDEN_LOCK_TIMEOUT": "0.3",
           "NETWARDEN_CONFIG": str(root / "none.toml"), "NETWARDEN_SOCKET": str(root / "nw.sock")}
    for key, value in env.items() if monkeypatch is not None else ():
        monkeypatch.setenv(key, value)
    return proc, env


def settings_for(tmp: Path, proc: Path | None = None, **overrides) -> Settings:
    sysctl_dir = tmp / "sysctl.d"
    sysctl_dir.mkdir(exist_ok=True)
    base = dict(state_dir=tmp / "state", sysctl_dir=sysctl_dir, sysctl_search_dirs=(sysctl_dir,),
                sysctl_conf=tmp / "sysctl.conf", proc_dir=proc or Path("/proc"), lock_timeout=0.2)
    base.update(overrides)
    return Settings(**base)


# Captured on this project's machine (iproute2 6.1, kernel 6.18), in a namespace, through a tun
# with no carrier: `ip -4|-6 route save table main to exact DST dev nwtun0 metric 5` of
# `DST dev nwtun0 proto static src ... mtu 1400 metric 5`; and two routes to one prefix (metrics 7, 8).
DUMP_V4 = bytes.fromhex(
    "24123145500000001800220076410d6bf301000002180000fe04fd011000000008000f00fe00000008000100c6130100080006"
    "00050000000c000800080002007805000008000700c61309010800040002000000")
DUMP_V6 = bytes.fromhex(
    "24123145940000001800220076410d6bf60100000a400000fe0400011000000008000f00fe0000001400010020010db8000100"
    "0000000000000000001400070020010db80000000000000000000000090c000800080002007805000008000600050000000800"
    "04000200000024000c0000000000000000000000000000000000000000000000000000000000000000000500140000000000")
DUMP_TWO = bytes.fromhex(
    "241231453c0000001800220076410d6bf901000002180000fe03fd011000000008000f00fe00000008000100c6130200080006"
    "000700000008000400020000003c0000001800220076410d6bf901000002180000fe03fd011000000008000f00fe0000000800"
    "0100c613020008000600080000000800040002000000")


def _digits(text: str, digits) -> str:
    import re

    return re.sub(r"[0-9]+", lambda m: digits(m.group()), text)


def wrong_forms(value) -> list:
    """Answers a hand-edited support bundle may hold instead of `value`: other types; for an
    object each key left out (an older or newer recorder), each value put in a list, each text
    value replaced by "x" (text where an address or a state word goes); for a list its first item
    spoiled; and for text, its numbers of 5,000 digits (past int()'s 4,300) or in Arabic-Indic
    digits (str.isdigit() says yes, the kernel never writes them)."""
    forms = [7, "?", [7], {"x": 7}, None, True]
    if isinstance(value, dict):
        forms += [{k: v for k, v in value.items() if k != key} for key in value]
        forms += [{**value, key: [value[key]]} for key in value]
        forms += [{**value, key: "x"} for key in value if isinstance(value[key], str)]
        forms += [{**value, key: odd} for key in value if isinstance(value[key], str) for odd in _odd_numbers(value[key])]
    if isinstance(value, list) and value:
        forms.append([7] + value[1:])
    if isinstance(value, str):
        forms += _odd_numbers(value)
    return [f for f in forms if f != value]


def spoiled_entries(entry: dict) -> list[dict | None]:
    """A recorded answer as a hand-edited or foreign bundle may hold it instead: left out (None),
    each of its wrong_forms, and an error where the live machine answered (a call whose live code
    never raises, readlink's, must not raise it in a replay either)."""
    field = "result" if "result" in entry else "error"
    variants = [None] + [{**entry, field: form} for form in wrong_forms(entry[field])]
    if field == "result":
        variants.append({"op": entry["op"], "key": entry["key"], "error": {"errno": 13, "strerror": "Permission denied"}})
    return variants


def _odd_numbers(text: str) -> list[str]:
    if not any(c.isdigit() for c in text):
        return []
    return [_digits(text, lambda d: "9" * 5000), _digits(text, lambda d: d.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")))]
