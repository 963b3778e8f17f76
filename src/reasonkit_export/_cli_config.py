"""Settings for the ``reasonkit-export`` command line: a TOML file plus environment variables.

:func:`load_settings` reads ``reasonkit-export.toml`` (or the file named by
``--config`` / ``REASONKIT_EXPORT_CONFIG``), lets ``REASONKIT_EXPORT_<KEY>``
environment variables override it, reads secrets given as ``<key>_file``
paths, and validates everything up front (an :class:`ExportConfig` is built on
the spot). :func:`build_service` turns the result into an
:class:`ExportService`. :data:`SETTINGS` describes every setting once; the
parser, ``config --explain`` and the masking of ``config`` all read it.
"""

from __future__ import annotations

import importlib
import json
import os
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import fsspec

from reasonkit_export._models import ExportConfig, StorageBackend
from reasonkit_export._redact import mask_url as _mask_url
from reasonkit_export._service import ExportService
from reasonkit_export.exceptions import ConfigError, InvalidRequest
from reasonkit_export.protocols import DataSource, JobRepository, ScheduleRepository
from reasonkit_export.repositories import FileJobRepository, FileScheduleRepository
from reasonkit_export.storage import FsspecStorage

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAME",
    "ENV_PREFIX",
    "SETTINGS",
    "ConfigError",
    "Setting",
    "Settings",
    "artifact_location",
    "build_service",
    "close_service",
    "describe_settings",
    "key_lines",
    "load_settings",
    "load_sources",
    "mask_url",
]

ENV_PREFIX = "REASONKIT_EXPORT_"
CONFIG_ENV = "REASONKIT_EXPORT_CONFIG"
DEFAULT_CONFIG_NAME = "reasonkit-export.toml"
FILE_SUFFIX = "_file"
MASK = "********"

_SQL_SCHEMES = frozenset({"sqlite", "postgresql", "postgres"})


@attrs.frozen
class Setting:
    """One configuration setting.

    Attributes:
        key: the TOML key (also ``REASONKIT_EXPORT_<KEY>`` in the environment).
        kind: ``str``, ``int``, ``float``, ``bool``, ``list`` (of strings) or
            ``table`` (TOML table; JSON object in the environment).
        default: the value when neither the file nor the environment sets it.
        help: one sentence for ``config --explain`` and the docs.
        secret: masked in ``config`` output and may come from ``<key>_file``.
    """

    key: str
    kind: str
    default: Any
    help: str
    secret: bool = False

    @property
    def env(self) -> str:
        """The environment variable that overrides this setting."""
        return ENV_PREFIX + self.key.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "storage_url",
        "str",
        "reasonkit-exports/files",
        "where export files go: a path or any fsspec URL (file://, s3://bucket/prefix, ...)",
    ),
    Setting(
        "storage_options",
        "table",
        {},
        "options for the fsspec file system (endpoint_url, credentials, ...); values masked",
    ),
    Setting(
        "repository_url",
        "str",
        "reasonkit-exports/jobs",
        "where jobs and schedules live: a directory path or file:///dir (file repository), "
        "sqlite:///state.db or postgresql+psycopg://user@host/db (SQL, extra 'sql')",
    ),
    Setting(
        "repository_schema",
        "str",
        None,
        "PostgreSQL schema for the SQL repositories (default: the search path)",
    ),
    Setting(
        "sources",
        "list",
        [],
        "data sources as 'module:factory'; each factory returns a DataSource or a list of them",
    ),
    Setting("link_expiry_hours", "float", 24.0, "hours a completed export stays downloadable"),
    Setting("max_file_size_mb", "int", 500, "size cap of one export file, in MiB"),
    Setting("compression_enabled", "bool", True, "gzip JSON and CSV exports"),
    Setting("compression_level", "int", 1, "gzip/deflate level, 0-9 (1: fast, about 10% larger)"),
    Setting(
        "encryption_key",
        "str",
        None,
        "age identity (AGE-SECRET-KEY-1...) that encrypts new exports and decrypts them",
        secret=True,
    ),
    Setting(
        "encryption_recipients",
        "list",
        [],
        "extra age recipients (age1...) every new export is encrypted to",
    ),
    Setting(
        "decryption_identities",
        "list",
        [],
        "extra age identities that only decrypt (e.g. rotated-out keys)",
        secret=True,
    ),
    Setting(
        "signing_keys",
        "list",
        [],
        "keys (32+ bytes each) that sign download tokens; the first signs, all verify",
        secret=True,
    ),
    Setting(
        "download_url_template",
        "str",
        None,
        "download link for completed exports, with {job_id} and optionally {token}",
    ),
    Setting("lease_seconds", "float", 300.0, "how long a worker's claim on a job lasts"),
    Setting("max_attempts", "int", 3, "attempts before an export that keeps crashing fails"),
    Setting(
        "rate_limit",
        "bool",
        True,
        "enforce the per-user rate limit (1 active export, 5 per day) when creating exports",
    ),
)

