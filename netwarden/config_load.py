"""Reading a configuration: the TOML file's bytes and the NETWARDEN_* environment, validated by a
pydantic-settings class derived from config.py's records. Imported only when there is
something to read (pydantic costs ~220 ms of start-up).

Every failure is a ConfigError of one line naming where the value came from (the file, or the
variable) and the key; nothing a user can write may end in a traceback.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
import typing
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from netwarden import jsontext, record
from netwarden.config import (ENV_PREFIX, SOCKET_ENV, ConfigError, Settings, Thresholds, socket_from_environment,
                              toml_module)
from netwarden.config_rules import NESTED, SettingError, check_names
from netwarden.jsontext import plain_digits_limit
from netwarden.target import shown


def validate(data: bytes | None, config_file: Path, environment: dict[str, str]) -> Settings:
    """Settings from the file's bytes (None: no file) and the NETWARDEN_* variables (the
    environment wins over the file, the file over the defaults)."""
    table = parse_toml(data, config_file) if data is not None else {}
    return validate_table(table, config_file if data is not None else None, environment)


def validate_table(table: dict, source: Path | None, environment: dict[str, str] | None) -> Settings:
    """Settings from a table as a config file holds it (`source` names it in errors: the file,
    a support bundle's recorded settings) and the NETWARDEN_* variables (None: the table alone,
    whatever this process's environment holds)."""
    reading_environment = _READ_ENVIRONMENT.set(environment is not None)
    try:
        return _validate_table(table, source, environment or {})
    finally:
        _READ_ENVIRONMENT.reset(reading_environment)


def _validate_table(table: dict, source: Path | None, environment: dict[str, str]) -> Settings:
    check_names(environment)
    parsed = check_json(environment)
    check_scalars(environment)
    socket = socket_from_environment(environment)
    _check_typed(table, source)
    _check_thresholds_json(parsed.get("thresholds"))
    where = _Where(environment, source)
    file_table = _FILE_TABLE.set(table)
    try:  # NETWARDEN_SOCKET: passed in, above the rest of the environment and the file
        loaded = _settings_class()(**({"socket_path": socket} if socket else {}))
        settings = _to_record(Settings, loaded)
    except ValidationError as e:
        error = e.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        problem = _PLAIN.get(error["type"]) or _plain(" ".join(error["msg"].removeprefix("Value error, ").split()))
        raise ConfigError(f"{where(key)}: {key}: {problem}{more}") from None
    except SettingError as e:
        raise ConfigError(f"{where(e.key)}: {e}") from None
    except SettingsError as e:  # check_json reads what pydantic-settings would choke on; in case it missed some
        raise ConfigError(f"{ENV_PREFIX}* environment: {e}") from None
    except RecursionError:
        raise ConfigError(f"{where('')}: values nested too deeply") from None
    finally:
        _FILE_TABLE.reset(file_table)
    _check_policy_ids(settings, where)
    return settings


# pydantic's words for the mistakes a person makes, in the words of a config file (TOML, and JSON
# in the environment)
_PLAIN = {"extra_forbidden": "no such setting (README, Configuration, lists them)",
          "tuple_type": 'must be a list, e.g. ["a", "b"]', "list_type": 'must be a list, e.g. ["a", "b"]',
          "dict_type": "must be a table (in the environment a JSON object)",
          "model_type": "must be a table (in the environment a JSON object)",
          "model_attributes_type": "must be a table (in the environment a JSON object)",
          "int_parsing_size": "a number far too long", "string_type": "must be text",
          "int_from_float": "must be a whole number", "path_type": "must be a path (text)",
          "int_type": "must be a whole number", "float_type": "a number far too large",
          "string_unicode": "must be UTF-8 text (it holds a byte that is not UTF-8, or a lone surrogate)"}


def _plain(message: str) -> str:
    """pydantic's other messages, "Input should be 'observe', 'enforce', …" and the like, in the
    same words as the rest: "must be …"."""
    if message.startswith("Input should be "):
        return "must be " + message.removeprefix("Input should be ")
    return message.replace("Input is ", "is ", 1) if message.startswith("Input is ") else message


# ---- the environment ---------------------------------------------------------------------------


def _complex_fields() -> dict[str, type]:
    """Settings keys whose environment value is JSON (lists and tables), by key."""
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in record.fields(Settings)
            if typing.get_origin(hints[f.name]) in (tuple, dict) or record.is_record(hints[f.name])}


