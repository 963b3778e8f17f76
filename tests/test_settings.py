"""One settings vocabulary: TOML, environment and mappings map onto ExportConfig and the wiring."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from reasonkit_export import ControllerInfo, ExportConfig, ExportService, RateLimit
from reasonkit_export.cli import main
from reasonkit_export.repositories import InMemoryJobRepository, InMemoryScheduleRepository
from reasonkit_export.settings import (
    SETTINGS,
    ConfigError,
    close_service,
    load_settings,
    parse_duration,
)
from reasonkit_export.testing import StaticDataSource
from tests import cli_sources

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No REASONKIT_EXPORT_* variables leak in, and ./reasonkit-export.toml is tmp_path's."""
    for name in list(os.environ):
        if name.startswith("REASONKIT_EXPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run main() and return (exit code, stdout, stderr)."""

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def test_every_config_field_is_a_setting() -> None:
    """SETTINGS is generated from ExportConfig and its nested models: no field is missing."""
    keys = {setting.key for setting in SETTINGS}
    for field in attrs.fields(ExportConfig):
        assert field.name in keys
    for nested, prefix in ((RateLimit, "rate_limit."), (ControllerInfo, "controller.")):
        for field in attrs.fields(nested):
            assert prefix + field.name in keys
    for wiring in ("sources", "repository", "schedules", "storage", "notifier", "deliveries"):
        assert wiring in keys
    assert all(setting.help for setting in SETTINGS)
    secrets = {setting.key for setting in SETTINGS if setting.secret}
    assert {"encryption_key", "signing_keys", "decryption_identities"} <= secrets


def test_defaults_match_export_config() -> None:
    """With nothing set, the settings give exactly ExportConfig()'s defaults."""
    settings = load_settings({}, environ={})
    assert settings.config == ExportConfig()
    by_key = {setting.key: setting for setting in SETTINGS}
    assert by_key["local_path"].default == ExportConfig().local_path
    assert by_key["rate_limit.window"].default == timedelta(days=1)


def test_from_settings_builds_the_same_layout_as_from_config(tmp_path: Path) -> None:
    """from_settings with local_path puts files and jobs where from_config does."""
    sources = [StaticDataSource("profile", [{"name": "Ada"}])]
    service = ExportService.from_settings(
        {"local_path": str(tmp_path), "rate_limit": False}, environ={}, sources=sources
    )
    job = service.process_export(service.create_export("ada", "json", ["all"]).id)
    assert job.storage_key is not None
    assert (tmp_path / "files" / job.storage_key).is_file()
    assert (tmp_path / "jobs" / "jobs" / f"{job.id}.json").is_file()
    again = ExportService.from_config(ExportConfig(local_path=str(tmp_path)), sources=sources)
    assert again.get_job(job.id).status == "completed"


def test_toml_and_environment_name_the_same_settings(tmp_path: Path) -> None:
    """Nested tables, prefix groups and durations read the same from TOML and from the env."""
    toml = tmp_path / "s.toml"
    toml.write_text(
        "link_expiry_hours = 12\n"
        "schedule_min_interval = '6h'\n"
        "[rate_limit]\nmax_active = 2\nmax_requests = 9\nwindow = '1h30m'\n"
        "[csv]\nbom = false\n"
        "[controller]\nname = 'ACME GmbH'\ncontact = 'privacy@acme.example'\n",
        encoding="utf-8",
    )
    from_file = load_settings(toml, environ={}).config
    from_env = load_settings(
        {},
        environ={
            "REASONKIT_EXPORT_LINK_EXPIRY_HOURS": "12",
            "REASONKIT_EXPORT_SCHEDULE_MIN_INTERVAL": "21600",
            "REASONKIT_EXPORT_RATE_LIMIT_MAX_ACTIVE": "2",
            "REASONKIT_EXPORT_RATE_LIMIT_MAX_REQUESTS": "9",
            "REASONKIT_EXPORT_RATE_LIMIT_WINDOW": "90m",
            "REASONKIT_EXPORT_CSV_BOM": "false",
            "REASONKIT_EXPORT_CONTROLLER_NAME": "ACME GmbH",
            "REASONKIT_EXPORT_CONTROLLER_CONTACT": "privacy@acme.example",
        },
    ).config
    expected = ExportConfig(
        link_expiry_hours=12,
        schedule_min_interval=timedelta(hours=6),
        rate_limit=RateLimit(max_active=2, max_requests=9, window=timedelta(minutes=90)),
        csv_bom=False,
        controller=ControllerInfo(name="ACME GmbH", contact="privacy@acme.example"),
    )
    assert from_file == expected
    assert from_env == expected
    assert load_settings({"csv_bom": False}, environ={}).config.csv_bom is False


def test_environment_overrides_a_mapping() -> None:
    """REASONKIT_EXPORT_* beats the mapping, field by field inside a table too."""
    settings = load_settings(
        {"rate_limit": {"max_active": 2, "max_requests": 3}},
        environ={"REASONKIT_EXPORT_RATE_LIMIT_MAX_REQUESTS": "7"},
    )
    assert settings.config.rate_limit == RateLimit(max_active=2, max_requests=7)
    assert (
        settings.origins["rate_limit.max_requests"]
        == "env REASONKIT_EXPORT_RATE_LIMIT_MAX_REQUESTS"
    )
    assert settings.origins["rate_limit.max_active"] == "mapping"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"controller": {"contact": "x"}}, "controller needs controller.name"),
        ({"rate_limit": False, "rate_limit.max_active": 2}, "rate_limit is turned off"),
        ({"rate_limit": {"window": "soon"}}, "rate_limit.window: expected a duration"),
        (
            {"rate_limit": {"max_active": 0}},
            "rate_limit.max_active must be an integer within 1-10000",
        ),
        ({"csv": {"bomb": True}}, "unknown setting 'csv_bomb' (did you mean csv_bom?)"),
        ({"storage_backend": "ftp"}, "unknown storage_backend 'ftp'"),
        ({"repository": "sqlite:///x.db", "schedules": "mongodb://db"}, "unsupported scheme"),
        ({"repository_schema": "exports"}, "SQL repositories only"),
    ],
)
def test_invalid_settings_name_the_setting(document: dict[str, object], message: str) -> None:
    """Every invalid setting is a ConfigError that names it."""
    with pytest.raises(ConfigError) as info:
        load_settings(document, environ={})
    assert message in str(info.value)


