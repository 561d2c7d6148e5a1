"""Every value a user can write for every key (issue #11): the classes, derived from the Settings
record so that a new key is covered (or the test says what it needs). A value is used, or
refused by a ConfigError naming the key; never an exception of another kind."""

import json
import re
import typing
from pathlib import Path

import pytest

from netwarden import record
from netwarden.config import ConfigError, Settings, load_settings
from netwarden.config_rules import check_settings, check_thresholds, range_text

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.usefixtures("no_netwarden_env")


def all_keys() -> list[tuple[str, record.Field, object]]:
    """(key, field, type) of every setting: nested tables as themselves and as `table.key`."""
    hints = typing.get_type_hints(Settings)
    keys = []
    for f in record.fields(Settings):
        keys.append((f.name, f, hints[f.name]))
        if record.is_record(hints[f.name]):
            sub_hints = typing.get_type_hints(hints[f.name])
            keys += [(f"{f.name}.{s.name}", s, sub_hints[s.name]) for s in record.fields(hints[f.name])]
    return keys


KEYS = all_keys()
NUMBERS = [(key, f) for key, f, _ in KEYS if "bounds" in f.metadata]


def kind(hint) -> str:
    args = typing.get_args(hint)
    if hint is bool:
        return "bool"
    if hint in (int, float):
        return "number"
    if record.is_record(hint):
        return "table"
    if typing.get_origin(hint) is dict:
        return "policy"
    if typing.get_origin(hint) is tuple:
        return "paths" if args[0] is Path else "strings"
    if Path in (hint, *args):
        return "path"
    assert str in (hint, *args), f"{hint}: a new kind of setting; give it wrong values below"
    return "text"


def toml(key: str, literal: str) -> str:
    table, _, sub = key.rpartition(".")
    return f"[{table}]\n{sub} = {literal}\n" if table else f"{key} = {literal}\n"


def refused(tmp_path, text: str) -> str:
    path = tmp_path / "netwarden.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(path)
    message = str(e.value)
    assert "\n" not in message and len(message) < 600, message
    assert str(path) in message, message  # where: the file
    return message


def loaded(tmp_path, text: str) -> Settings:
    path = tmp_path / "netwarden.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


# ---- numbers -----------------------------------------------------------------------------------


def out_of_range(f) -> list[str]:
    bounds, integer = f.metadata["bounds"], f.type == "int"
    below = bounds["gt"] if "gt" in bounds else bounds["ge"] - (1 if integer else 0.01)
    return [repr(below), repr(bounds["le"] + 1), repr(-bounds["le"])]


NOT_NUMBERS = [
    "nan", "+nan", "-nan", "inf", "+inf", "-inf", "1e300", "-1e300", "1" + "0" * 400,  # non-finite, huge
    "true", "false",  # booleans (pydantic would take them as 1 and 0)
    '"3"', '"soon"', '""', '"nan"', '"3,5"', '"٣"',  # strings, localized
    "[1]", "{ a = 1 }", "[[[[1]]]]", "1979-05-27", "07:32:00",  # lists, tables, dates
]


@pytest.mark.parametrize("key, f", NUMBERS, ids=[k for k, _ in NUMBERS])
def test_every_number_outside_its_finite_range_is_refused_naming_the_key(tmp_path, key, f):
    for literal in NOT_NUMBERS + out_of_range(f) + (["1.5"] if f.type == "int" else []):
        message = refused(tmp_path, toml(key, literal))
        assert key in message and not any(words in message for words in LIBRARY_WORDS), (literal, message)


@pytest.mark.parametrize("key, f", NUMBERS, ids=[k for k, _ in NUMBERS])
def test_every_number_from_the_environment_outside_its_range_is_refused(no_netwarden_env, key, f):
    name = "NETWARDEN_" + key.upper().replace(".", "__")
    for value in ["nan", "inf", "-inf", "1e400", "1" + "0" * 5000, "true", "soon", "٣", "3,5", "[1]",
                  *out_of_range(f)]:
        no_netwarden_env.setenv(name, value)
        with pytest.raises(ConfigError) as e:
            load_settings("")
        assert str(e.value).startswith(f"{name}: {key}"), (value, str(e.value))


JSON_NOT_NUMBERS = ["true", "null", '"3"', '"soon"', '"3,5"', '"\u0663"', "[1]", '{"a": 1}', "[[[[1]]]]"]
NOT_JSON = {"NaN": "NaN is not JSON", "Infinity": "Infinity is not JSON", "-Infinity": "-Infinity is not JSON",
            "1e400": "1e400 overflows a double", "1" + "0" * 5000: "a number of more than 4300 digits"}


