"""One settings vocabulary for every entry point: TOML, environment, mappings.

A setting's name is the name of an :class:`~reasonkit_export.ExportConfig`
field (``link_expiry_hours``), a field of a nested object written as a TOML
table (``[rate_limit] max_active``, ``[controller] name``), or a piece of
wiring (``sources``, ``repository``, ``schedules``, ``storage``,
``storage_options``, ``notifier``, ``deliveries``, ``redactor``). In the
environment the same name is ``REASONKIT_EXPORT_`` plus the path joined by
``_`` in capitals (``REASONKIT_EXPORT_RATE_LIMIT_MAX_ACTIVE``). A table named
after a common prefix groups fields: ``[csv] bom`` is ``csv_bom``.

:data:`SETTINGS` is generated from the models (types, defaults and the
``Attributes:`` of their docstrings), so ``reasonkit-export config --explain``,
the parser and the documentation never drift from :class:`ExportConfig`.

:func:`load_settings` resolves a file or mapping plus the environment into a
:class:`Settings`; :func:`resolve_wiring` imports and opens what it names.
Hosts call
:meth:`ExportService.from_settings <reasonkit_export.ExportService.from_settings>`,
which does both and builds the service.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import tomllib
import types
import typing
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import attrs
import fsspec

from reasonkit_export._about import ControllerInfo
from reasonkit_export._keys import key_lines
from reasonkit_export._models import RANGE, ExportConfig, RateLimit, StorageBackend
from reasonkit_export._redact import mask_url as _mask_url
from reasonkit_export.exceptions import ConfigError, InvalidRequest
from reasonkit_export.protocols import (
    DataSource,
    JobRepository,
    Notifier,
    ScheduleRepository,
    Storage,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAME",
    "ENV_PREFIX",
    "SETTINGS",
    "ConfigError",
    "Setting",
    "Settings",
    "Wiring",
    "artifact_location",
    "close_service",
    "describe_settings",
    "explain_settings",
    "key_lines",
    "load_object",
    "load_settings",
    "load_sources",
    "mask_url",
    "parse_duration",
    "resolve_wiring",
]

logger = logging.getLogger("reasonkit_export.settings")

ENV_PREFIX = "REASONKIT_EXPORT_"
CONFIG_ENV = "REASONKIT_EXPORT_CONFIG"
DEFAULT_CONFIG_NAME = "reasonkit-export.toml"
FILE_SUFFIX = "_file"
MASK = "********"

_SQL_SCHEMES = frozenset({"sqlite", "postgresql", "postgres", "mysql", "mariadb"})
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

# Old CLI names, accepted for one release with a DeprecationWarning.
DEPRECATED: Mapping[str, str] = {"storage_url": "storage", "repository_url": "repository"}


# ------------------------------------------------------------------ the model


@attrs.frozen(kw_only=True)
class Setting:
    """One setting, as ``config --explain`` shows it.

    Attributes:
        key: the dotted name (``link_expiry_hours``, ``rate_limit.max_active``);
            in TOML a dotted name is a key inside a table.
        kind: ``str``, ``int``, ``float``, ``bool``, ``list`` (of strings),
            ``table`` (a TOML table; a JSON object in the environment),
            ``duration`` (seconds, or text such as ``"1d"``, ``"90m"``) or
            ``section`` (a nested object; ``false`` turns it off).
        default: the value when nothing sets it.
        help: one sentence for ``config --explain`` and the docs.
        secret: masked in output; may also come from ``<key>_file``.
        choices: the allowed values, when there is a fixed set.
        field: the ``ExportConfig`` field it sets (``None`` for wiring).
        range: the allowed values of a numeric setting (``0.01-87600 hours``),
            from the model's ``Range``.
    """

    key: str
    kind: str
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    field: str | None = None
    range: str | None = None

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return ENV_PREFIX + self.key.replace(".", "_").upper()


_ATTRIBUTE_LINE = re.compile(r"^(\s*)(\w+): (.*)$")


def _field_docs(cls: type) -> dict[str, str]:
    """The ``Attributes:`` section of a Google-style class docstring, by name."""
    docs: dict[str, str] = {}
    lines = (cls.__doc__ or "").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return docs
    indent: int | None = None
    current: str | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        match = _ATTRIBUTE_LINE.match(line)
        width = len(line) - len(line.lstrip())
        if match and (indent is None or width == indent):
            indent = width
            current = match.group(2)
            docs[current] = match.group(3).strip()
        elif current is not None and indent is not None and width > indent:
            docs[current] += " " + line.strip()
        else:
            break
    return {name: text.replace("``", "") for name, text in docs.items()}


def _kind(hint: Any) -> tuple[str, tuple[str, ...], type | None]:
    """``(kind, choices, nested class)`` for a resolved type hint."""
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = args[0]
        args = list(typing.get_args(hint))
    if isinstance(hint, type) and attrs.has(hint):
        return "section", (), hint
    if isinstance(hint, type) and issubclass(hint, StorageBackend):
        return "str", tuple(member.value for member in hint), None
    if hint is timedelta:
        return "duration", (), None
    if typing.get_origin(hint) is tuple:
        return "list", (), None
    for simple in (bool, int, float, str):
        if hint is simple:
            return simple.__name__, (), None
    raise TypeError(f"no settings kind for {hint!r}")  # pragma: no cover - a new field type


def _default(field: attrs.Attribute[Any]) -> Any:
    default = field.default
    if default is attrs.NOTHING:
        return None
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return default.factory()  # type: ignore[union-attr]
    return default


def _model_settings(cls: type, prefix: str, owner: str | None) -> list[Setting]:
    hints = typing.get_type_hints(cls)
    docs = _field_docs(cls)
    result: list[Setting] = []
    for field in attrs.fields(cls):
        key = prefix + field.name
        kind, choices, nested = _kind(hints[field.name])
        default = _default(field)
        # A field without an Attributes: line still becomes a setting (a test
        # over every field asks for the line), so a new field never breaks the CLI.
        help_text = docs.get(field.name) or "(undocumented)"
        if nested is not None:
            result.append(
                Setting(
                    key=key,
                    kind=kind,
                    default=None if default is None else "on",
                    help=help_text,
                    field=field.name,
                )
            )
            result.extend(_model_settings(nested, key + ".", field.name))
            continue
        if isinstance(default, tuple):
            default = [v.decode() if isinstance(v, bytes) else v for v in default]
        if isinstance(default, StorageBackend):
            default = default.value
        bounds = field.metadata.get(RANGE)
        result.append(
            Setting(
                key=key,
                kind=kind,
                default=default,
                help=help_text,
                secret=not field.repr,
                choices=choices,
                field=owner or field.name,
                range=None if bounds is None else bounds.describe(),
            )
        )
    return result


_WIRING: tuple[Setting, ...] = (
    Setting(
        key="sources",
        kind="list",
        default=[],
        help="data sources as import paths 'module:name'; each names a DataSource, a list "
        "of them, or a factory returning either",
    ),
    Setting(
        key="repository",
        kind="str",
        default=None,
        help="where jobs live: a directory or file:///dir (file repository), "
        "sqlite:///state.db or postgresql+psycopg://user@host/db (extra 'sql'), "
        "memory://, or an import path; default: <local_path>/jobs",
    ),
    Setting(
        key="repository_schema",
        kind="str",
        default=None,
        help="PostgreSQL schema for the SQL repositories (default: the search path)",
    ),
    Setting(
        key="schedules",
        kind="str",
        default=None,
        help="where schedules live, as for repository; default: the same place as repository",
    ),
    Setting(
        key="storage",
        kind="str",
        default=None,
        help="where export files go: a path or any fsspec URL (s3://bucket/prefix, ...), or an "
        "import path; default: from storage_backend (<local_path>/files)",
    ),
    Setting(
        key="storage_options",
        kind="table",
        default={},
        help="options for the fsspec file system (endpoint_url, credentials, ...); values masked",
        secret=True,
    ),
    Setting(
        key="notifier",
        kind="str",
        default=None,
        help="import path of the Notifier (or a factory returning one); default: log lines",
    ),
    Setting(
        key="deliveries",
        kind="list",
        default=[],
        help="import paths of Delivery steps (or factories) run after every completed export",
    ),
    Setting(
        key="redactor",
        kind="str",
        default=None,
        help="import path of a redactor function (category, record, user_id) -> record",
    ),
)

SETTINGS: tuple[Setting, ...] = (
    *_model_settings(ExportConfig, "", None),
    *_WIRING,
)
"""Every setting, generated from :class:`ExportConfig` and its nested models."""

_BY_KEY: dict[str, Setting] = {setting.key: setting for setting in SETTINGS}
_BY_ENV: dict[str, Setting] = {setting.env: setting for setting in SETTINGS}
_SECTIONS: frozenset[str] = frozenset(s.key for s in SETTINGS if s.kind == "section")


def _masked_url(url: str | None) -> str:
    return repr(None if url is None else _mask_url(url, MASK))


@attrs.frozen(kw_only=True)
class Settings:
    """Resolved, validated settings: the options and the wiring of one service.

    Attributes:
        config: every service option, secrets included.
        sources: import paths of the data sources.
        repository: where jobs live (``None``: the default for the config).
        repository_schema: PostgreSQL schema for the SQL repositories.
        schedules: where schedules live (``None``: next to the jobs).
        storage: where files go (``None``: from ``config.storage_backend``).
        storage_options: options for the fsspec file system.
        notifier: import path of the notifier.
        deliveries: import paths of the delivery steps.
        redactor: import path of the redactor.
        origins: for each setting key, where its value came from.
        config_path: the TOML file read, if any.
        warnings: things worth telling the operator (unknown variables).
    """

    config: ExportConfig = attrs.field(repr=False)
    sources: tuple[str, ...] = ()
    repository: str | None = attrs.field(default=None, repr=_masked_url)
    repository_schema: str | None = None
    schedules: str | None = attrs.field(default=None, repr=_masked_url)
    storage: str | None = attrs.field(default=None, repr=_masked_url)
    storage_options: Mapping[str, Any] = attrs.field(
        factory=dict, repr=lambda options: repr(dict.fromkeys(options, MASK))
    )
    notifier: str | None = None
    deliveries: tuple[str, ...] = ()
    redactor: str | None = None
    origins: Mapping[str, str] = attrs.field(factory=dict)
    config_path: Path | None = None
    warnings: tuple[str, ...] = ()

    @property
    def export_config(self) -> ExportConfig:
        """The :class:`ExportConfig` (an alias of :attr:`config`)."""
        return self.config

    @property
    def uses_sql(self) -> bool:
        """Whether jobs live in a SQL database named by URL."""
        return self.repository is not None and _location_kind(self.repository) == "sql"

    @property
    def repository_location(self) -> str:
        """Where jobs live, for people (passwords masked)."""
        if self.repository is not None:
            return mask_url(self.repository)
        if self.config.storage_backend is StorageBackend.LOCAL:
            assert self.config.local_path is not None  # checked by ExportConfig
            return os.fspath(Path(self.config.local_path).resolve() / "jobs")
        return "memory"


# ------------------------------------------------------------------ parsing


def _type_error(where: str, expected: str, value: object) -> ConfigError:
    # The type name only: the value itself may be a secret.
    return ConfigError(f"{where}: expected {expected}, got {type(value).__name__}")


_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")


def parse_duration(value: object, where: str = "duration") -> timedelta:
    """A duration from seconds (a number) or text such as ``"1d"``, ``"1h30m"``, ``"45s"``.

    Raises:
        ConfigError: anything else.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _seconds(value, where)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return _seconds(number, where)
        if text and _DURATION.sub("", text) == "":
            seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
            return _seconds(seconds, where)
    raise ConfigError(
        f"{where}: expected a duration (seconds, or text like '1d', '12h', '1h30m'), got {value!r}"
    )