def test_parse_duration() -> None:
    """Durations are seconds or unit text; anything else is refused."""
    assert parse_duration(90) == timedelta(seconds=90)
    assert parse_duration("1w2d") == timedelta(days=9)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration("300") == timedelta(minutes=5)
    assert parse_duration(timedelta(1)) == timedelta(1)
    for bad in ("", "1y", "h", True, None):
        with pytest.raises(ConfigError):
            parse_duration(bad)


def test_old_keys_warn_and_still_work(tmp_path: Path) -> None:
    """storage_url and repository_url still work for a release, warning with the new name."""
    with pytest.warns(DeprecationWarning, match="'storage_url' is deprecated; use 'storage'"):
        settings = load_settings({"storage_url": str(tmp_path / "files")}, environ={})
    assert settings.storage == str(tmp_path / "files")
    with pytest.warns(DeprecationWarning, match="use 'REASONKIT_EXPORT_REPOSITORY'"):
        settings = load_settings(
            {}, environ={"REASONKIT_EXPORT_REPOSITORY_URL": str(tmp_path / "jobs")}
        )
    assert settings.repository == str(tmp_path / "jobs")


def test_cli_prints_the_deprecation(run: Run, tmp_path: Path) -> None:
    """The CLI shows a deprecated key as a warning line and carries on."""
    (tmp_path / "reasonkit-export.toml").write_text(
        f'repository_url = "{tmp_path / "jobs"}"\n', encoding="utf-8"
    )
    code, out, err = run("config")
    assert code == 0
    assert "warning: " in err
    assert "'repository_url' is deprecated; use 'repository'" in err
    rows = {line.split()[0]: line for line in out.splitlines() if not line.startswith("#")}
    assert f'= "{tmp_path / "jobs"}"' in rows["repository"]