@pytest.mark.parametrize("key, f", [(k, f) for k, f in NUMBERS if k.startswith("thresholds.")],
                         ids=[k for k, _ in NUMBERS if k.startswith("thresholds.")])
def test_every_threshold_in_the_json_table_variable_is_typed_as_in_the_file(no_netwarden_env, key, f):
    """NETWARDEN_THRESHOLDS is JSON, typed as TOML is: what the file refuses, the variable does."""
    sub = key.partition(".")[2]
    for literal in JSON_NOT_NUMBERS + out_of_range(f) + (["5.0", "1e2"] if f.type == "int" else []):
        no_netwarden_env.setenv("NETWARDEN_THRESHOLDS", f'{{"{sub}": {literal}}}')
        with pytest.raises(ConfigError) as e:
            load_settings("")
        assert str(e.value).startswith(f"NETWARDEN_THRESHOLDS: {key}"), (literal, str(e.value))
    for literal, why in NOT_JSON.items():  # refused before any key is read, in the words of the socket's JSON
        no_netwarden_env.setenv("NETWARDEN_THRESHOLDS", f'{{"{sub}": {literal}}}')
        with pytest.raises(ConfigError) as e:
            load_settings("")
        assert str(e.value).startswith(f"NETWARDEN_THRESHOLDS: not valid JSON ({why})"), (literal, str(e.value))
    companion = {k.partition(".")[2] for k in companions(key)}
    no_netwarden_env.setenv("NETWARDEN_THRESHOLDS", json.dumps({k: f.default for k in companion}))
    assert getattr(load_settings("").thresholds, sub) == f.default


def test_a_refused_number_is_echoed_as_written_not_as_pydantic_converted_it(tmp_path):
    assert refused(tmp_path, "probe_timeout = 4000\n").endswith("not 4000")  # not 4000.0
    assert "not inf: not a finite number (1e400 is read as inf)" in refused(tmp_path, "probe_timeout = 1e400\n")
    assert refused(tmp_path, "probe_timeout = nan\n").endswith("not nan, which is no number")


def companions(key: str) -> list[str]:
    """The keys that must move with `key` to stay consistent (warning <= critical)."""
    bounds = dict(NUMBERS)[key].metadata["bounds"]
    return [k for k, f in NUMBERS if k.partition(".")[0] == key.partition(".")[0] and "." in key
            and f.metadata["bounds"] == bounds] or [key]


@pytest.mark.parametrize("key, f", NUMBERS, ids=[k for k, _ in NUMBERS])
def test_every_number_takes_the_ends_of_its_range(tmp_path, key, f):
    bounds = f.metadata["bounds"]
    low = bounds.get("ge", bounds.get("gt", 0) + (1 if f.type == "int" else 0.001))
    for value in (low, bounds["le"]):
        text = "".join(toml(k, repr(value)) for k in companions(key)).replace("\n[thresholds]\n", "\n")
        settings = loaded(tmp_path, text)
        table, _, sub = key.rpartition(".")
        assert getattr(getattr(settings, table) if table else settings, sub) == value


def test_the_readme_gives_every_numbers_range():
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `")]
    for key, f in NUMBERS:
        leaf = key.rpartition(".")[2]
        row = next((r for r in rows if f"{leaf}`" in r.split("|")[1]), None)
        assert row is not None, f"README's configuration table has no row for {key}"
        assert f"`{range_text(f.metadata['bounds'])}`" in row, (key, row)


def test_the_defaults_follow_the_rules():
    """Settings() skips its own rules for untouched defaults (start-up), so check them here."""
    check_settings(Settings())
    check_thresholds(Settings().thresholds)


# ---- every other kind --------------------------------------------------------------------------