def check_json(environment: dict[str, str]) -> dict:
    """Lists and tables come as JSON; what is not JSON is refused here, naming the variable
    (pydantic-settings would raise a SettingsError naming neither it nor the reason). The values
    read, by key."""
    parsed = {}
    for key, hint in _complex_fields().items():
        name = ENV_PREFIX + key.upper()
        if not environment.get(name):
            continue
        example = '["a", "b"]' if typing.get_origin(hint) is tuple else '{"key": "value"}'
        try:  # strict: NaN, Infinity and 1e400 are refused here, as on the socket and in bundles
            value = jsontext.loads(environment[name], unique_keys=True)
        except ValueError as e:
            raise ConfigError(f"{name}: not valid JSON ({e}); lists and tables are written as JSON, "
                              f"e.g. {name}='{example}'") from None
        if value is None:  # pydantic-settings reads null as "not set": a file cannot say that either
            raise ConfigError(f"{name}: null is not a {'list' if example[0] == '[' else 'table'}; "
                              f"unset the variable for the default, or write e.g. {name}='{example}'")
        parsed[key] = value
    return parsed


def _check_thresholds_json(given) -> None:
    """NETWARDEN_THRESHOLDS (`given`: its JSON, None when unset) is typed as TOML is: 5.0 or "5"
    for a whole number is refused as in the file, and a key is written as in the file
    (pydantic-settings would take PORTS_RANGE_WARNING)."""
    if given is None:
        return
    known = {f.name for f in record.fields(Thresholds)}
    for name in given if isinstance(given, dict) else ():
        if name not in known:
            lower = f"; keys are lower-case: {name.lower()}" if name.lower() in known else ""
            raise ConfigError(f"{ENV_PREFIX}THRESHOLDS: thresholds.{name}: {_PLAIN['extra_forbidden']}{lower}")
    _check_typed({"thresholds": given}, f"{ENV_PREFIX}THRESHOLDS")


_NUMBER = {"int": re.compile(r"-?[0-9]+"), "float": re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")}


def check_scalars(environment: dict[str, str]) -> None:
    """Booleans and numbers in the environment are written one way, as README says: `true`,
    `false`, `1` or `0`; plain decimal numbers. pydantic would also take "yes", "off", "TRUE",
    " 3" and "1_0" (ten), and a setting that lets --apply delete routes must not be on by a typo."""
    for cls, prefix, key in ((Settings, ENV_PREFIX, ""), (Thresholds, f"{ENV_PREFIX}THRESHOLDS{NESTED}", "thresholds.")):
        for f in record.fields(cls):
            name = prefix + f.name.upper()
            value = environment.get(name)
            if not value:
                continue
            if f.type == "bool" and value not in ("true", "false", "1", "0"):
                raise ConfigError(f"{name}: {key}{f.name}: true, false, 1 or 0, not {shown(value)}")
            kind = "float" if "float" in str(f.type) else "int" if "int" in str(f.type) else None
            if "bounds" not in f.metadata or not kind:
                continue
            plain = _NUMBER[kind].fullmatch(value) is not None
            if plain and kind == "float":  # 1e400 is written plainly, yet is no finite number
                plain = math.isfinite(float(value))
            if not plain:
                what = "a whole number in plain digits" if kind == "int" else \
                    "a finite number (digits, a decimal point, an exponent: 2.5, 1e3)"
                raise ConfigError(f"{name}: {key}{f.name}: {what}, not {shown(value)}")


class _Where:
    """Where a key's value came from: the variable that set it, else the config file."""

    def __init__(self, environment: dict[str, str], config_file: Path | None):
        self.set = {name.upper(): name for name, value in environment.items() if value}
        self.config_file = config_file

    def __call__(self, key: str) -> str:
        head, _, rest = key.partition(".")
        candidates = [f"{ENV_PREFIX}{head}{NESTED}{rest}".upper()] if rest else []
        candidates += SOCKET_ENV if head == "socket_path" else [(ENV_PREFIX + head).upper()]
        for candidate in candidates:
            if candidate in self.set:
                return self.set[candidate]
        if self.config_file is not None:
            return str(self.config_file)
        return f"{ENV_PREFIX}* environment"


# ---- the file ----------------------------------------------------------------------------------


def parse_toml(data: bytes, path: Path) -> dict:
    tomllib = toml_module()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start})") from None
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from None
    except ValueError as e:  # TOMLDecodeError, and int()'s limit on digits
        raise ConfigError(f"{path}: not valid TOML: {plain_digits_limit(e)}") from None


