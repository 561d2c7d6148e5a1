"""Where configuration comes from, class by class (issue #11): the file (missing, empty, a
directory, unreadable, not UTF-8, truncated, nested, huge) and the NETWARDEN_* environment (not
JSON, misspelt, unknown, the socket's two names). Each is used or refused with one line and exit
78, through load_settings and through the real command line; never a traceback."""

from netwarden import record
import os
import typing

import pytest
from factories import assert_one_line_error, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden.config import ConfigError, Settings, control_socket_path, load_settings

pytestmark = pytest.mark.usefixtures("no_netwarden_env")

VALID = 'state_dir = "/srv/nw"\ntargets = ["api.example:443", "[2001:db8::1]:443"]\n[thresholds]\ndns_slow_ms = 250\n'
ONLY = ("--only", "ports.range")  # the cheapest check: these runs are about the configuration


def env_name(key: str) -> str:
    return "NETWARDEN_" + key.upper().replace(".", "__")


# ---- the file ----------------------------------------------------------------------------------


def make_file(tmp_path, kind: str):
    """A config path of one class of file; (path, words of the one-line error)."""
    path = tmp_path / "netwarden.toml"
    if kind == "missing":
        return path, ["not found"]
    if kind == "directory":
        path.mkdir()
        return path, ["is a directory"]
    if kind == "fifo":
        os.mkfifo(path)
        return path, ["not a regular file"]
    contents = {
        "not utf-8": b'state_dir = "/var/lib/r\xe9seau"\n',
        "utf-16": VALID.encode("utf-16"),
        "binary": bytes(range(256)),
        "nul byte": b'state_dir = "/a"\x00\n',
        "nested arrays": b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "nested tables": b"a = " + b"{b = " * 5000 + b"1" + b"}" * 5000 + b"\n",
        "nested, unclosed": b"a = " + b"[" * 5000,
        "huge": b"# padding\n" * 110_000 + b'state_dir = "/srv"\n',
        "too many digits": b"history_size = 1" + b"0" * 5000 + b"\n",
        "unknown table": b"[nope]\na = 1\n",
    }
    path.write_bytes(contents[kind])
    words = {"not utf-8": ["not UTF-8", "0xe9"], "utf-16": ["not UTF-8"], "binary": ["not UTF-8"],
             "nul byte": ["not valid TOML"], "nested arrays": ["nested too deeply"],
             "nested tables": ["nested too deeply"], "nested, unclosed": ["nested too deeply"],
             "huge": ["over 1 MiB"], "too many digits": ["not valid TOML"], "unknown table": ["nope"]}
    return path, words[kind]


FILE_KINDS = ["missing", "directory", "fifo", "not utf-8", "utf-16", "binary", "nul byte", "nested arrays",
              "nested tables", "nested, unclosed", "huge", "too many digits", "unknown table"]


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_a_config_file_that_cannot_be_used_is_one_line_and_exit_78(tmp_path, kind):
    path, words = make_file(tmp_path, kind)
    with pytest.raises(ConfigError) as e:
        load_settings(path)
    assert all(w in str(e.value) for w in words) and str(path) in str(e.value)
    assert_one_line_error(run_cli(*ONLY, "--config", str(path), timeout=30), 78, "bad configuration:", *words)
    assert_one_line_error(run_cli(*ONLY, env={"NETWARDEN_CONFIG": str(path)}, timeout=30), 78, *words)


def test_an_unreadable_config_file_is_one_line_and_exit_78(tmp_path):
    path = tmp_path / "netwarden.toml"
    path.write_text(VALID)
    path.chmod(0o600)
    tmp_path.chmod(0o755)
    if os.geteuid() == 0:  # root reads anything: ask as nobody
        prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--")
    else:
        prefix, _ = (), path.chmod(0)
    assert_one_line_error(run_cli(*ONLY, "--config", str(path), prefix=prefix), 78, str(path), "Permission denied")