_BY_KEY: dict[str, Setting] = {setting.key: setting for setting in SETTINGS}


@attrs.frozen(kw_only=True)
class Settings:
    """The resolved, validated configuration of one CLI run.

    Attributes:
        storage_url: where export files go (path or fsspec URL).
        storage_options: options for the fsspec file system.
        repository_url: where jobs and schedules live.
        repository_schema: PostgreSQL schema for the SQL repositories.
        sources: ``module:factory`` strings naming the data sources.
        export_config: every service option, secrets included.
        origins: for each setting key, where its value came from
            (``default``, ``file <path>``, ``env <VAR>``, with ``_file`` noted).
        config_path: the TOML file read, if any.
        warnings: things worth telling the operator (unknown variables).
    """

    storage_url: str = attrs.field(repr=lambda url: repr(mask_url(url)))
    storage_options: Mapping[str, Any] = attrs.field(repr=lambda o: _mask_options(o))  # noqa: PLW0108 - defined below
    repository_url: str = attrs.field(repr=lambda url: repr(mask_url(url)))
    repository_schema: str | None
    sources: tuple[str, ...]
    export_config: ExportConfig = attrs.field(repr=False)
    origins: Mapping[str, str]
    config_path: Path | None
    warnings: tuple[str, ...] = ()

    @property
    def uses_sql(self) -> bool:
        """Whether ``repository_url`` names a SQL database."""
        return _repository_kind(self.repository_url) == "sql"


# ------------------------------------------------------------------ parsing


def _type_error(where: str, expected: str, value: object) -> ConfigError:
    # The type name only: the value itself may be a secret.
    return ConfigError(f"{where}: expected {expected}, got {type(value).__name__}")


def _from_toml(setting: Setting, value: object, where: str) -> Any:
    """Check a TOML value's type against the setting's kind."""
    kind = setting.kind
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "list" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if kind == "table" and isinstance(value, dict):
        return dict(value)
    expected = {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "list": "a list of strings",
        "table": "a table",
    }[kind]
    raise _type_error(where, expected, value)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _from_env(setting: Setting, text: str, where: str) -> Any:
    """Parse an environment variable's text for the setting's kind."""
    kind = setting.kind
    if kind == "str":
        return text
    if kind in ("int", "float"):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            noun = "an integer" if kind == "int" else "a number"
            raise ConfigError(f"{where}: expected {noun}") from None
    if kind == "bool":
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ConfigError(f"{where}: expected one of 1/0, true/false, yes/no, on/off")
    if kind == "list":
        # Commas or newlines: keys never contain either.
        return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError(f"{where}: expected a JSON object") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    return value


def key_lines(text: str) -> list[str]:
    """The non-blank, non-comment lines of a key file (age-keygen files have comments)."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


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


def _layer_from_toml(path: Path) -> dict[str, tuple[Any, str]]:
    """Read the TOML file into ``{key: (value, origin)}``."""
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
    origin = f"file {path}"
    layer: dict[str, tuple[Any, str]] = {}
    for key, value in document.items():
        where = f"{path}: {key}"
        base = key.removesuffix(FILE_SUFFIX)
        if key.endswith(FILE_SUFFIX) and base in _BY_KEY and _BY_KEY[base].secret:
            if not isinstance(value, str):
                raise _type_error(where, "a file path", value)
            layer[key] = (value, origin)
        elif key in _BY_KEY:
            layer[key] = (_from_toml(_BY_KEY[key], value, where), origin)
        else:
            known = ", ".join(sorted(_BY_KEY))
            raise ConfigError(f"{path}: unknown setting {key!r} (known: {known})")
    return layer


def _layer_from_env(environ: Mapping[str, str]) -> tuple[dict[str, tuple[Any, str]], list[str]]:
    """Read ``REASONKIT_EXPORT_*`` variables; unknown ones become warnings."""
    layer: dict[str, tuple[Any, str]] = {}
    warnings: list[str] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        text = environ[name]
        if text == "":
            continue  # an empty variable counts as unset (compose files pass empties)
        key = name.removeprefix(ENV_PREFIX).lower()
        base = key.removesuffix(FILE_SUFFIX)
        if key.endswith(FILE_SUFFIX) and base in _BY_KEY and _BY_KEY[base].secret:
            layer[key] = (text, f"env {name}")
        elif key in _BY_KEY:
            layer[key] = (_from_env(_BY_KEY[key], text, name), f"env {name}")
        else:
            warnings.append(f"ignoring unknown environment variable {name}")
    return layer, warnings


def _merge(layers: Iterable[dict[str, tuple[Any, str]]]) -> dict[str, tuple[Any, str]]:
    """Later layers win; ``<key>`` and ``<key>_file`` count as one setting."""
    merged: dict[str, tuple[Any, str]] = {}
    for layer in layers:
        bases = [key.removesuffix(FILE_SUFFIX) if key not in _BY_KEY else key for key in layer]
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


def _repository_kind(url: str) -> str:
    """``sql``, ``file``, or raise ConfigError for an unsupported scheme."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme.split("+", 1)[0] in _SQL_SCHEMES:
        return "sql"
    # A one-letter "scheme" is a Windows drive, i.e. a plain path.
    if scheme in ("", "file") or len(scheme) == 1:
        return "file"
    raise ConfigError(
        f"repository_url: unsupported scheme {scheme!r}; use a directory, file:///dir, "
        "sqlite:///state.db or postgresql+psycopg://..."
    )