def _check_typed(table: dict, path: Path | str) -> None:
    """TOML (and the JSON of a table variable) has numbers and booleans: there a quoted number is a
    mistake, as `true` for a number is (_not_a_boolean), and a boolean is `true` or `false`, not
    "yes", "off" or 0 (which pydantic would take). A flat variable is only a string: check_scalars."""
    when = _a_date(table)
    if when:  # TOML has dates and times; no setting is one (pydantic would word it as a number's or a path's)
        raise ConfigError(f"{path}: {when}: a date or time, which no setting takes")
    for cls, values, prefix in ((Settings, table, ""), (Thresholds, table.get("thresholds"), "thresholds.")):
        for f in record.fields(cls) if isinstance(values, dict) else ():
            if f.name not in values:
                continue
            value = values[f.name]
            if "bounds" in f.metadata and isinstance(value, str):
                raise ConfigError(f"{path}: {prefix}{f.name}: a number, not a string ({shown(value)})")
            if "bounds" in f.metadata and (value is None or isinstance(value, (list, dict))):
                what = "null" if value is None else "a list" if isinstance(value, list) else "a table"
                raise ConfigError(f"{path}: {prefix}{f.name}: a number, not {what}")
            if f.type == "bool" and not isinstance(value, bool):
                raise ConfigError(f"{path}: {prefix}{f.name}: true or false, not {shown(value)}")
            if f.type == "int" and isinstance(value, float):  # 1e2 is TOML's float: the environment refuses it too
                raise ConfigError(f"{path}: {prefix}{f.name}: a whole number in plain digits, not {shown(value)}")


def _a_date(value, key: str = "") -> str | None:
    """The key of the first date, time or datetime in a TOML table (lists and tables walked)."""
    import datetime

    if isinstance(value, (datetime.date, datetime.time)):
        return key or "(top level)"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for name, item in items:
        found = _a_date(item, f"{key}.{name}" if key else str(name))
        if found:
            return found
    return None


# ---- the pydantic class ------------------------------------------------------------------------


def _not_a_boolean(value):
    """pydantic takes true for 1; a boolean where a number goes is a mistake."""
    if isinstance(value, bool):
        raise ValueError(f"a number, not {str(value).lower()}")
    return value


def _not_empty_path(value):
    """"" would become Path("."), and then be refused as "not '.'": say what was written."""
    if value == "" or (isinstance(value, (list, tuple)) and "" in value):
        raise ValueError("must be an absolute path, not empty")
    return value


def _group_number_as_text(value):
    """socket_group = 5 (TOML integer): README says a group name or number."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


FIELD_VALIDATORS = {"socket_group": _group_number_as_text}


def _fields(cls) -> dict:
    """pydantic fields for a config record: nested records become nested models, numbers
    refuse booleans. The record itself checks the rest when it is built (_to_record)."""
    hints = typing.get_type_hints(cls)
    fields = {}
    for f in record.fields(cls):
        hint = hints[f.name]
        if record.is_record(hint):
            nested = create_model(hint.__name__, __config__=ConfigDict(extra="forbid"), **_fields(hint))
            fields[f.name] = (nested, Field(default_factory=nested))
            continue
        if "bounds" in f.metadata:
            hint = Annotated[hint, BeforeValidator(_not_a_boolean)]
        if Path in (hint, *typing.get_args(hint)):
            hint = Annotated[hint, BeforeValidator(_not_empty_path)]
        if f.name in FIELD_VALIDATORS:
            hint = Annotated[hint, BeforeValidator(FIELD_VALIDATORS[f.name])]
        default = ({"default": f.default} if f.default is not record.MISSING
                   else {"default_factory": f.default_factory})
        fields[f.name] = (hint, Field(**default))
    return fields


def _to_record(cls, model: BaseModel):
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _to_record(hints[f.name], getattr(model, f.name)) if record.is_record(hints[f.name])
                  else getattr(model, f.name) for f in record.fields(cls)})


# The config file's table, for the class built once (below) to read in this call.
_FILE_TABLE: contextvars.ContextVar[dict] = contextvars.ContextVar("netwarden_config_file")
_READ_ENVIRONMENT: contextvars.ContextVar[bool] = contextvars.ContextVar("read_environment", default=True)


class _FileSource(PydanticBaseSettingsSource):
    """The config file's table, as parse_toml read it (so reading fails in one place)."""

    def get_field_value(self, field, field_name):
        return _FILE_TABLE.get().get(field_name), field_name, False

    def __call__(self) -> dict:
        return _FILE_TABLE.get()


@functools.cache  # built once (~5 ms): the daemon builds Settings at every reload
def _settings_class() -> type[BaseSettings]:
    class Base(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED, env_ignore_empty=True,
                                          extra="forbid")

        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                       file_secret_settings):
            if not _READ_ENVIRONMENT.get():
                return init_settings, _FileSource(settings_cls)
            return init_settings, env_settings, _FileSource(settings_cls)  # the first one wins

    return create_model("Settings", __base__=Base, **_fields(Settings))


def _check_policy_ids(settings: Settings, where: _Where) -> None:
    from netwarden.checks import CHECK_IDS

    for check_id in settings.policy:
        if check_id not in CHECK_IDS:
            key = f"policy.{check_id}"
            hint = ("; a check id has a dot, which a shell variable's name cannot: write "
                    """NETWARDEN_POLICY='{"keepalive.idle": "enforce"}'""") if where(key).startswith(ENV_PREFIX) else ""
            raise ConfigError(f"{where(key)}: {key}: no such check (known: {', '.join(CHECK_IDS)}){hint}")