def test_wiring_from_import_paths_and_urls(tmp_path: Path) -> None:
    """sources, repository, schedules, notifier and redactor come from import paths and URLs."""
    service = ExportService.from_settings(
        {
            "sources": ["tests.cli_sources:single_source"],
            "repository": "memory://",
            "storage": str(tmp_path / "files"),
            "notifier": "tests.cli_sources:make_notifier",
            "redactor": "tests.cli_sources:hide_emails",
            "rate_limit": False,
        },
        environ={},
    )
    assert isinstance(service.repository, InMemoryJobRepository)
    assert isinstance(service.schedules, InMemoryScheduleRepository)
    job = service.process_export(service.create_export("zoe", "json", ["profile"]).id)
    assert job.status == "completed"
    assert job.storage_key is not None
    document = json.loads(gzip.decompress((tmp_path / "files" / job.storage_key).read_bytes()))
    assert document["categories"]["profile"]["records"][0]["email"] == "(redacted)"
    assert cli_sources.RECORDED.events(job.id) == ["completed"]


def test_bad_wiring_is_a_config_error() -> None:
    """A notifier or redactor that is not one is refused by name."""
    with pytest.raises(ConfigError, match=r"notifier: factory 'tests\.cli_sources:single_source'"):
        ExportService.from_settings({"notifier": "tests.cli_sources:single_source"}, environ={})
    with pytest.raises(ConfigError, match=r"'tests\.cli_sources:PROFILE' is not callable"):
        ExportService.from_settings({"redactor": "tests.cli_sources:PROFILE"}, environ={})


def test_sql_repository_and_schedules_share_the_url(tmp_path: Path) -> None:
    """A SQL repository URL serves the schedules too, unless schedules says otherwise."""
    pytest.importorskip("sqlalchemy")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    service = ExportService.from_settings(
        {"repository": url, "storage_backend": "memory"}, environ={}, sources=[]
    )
    try:
        assert type(service.repository).__name__ == "SqlJobRepository"
        assert type(service.schedules).__name__ == "SqlScheduleRepository"
    finally:
        close_service(service)


# ------------------------------------------------ the CLI builds what the host builds


@pytest.fixture
def controller_toml(tmp_path: Path) -> Path:
    """A settings file with a controller block and a tight rate limit."""
    path = tmp_path / "reasonkit-export.toml"
    path.write_text(
        f'local_path = "{tmp_path / "exports"}"\n'
        'sources = ["tests.cli_sources:make_sources"]\n'
        "compression_enabled = false\n"
        "[rate_limit]\nmax_active = 5\nmax_requests = 2\n"
        "[controller]\nname = 'ACME GmbH'\nsupervisory_authority = 'BfDI'\n",
        encoding="utf-8",
    )
    return path


def _document(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_bytes())
    return data


def test_cli_built_exports_carry_the_controller_block(
    run: Run, controller_toml: Path, tmp_path: Path
) -> None:
    """`process` and `run-due` build exports with the controller block the host's carry."""
    host = ExportService.from_settings(controller_toml, environ={})
    job = host.create_export("alice", "json", ["profile"])
    code, out, err = run("process", str(job.id))
    assert code == 0, err
    file = Path(next(line for line in out.splitlines() if line.startswith("file:")).split()[1])
    document = _document(file)
    assert document["controller"] == {"name": "ACME GmbH", "supervisory_authority": "BfDI"}

    host.schedule_export("bob", "0 3 * * *", "json", ["profile"])
    schedule = host.list_schedules("bob")[0]
    host.schedules.save(attrs.evolve(schedule, next_run=schedule.created_at))
    code, out, err = run("run-due")
    assert code == 0, err
    due_job = host.get_job(out.split()[0])
    assert due_job.storage_key is not None
    scheduled = _document(tmp_path / "exports" / "files" / due_job.storage_key)
    assert scheduled["controller"] == document["controller"]


def test_cli_applies_the_configured_rate_limit(run: Run, controller_toml: Path) -> None:
    """The CLI enforces the same [rate_limit] numbers as the host's service."""
    host = ExportService.from_settings(controller_toml, environ={})
    host.create_export("carol", "json", ["profile"])
    assert run("export", "carol", "--format", "csv", "--category", "profile")[0] == 0
    code, _, err = run("export", "carol", "--format", "zip", "--category", "profile")
    assert code == 1
    assert "rate limit" in err.lower()


def test_configuration_page_lists_every_setting() -> None:
    """docs/configuration.md names every setting and its environment variable."""
    page = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text("utf-8")
    for setting in SETTINGS:
        assert f"`{setting.env}`" in page
        name = setting.key.rpartition(".")[2]
        assert f"`{name}`" in page