def _find_config(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    if path is not None:
        return Path(path)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default if default.is_file() else None


def load_settings(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Settings:
    """Resolve and validate the configuration.

    Args:
        path: the TOML file; ``None`` means ``$REASONKIT_EXPORT_CONFIG``, else
            ``./reasonkit-export.toml`` if it exists, else defaults only.
        environ: the environment (``os.environ``); ``REASONKIT_EXPORT_*``
            variables override the file, and an empty variable counts as unset.

    Raises:
        ConfigError: a missing or malformed file, an unknown key, a value of
            the wrong type, an unreadable ``*_file``, or an invalid option.
    """
    config_path = _find_config(path, environ)
    layers = []
    if config_path is not None:
        layers.append(_layer_from_toml(config_path))
    env_layer, warnings = _layer_from_env(environ)
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

    repository_url: str = values["repository_url"]
    if _repository_kind(repository_url) == "file" and values["repository_schema"] is not None:
        raise ConfigError("repository_schema applies to PostgreSQL repositories only")
    try:
        export_config = ExportConfig(
            # build_service hands the service its storage and repositories itself;
            # ExportConfig's own backend fields are not used by the CLI.
            storage_backend=StorageBackend.MEMORY,
            link_expiry_hours=values["link_expiry_hours"],
            max_file_size_mb=values["max_file_size_mb"],
            compression_enabled=values["compression_enabled"],
            compression_level=values["compression_level"],
            encryption_key=values["encryption_key"],
            encryption_recipients=tuple(values["encryption_recipients"]),
            decryption_identities=tuple(values["decryption_identities"]),
            signing_keys=tuple(values["signing_keys"]),
            download_url_template=values["download_url_template"],
            lease_seconds=values["lease_seconds"],
            max_attempts=values["max_attempts"],
        )
        if not values["rate_limit"]:
            export_config = attrs.evolve(export_config, rate_limit=None)
    except InvalidRequest as exc:
        # ExportConfig's messages name the field and never quote a key.
        raise ConfigError(f"invalid configuration: {exc}") from None
    return Settings(
        storage_url=values["storage_url"],
        storage_options=values["storage_options"],
        repository_url=repository_url,
        repository_schema=values["repository_schema"],
        sources=tuple(values["sources"]),
        export_config=export_config,
        origins=origins,
        config_path=config_path,
        warnings=tuple(warnings),
    )


# ------------------------------------------------------------------ building


def load_sources(specs: Iterable[str]) -> list[DataSource]:
    """Import each ``module:factory`` and collect the data sources it returns.

    Raises:
        ConfigError: a malformed spec, a failed import, a missing or
            non-callable factory, a factory that raised, or a result that is
            not a DataSource.
    """
    sources: list[DataSource] = []
    for spec in specs:
        module_name, sep, attribute = spec.partition(":")
        if not sep or not module_name or not attribute:
            raise ConfigError(f"sources: {spec!r} is not of the form 'module:factory'")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"sources: cannot import module {module_name!r} for {spec!r} "
                f"({type(exc).__name__}: {exc}); is it installed or on PYTHONPATH?"
            ) from exc
        for part in attribute.split("."):
            try:
                target = getattr(target, part)
            except AttributeError:
                raise ConfigError(f"sources: {module_name!r} has no {attribute!r}") from None
        if not callable(target):
            raise ConfigError(f"sources: {spec!r} is not callable")
        try:
            made = target()
        except Exception as exc:
            # The type only: the message of host code may carry anything.
            raise ConfigError(f"sources: factory {spec!r} raised {type(exc).__name__}") from exc
        items = [made] if isinstance(made, DataSource) else made
        if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
            raise ConfigError(
                f"sources: factory {spec!r} returned {type(made).__name__}, "
                "not a DataSource or a list of them"
            )
        for item in items:
            if not isinstance(item, DataSource):
                raise ConfigError(
                    f"sources: factory {spec!r} returned a {type(item).__name__}, "
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


def _repositories(settings: Settings) -> tuple[JobRepository, ScheduleRepository]:
    if not settings.uses_sql:
        root = _local_path(settings.repository_url)
        keys = settings.export_config.signing_keys  # keyed user folder names
        return FileJobRepository(root, signing_keys=keys), FileScheduleRepository(root)
    try:
        from reasonkit_export.repositories.sql import SqlJobRepository, SqlScheduleRepository
    except ImportError as exc:
        raise ConfigError(
            "repository_url names a SQL database, which needs the 'sql' extra "
            "(pip install 'reasonkit-export[sql]')"
        ) from exc
    jobs = SqlJobRepository(settings.repository_url, schema=settings.repository_schema)
    try:
        schedules = SqlScheduleRepository(
            settings.repository_url, schema=settings.repository_schema
        )
    except BaseException:
        jobs.close()
        raise
    return jobs, schedules


def build_service(settings: Settings, *, with_sources: bool = True) -> ExportService:
    """Build the service the settings describe.

    Args:
        settings: from :func:`load_settings`.
        with_sources: import the data sources (commands that never build an
            export skip it, so a broken host module does not block them).

    Raises:
        ConfigError: a source cannot be loaded, or the SQL extra is missing.
        InvalidRequest, DatabaseError, StorageError: the backends refused.
    """
    sources = load_sources(settings.sources) if with_sources else []
    url = settings.storage_url
    if _is_local(url):
        url = os.fspath(_local_path(url))
    storage = FsspecStorage(url, storage_options=settings.storage_options)
    jobs, schedules = _repositories(settings)
    return ExportService(
        sources=sources,
        repository=jobs,
        schedules=schedules,
        storage=storage,
        config=settings.export_config,
    )


def close_service(service: ExportService) -> None:
    """Release what the service's repositories hold (SQL engines)."""
    for repository in (service.repository, service.schedules):
        close = getattr(repository, "close", None)
        if callable(close):
            close()


def artifact_location(settings: Settings, key: str) -> str:
    """Where a stored artifact is: an absolute path for local storage, else a URL."""
    if _is_local(settings.storage_url):
        return os.fspath(_local_path(settings.storage_url) / key)
    return mask_url(settings.storage_url.rstrip("/")) + "/" + key


# ------------------------------------------------------------------ display


def mask_url(url: str) -> str:
    """Hide passwords in a URL (``postgresql://app:***@db/app``, ``?password=***``)."""
    return _mask_url(url, MASK)


def _mask_options(options: Mapping[str, Any]) -> str:
    return repr(dict.fromkeys(options, MASK))


def _shown(setting: Setting, settings: Settings) -> str:
    """The value of a setting as ``config`` prints it (secrets masked)."""
    value: Any
    if setting.key == "storage_options":
        value = dict.fromkeys(settings.storage_options, MASK)
    elif setting.key in ("storage_url", "repository_url"):
        value = mask_url(getattr(settings, setting.key))
    elif setting.key in ("repository_schema", "sources"):
        value = getattr(settings, setting.key)
    elif setting.key == "rate_limit":
        value = settings.export_config.rate_limit is not None
    else:
        value = getattr(settings.export_config, setting.key)
    if setting.secret:
        if not value:
            return "(not set)"
        if isinstance(value, tuple | list):
            return f"[{', '.join([json.dumps(MASK)] * len(value))}]"
        return json.dumps(MASK)
    if value is None:
        return "(not set)"
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value, ensure_ascii=False)


def describe_settings(settings: Settings) -> list[tuple[str, str, str]]:
    """``(key, shown value, origin)`` for every setting, secrets masked."""
    return [
        (setting.key, _shown(setting, settings), settings.origins[setting.key])
        for setting in SETTINGS
    ]