def test_the_default_file_as_a_directory_is_refused_too(tmp_path, monkeypatch):
    import netwarden.config as config

    monkeypatch.setattr(config, "DEFAULT_CONFIG", tmp_path)
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings()


@pytest.mark.parametrize("text", ["", "\n\n", "   \n\t\n", "# only a comment\n", "#\n# two\n"])
def test_an_empty_file_means_the_defaults(tmp_path, text):
    """An empty TOML document has no keys: the defaults, as the packaged comments-only file."""
    path = tmp_path / "netwarden.toml"
    path.write_text(text)
    assert load_settings(path) == Settings()
    assert run_cli(*ONLY, "--config", str(path)).returncode in (0, 1, 2, 3)


COMMENT_CLASSES = {  # a comment TOML refuses; beside a key and alone the same: 78
    "not UTF-8": (b"# r\xe9seau\n", "not UTF-8"),
    "a lone surrogate": (b"# \xed\xa0\x80\n", "not UTF-8"),
    "a NUL": (b"# a\x00b\n", "not valid TOML"),
    "a control character": (b"# a\x01b\n", "not valid TOML"),
    "DEL": (b"# a\x7fb\n", "not valid TOML"),
    "a bare CR": (b"# a\rb\n", "not valid TOML"),
    "a form feed line": (b"# a\n\x0c\n", "not valid TOML"),
    "a no-break space line": ("# a\n\u00a0\n".encode(), "not valid TOML"),
}


@pytest.mark.parametrize("name", COMMENT_CLASSES)
def test_a_comments_only_file_is_refused_for_what_toml_refuses_in_a_comment(tmp_path, name):
    """The comments-only shortcut (no tomllib, no pydantic) took these while the same comment
    beside a key was refused: it must accept nothing the parser would refuse."""
    data, words = COMMENT_CLASSES[name]
    path = tmp_path / "netwarden.toml"
    for text in (data, data + b'state_dir = "/srv/nw"\n'):
        path.write_bytes(text)
        with pytest.raises(ConfigError, match=words):
            load_settings(path)
    assert_one_line_error(run_cli(*ONLY, "--config", str(path)), 78, words)


@pytest.mark.parametrize("text", [b"# \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\n", b"# a\r\n# b\r\n", b"\t# tab\n\t\n"])
def test_a_comments_only_file_of_legitimate_text_is_the_defaults(tmp_path, text):
    path = tmp_path / "netwarden.toml"
    path.write_bytes(text)
    assert load_settings(path) == Settings()


@pytest.mark.parametrize("body", [b"", b"# packaged: comments only\n", VALID.encode(), b'state_dir = "/srv/nw"\r\n'])
def test_a_utf8_byte_order_mark_is_read_past(tmp_path, body):
    """Windows Notepad starts a UTF-8 file with one; TOML does not allow it."""
    path = tmp_path / "netwarden.toml"
    path.write_bytes(body)
    plain = load_settings(path)
    path.write_bytes(b"\xef\xbb\xbf" + body)
    assert load_settings(path) == plain
    assert run_cli(*ONLY, "--config", str(path)).returncode in (0, 1, 2, 3)
    path.write_bytes(b"\xef\xbb\xbf" * 2 + body)  # one: two is not UTF-8 text TOML takes
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_a_byte_order_mark_does_not_hide_the_control_socket_s_path(tmp_path):
    path = tmp_path / "netwarden.toml"
    path.write_bytes(b'\xef\xbb\xbfsocket_path = "/run/nw-test.sock"\n')
    assert str(control_socket_path(path)) == "/run/nw-test.sock"


def test_a_file_truncated_anywhere_loads_or_is_refused_in_one_line(tmp_path):
    """Every prefix of a valid file (an editor's crash, a full disk): never another exception."""
    path = tmp_path / "netwarden.toml"
    full = VALID.encode()
    outcomes = set()
    for end in range(len(full)):
        path.write_bytes(full[:end])
        try:
            load_settings(path)
            outcomes.add("loaded")
        except ConfigError as e:
            assert "\n" not in str(e)
            outcomes.add("refused")
    assert outcomes == {"loaded", "refused"}
    path.write_bytes(full[:full.index(b"api") + 5])
    assert_one_line_error(run_cli(*ONLY, "--config", str(path)), 78, "not valid TOML")