MANY = "[" + ", ".join(['"/x"'] * 300) + "]"
WRONG = {
    "bool": ['"maybe"', "2", "-1", "1.5", "[true]", "{ a = true }", "1979-05-27", "nan",
             '"yes"', '"no"', '"off"', '"on"', '"true"', '"false"', '""', "0", "1", "0.0", "1.0"],  # pydantic took these
    "path": ["5", "true", "1.5", '["/a"]', '{ a = "/a" }', "1979-05-27", '""', '"relative"', '"./x"',
             '"/a\\u0000b"', '"/' + "a" * 5000 + '"'],
    "paths": ['"/a"', "5", "[5]", '["relative"]', '[["/a"]]', '["/a\\u0000"]', '[""]', MANY],
    "strings": ['"x"', "5", "true", "{ a = 1 }", "[5]", '[["x"]]', '["x\\u0000"]', MANY],
    "policy": ["5", '"enforce"', "[]", '{ "ports.range" = 5 }', '{ "ports.range" = { a = 1 } }',
               '{ "ports.range" = "sometimes" }', '{ "ports.nope" = "enforce" }'],
    "table": ["5", '"x"', "[]", "{ nope = 1 }", "{ dns_slow_ms = { a = 1 } }"],
}
WRONG_TEXT = {
    "sysctl_dropin": ["5", "true", "[]", '"a/b.conf"', '"60-netwarden"', '"\\u0000.conf"', '""'],
    "webhook_url": ["5", "true", '"ftp://x"', '"http://a b"', '"http://a\\u0000"', '"http://a\\n"', '""',
                    '"http://"', '"https://"', '"http:///hook"', '"http://:8080/"', '"http:hook"', '"//host/hook"',
                    '"http://[::1/"', '"http://[zz]/"', '"http://a:99999/"', '"http://a:0/"', '"http://a:-1/"',
                    '"http://a:x/"', '"http://a:８０/"', '"http://a:٨٠/"', '"http://a:99999/x"'],
    "metrics_address": ["5", '"0.0.0.0:9847"', '"127.0.0.1"', '"127.0.0.1:0"', '"127.0.0.1:x"', '"[::1]:70000"',
                        '"localhost:٩٨٤٧"', '""'],
    "socket_group": ["true", "1.5", "-1", "[5]", '"-x"', '"a b"', '"réseau"', '"a\\u0000"', '"4294967295"',
                     f'"{"a" * 33}"', f'"{"9" * 4301}"'],
}
OTHERS = [(key, kind(hint)) for key, f, hint in KEYS if "bounds" not in f.metadata]


@pytest.mark.parametrize("key, kind_", OTHERS, ids=[k for k, _ in OTHERS])
def test_every_key_refuses_wrong_types_and_values_naming_the_key(tmp_path, key, kind_):
    literals = WRONG_TEXT.get(key) if kind_ == "text" else WRONG[kind_]
    assert literals, f"{key}: add the wrong values of this text setting to WRONG_TEXT"
    for literal in literals:
        message = refused(tmp_path, toml(key, literal))
        assert key.partition(".")[0] in message, (literal, message)
        assert not any(words in message for words in LIBRARY_WORDS), (literal, message)


# What pydantic or urllib would say, in a programmer's words: never shown to the admin.
LIBRARY_WORDS = ("Input should", "valid integer", "valid number", "could not be cast", "Port out of range",
                 "Invalid IPv6 URL", "set_int_max_str_digits")


LOCALIZED_PATH = "/var/lib/réseau/日本語"


@pytest.mark.parametrize("key", [k for k, kind_ in OTHERS if kind_ in ("path", "paths")])
def test_every_path_takes_non_ascii_names(tmp_path, key):
    literal = f'"{LOCALIZED_PATH}"' if kind(typing.get_type_hints(Settings)[key]) == "path" else f'["{LOCALIZED_PATH}"]'
    value = getattr(loaded(tmp_path, toml(key, literal)), key)
    assert Path(LOCALIZED_PATH) in (value if isinstance(value, tuple) else (value,))


@pytest.mark.parametrize("key", [k for k, kind_ in OTHERS if kind_ in ("path", "paths")])
def test_every_path_from_the_environment_must_be_valid_utf8(no_netwarden_env, key):
    """Bytes that are not UTF-8 reach Python as surrogates, which nothing can print."""
    name = f"NETWARDEN_{key.upper()}"
    no_netwarden_env.setenv(name, "/var/lib/r\udce9seau" if kind(typing.get_type_hints(Settings)[key]) == "path"
                            else '["/var/lib/r\udce9seau"]')
    with pytest.raises(ConfigError, match=f"^{name}: {key}: .* is not valid UTF-8$"):
        load_settings("")


@pytest.mark.parametrize("literal, group", [("5", "5"), ('"5"', "5"), ('"wheel"', "wheel"), ('""', ""),
                                            ('"_svc-a.b$"', "_svc-a.b$"), ("0", "0")])
def test_socket_group_is_a_name_or_a_number_as_the_readme_says(tmp_path, literal, group):
    assert loaded(tmp_path, f"socket_group = {literal}\n").socket_group == group


@pytest.mark.parametrize("text", [
    'sysctl_dropin = "70-réseau.conf"\n',
    'webhook_url = "https://例え.jp/hook"\n',
    'exec_hook = ["/usr/local/bin/notifier", "--label", "réseau 日本"]\n',
    'targets = ["xn--bcher-kva.example:443", "[2001:db8::1]:443", "198.18.0.2:8443"]\n',
    'dns_fallback = ["192.0.2.53", "2001:db8::53", "fe80::1%eth0"]\n',
])
def test_legitimate_values_of_text_settings_load(tmp_path, text):
    loaded(tmp_path, text)