def _seconds(value: float, where: str) -> timedelta:
    """``timedelta(seconds=value)``; NaN, infinities and overflows are a ConfigError."""
    try:
        return timedelta(seconds=value)
    except (OverflowError, ValueError):
        raise ConfigError(f"{where}: {value!r} seconds is not a usable duration") from None


_EXPECTED = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list of strings",
    "table": "a table",
    "section": "a table or false",
}


def _from_value(setting: Setting, value: object, where: str) -> Any:
    """Check a TOML or mapping value against the setting's kind."""
    kind = setting.kind
    if kind == "duration":
        return parse_duration(value, where)
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{where}: the integer is too large for a number") from None
    if kind == "bool" and isinstance(value, bool):
        return value
    if (
        kind == "list"
        and isinstance(value, list | tuple)
        and all(isinstance(v, str | bytes) for v in value)
    ):
        return list(value)
    if kind == "table" and isinstance(value, Mapping):
        return dict(value)
    if kind == "section" and value is False:
        return "off"
    if kind == "section" and value is None:
        return "off"
    raise _type_error(where, _EXPECTED[kind], value)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _from_env(setting: Setting, text: str, where: str) -> Any:
    """Parse an environment variable's text for the setting's kind."""
    kind = setting.kind
    if kind == "duration":
        return parse_duration(text, where)
    if kind == "str":
        return text
    if kind in ("int", "float"):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            raise ConfigError(f"{where}: expected {_EXPECTED[kind]}") from None
    if kind in ("bool", "section"):
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            if kind == "section":
                return "on" if word in _TRUE else "off"
            return word in _TRUE
        raise ConfigError(f"{where}: expected one of 1/0, true/false, yes/no, on/off")
    if kind == "list":
        # Commas or newlines: keys and import paths never contain either.
        return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError(f"{where}: expected a JSON object") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    return value