def test_a_file_at_the_size_limit_still_loads(tmp_path):
    path = tmp_path / "netwarden.toml"
    data = VALID.encode() + b"#"
    path.write_bytes(data + b"#" * ((1 << 20) - len(data)))
    assert load_settings(path).state_dir.name == "nw"
    path.write_bytes(path.read_bytes() + b"#")
    with pytest.raises(ConfigError, match="over 1 MiB"):
        load_settings(path)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYS = [f.name for f in record.fields(Settings)] + [f"thresholds.{f.name}" for f in record.fields(Settings().thresholds)]
LITERALS = st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e309", "true", "[]", "{}", '""', "[[1]]", "1979-05-27"]),
                     st.integers().map(str), st.floats().map(repr).filter(lambda t: t not in ("nan", "inf", "-inf")),
                     st.text(max_size=40).map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
                     st.lists(st.text(max_size=20), max_size=4).map(lambda xs: str(xs).replace("'", '"')))


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_as_a_config_file_load_or_are_refused(tmp_path, data):
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    try:
        load_settings(path)
    except ConfigError as e:
        assert "\n" not in str(e)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(KEYS), LITERALS), max_size=4))
def test_any_values_for_known_keys_load_or_are_refused(tmp_path, pairs):
    lines = {key: f"{key.rpartition('.')[2]} = {literal}" for key, literal in pairs}  # one per key: TOML
    text = "\n".join(v for k, v in lines.items() if "." not in k)
    text += "\n[thresholds]\n" + "\n".join(v for k, v in lines.items() if "." in k) + "\n"
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_settings(path)
    except ConfigError as e:
        assert "\n" not in str(e)


# ---- the environment ---------------------------------------------------------------------------


def list_and_table_keys() -> list[str]:
    """The settings whose environment value is JSON: every list or table in the dataclass."""
    hints = typing.get_type_hints(Settings)
    return [f.name for f in record.fields(Settings)
            if typing.get_origin(hints[f.name]) in (tuple, dict) or record.is_record(hints[f.name])]


JSON_KEYS = list_and_table_keys()
NOT_JSON = ["127.0.0.1:80", "/etc/gai.conf", "{", "[", "['single quotes']", "[1,]", "{a: 1}", "[" * 5000,
            '{"a":' * 5000, "nan", "\u00e9t\u00e9"]


def test_the_list_and_table_keys_are_the_ones_expected():
    """A guard on the derivation itself: it finds the lists and tables named in the issue."""
    assert {"targets", "sysctl_search_dirs", "watch_files", "exec_hook", "dns_fallback", "policy",
            "thresholds"} <= set(JSON_KEYS)


@pytest.mark.parametrize("key", JSON_KEYS)
def test_every_list_or_table_variable_that_is_not_json_is_one_line_naming_it(no_netwarden_env, key):
    name = env_name(key)
    for value in NOT_JSON:
        no_netwarden_env.setenv(name, value)
        with pytest.raises(ConfigError) as e:
            load_settings("")
        assert str(e.value).startswith(f"{name}: ") and "\n" not in str(e.value), (value, str(e.value))
    assert_one_line_error(run_cli(*ONLY, env={name: "127.0.0.1:80"}), 78, f"bad configuration: {name}: not valid JSON")


def every_variable() -> list[str]:
    keys = [f.name for f in record.fields(Settings)]
    nested = [f"thresholds.{f.name}" for f in record.fields(Settings().thresholds)]
    return [env_name(k) for k in keys + nested] + ["NETWARDEN_SOCKET"]


@pytest.mark.parametrize("name", every_variable())
def test_every_variable_with_a_broken_value_is_refused_naming_it(no_netwarden_env, name):
    for value in ("{", "[", "\u00e9\u00e9", "-1", "[" * 5000):
        no_netwarden_env.setenv(name, value)
        try:
            load_settings("")
        except ConfigError as e:
            assert str(e).startswith(f"{name}: ") and "\n" not in str(e), (value, str(e))
        else:
            pytest.fail(f"{name}={value!r} was accepted")