@pytest.mark.parametrize("literal, words", [
    ('[""]', "is empty"), ('["", "--x"]', "is empty"), ('["notify"]', "absolute path"),
    ('["./notify.sh"]', "absolute path"), ('["bin/notify"]', "absolute path"),
])
def test_exec_hook_runs_a_program_named_by_its_absolute_path(tmp_path, literal, words):
    message = refused(tmp_path, f"exec_hook = {literal}\n")
    assert "exec_hook" in message and words in message, message


def test_exec_hook_s_other_items_are_the_admin_s_arguments(tmp_path):
    assert loaded(tmp_path, 'exec_hook = ["/bin/cat", "", " "]\n').exec_hook == ("/bin/cat", "", " ")
    assert loaded(tmp_path, "exec_hook = []\n").exec_hook == ()  # no hook


@pytest.mark.parametrize("url", ["http://127.0.0.1:8099/hook", "https://hooks.example/T0/secret?x=1", "HTTP://A/",
                                 "http://[2001:db8::1]:8443/", "https://user:pass@hooks.example/", "http://a:/"])
def test_a_webhook_url_of_any_usual_form_loads(tmp_path, url):
    assert loaded(tmp_path, f'webhook_url = "{url}"\n').webhook_url == url


def test_a_refused_webhook_url_is_not_repeated_in_the_message(tmp_path):
    message = refused(tmp_path, 'webhook_url = "https://hooks.example:99999/T0/secret-token"\n')
    assert "secret-token" not in message and "webhook_url" in message


@pytest.mark.parametrize("key", [k for k, kind_ in OTHERS if kind_ in ("path", "paths")])
def test_an_empty_path_is_called_empty(tmp_path, key):
    """"" becomes Path("."): the message said "not '.'", which nobody wrote."""
    literal = '""' if kind(typing.get_type_hints(Settings)[key]) == "path" else '["/etc", ""]'
    message = refused(tmp_path, toml(key, literal))
    assert f"{key}: must be an absolute path, not empty" in message, message


def test_booleans_from_the_environment_are_still_words(no_netwarden_env):
    for value, expected in (("true", True), ("false", False), ("1", True), ("0", False)):
        no_netwarden_env.setenv("NETWARDEN_ROLLBACK_ON_STOP", value)
        assert load_settings("").rollback_on_stop is expected
    for value in ("TRUE", "yes", "off", " 1", "on"):  # README: true, false, 1 or 0, nothing else
        no_netwarden_env.setenv("NETWARDEN_ROLLBACK_ON_STOP", value)
        with pytest.raises(ConfigError, match="true, false, 1 or 0"):
            load_settings("")


def test_unknown_keys_are_refused_at_every_level(tmp_path):
    assert re.search(r"bogus: no such setting", refused(tmp_path, "bogus = 1\n"))
    assert "thresholds.bogus" in refused(tmp_path, "[thresholds]\nbogus = 1\n")
    assert "no such check" in refused(tmp_path, '[policy]\n"bogus" = "enforce"\n')


KEYS_OF_CONTROL = {"an ANSI escape": ("\x1b[31mred", "\\x1b[31mred"), "a NUL": ("dns_slow_ms\x00", "dns_slow_ms\\x00"),
                   "a newline": ("a\nb", "a\\nb"), "a bidi override": ("x\u202ey", "x\\u202ey")}


@pytest.mark.parametrize("where", ["file", "JSON variable"])
@pytest.mark.parametrize("kind", KEYS_OF_CONTROL)
def test_a_key_holding_control_characters_is_named_escaped_on_one_line(tmp_path, where, kind):
    """The refusal names the key as written, escaped: an ESC must not colour the terminal, and a
    NUL must not make 'dns_slow_ms\\0' read as the real key."""
    from factories import assert_one_line_error, run_cli

    key, escaped = KEYS_OF_CONTROL[kind]
    if where == "file":
        path = tmp_path / "netwarden.toml"
        path.write_text(f"[thresholds]\n{json.dumps(key)} = 1\n", encoding="utf-8")
        r = run_cli("--config", str(path))
    else:
        r = run_cli(env={"NETWARDEN_THRESHOLDS": json.dumps({key: 1})})
    message = assert_one_line_error(r, 78, f"thresholds.{escaped}: no such setting")
    assert message.rstrip("\n").isprintable(), message
