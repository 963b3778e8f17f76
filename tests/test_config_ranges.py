"""Every numeric setting has a documented range, checked wherever it is read.

The list of numeric fields is derived from the attrs classes, so a new
``int``, ``float`` or ``timedelta`` field without a :class:`Range` fails
here. Each bound is driven from Python (``ExportConfig(...)``), from a
mapping and from the environment (``load_settings``), with the edge values
on both sides, NaN, infinities, negatives, booleans and huge integers.
"""

from __future__ import annotations

import math
import threading
import typing
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus, InvalidRequest, RateLimit
from reasonkit_export._about import ControllerInfo
from reasonkit_export._models import RANGE, Range, ranges
from reasonkit_export._run_worker import MAINTENANCE_INTERVAL, POLL_INTERVAL, run_worker
from reasonkit_export.settings import SETTINGS, ConfigError, load_settings
from reasonkit_export.testing import StaticDataSource

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
MODELS: tuple[type, ...] = (ExportConfig, RateLimit, ControllerInfo)


def _numeric_fields(cls: type) -> list[str]:
    """Fields whose type (``None`` aside) is int, float or timedelta."""
    hints = typing.get_type_hints(cls)
    names = []
    for field in attrs.fields(cls):
        args = [a for a in typing.get_args(hints[field.name]) if a is not type(None)] or [
            hints[field.name]
        ]
        if any(a in (int, float, timedelta) for a in args):
            names.append(field.name)
    return names


def _bounded() -> list[tuple[type, str, Range]]:
    return [(cls, name, bounds) for cls in MODELS for name, bounds in ranges(cls).items()]


def _params() -> list[Any]:
    return [pytest.param(cls, name, bounds, id=_key(cls, name)) for cls, name, bounds in _bounded()]


def _key(cls: type, name: str) -> str:
    return f"rate_limit.{name}" if cls is RateLimit else name


def _build(cls: type, name: str, value: object) -> object:
    return cls(**{name: value})


def _low_high(bounds: Range) -> tuple[Any, Any, Any, Any]:
    """(low, high, just below low, just above high)."""
    low, high = bounds.low, bounds.high
    if isinstance(low, timedelta) and isinstance(high, timedelta):
        step = timedelta(microseconds=1)
        return low, high, low - step, high + step
    assert not isinstance(low, timedelta)
    assert not isinstance(high, timedelta)
    if bounds.integer:
        return low, high, int(low) - 1, int(high) + 1
    return low, high, math.nextafter(low, -math.inf), math.nextafter(high, math.inf)


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_every_numeric_field_has_a_range(cls: type) -> None:
    """A numeric field of a settings model without a Range fails this test."""
    missing = [name for name in _numeric_fields(cls) if name not in ranges(cls)]
    assert missing == [], f"{cls.__name__} fields without a Range: {missing}"


def test_the_list_of_bounded_fields_is_not_empty() -> None:
    """The derived list covers the fields the issue names (not an empty table)."""
    names = {name for _, name, _ in _bounded()}
    assert {"link_expiry_hours", "lease_seconds", "retry_backoff", "max_attempts"} <= names
    assert {"max_file_size_mb", "max_active", "max_requests", "window"} <= names


@pytest.mark.parametrize(("cls", "name", "bounds"), _params())
def test_edges_are_accepted(cls: type, name: str, bounds: Range) -> None:
    """Both ends of every range are valid values."""
    low, high, _, _ = _low_high(bounds)
    for value in (low, high):
        built = _build(cls, name, value)
        assert getattr(built, name) == value
    if bounds.optional:
        assert getattr(_build(cls, name, None), name) is None


def _bad_values(bounds: Range) -> list[object]:
    _, _, below, above = _low_high(bounds)
    bad: list[object] = [below, above, True, False, "5", math.nan, math.inf, -math.inf]
    if bounds.is_duration:
        bad += [5, timedelta(days=-1), timedelta.max]
    else:
        bad += [-1, 10**400, -(10**400), 1e300, timedelta(seconds=5)]
        if bounds.integer:
            bad += [2.0]
    if not bounds.optional:
        bad.append(None)
    return bad


@pytest.mark.parametrize(("cls", "name", "bounds"), _params())
def test_out_of_range_is_invalid_request_naming_the_setting(
    cls: type, name: str, bounds: Range
) -> None:
    """Past either end, NaN, inf, booleans, strings: InvalidRequest with the setting's name."""
    for value in _bad_values(bounds):
        with pytest.raises(InvalidRequest) as caught:
            _build(cls, name, value)
        assert _key(cls, name) in str(caught.value), (name, value)
        assert bounds.describe() in str(caught.value)


def _setting_keys() -> list[str]:
    return [setting.key for setting in SETTINGS if setting.range is not None]


def test_every_bounded_field_is_a_bounded_setting() -> None:
    """The settings vocabulary carries the range of every bounded model field."""
    assert sorted(_setting_keys()) == sorted(_key(cls, name) for cls, name, _ in _bounded())


def _document(key: str, value: object) -> dict[str, object]:
    section, _, name = key.rpartition(".")
    return {section: {name: value}} if section else {key: value}