def _read_secret_file(setting: Setting, path_text: str, where: str) -> Any:
    """Read a secret setting from the file at ``path_text``."""
    try:
        text = Path(path_text).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path_text!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: {path_text!r} is not UTF-8 text") from None
    lines = key_lines(text)
    if setting.kind == "list":
        return lines
    if len(lines) != 1:
        raise ConfigError(f"{where}: {path_text!r} must hold exactly one key, found {len(lines)}")
    return lines[0]


def _deprecated(old: str, new: str, where: str) -> str:
    message = f"{where}: setting {old!r} is deprecated; use {new!r}"
    warnings.warn(message, DeprecationWarning, stacklevel=4)
    return message


Layer = dict[str, tuple[Any, str]]


def _flatten(document: Mapping[str, Any], where: str) -> Iterable[tuple[str, Any]]:
    """``(dotted key, value)`` pairs: sections and prefix groups are opened up."""
    for key, value in document.items():
        if not isinstance(key, str):
            raise ConfigError(f"{where}: setting names must be strings")
        if isinstance(value, Mapping) and key in _SECTIONS:
            for sub, sub_value in value.items():
                yield f"{key}.{sub}", sub_value
        elif (
            isinstance(value, Mapping)
            and key not in _BY_KEY
            and any(k.startswith(key + "_") for k in _BY_KEY)
        ):
            # A prefix group: [csv] bom = false is csv_bom = false.
            for sub, sub_value in value.items():
                yield f"{key}_{sub}", sub_value
        else:
            yield key, value