# A valid value of every variable, different from the default: each is read (and nothing else).
READ = {"NETWARDEN_STATE_DIR": "/srv/nw", "NETWARDEN_SYSCTL_DIR": "/srv/sysctl.d",
        "NETWARDEN_SYSCTL_DROPIN": "70-mine.conf", "NETWARDEN_SYSCTL_SEARCH_DIRS": '["/srv/a"]',
        "NETWARDEN_SYSCTL_CONF": "/srv/sysctl.conf", "NETWARDEN_PROC_DIR": "/host/proc",
        "NETWARDEN_LOCK_PATH": "/srv/lock", "NETWARDEN_LOCK_TIMEOUT": "0", "NETWARDEN_WSLCONFIG_PATH": "/w",
        "NETWARDEN_THRESHOLDS": '{"dns_slow_ms": 100}', "NETWARDEN_TARGETS": '["a.example:443"]',
        "NETWARDEN_PROBE_TIMEOUT": "2.5", "NETWARDEN_GAI_CONF": "/srv/gai.conf", "NETWARDEN_RESOLV_CONF": "/srv/r",
        "NETWARDEN_RESOLVED_CONF_DIR": "/srv/rd", "NETWARDEN_DNS_FALLBACK": '["192.0.2.1"]',
        "NETWARDEN_MIDDLEBOX_IDLE_BUDGET": "240", "NETWARDEN_TUNNELS_REMOVE_STALE_ROUTES": "true",
        "NETWARDEN_POLICY": '{"ports.range": "enforce"}', "NETWARDEN_POLL_INTERVAL": "0.5",
        "NETWARDEN_CENSUS_INTERVAL": "60", "NETWARDEN_PROBE_INTERVAL": "600", "NETWARDEN_DEBOUNCE": "0",
        "NETWARDEN_WATCH_FILES": '["/srv/w"]', "NETWARDEN_WATCH_KERNEL": "false", "NETWARDEN_HISTORY_SIZE": "5",
        "NETWARDEN_ENFORCE_MAX_PER_HOUR": "7", "NETWARDEN_ROLLBACK_ON_STOP": "1",
        "NETWARDEN_WEBHOOK_URL": "http://127.0.0.1:9/", "NETWARDEN_WEBHOOK_TIMEOUT": "1",
        "NETWARDEN_WEBHOOK_RETRIES": "0", "NETWARDEN_EXEC_HOOK": '["/bin/true"]', "NETWARDEN_EXEC_HOOK_TIMEOUT": "2",
        "NETWARDEN_SOCKET_PATH": "/srv/nw.sock", "NETWARDEN_SOCKET_GROUP": "0", "NETWARDEN_SOCKET_IDLE_TIMEOUT": "9",
        "NETWARDEN_SOCKET_MAX_CLIENTS": "8", "NETWARDEN_METRICS_ADDRESS": "127.0.0.1:9847",
        "NETWARDEN_METRICS_TEXTFILE": "/srv/m.prom", "NETWARDEN_METRICS_TOP_DESTINATIONS": "3"}


def test_every_setting_has_a_variable_that_is_read(no_netwarden_env):
    assert set(READ) == {env_name(f.name) for f in record.fields(Settings)}, "a new key: add it to READ"
    defaults = Settings()
    for name, value in READ.items():
        no_netwarden_env.setenv(name, value)
        settings = load_settings("")
        changed = [f.name for f in record.fields(Settings) if getattr(settings, f.name) != getattr(defaults, f.name)]
        assert changed == [name.removeprefix("NETWARDEN_").lower()], name
        no_netwarden_env.delenv(name)


def misspellings() -> list[tuple[str, str]]:
    names = [env_name(f.name) for f in record.fields(Settings)]
    names += [env_name(f"thresholds.{f.name}") for f in record.fields(Settings().thresholds)]
    return [(n + "S", n) for n in names] + [(n[:-1], n) for n in names if len(n) > 14]


