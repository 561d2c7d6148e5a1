"""Support bundles as files: what a replay refuses (exit 65, one line), the settings a bundle carries,
and the form of each answer a ReplaySource serves (a wrong one is `unknown`, never a crash)."""

from netwarden import record
import json
import os
from pathlib import Path

import pytest
from factories import run_main as netwarden

from netwarden.config import Settings, Thresholds
from netwarden.platform import bundle
from netwarden.platform.bundle import NOT_RECORDED_SETTINGS, RECORDED_SETTINGS
from netwarden.platform.source import NotRecorded, RecordingSource, ReplaySource, conform

META = {"format": 1, "system": "linux"}


def make(directory: Path, meta=None, entries=None) -> Path:
    """A bundle directory; a value that is bytes is written as it is, anything else as JSON."""
    directory.mkdir(exist_ok=True)
    for name, value in (("meta.json", META if meta is None else meta), ("entries.json", [] if entries is None else entries)):
        (directory / name).write_bytes(value if isinstance(value, bytes) else json.dumps(value).encode())
    return directory


def huge(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(bundle.MAX_FILE_BYTES + 1)  # sparse: refused by its size, before it is read


FILE_CLASSES = {
    "no directory": lambda d: None,
    "a file, not a directory": lambda d: d.write_text("{}"),
    "no meta.json": lambda d: (make(d), (d / "meta.json").unlink()),
    "no entries.json": lambda d: (make(d), (d / "entries.json").unlink()),
    "empty meta.json": lambda d: make(d, meta=b""),
    "empty entries.json": lambda d: make(d, entries=b""),
    "truncated meta.json": lambda d: make(d, meta=json.dumps(META).encode()[:12]),
    "truncated entries.json": lambda d: make(d, entries=b'[{"op": "read", "key": "/proc/version", "res'),
    "not JSON": lambda d: make(d, meta=b"format = 1\nsystem = linux\n"),
    "not UTF-8": lambda d: make(d, entries=b'["\xff\xfe"]'),
    "nested too deep (entries)": lambda d: make(d, entries=b"[" * 100_000 + b"]" * 100_000),
    "nested too deep (meta)": lambda d: make(d, meta=b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    "huge entries.json": lambda d: (make(d), huge(d / "entries.json")),
    "a FIFO for meta.json": lambda d: (make(d), (d / "meta.json").unlink(), os.mkfifo(d / "meta.json")),
    "a device for entries.json": lambda d: (make(d), (d / "entries.json").unlink(),
                                            (d / "entries.json").symlink_to("/dev/zero")),
    "a directory for meta.json": lambda d: (make(d), (d / "meta.json").unlink(), (d / "meta.json").mkdir()),
    "meta a list": lambda d: make(d, meta=[META]),
    "meta a string": lambda d: make(d, meta="linux"),
    "meta null": lambda d: make(d, meta=b"null"),
    "another format": lambda d: make(d, meta={**META, "format": 2}),
    "format as text": lambda d: make(d, meta={**META, "format": "1"}),
    "format true": lambda d: make(d, meta={**META, "format": True}),  # True == 1 in Python
    "format 1.0": lambda d: make(d, meta={**META, "format": 1.0}),
    "format 1 in a list": lambda d: make(d, meta={**META, "format": [1]}),
    "no format": lambda d: make(d, meta={"system": "linux"}),
    "a system with no backend": lambda d: make(d, meta={**META, "system": "plan9"}),
    "a system in other case": lambda d: make(d, meta={**META, "system": "Linux"}),
    "an empty system": lambda d: make(d, meta={**META, "system": ""}),
    "a system of 100 KB": lambda d: make(d, meta={**META, "system": "linux" * 20000}),
    "no system": lambda d: make(d, meta={"format": 1}),
    "system not a string": lambda d: make(d, meta={**META, "system": ["linux"]}),
    "entries an object": lambda d: make(d, entries={"op": "read", "key": "/proc/version", "result": "Linux"}),
    "entries a number": lambda d: make(d, entries=7),
    "entries null": lambda d: make(d, entries=b"null"),
    "an entry not an object": lambda d: make(d, entries=["read /proc/version"]),
    "op not a string": lambda d: make(d, entries=[{"op": 1, "key": "/proc/version", "result": "Linux"}]),
    "key not a string": lambda d: make(d, entries=[{"op": "read", "key": ["/proc/version"], "result": "Linux"}]),
    "an entry without result or error": lambda d: make(d, entries=[{"op": "read", "key": "/proc/version"}]),
    "settings a list": lambda d: make(d, meta={**META, "settings": []}),
    "settings with a bad target": lambda d: make(d, meta={**META, "settings": {"targets": ["no port"]}}),
    "settings with a path of the wrong type": lambda d: make(d, meta={**META, "settings": {"proc_dir": 5}}),
    "settings with thresholds out of range": lambda d: make(d, meta={**META, "settings": {
        "thresholds": {"conntrack_warning": 5}}}),
    "settings with NaN": lambda d: make(d, meta=json.dumps({**META, "settings": {"probe_timeout": float("nan")}}).encode()),
    "settings with a number too large for a float": lambda d: make(d, meta=b'{"format": 1, "system": "linux", '
                                                                      b'"settings": {"probe_timeout": 1e999}}'),
    "settings with an unknown policy id": lambda d: make(d, meta={**META, "settings": {"policy": {"ports.nope": "enforce"}}}),
    "settings with a policy of another word": lambda d: make(d, meta={**META, "settings": {
        "policy": {"ports.range": "sometimes"}}}),
    "settings with a quoted number": lambda d: make(d, meta={**META, "settings": {"probe_timeout": "3"}}),
    "settings with a quoted threshold": lambda d: make(d, meta={**META, "settings": {
        "thresholds": {"dns_slow_ms": "500"}}}),
    "settings with a boolean for a number": lambda d: make(d, meta={**META, "settings": {"middlebox_idle_budget": True}}),
    "settings with a number for a boolean": lambda d: make(d, meta={**META, "settings": {
        "tunnels_remove_stale_routes": 1}}),
    "settings with a word for a boolean": lambda d: make(d, meta={**META, "settings": {
        "tunnels_remove_stale_routes": "yes"}}),
    "settings nested too deep": lambda d: make(d, meta=b'{"format": 1, "system": "linux", "settings": {"policy": '
                                                       + b'{"a": ' * 5000 + b"1" + b"}" * 5001 + b"}"),
    "settings with a 5000-digit number": lambda d: make(d, meta=b'{"format": 1, "system": "linux", '
                                                                 b'"settings": {"middlebox_idle_budget": 1' + b"0" * 5000 + b"}}"),
}


@pytest.mark.parametrize("name", FILE_CLASSES)
def test_a_bundle_that_cannot_be_read_is_exit_65_and_one_line(tmp_path, name):
    directory = tmp_path / "bad\nbundle"  # even a name with a newline in it stays one line
    FILE_CLASSES[name](directory)
    code, out, err = netwarden("--replay", str(directory))
    assert code == 65, (code, out, err)
    assert out == "" and err.startswith("netwarden: ") and err.count("\n") == 1, err


DESTINATION_CLASSES = {  # --record DIR that cannot take a bundle: refused before any work
    "a directory that is not empty": lambda d: (d.mkdir(), (d / "notes.txt").write_text("mine"), d)[-1],
    "a file": lambda d: (d.write_text("mine"), d)[-1],
    "a FIFO": lambda d: (os.mkfifo(d), d)[-1],
    "a missing parent": lambda d: d / "x",
    "missing parents": lambda d: d / "x" / "y" / "z",
    "a name too long": lambda d: d / ("n" * 300),
    "a parent that is a file": lambda d: (d.write_text("mine"), d / "bundle")[-1],
    "a symlink to a non-empty directory": lambda d: (d.mkdir(), (d / "f").write_text("x"),
                                                      d.with_name("link").symlink_to(d), d.with_name("link"))[-1],
}


@pytest.mark.parametrize("command", [["check", "--only", "ports.range"], ["probe", "127.0.0.1:9", "--idle", "3600"]])
@pytest.mark.parametrize("name", DESTINATION_CLASSES)
def test_a_record_directory_that_cannot_take_a_bundle_is_refused_before_any_work(tmp_path, no_netwarden_env,
                                                                                  command, name):
    """A probe with --idle 3600 would run for an hour before finding out; `check` created missing
    parents 0755 (/nonexistent/x/y)."""
    import time

    no_netwarden_env.setenv("NETWARDEN_CONFIG", "")
    destination = DESTINATION_CLASSES[name](tmp_path / "dest")
    made = sorted(str(p) for p in tmp_path.rglob("*"))
    start = time.monotonic()
    code, out, err = netwarden(*command, "--record", str(destination))
    assert code == 64 and out == "" and err.count("\n") == 1 and f"--record {destination}:" in err, (code, err)
    assert ("dest is not a directory" in err) == (name == "a parent that is a file"), err  # not "does not exist"
    assert time.monotonic() - start < 5
    assert sorted(str(p) for p in tmp_path.rglob("*")) == made, "nothing created"


def test_a_record_directory_this_user_cannot_create_is_refused_before_any_work():
    import shutil
    import tempfile

    from factories import assert_one_line_error, run_cli

    prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--") if os.geteuid() == 0 else ()
    mine = Path(tempfile.mkdtemp(prefix="nwtest-"))  # in /tmp: pytest's own directory is closed to others
    try:
        mine.chmod(0o755)  # others may look in, not write
        for destination in (mine / "bundle", mine):  # to be created; already there, empty
            r = run_cli("probe", "127.0.0.1:9", "--idle", "3600", "--record", str(destination),
                        env={"NETWARDEN_CONFIG": ""}, prefix=prefix, timeout=30)
            assert_one_line_error(r, 64, f"--record {destination}:", "writable")
    finally:
        shutil.rmtree(mine)


def test_a_record_directory_that_is_new_or_empty_takes_the_bundle(tmp_path, no_netwarden_env):
    no_netwarden_env.setenv("NETWARDEN_CONFIG", "")
    (tmp_path / "empty").mkdir()
    for destination in (tmp_path / "new", tmp_path / "empty"):
        code, _, err = netwarden("check", "--only", "ports.range", "--record", str(destination))
        assert code in (0, 1, 2, 3) and err == "", err
        assert sorted(p.name for p in destination.iterdir()) == ["entries.json", "meta.json"]
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("command", [["check", "--only", "ports.range"], ["probe", "127.0.0.1:9"]])
def test_a_bundle_that_cannot_be_written_after_the_work_is_exit_74(tmp_path, no_netwarden_env, monkeypatch, command):
    import errno

    def full(path, data, mode=0o644):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(bundle, "atomic_write", full)
    no_netwarden_env.setenv("NETWARDEN_CONFIG", "")
    code, _, err = netwarden(*command, "--record", str(tmp_path / "bundle"))
    assert code == 74 and err.count("\n") == 1 and "cannot write the support bundle" in err, (code, err)
    assert "No space left on device" in err


def test_config_and_replay_together_is_a_usage_error(tmp_path):
    code, _, err = netwarden("--replay", str(make(tmp_path / "b")), "--config", str(tmp_path / "x.toml"))
    assert code == 64 and "settings recorded in the bundle" in err and err.count("\n") == 1, err


def test_a_bundle_without_settings_replays_on_the_defaults_and_says_so_once(tmp_path):
    code, out, err = netwarden("--replay", str(make(tmp_path / "b")))
    assert code == 3, err  # nothing recorded: every fact unknown
    assert err.count("does not carry the settings") == 1 and err.count("\n") == 1, err
    assert "ports.range" in out


def test_the_settings_a_bundle_carries_decide_the_keys_it_is_asked_for_and_the_judgement(tmp_path, no_netwarden_env):
    proc = "/srv/host-proc"
    settings = {"proc_dir": proc, "thresholds": {"ports_range_critical": 100, "ports_range_warning": 1000}}
    entries = [{"op": "read", "key": f"{proc}/sys/net/ipv4/ip_local_port_range", "result": "60700\t61000\n"},
               {"op": "read", "key": f"{proc}/sys/net/ipv4/ip_local_reserved_ports", "result": "\n"},
               {"op": "read", "key": "/etc/sysctl.d/60-netwarden.conf", "error": {"errno": 2, "strerror": "No such file"}}]
    directory = make(tmp_path / "b", meta={**META, "settings": settings}, entries=entries)
    no_netwarden_env.setenv("NETWARDEN_PROC_DIR", "/proc")  # this machine's settings play no part
    code, out, err = netwarden("--json", "--only", "ports.range", "--replay", str(directory))
    found = json.loads(out)["findings"][0]
    assert code == 1 and found["severity"] == "warning" and found["value"] == "60700-61000", (out, err)
    assert err == ""


def test_recorded_settings_round_trip_and_leave_out_secrets(tmp_path):
    settings = Settings(targets=("api.example.com:443", "[2001:db8::1]:8443"), probe_timeout=1.5,
                        proc_dir=Path("/host/proc"), sysctl_search_dirs=(Path("/a"), Path("/b")),
                        thresholds=Thresholds(dns_slow_ms=250), policy={"mtu.path": "enforce"},
                        dns_fallback=("192.0.2.53",), webhook_url="https://hooks.example/T0/secret-token")
    RecordingSource().save(tmp_path / "b", ["netwarden", "--record"], settings)
    assert "secret-token" not in (tmp_path / "b" / "meta.json").read_text()
    replayed = ReplaySource(tmp_path / "b").settings
    assert replayed == record.replace(settings, webhook_url=None)


def test_every_setting_is_either_recorded_in_bundles_or_deliberately_not():
    names = [f.name for f in record.fields(Settings)]
    assert sorted(RECORDED_SETTINGS + NOT_RECORDED_SETTINGS) == sorted(names)
    assert not set(RECORDED_SETTINGS) & set(NOT_RECORDED_SETTINGS)


# ---- the form of each answer --------------------------------------------------------------------

def shaped(fn_shape):
    def fn():
        raise AssertionError("a replay never calls the live function")

    fn.answer_shape = fn_shape
    return fn


QUESTIONS = {  # op: (ask the source, a good answer)
    "read": (lambda s: s.read("k"), "text"),
    "exists": (lambda s: s.exists("k"), True),
    "listdir": (lambda s: s.listdir("k"), ["a", "b"]),
    "run": (lambda s: s.run(["k"]), {"returncode": 0, "stdout": "", "stderr": ""}),
    "call": (lambda s: s.call("k", shaped({"n": int, "ms": float, "rows": [{"a": str}]})),
             {"n": 1, "ms": 2, "rows": [{"a": "x", "extra": 1}]}),
}
WRONG = [7, 7.5, True, None, "text", ["a", 7], {}, {"returncode": "0", "stdout": "", "stderr": ""},
         {"n": True, "ms": 1.0, "rows": []}, {"n": 1, "ms": 1.0, "rows": [{"a": 7}]}, {"n": 1, "ms": "1", "rows": []}]


def key_for(op: str) -> str:
    return {"run": json.dumps(["k"]), "call": json.dumps(["k"])}.get(op, "k")


@pytest.mark.parametrize("op", QUESTIONS)
def test_each_answer_is_served_in_the_form_the_live_source_gives_or_not_at_all(tmp_path, op):
    ask, good = QUESTIONS[op]
    source = ReplaySource(make(tmp_path / "ok", entries=[{"op": op, "key": key_for(op), "result": good}]))
    answer = ask(source)
    if op == "call":
        assert answer == {"n": 1, "ms": 2.0, "rows": [{"a": "x"}]}  # extra keys dropped, an int ms a float
    for number, value in enumerate(w for w in WRONG if w != good):
        source = ReplaySource(make(tmp_path / str(number), entries=[{"op": op, "key": key_for(op), "result": value}]))
        if op == "read" and isinstance(value, str):
            continue
        with pytest.raises(NotRecorded, match="malformed"):
            ask(source)
    with pytest.raises(NotRecorded, match="not in the support bundle"):
        ask(ReplaySource(make(tmp_path / "none")))


@pytest.mark.parametrize("error", [None, 2, "ENOENT", [], {"errno": "2", "strerror": "x"}, {"errno": True, "strerror": "x"},
                                   {"errno": 2}, {"errno": 2, "strerror": 5}])
def test_a_malformed_recorded_error_is_not_recorded(tmp_path, error):
    source = ReplaySource(make(tmp_path / "b", entries=[{"op": "read", "key": "k", "error": error}]))
    with pytest.raises(NotRecorded, match="malformed"):
        source.read("k")


def test_a_recorded_error_is_the_error_the_live_source_raised(tmp_path):
    entries = [{"op": "read", "key": "k", "error": {"errno": 2, "strerror": "No such file or directory"}},
               {"op": "listdir", "key": "k", "error": {"errno": 13, "strerror": "Permission denied"}}]
    source = ReplaySource(make(tmp_path / "b", entries=entries))
    with pytest.raises(FileNotFoundError):
        source.read("k")
    with pytest.raises(PermissionError):
        source.listdir("k")


def test_conform_says_where_an_answer_differs():
    shape = {"window": int, "destinations": [{"address": str}]}
    assert conform({"window": 10, "destinations": [{"address": "::1", "port": 1}], "x": 1}, shape) == {
        "window": 10, "destinations": [{"address": "::1"}]}
    for value, why in (({"window": 10}, "no 'destinations'"), ({"window": True, "destinations": []}, "bool instead of int"),
                       ({"window": 1, "destinations": {}}, "dict instead of a list")):
        with pytest.raises(ValueError, match=why):
            conform(value, shape)


def source_calls():
    """Every `….call("name", fn, …)` in netwarden's code, every `(….call, "name", fn, …)` job run in
    parallel, and the probe's wrappers of Source.call (`self.call("phase", "name", fn, …)`,
    `self.answer("name", fn, …)`): (where, the function object)."""
    import ast
    import importlib

    package = Path(__file__).resolve().parents[1] / "netwarden"
    for path in sorted(package.rglob("*.py")):
        text = path.read_text()
        if ".call(" not in text:
            continue
        module = importlib.import_module(".".join(path.relative_to(package.parent).with_suffix("").parts))
        tree = ast.parse(text)
        imported = {alias.asname or alias.name: node.module for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module for alias in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                method, args = node.func, node.args
            elif isinstance(node, ast.Tuple) and node.elts:
                method, args = node.elts[0], node.elts[1:]
            else:
                continue
            # source.call("name", fn, ...), or a wrapper's self.call("phase", "name", fn, ...)
            names = [a for a in args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if not (isinstance(method, ast.Attribute) and method.attr in ("call", "answer") and names
                    and len(args) > len(names)):
                continue
            fn = args[len(names)]
            if isinstance(fn, ast.Call) and getattr(fn.func, "id", "") == "partial":  # partial(fn, ...)
                fn = fn.args[0]
            if isinstance(fn, ast.Name):  # defined or imported at module level, or imported inside the function
                found = getattr(module, fn.id, None)
                if found is None and fn.id in imported:
                    found = getattr(importlib.import_module(imported[fn.id]), fn.id, None)
            elif not (isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name)):
                found = None  # a lambda: nothing to declare a form on
            else:  # probe.connect, sockdiag.census: a module imported inside the function
                found = getattr(importlib.import_module(f"netwarden.platform.{fn.value.id}"), fn.attr, None)
            yield f"{path.name}:{node.lineno} {names[-1].value}", found


def test_every_function_called_through_a_source_declares_the_form_of_its_answer():
    calls = list(source_calls())
    assert len(calls) >= 8, calls  # census, readlink, stat.mode and the probes at least
    undeclared = [where for where, fn in calls if getattr(fn, "answer_shape", None) is None]
    assert not undeclared, f"add @answers(shape) to the functions called at {undeclared}"


def test_an_undeclared_answer_is_unknown_in_a_replay(tmp_path):
    source = ReplaySource(make(tmp_path / "b", entries=[{"op": "call", "key": json.dumps(["k"]), "result": 1}]))
    with pytest.raises(NotRecorded, match="declares no form"):
        source.call("k", lambda: 1)