def _layer_from_document(document: Mapping[str, Any], origin: str, where: str) -> Layer:
    """Check a parsed TOML document or a mapping into ``{key: (value, origin)}``."""
    layer: Layer = {}
    for key, value in _flatten(document, where):
        here = f"{where}: {key}"
        if key in DEPRECATED:
            _deprecated(key, DEPRECATED[key], where)
            key = DEPRECATED[key]  # noqa: PLW2901 - the new name replaces the old one
        base = key.removesuffix(FILE_SUFFIX)
        if key.endswith(FILE_SUFFIX) and base in _BY_KEY and _BY_KEY[base].secret:
            if not isinstance(value, str | os.PathLike):
                raise _type_error(here, "a file path", value)
            layer[key] = (os.fspath(value), origin)
        elif key in _BY_KEY:
            layer[key] = (_from_value(_BY_KEY[key], value, here), origin)
        else:
            raise ConfigError(f"{where}: unknown setting {key!r}{_suggest(key)}")
    return layer


def _suggest(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(_BY_KEY), n=3)
    if close:
        return f" (did you mean {', '.join(close)}?)"
    return " (see 'reasonkit-export config --explain')"


def _layer_from_toml(path: Path) -> Layer:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's messages give the line and column, never the value.
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    return _layer_from_document(document, f"file {path}", str(path))


def _layer_from_env(environ: Mapping[str, str]) -> tuple[Layer, list[str]]:
    """Read ``REASONKIT_EXPORT_*`` variables; unknown ones become warnings."""
    layer: Layer = {}
    notes: list[str] = []
    old_env = {ENV_PREFIX + old.upper(): new for old, new in DEPRECATED.items()}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        text = environ[name]
        if text == "":
            continue  # an empty variable counts as unset (compose files pass empties)
        setting = _BY_ENV.get(name)
        if name in old_env:
            new = _BY_KEY[old_env[name]]
            _deprecated(name, new.env, "environment")
            setting = new
        if setting is not None:
            layer[setting.key] = (_from_env(setting, text, name), f"env {name}")
            continue
        base = _BY_ENV.get(name.removesuffix(FILE_SUFFIX.upper()))
        if name.endswith(FILE_SUFFIX.upper()) and base is not None and base.secret:
            layer[base.key + FILE_SUFFIX] = (text, f"env {name}")
        else:
            notes.append(f"ignoring unknown environment variable {name}")
    return layer, notes


def _merge(layers: Iterable[Layer]) -> Layer:
    """Later layers win; ``<key>`` and ``<key>_file`` count as one setting."""
    merged: Layer = {}
    for layer in layers:
        bases = [key if key in _BY_KEY else key.removesuffix(FILE_SUFFIX) for key in layer]
        for base in bases:
            if bases.count(base) > 1:
                origin = layer[base][1]
                raise ConfigError(f"{origin}: set either {base} or {base}_file, not both")
        for key, entry in layer.items():
            base = key if key in _BY_KEY else key.removesuffix(FILE_SUFFIX)
            merged.pop(base, None)
            merged.pop(base + FILE_SUFFIX, None)
            merged[key] = entry
    return merged