@pytest.mark.parametrize("wrong, right", misspellings())
def test_a_misspelt_variable_is_refused_naming_the_closest_one(no_netwarden_env, wrong, right):
    no_netwarden_env.setenv(wrong, "1")
    with pytest.raises(ConfigError) as e:
        load_settings("")
    assert str(e.value).startswith(f"{wrong}: no such netwarden setting")
    assert f"did you mean {right}?" in str(e.value)


@pytest.mark.parametrize("env, words", [
    ({"NETWARDEN_TARGET": '["a.example:443"]'}, ["NETWARDEN_TARGET:", "did you mean NETWARDEN_TARGETS?"]),
    ({"NETWARDEN_PROBE_TIMEOUTS": "1"}, ["did you mean NETWARDEN_PROBE_TIMEOUT?"]),
    ({"NETWARDEN_THRESHOLDS__NOPE": "1"}, ["NETWARDEN_THRESHOLDS__NOPE: no such netwarden setting"]),
    ({"NETWARDEN_THRESHOLDS__DNS_SLOW_MS__X": "1"}, ["did you mean NETWARDEN_THRESHOLDS__DNS_SLOW_MS?"]),
    ({"NETWARDEN_": "1"}, ["NETWARDEN_: no such"]),
    ({"NETWARDEN_TEST_CACHE": "/var/cache/x"}, ["NETWARDEN_TEST_CACHE: no such"]),
    ({"netwarden_targets": "[]"}, ["upper case (NETWARDEN_TARGETS)"]),
    ({"Netwarden_State_Dir": "/x"}, ["upper case (NETWARDEN_STATE_DIR)"]),
    ({"NETWARDEN_PROBE_TIMEOUT": "nan"}, ["NETWARDEN_PROBE_TIMEOUT: probe_timeout: a finite number", "'nan'"]),
    ({"NETWARDEN_LOCK_TIMEOUT": "inf"}, ["NETWARDEN_LOCK_TIMEOUT: lock_timeout"]),
    ({"NETWARDEN_PROBE_TIMEOUT": "1e400"}, ["probe_timeout: a finite number", "not '1e400'"]),  # not "not inf"
    ({"NETWARDEN_POLICY": '{"keepalive.idle": "\\ud800"}'}, ["policy.keepalive.idle: must be UTF-8 text"]),
    ({"NETWARDEN_POLICY__KEEPALIVE.IDLE": "enf\udcff"}, ["policy.keepalive.idle: must be UTF-8 text"]),  # byte 0xff
    ({"NETWARDEN_SOCKET_GROUP": "9" * 4301}, ["socket_group: '999", "is not a group name or number"]),
    ({"NETWARDEN_THRESHOLDS": '{"dns_slow_ms": 100, "dns_slow_ms": 200}'}, ["'dns_slow_ms' appears twice"]),  # as TOML
    ({"NETWARDEN_POLICY": '{"ports.range": "enforce", "ports.range": "observe"}'}, ["'ports.range' appears twice"]),
    ({"NETWARDEN_POLICY__PORTS.NOPE": "enforce"}, ["NETWARDEN_POLICY__PORTS.NOPE: policy.ports.nope: no such check"]),
    ({"NETWARDEN_SOCKET": "/a.sock", "NETWARDEN_SOCKET_PATH": "/b.sock"}, ["name different sockets"]),
    ({"NETWARDEN_SOCKET": "relative.sock"}, ["NETWARDEN_SOCKET: socket_path: must be an absolute path"]),
])
def test_environment_mistakes_through_the_command_line(env, words):
    assert_one_line_error(run_cli(*ONLY, env=env), 78, "bad configuration:", *words)