@pytest.mark.parametrize(("cls", "name", "bounds"), _params())
def test_settings_mapping_and_environment_apply_the_range(
    cls: type, name: str, bounds: Range
) -> None:
    """from a mapping and from REASONKIT_EXPORT_*: edges load, past them is a ConfigError."""
    key = _key(cls, name)
    setting = next(s for s in SETTINGS if s.key == key)
    low, high, below, above = _low_high(bounds)
    as_text: dict[type, Callable[[Any], str]] = {
        timedelta: lambda d: f"{d.total_seconds()!r}",
        int: str,
        float: repr,
    }
    for good in (low, high):
        text = as_text[type(good)](good)
        settings = load_settings({}, environ={setting.env: text})
        owner = settings.config.rate_limit if cls is RateLimit else settings.config
        loaded = getattr(owner, name)
        assert loaded == good if bounds.is_duration else loaded == pytest.approx(good)
        assert load_settings(_document(key, good), environ={}).config is not None
    texts = ["nan", "inf", "-inf", "-1", "1e300", as_text[type(above)](above)]
    if bounds.low != 0 and bounds.low != timedelta(0):
        texts.append(as_text[type(below)](below))
    for text in texts:
        with pytest.raises(ConfigError) as caught:
            load_settings({}, environ={setting.env: text})
        message = str(caught.value)
        assert key in message or setting.env in message, (key, text, message)
    for value in (math.nan, math.inf, -1, 10**400, True, above):
        with pytest.raises(ConfigError) as caught:
            load_settings(_document(key, value), environ={})
        assert key.rpartition(".")[2] in str(caught.value), (key, value)


def test_the_crashing_values_of_the_issue_are_refused() -> None:
    """link_expiry_hours of 7e7 and lease_seconds of 1e300 no longer pass validation."""
    with pytest.raises(InvalidRequest, match="link_expiry_hours"):
        ExportConfig(link_expiry_hours=7e7)
    with pytest.raises(InvalidRequest, match="lease_seconds"):
        ExportConfig(lease_seconds=1e300)
    with pytest.raises(ConfigError, match="link_expiry_hours"):
        ExportService.from_settings({"link_expiry_hours": 7e7, "storage_backend": "memory"})


def test_an_export_at_the_upper_edges_completes() -> None:
    """The largest allowed values build, store and expire an export without overflowing."""
    config: dict[str, Any] = {
        name: bounds.high
        for name, bounds in ranges(ExportConfig).items()
        if name not in ("max_file_size_mb",)
    }
    config["max_file_size_mb"] = 1_048_576
    service = ExportService(
        sources=[StaticDataSource("profile", [{"name": "Ada"}])],
        config=ExportConfig(
            storage_backend="memory", rate_limit=RateLimit(max_active=10_000), **config
        ),
    )
    job = service.process_export(service.create_export("u1", "json", ["profile"]).id)
    assert job.status is ExportStatus.COMPLETED
    assert job.expires_at is not None
    assert job.completed_at is not None
    assert job.expires_at - job.completed_at == timedelta(hours=87_600)
    assert service.expire_exports() == []
    assert service.recover_stale() == []


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("poll_interval", math.nan),
        ("poll_interval", math.inf),
        ("poll_interval", -1.0),
        ("poll_interval", 1e300),
        ("poll_interval", True),
        ("maintenance_interval", math.nan),
        ("maintenance_interval", -5.0),
        ("maintenance_interval", 1e300),
    ],
)
def test_worker_intervals_are_bounded(keyword: str, value: object) -> None:
    """run_worker refuses an interval a timer could not wait for, naming it."""
    service = ExportService(sources=[], config=ExportConfig(storage_backend="memory"))
    with pytest.raises(InvalidRequest, match=keyword):
        run_worker(service, **{keyword: value})  # type: ignore[arg-type]


def test_worker_interval_edges_run() -> None:
    """The smallest intervals are accepted: one pass with nothing to do returns."""
    service = ExportService(sources=[], config=ExportConfig(storage_backend="memory"))
    stats = run_worker(
        service,
        poll_interval=POLL_INTERVAL.low,  # type: ignore[arg-type]
        maintenance_interval=MAINTENANCE_INTERVAL.low,  # type: ignore[arg-type]
        once=True,
        stop=threading.Event(),
        install_signal_handlers=False,
    )
    assert stats.completed == 0


def test_configuration_page_documents_every_range() -> None:
    """docs/configuration.md has a row with the exact range of every bounded setting."""
    page = DOCS.read_text("utf-8")
    for setting in SETTINGS:
        if setting.range is not None:
            assert f"| `{setting.key}` | {setting.range} |" in page, setting.key
    flags = (("--poll", POLL_INTERVAL), ("--maintenance-interval", MAINTENANCE_INTERVAL))
    for flag, bounds in flags:
        assert f"| `{flag}` | {bounds.describe()} |" in page, flag


def test_range_metadata_is_the_validator() -> None:
    """The Range kept in a field's metadata is the one that validates it."""
    for cls in (ExportConfig, RateLimit):
        for field in attrs.fields(cls):
            if RANGE in field.metadata:
                assert field.validator is field.metadata[RANGE]