def _location_kind(url: str) -> str:
    """``import``, ``sql``, ``memory`` or ``file``; ConfigError for other schemes."""
    if _IMPORT_PATH.match(url):
        return "import"
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme.split("+", 1)[0] in _SQL_SCHEMES:
        return "sql"
    if scheme == "memory":
        return "memory"
    # A one-letter "scheme" is a Windows drive, i.e. a plain path.
    if scheme in ("", "file") or len(scheme) == 1:
        return "file"
    raise ConfigError(
        f"repository: unsupported scheme {scheme!r}; use a directory, file:///dir, "
        "sqlite:///state.db, postgresql+psycopg://..., memory:// or module:name"
    )


def _find_config(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    if path is not None:
        return Path(path)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default if default.is_file() else None


def load_settings(
    path_or_mapping: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve and validate the settings.

    Args:
        path_or_mapping: a TOML file, or a mapping of the same shape (nested
            mappings for tables); ``None`` reads ``$REASONKIT_EXPORT_CONFIG``,
            else ``./reasonkit-export.toml`` if it exists, else defaults only.
        environ: the environment (default ``os.environ``);
            ``REASONKIT_EXPORT_*`` variables override the file or mapping, and
            an empty variable counts as unset.

    Raises:
        ConfigError: a missing or malformed file, an unknown key, a value of
            the wrong type, an unreadable ``*_file``, or an invalid option.
    """
    environ = os.environ if environ is None else environ
    layers: list[Layer] = []
    config_path: Path | None = None
    if isinstance(path_or_mapping, Mapping):
        layers.append(_layer_from_document(path_or_mapping, "mapping", "settings"))
    else:
        config_path = _find_config(path_or_mapping, environ)
        if config_path is not None:
            layers.append(_layer_from_toml(config_path))
    env_layer, notes = _layer_from_env(environ)
    layers.append(env_layer)
    merged = _merge(layers)

    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for setting in SETTINGS:
        if setting.key in merged:
            values[setting.key], origins[setting.key] = merged[setting.key]
        elif setting.key + FILE_SUFFIX in merged:
            file_path, origin = merged[setting.key + FILE_SUFFIX]
            where = f"{setting.key}{FILE_SUFFIX} ({origin})"
            values[setting.key] = _read_secret_file(setting, file_path, where)
            origins[setting.key] = f"{origin} ({setting.key}{FILE_SUFFIX} {file_path})"
        else:
            values[setting.key] = setting.default
            origins[setting.key] = "default"
    for note in notes:
        logger.warning("%s", note)
    return _settings(values, origins, config_path, tuple(notes))


def _section(cls: type, key: str, values: Mapping[str, Any], origins: Mapping[str, str]) -> Any:
    """Build a nested object (RateLimit, ControllerInfo), or None when turned off."""
    fields = {
        s.key.removeprefix(key + "."): values[s.key]
        for s in SETTINGS
        if s.key.startswith(key + ".")
    }
    touched = any(origins[k] != "default" for k in origins if k.startswith(key + "."))
    state = values[key]
    if state == "off":
        if touched:
            raise ConfigError(f"{key} is turned off but {key}.* fields are set")
        return None
    if state is None and not touched:
        return None
    try:
        return cls(**{name: value for name, value in fields.items() if value is not None})
    except InvalidRequest as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
    except TypeError as exc:  # a required field is missing
        missing = [f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING]
        raise ConfigError(f"{key} needs {', '.join(f'{key}.{m}' for m in missing)}") from exc


def _settings(
    values: Mapping[str, Any],
    origins: Mapping[str, str],
    config_path: Path | None,
    notes: tuple[str, ...],
) -> Settings:
    options: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.field is None or "." in setting.key:
            continue
        value = values[setting.key]
        if setting.kind == "section":
            nested = RateLimit if setting.key == "rate_limit" else ControllerInfo
            options[setting.key] = _section(nested, setting.key, values, origins)
        elif setting.kind == "list":
            options[setting.key] = tuple(value)
        else:
            options[setting.key] = value
    for key in ("repository", "schedules"):
        if values[key] is not None:
            _location_kind(values[key])  # refuse an unknown scheme before anything connects
    if values["repository_schema"] is not None and (
        values["repository"] is None or _location_kind(values["repository"]) != "sql"
    ):
        raise ConfigError("repository_schema applies to SQL repositories only")
    try:
        config = ExportConfig(**options)
    except InvalidRequest as exc:
        # ExportConfig's messages name the field and never quote a key.
        raise ConfigError(f"invalid configuration: {exc}") from None
    return Settings(
        config=config,
        sources=tuple(values["sources"]),
        repository=values["repository"],
        repository_schema=values["repository_schema"],
        schedules=values["schedules"],
        storage=values["storage"],
        storage_options=values["storage_options"],
        notifier=values["notifier"],
        deliveries=tuple(values["deliveries"]),
        redactor=values["redactor"],
        origins=origins,
        config_path=config_path,
        warnings=notes,
    )


# ------------------------------------------------------------------ building


def load_object(spec: str, what: str) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted) and return it.

    Raises:
        ConfigError: a malformed path, a failed import or a missing attribute.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"{what}: {spec!r} is not an import path of the form 'module:name'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{what}: cannot import module {module_name!r} for {spec!r} "
            f"({type(exc).__name__}: {exc}); is it installed or on PYTHONPATH?"
        ) from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(f"{what}: {module_name!r} has no {attribute!r}") from None
    return target


def _call_factory(spec: str, what: str, factory: Callable[[], Any]) -> Any:
    try:
        return factory()
    except Exception as exc:
        # The type only: the message of host code may carry anything.
        raise ConfigError(f"{what}: factory {spec!r} raised {type(exc).__name__}") from exc


def _instance(spec: str, what: str, protocol: type) -> Any:
    """The object an import path names: the object itself, or what its factory returns."""
    target = load_object(spec, what)
    if isinstance(target, protocol) and not isinstance(target, type):
        return target
    if not callable(target):
        raise ConfigError(f"{what}: {spec!r} is neither a {protocol.__name__} nor a factory")
    made = _call_factory(spec, what, target)
    if not isinstance(made, protocol):
        raise ConfigError(
            f"{what}: factory {spec!r} returned a {type(made).__name__}, "
            f"which is not a {protocol.__name__}"
        )
    return made


def load_sources(specs: Iterable[str]) -> list[DataSource]:
    """Import each ``module:name`` and collect the data sources it names.

    The name may be a DataSource, a list of them, or a factory returning either.

    Raises:
        ConfigError: a malformed spec, a failed import, a missing attribute, a
            factory that raised, or something that is not a DataSource.
    """
    sources: list[DataSource] = []
    for spec in specs:
        target = load_object(spec, "sources")
        made = target
        if not isinstance(target, DataSource) and callable(target):
            made = _call_factory(spec, "sources", target)
        elif not isinstance(target, DataSource | list | tuple):
            raise ConfigError(
                f"sources: {spec!r} is neither a DataSource, a list of them, nor a factory"
            )
        items = [made] if isinstance(made, DataSource) else made
        if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
            raise ConfigError(
                f"sources: factory {spec!r} returned {type(made).__name__}, "
                "not a DataSource or a list of them"
            )
        for item in items:
            if not isinstance(item, DataSource):
                raise ConfigError(
                    f"sources: {spec!r} gave a {type(item).__name__}, "
                    "which is not a DataSource (needs .category and .records)"
                )
            sources.append(item)
    return sources


def _is_local(url: str) -> bool:
    return fsspec.utils.get_protocol(url) in ("file", "local")


def _local_path(url: str) -> Path:
    """The absolute directory a path or ``file://`` URL names."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"{url!r}: file URLs must name a local path (file:///dir)")
        return Path(urllib.request.url2pathname(parts.path)).resolve()
    return Path(url).resolve()


def _repository(
    spec: str, schema: str | None, which: str, signing_keys: tuple[bytes, ...] = ()
) -> JobRepository | ScheduleRepository:
    kind = _location_kind(spec)
    jobs = which == "repository"
    if kind == "import":
        return _instance(spec, which, JobRepository if jobs else ScheduleRepository)  # type: ignore[no-any-return]
    if kind == "memory":
        from reasonkit_export.repositories import (
            InMemoryJobRepository,
            InMemoryScheduleRepository,
        )

        return InMemoryJobRepository() if jobs else InMemoryScheduleRepository()
    if kind == "file":
        from reasonkit_export.repositories import FileJobRepository, FileScheduleRepository

        root = _local_path(spec)
        if jobs:  # keyed user folder names, as ExportService.from_config makes them
            return FileJobRepository(root, signing_keys=signing_keys)
        return FileScheduleRepository(root)
    try:
        from reasonkit_export.repositories.sql import SqlJobRepository, SqlScheduleRepository
    except ImportError as exc:
        raise ConfigError(
            f"{which} names a SQL database, which needs the 'sql' extra "
            "(pip install 'reasonkit-export[sql]')"
        ) from exc
    if jobs:
        return SqlJobRepository(spec, schema=schema)
    return SqlScheduleRepository(spec, schema=schema)


def _storage(settings: Settings) -> Storage | None:
    from reasonkit_export.storage import FsspecStorage

    spec = settings.storage
    if spec is None:
        if settings.config.storage_backend is StorageBackend.S3:
            return FsspecStorage(
                f"s3://{settings.config.s3_bucket}", storage_options=settings.storage_options
            )
        return None  # from_config's default: <local_path>/files, or memory
    if _IMPORT_PATH.match(spec):
        return _instance(spec, "storage", Storage)  # type: ignore[no-any-return]
    url = os.fspath(_local_path(spec)) if _is_local(spec) else spec
    return FsspecStorage(url, storage_options=settings.storage_options)


def _close_all(objects: Iterable[object]) -> None:
    for obj in objects:
        close = getattr(obj, "close", None)
        if callable(close):
            close()


@attrs.frozen(kw_only=True)
class Wiring:
    """The objects the wiring settings name, ready for :class:`ExportService`.

    ``storage`` is ``None`` when it comes from ``config.storage_backend``
    (:meth:`ExportService.from_config` then places files and, unless given,
    jobs and schedules under ``local_path``).
    """

    sources: tuple[DataSource, ...]
    repository: JobRepository | None
    schedules: ScheduleRepository | None
    storage: Storage | None
    notifier: Notifier | None
    deliveries: tuple[Any, ...]
    redactor: Callable[..., Any] | None
    clock: Callable[[], datetime] | None


def resolve_wiring(
    settings: Settings,
    *,
    with_sources: bool = True,
    sources: Iterable[DataSource] | None = None,
    repository: JobRepository | None = None,
    schedules: ScheduleRepository | None = None,
    storage: Storage | None = None,
    notifier: Notifier | None = None,
    deliveries: Sequence[Any] | None = None,
    redactor: Callable[..., Any] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Wiring:
    """Import, open and connect what the wiring settings name.

    Keyword arguments given here replace the matching setting (hosts often
    pass Python objects rather than import paths).

    Args:
        settings: from :func:`load_settings`.
        with_sources: import the data sources (commands that never build an
            export skip it, so a broken host module does not block them).
        sources: the data sources (instead of ``sources``).
        repository: the job repository (instead of ``repository``).
        schedules: the schedule repository (instead of ``schedules``).
        storage: the storage (instead of ``storage``).
        notifier: the notifier (instead of ``notifier``).
        deliveries: the delivery steps (instead of ``deliveries``).
        redactor: the redactor (instead of ``redactor``).
        clock: returns the current aware UTC time (tests).

    Raises:
        ConfigError: an import path cannot be loaded, or the SQL extra is missing.
        InvalidRequest, DatabaseError, StorageError: the backends refused.
    """
    if sources is None:
        sources = load_sources(settings.sources) if with_sources else []
    opened: list[object] = []
    try:
        if repository is None and settings.repository is not None:
            repository = _repository(  # type: ignore[assignment]
                settings.repository,
                settings.repository_schema,
                "repository",
                settings.config.signing_keys,
            )
            opened.append(repository)
        schedules_spec = settings.schedules
        if (
            schedules_spec is None
            and settings.repository is not None
            and _location_kind(settings.repository) != "import"
        ):
            schedules_spec = settings.repository
        if schedules is None and schedules_spec is not None:
            schedules = _repository(schedules_spec, settings.repository_schema, "schedules")  # type: ignore[assignment]
            opened.append(schedules)
        if storage is None:
            storage = _storage(settings)
        if notifier is None and settings.notifier is not None:
            notifier = _instance(settings.notifier, "notifier", Notifier)
        if deliveries is None:
            deliveries = [_delivery(spec) for spec in settings.deliveries]
        if redactor is None and settings.redactor is not None:
            redactor = load_object(settings.redactor, "redactor")
            if not callable(redactor):
                raise ConfigError(f"redactor: {settings.redactor!r} is not callable")
    except BaseException:
        _close_all(opened)
        raise
    return Wiring(
        sources=tuple(sources),
        repository=repository,
        schedules=schedules,
        storage=storage,
        notifier=notifier,
        deliveries=tuple(deliveries),
        redactor=redactor,
        clock=clock,
    )


def _delivery(spec: str) -> Any:
    from reasonkit_export.delivery._base import Delivery

    return _instance(spec, "deliveries", Delivery)


class _HasRepositories(Protocol):
    @property
    def repository(self) -> JobRepository: ...

    @property
    def schedules(self) -> ScheduleRepository: ...


def close_service(service: _HasRepositories) -> None:
    """Release what the service's repositories hold (SQL engines)."""
    seen: list[object] = []
    for repository in (service.repository, service.schedules):
        if not any(repository is other for other in seen):
            seen.append(repository)
    _close_all(seen)


def artifact_location(settings: Settings, key: str) -> str:
    """Where a stored artifact is: an absolute path for local storage, else a URL."""
    if settings.storage is None:
        config = settings.config
        if config.storage_backend is StorageBackend.LOCAL:
            assert config.local_path is not None  # checked by ExportConfig
            return os.fspath(Path(config.local_path).resolve() / "files" / key)
        if config.storage_backend is StorageBackend.S3:
            return f"s3://{config.s3_bucket}/{key}"
        return f"memory://{key}"
    if _IMPORT_PATH.match(settings.storage):
        return f"{settings.storage} {key}"
    if _is_local(settings.storage):
        return os.fspath(_local_path(settings.storage) / key)
    return mask_url(settings.storage.rstrip("/")) + "/" + key


# ------------------------------------------------------------------ display


def mask_url(url: str) -> str:
    """Hide passwords in a URL (``postgresql://app:***@db/app``, ``?password=***``)."""
    return _mask_url(url, MASK)


def _json(value: Any) -> str:
    if isinstance(value, timedelta):
        return json.dumps(_duration_text(value))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _duration_text(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in _UNITS.items():
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _value(setting: Setting, settings: Settings) -> Any:
    if setting.field is None:
        return getattr(settings, setting.key)
    if "." in setting.key:
        section, _, name = setting.key.partition(".")
        obj = getattr(settings.config, section)
        return None if obj is None else getattr(obj, name)
    value = getattr(settings.config, setting.key)
    if setting.kind == "section":
        return "on" if value is not None else "off"
    return value


def _shown(setting: Setting, settings: Settings) -> str:
    """The value of a setting as ``config`` prints it (secrets masked)."""
    value = _value(setting, settings)
    if setting.key == "storage_options":
        return _json(dict.fromkeys(value, MASK))
    if setting.key in ("storage", "repository", "schedules") and value is not None:
        value = mask_url(value)
    if setting.secret:
        if not value:
            return "(not set)"
        if isinstance(value, tuple | list):
            return f"[{', '.join([json.dumps(MASK)] * len(value))}]"
        return json.dumps(MASK)
    if value is None:
        return "(not set)"
    if isinstance(value, StorageBackend):
        value = value.value
    return _json(value)


def describe_settings(settings: Settings) -> list[tuple[str, str, str]]:
    """``(key, shown value, origin)`` for every setting, secrets masked."""
    return [
        (setting.key, _shown(setting, settings), settings.origins.get(setting.key, "default"))
        for setting in SETTINGS
    ]


def _kind_text(setting: Setting) -> str:
    if setting.choices:
        return "one of " + ", ".join(setting.choices)
    return {
        "list": "list of strings",
        "table": "table / JSON object",
        "duration": "duration (seconds or '1d', '12h', '1h30m')",
        "section": "table; false turns it off",
    }.get(setting.kind, setting.kind)


def explain_settings() -> list[str]:
    """``config --explain``: every setting with its type, default and variable."""
    lines: list[str] = []
    for setting in SETTINGS:
        default = setting.default
        if default is None:
            shown = "(not set)"
        elif isinstance(default, timedelta):
            shown = json.dumps(_duration_text(default))
        else:
            shown = json.dumps(default)
        key = setting.key
        if "." in key:
            section, _, name = key.partition(".")
            key = f"{key}  ([{section}] {name})"
        lines.append(f"{key}  [{setting.env}]  {_kind_text(setting)}, default {shown}")
        lines.append(f"    {setting.help}")
        if setting.range is not None:
            lines.append(f"    range: {setting.range}")
        if setting.secret and setting.kind != "table":
            lines.append(f"    secret: masked in output; or {setting.key}{FILE_SUFFIX} = PATH")
    for old, new in DEPRECATED.items():
        lines.append(f"{old}  [{ENV_PREFIX}{old.upper()}]  deprecated: use {new}")
    return lines