def test_the_bare_socket_path_variable_is_not_read(no_netwarden_env):
    no_netwarden_env.setenv("SOCKET_PATH", "/elsewhere.sock")
    no_netwarden_env.setenv("NETWARDEN_STATE_DIR", "/srv/nw")  # something to read: the pydantic path
    assert load_settings("").socket_path == Settings().socket_path
    assert control_socket_path("") == Settings().socket_path


def test_empty_variables_count_as_unset(no_netwarden_env):
    for name in READ:
        no_netwarden_env.setenv(name, "")
    assert load_settings("") == Settings()


@pytest.mark.parametrize("env, file", [
    ({}, None),
    ({"NETWARDEN_SOCKET": "/a.sock"}, None),
    ({"NETWARDEN_SOCKET_PATH": "/b.sock"}, None),
    ({"NETWARDEN_SOCKET": "/a.sock", "NETWARDEN_SOCKET_PATH": "/a.sock"}, None),
    ({"NETWARDEN_SOCKET": "/a.sock", "NETWARDEN_SOCKET_PATH": "/b.sock"}, None),
    ({"NETWARDEN_SOCKET": "relative.sock"}, None),
    ({"NETWARDEN_SOCKET": "/" + "s" * 120}, None),
    ({"NETWARDEN_SOCKET": "/r\udce9seau.sock"}, None),
    ({"NETWARDEN_SOCKET": ""}, 'socket_path = "/from/file.sock"\n'),
    ({"NETWARDEN_SOCKETS": "/a.sock"}, None),
    ({"SOCKET_PATH": "/a.sock"}, None),
    ({}, 'socket_path = "/from/file.sock"\n'),
    ({"NETWARDEN_SOCKET": "/env.sock"}, 'socket_path = "/from/file.sock"\n'),
])
def test_status_finds_the_socket_by_the_rules_the_daemon_follows(no_netwarden_env, tmp_path, env, file):
    """control_socket_path (no pydantic, for `status`) agrees with load_settings (the daemon)."""
    path = tmp_path / "netwarden.toml"
    if file is not None:
        path.write_text(file)
    for name, value in env.items():
        no_netwarden_env.setenv(name, value)
    try:
        expected = load_settings(path if file is not None else "").socket_path
    except ConfigError:
        expected = ConfigError
    try:
        found = control_socket_path(path if file is not None else "")
    except ConfigError:
        found = ConfigError
    assert found == expected


@pytest.mark.parametrize("env", [{"NETWARDEN_SOCKET": "relative.sock"}, {"NETWARDEN_SOCKETS": "/a.sock"},
                                 {"NETWARDEN_SOCKET": "/a.sock", "NETWARDEN_SOCKET_PATH": "/b.sock"}])
def test_status_refuses_a_bad_socket_variable_in_one_line(env):
    assert_one_line_error(run_cli("status", env=env), 78, "bad configuration:")


def json_variables() -> list[str]:
    from netwarden.config_load import _complex_fields

    return ["NETWARDEN_" + key.upper() for key in _complex_fields()]


@pytest.mark.parametrize("name", json_variables())
def test_a_json_variable_of_null_is_refused_not_read_as_unset(no_netwarden_env, name):
    """pydantic-settings reads null as the default: NETWARDEN_TARGETS=null silently meant no targets."""
    no_netwarden_env.setenv(name, "null")
    with pytest.raises(ConfigError) as e:
        load_settings("")
    assert str(e.value).startswith(f"{name}: null is not a "), str(e.value)
    assert "unset the variable for the default" in str(e.value)


def test_a_threshold_key_in_json_is_written_as_in_the_file(no_netwarden_env):
    for key in [f.name for f in record.fields(Settings().thresholds)]:
        for written in (key.upper(), key.title(), key.replace("_", "-")):
            no_netwarden_env.setenv("NETWARDEN_THRESHOLDS", f'{{"{written}": 1}}')
            with pytest.raises(ConfigError) as e:
                load_settings("")
            assert str(e.value).startswith(f"NETWARDEN_THRESHOLDS: thresholds.{written}: no such setting"), str(e.value)
            assert (f"keys are lower-case: {key}" in str(e.value)) == (written.lower() == key), str(e.value)
