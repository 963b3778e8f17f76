"""The command line: the demo, the operator commands, configuration and exit codes."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus
from reasonkit_export.cli import main
from reasonkit_export.crypto import encrypt, generate_identity
from reasonkit_export.settings import (
    SETTINGS,
    ConfigError,
    Settings,
    close_service,
    load_settings,
    load_sources,
    mask_url,
)

SIGNING_KEY = "s" * 40

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No REASONKIT_EXPORT_* variables leak in, and ./reasonkit-export.toml is tmp_path's."""
    for name in list(os.environ):
        if name.startswith("REASONKIT_EXPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A TOML file pointing storage and repository at tmp dirs, with the test sources."""
    path = tmp_path / "reasonkit-export.toml"
    path.write_text(
        f'storage = "{tmp_path / "files"}"\n'
        f'repository = "file://{tmp_path / "jobs"}"\n'
        'sources = ["tests.cli_sources:make_sources"]\n'
        "rate_limit = false\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run main() and return (exit code, stdout, stderr)."""

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def service(config_file: Path) -> Iterator[ExportService]:
    """The service the CLI builds from config_file (to arrange state directly)."""
    built = ExportService.from_settings(load_settings(config_file, environ={}))
    yield built
    close_service(built)


def _fields(out: str) -> dict[str, str]:
    """The `name: value` lines of a report."""
    return {
        line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in out.splitlines() if line
    }


def _completed_zip(run: Run) -> Path:
    code, out, _ = run("export", "alice", "--format", "zip", "--category", "profile")
    assert code == 0
    return Path(_fields(out)["file"])


# ---------------------------------------------------------------------- demo


def test_demo_exports_to_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`demo` prints a short summary and writes the user's file under its real name."""
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 8
    assert "storage_key" not in out
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in out.splitlines()[-3:]}
    path = Path(lines["file"])
    assert path.parent == tmp_path
    assert path.name.startswith("export-")
    assert path.name.endswith(".json.gz")
    data = path.read_bytes()
    assert lines["size"] == f"{len(data)} bytes"
    assert lines["sha256"] == hashlib.sha256(data).hexdigest()
    document = json.loads(gzip.decompress(data))
    assert document["categories"]["profile"]["records"][0]["display_name"] == "Zoë Ångström-Øre"
    assert document["record_counts"]["reasoning_history"] == 25
    assert (tmp_path / "jobs").is_dir()


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    """`python -m reasonkit_export demo` works as a subprocess."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reasonkit_export",
            "demo",
            "--dir",
            str(tmp_path),
            "--no-compression",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "sha256:" in result.stdout


def test_python_dash_m_help_documents_exit_codes() -> None:
    """`python -m reasonkit_export --help` lists the commands and the exit codes."""
    result = subprocess.run(
        [sys.executable, "-m", "reasonkit_export", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for word in ("export", "run-due", "keygen", "verify", "exit codes", "config --explain"):
        assert word in result.stdout


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown command is a usage error with exit code 2."""
    with pytest.raises(SystemExit) as info:
        main(["nonsense"])
    assert info.value.code == 2


# -------------------------------------------------------------------- export


@pytest.mark.usefixtures("config_file")
def test_export_prints_job_status_file_size_sha256(run: Run) -> None:
    """`export` builds a ZIP in-process and reports a file whose size and sha256 match."""
    code, out, err = run(
        "export",
        "alice",
        "--format",
        "zip",
        "--category",
        "profile",
        "--category",
        "reasoning_history",
    )
    assert code == 0, err
    fields = _fields(out)
    assert fields["status"] == "completed"
    data = Path(fields["file"]).read_bytes()
    assert fields["size"] == f"{len(data)} bytes"
    assert fields["sha256"] == hashlib.sha256(data).hexdigest()
    assert out.splitlines()[-1].startswith("sha256:")
    assert "progress: 100%" in err  # stderr is no terminal: plain lines, no bar
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "manifest.json" in archive.namelist()


@pytest.mark.usefixtures("config_file")
def test_failed_export_exits_1_without_traceback(run: Run) -> None:
    """A failing data source fails the export: exit 1, one error line, no traceback."""
    code, out, err = run("export", "alice", "--category", "broken")
    assert code == 1
    assert _fields(out)["status"] == "failed"
    assert "error: export failed: data source for category 'broken' failed" in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("config_file")
def test_unknown_category_is_a_usage_error(run: Run) -> None:
    """Asking for a category no source serves exits 2."""
    code, _, err = run("export", "alice", "--category", "nope")
    assert code == 2
    assert "unknown categories: nope" in err


def test_process_then_status(run: Run, service: ExportService) -> None:
    """`process` builds a pending job; `status` prints it as JSON without an owner check."""
    job = service.create_export("bob", "json", ["profile"])
    code, out, err = run("process", str(job.id))
    assert code == 0, err
    assert _fields(out)["status"] == "completed"
    code, out, _ = run("status", str(job.id))
    assert code == 0
    document = json.loads(out)
    assert document["status"] == "completed"
    assert document["user_id"] == "bob"


@pytest.mark.usefixtures("config_file")
@pytest.mark.parametrize("job_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_unknown_job_exits_1(run: Run, job_id: str) -> None:
    """`status` and `process` of an unknown job say so in one line and exit 1."""
    for command in ("status", "process"):
        code, out, err = run(command, job_id)
        assert code == 1
        assert out == ""
        assert err == f"error: export {job_id} not found\n"


def test_history_table_and_json(run: Run, service: ExportService) -> None:
    """`history` lists a user's jobs newest first; --limit and --json work."""
    first = service.create_export("carol", "json", ["profile"])
    service.process_export(first.id)
    second = service.create_export("carol", "csv", ["profile"])
    code, out, _ = run("history", "carol")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [str(second.id), str(first.id)]
    assert "completed" in lines[1]
    code, out, _ = run("history", "carol", "--limit", "1", "--json")
    assert [job["id"] for job in json.loads(out)] == [str(second.id)]
    assert run("history", "nobody")[1] == "no exports\n"
    assert run("history", "carol", "--limit", "0")[0] == 2


def test_run_due_creates_and_processes(run: Run, service: ExportService) -> None:
    """`run-due` creates the due schedule's export and builds it; --no-process only creates."""
    schedule = service.schedule_export("dave", "0 3 * * *", "json", ["profile"])
    past = datetime.now(UTC) - timedelta(hours=1)
    service.schedules.save(attrs.evolve(schedule, next_run=past))
    code, out, err = run("run-due")
    assert code == 0, err
    assert " completed " in out
    assert "1 due schedule(s)" in err
    assert run("run-due")[1] == ""  # nothing due any more

    other = service.schedule_export("erin", "0 3 * * *", "json", ["profile"])
    service.schedules.save(attrs.evolve(other, next_run=past))
    code, out, _ = run("run-due", "--no-process")
    assert code == 0
    assert out.split()[1] == "pending"


def test_expire_removes_overdue_files(run: Run, service: ExportService) -> None:
    """`expire` expires completed exports past their window and deletes the files."""
    job = service.process_export(service.create_export("fay", "json", ["profile"]).id)
    assert job.storage_key is not None
    service.repository.save(attrs.evolve(job, expires_at=datetime.now(UTC) - timedelta(1)))
    code, out, err = run("expire")
    assert code == 0
    assert out == f"{job.id} expired\n"
    assert "expired 1 export(s)" in err
    assert not service.storage.exists(job.storage_key)


def test_recover_requeues_and_processes(run: Run, service: ExportService) -> None:
    """`recover` requeues a job whose worker lease ran out and builds it."""
    job = service.create_export("gus", "json", ["profile"])
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    assert service.repository.claim(job.id, now=long_ago, lease=timedelta(seconds=1))
    code, out, err = run("recover", "--no-process")
    assert code == 0
    assert out == f"{job.id} pending\n"
    assert "1 export(s) requeued" in err
    service.repository.claim(job.id, now=long_ago, lease=timedelta(seconds=1))
    code, out, _ = run("recover")
    assert code == 0
    assert out.startswith(f"{job.id} completed ")
    assert service.get_job(job.id).status is ExportStatus.COMPLETED


@pytest.mark.usefixtures("config_file")
def test_migrate_is_a_no_op_for_file_repositories(run: Run) -> None:
    """`migrate` on a file repository says there is nothing to do."""
    assert run("migrate") == (0, "file repository: nothing to migrate\n", "")


def test_migrate_and_export_on_sqlite(run: Run, tmp_path: Path, config_file: Path) -> None:
    """`migrate` creates the SQL tables; then `export` runs on the SQLite repositories."""
    pytest.importorskip("sqlalchemy")
    text = config_file.read_text(encoding="utf-8").replace(
        f"file://{tmp_path / 'jobs'}", f"sqlite:///{tmp_path / 'state.db'}"
    )
    config_file.write_text(text, encoding="utf-8")
    code, out, err = run("migrate")
    assert code == 0, err
    assert out.startswith("schema version ")
    code, out, err = run("export", "hana", "--category", "profile")
    assert code == 0, err
    assert run("history", "hana")[1].count("completed") == 1


# ------------------------------------------------------------- keys, decrypt


def test_keygen_prints_identity_then_public_key(run: Run) -> None:
    """`keygen` prints the identity on line 1 and its recipient as an age-keygen comment."""
    code, out, _ = run("keygen")
    assert code == 0
    identity, comment = out.splitlines()
    assert identity.startswith("AGE-SECRET-KEY-1")
    assert comment.startswith("# public key: age1")


def test_keygen_output_is_private_and_never_overwritten(run: Run, tmp_path: Path) -> None:
    """`keygen -o` writes a 0600 file, prints only the public key, and refuses to overwrite."""
    key = tmp_path / "key.txt"
    code, out, err = run("keygen", "-o", str(key))
    assert code == 0
    assert out == ""
    assert err.startswith("Public key: age1")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = key.read_text(encoding="ascii")
    code, _, err = run("keygen", "-o", str(key))
    assert code == 2
    assert "refusing to overwrite" in err
    assert key.read_text(encoding="ascii") == before


def _keypair(tmp_path: Path) -> tuple[Path, str]:
    """Make a key file with `keygen` and return it with its recipient."""
    key = tmp_path / "key.txt"
    assert main(["keygen", "-o", str(key)]) == 0
    recipient = key.read_text(encoding="ascii").split("# public key: ")[1].strip()
    return key, recipient


def test_keygen_decrypt_round_trip(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """A file encrypted to a `keygen` recipient decrypts to a file (0600) and to stdout."""
    key, recipient = _keypair(tmp_path)
    plaintext = os.urandom(200_000)
    sealed = tmp_path / "export.age"
    sealed.write_bytes(encrypt(plaintext, recipient))
    target = tmp_path / "plain.bin"
    assert main(["decrypt", str(sealed), "--identity-file", str(key), "-o", str(target)]) == 0
    assert target.read_bytes() == plaintext
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    capsysbinary.readouterr()
    assert main(["decrypt", str(sealed), "-i", str(key)]) == 0
    assert capsysbinary.readouterr().out == plaintext


def test_decrypt_with_configured_identity(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --identity-file, decrypt uses decryption_identities from the environment."""
    identity = generate_identity()
    sealed = tmp_path / "x.age"
    sealed.write_bytes(encrypt(b"hello", identity.recipient))
    code, _, err = run("decrypt", str(sealed), "-o", str(tmp_path / "none"))
    assert code == 2
    assert "no identity to decrypt with" in err
    monkeypatch.setenv("REASONKIT_EXPORT_DECRYPTION_IDENTITIES", str(identity))
    assert run("decrypt", str(sealed), "-o", str(tmp_path / "out"))[0] == 0
    assert (tmp_path / "out").read_bytes() == b"hello"


def test_decrypt_tampered_file_exits_1_and_writes_nothing(run: Run, tmp_path: Path) -> None:
    """A tampered payload fails authentication: exit 1, and OUT never appears."""
    key, recipient = _keypair(tmp_path)
    data = bytearray(encrypt(b"x" * 100_000, recipient))
    data[-100] ^= 1
    sealed = tmp_path / "bad.age"
    sealed.write_bytes(bytes(data))
    target = tmp_path / "plain"
    code, _, err = run("decrypt", str(sealed), "-i", str(key), "-o", str(target))
    assert code == 1
    assert err.splitlines()[-1] == "error: age payload chunk 1 failed authentication"
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_decrypt_with_the_wrong_key_or_a_missing_file(run: Run, tmp_path: Path) -> None:
    """The wrong identity exits 1; a missing input file or a garbage key file exits 2."""
    key, _ = _keypair(tmp_path)
    sealed = tmp_path / "other.age"
    sealed.write_bytes(encrypt(b"secret", generate_identity().recipient))
    code, _, err = run("decrypt", str(sealed), "-i", str(key), "-o", str(tmp_path / "o"))
    assert code == 1
    assert err.splitlines()[-1] == "error: none of the given age identities can open this file"
    assert run("decrypt", str(tmp_path / "missing.age"), "-i", str(key))[0] == 2
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("AGE-SECRET-KEY-1NOPE\n", encoding="ascii")
    assert run("decrypt", str(sealed), "-i", str(garbage))[0] == 2


# -------------------------------------------------------------------- verify


def _tampered(archive: Path, target: Path) -> Path:
    """Copy a ZIP, changing one data member but keeping the manifest."""
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename != "manifest.json" and data:
                data = data[:-1] + bytes([data[-1] ^ 1])
            out.writestr(info, data)
    return target


@pytest.mark.usefixtures("config_file")
def test_verify_good_and_tampered_archive(run: Run, tmp_path: Path) -> None:
    """`verify` passes an intact export (exit 0) and lists each problem of a tampered one (1)."""
    archive = _completed_zip(run)
    assert run("verify", str(archive)) == (0, "ok: every member matches manifest.json\n", "")
    bad = _tampered(archive, tmp_path / "bad.zip")
    code, out, _ = run("verify", str(bad))
    assert code == 1
    problems = out.splitlines()
    assert problems
    assert all("does not match its SHA-256" in p for p in problems)


@pytest.mark.usefixtures("config_file")
def test_verify_a_non_zip_file_exits_1(run: Run, tmp_path: Path) -> None:
    """A file that is no ZIP is one problem, exit 1."""
    other = tmp_path / "export.json"
    other.write_text("{}", encoding="utf-8")
    code, out, _ = run("verify", str(other))
    assert code == 1
    assert out.startswith("not a readable ZIP archive")


def test_verify_encrypted_archive(
    run: Run, tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encrypted export is decrypted to a temporary first with the configured identity."""
    key, _ = _keypair(tmp_path)
    monkeypatch.setenv("REASONKIT_EXPORT_ENCRYPTION_KEY_FILE", str(key))
    archive = _completed_zip(run)
    assert archive.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert run("verify", str(archive))[0] == 0
    monkeypatch.delenv("REASONKIT_EXPORT_ENCRYPTION_KEY_FILE")
    code, _, err = run("verify", str(archive))
    assert code == 2
    assert "no identity" in err
    assert run("verify", str(archive), "-i", str(key))[0] == 0


# --------------------------------------------------------------------- config


def test_environment_overrides_the_file(
    run: Run, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REASONKIT_EXPORT_* beats the TOML file, and `config` says where each value came from."""
    with config_file.open("a", encoding="utf-8") as handle:
        handle.write("link_expiry_hours = 12\nmax_attempts = 5\n")
    monkeypatch.setenv("REASONKIT_EXPORT_LINK_EXPIRY_HOURS", "48")
    monkeypatch.setenv("REASONKIT_EXPORT_COMPRESSION_ENABLED", "off")
    settings = load_settings(None, environ=os.environ)
    assert settings.export_config.link_expiry_hours == 48.0
    assert settings.export_config.max_attempts == 5
    assert settings.export_config.compression_enabled is False
    code, out, _ = run("config")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if not line.startswith("#")}
    assert "= 48.0  # env REASONKIT_EXPORT_LINK_EXPIRY_HOURS" in rows["link_expiry_hours"]
    assert f"= 5  # file {config_file}" in rows["max_attempts"]
    assert "# default" in rows["lease_seconds"]


def test_config_masks_secrets(run: Run, tmp_path: Path) -> None:
    """`config` never prints keys, signing keys, storage options or URL passwords."""
    identity = str(generate_identity())
    config = tmp_path / "secret.toml"
    config.write_text(
        f'encryption_key = "{identity}"\n'
        f'signing_keys = ["{SIGNING_KEY}"]\n'
        'repository = "postgresql+psycopg://app:hunter2-password@db/app"\n'
        'repository_schema = "exports"\n'
        "[storage_options]\n"
        'key = "AKIAEXAMPLE"\n'
        'secret = "very-secret-value"\n',
        encoding="utf-8",
    )
    code, out, err = run("--config", str(config), "config")
    assert code == 0, err
    for secret in (identity, SIGNING_KEY, "hunter2-password", "AKIAEXAMPLE", "very-secret-value"):
        assert secret not in out + err
    assert "postgresql+psycopg://app:********@db/app" in out
    assert '"key": "********"' in out


def test_secret_files_and_their_precedence(tmp_path: Path) -> None:
    """*_file settings read keys from files; the environment's form beats the file's."""
    first, second = generate_identity(), generate_identity()
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"# created by a test\n{first}\n", encoding="ascii")
    signing = tmp_path / "signing.txt"
    signing.write_text(f"{SIGNING_KEY}\n{'t' * 32}\n", encoding="ascii")
    config = tmp_path / "c.toml"
    config.write_text(
        f'encryption_key_file = "{key_file}"\nsigning_keys_file = "{signing}"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, environ={})
    assert settings.export_config.encryption_key == str(first)
    assert settings.export_config.signing_keys == (SIGNING_KEY.encode(), b"t" * 32)
    overridden = load_settings(config, environ={"REASONKIT_EXPORT_ENCRYPTION_KEY": str(second)})
    assert overridden.export_config.encryption_key == str(second)
    assert "env REASONKIT_EXPORT_ENCRYPTION_KEY" in overridden.origins["encryption_key"]
    both = {
        "REASONKIT_EXPORT_ENCRYPTION_KEY": str(second),
        "REASONKIT_EXPORT_ENCRYPTION_KEY_FILE": str(key_file),
    }
    with pytest.raises(ConfigError, match="either encryption_key or encryption_key_file"):
        load_settings(config, environ=both)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(None, environ={"REASONKIT_EXPORT_SIGNING_KEYS_FILE": str(tmp_path / "nope")})


def test_defaults_and_environment_parsing(tmp_path: Path) -> None:
    """With no file, defaults apply; lists and booleans parse from the environment."""
    settings = load_settings(
        None,
        environ={
            "REASONKIT_EXPORT_SOURCES": "a:b, c:d",
            "REASONKIT_EXPORT_RATE_LIMIT": "no",
            "REASONKIT_EXPORT_REPOSITORY_SCHEMA": "",  # empty counts as unset
            "REASONKIT_EXPORT_TYPO": "1",
        },
    )
    assert settings.config_path is None
    assert settings.storage is None
    assert settings.config == ExportConfig(rate_limit=None)
    assert settings.sources == ("a:b", "c:d")
    assert settings.export_config.rate_limit is None
    assert settings.repository_schema is None
    assert settings.warnings == ("ignoring unknown environment variable REASONKIT_EXPORT_TYPO",)
    with pytest.raises(ConfigError, match="REASONKIT_EXPORT_RATE_LIMIT"):
        load_settings(None, environ={"REASONKIT_EXPORT_RATE_LIMIT": "maybe"})
    with pytest.raises(ConfigError, match="REASONKIT_EXPORT_MAX_ATTEMPTS: expected an integer"):
        load_settings(None, environ={"REASONKIT_EXPORT_MAX_ATTEMPTS": "three"})


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("storage_uri = 'x'\n", "unknown setting 'storage_uri'"),
        ("max_attempts = 'three'\n", "max_attempts: expected an integer, got str"),
        ("link_expiry_hours = [\n", "is not valid TOML"),
        ("compression_level = 11\n", "compression_level must be an integer within 0-9"),
        ("encryption_key = 'AGE-SECRET-KEY-1GARBAGE'\n", "encryption_key is not a valid"),
        ("repository = 'mongodb://db'\n", "unsupported scheme 'mongodb'"),
        ("repository_schema = 'x'\n", "SQL repositories only"),
    ],
)
def test_bad_config_exits_2(run: Run, tmp_path: Path, toml: str, message: str) -> None:
    """A malformed or invalid config file is one error line and exit code 2."""
    (tmp_path / "reasonkit-export.toml").write_text(toml, encoding="utf-8")
    code, out, err = run("status", "00000000-0000-0000-0000-000000000000")
    assert code == 2
    assert out == ""
    assert message in err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "GARBAGE" not in err


def test_missing_config_file_exits_2(run: Run, tmp_path: Path) -> None:
    """An explicit --config that does not exist is a configuration error."""
    code, _, err = run("config", "--config", str(tmp_path / "absent.toml"))
    assert code == 2
    assert "does not exist" in err


def test_config_explain_lists_every_setting(run: Run) -> None:
    """`config --explain` names every setting with its environment variable."""
    code, out, _ = run("config", "--explain")
    assert code == 0
    for setting in SETTINGS:
        assert setting.key in out
        assert setting.env in out
    assert "encryption_key_file" in out


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "is not an import path of the form 'module:name'"),
        ("tests.no_such_module:make", "cannot import module 'tests.no_such_module'"),
        ("tests.cli_sources:missing", "has no 'missing'"),
        ("tests.cli_sources:PROFILE", "gave a dict, which is not a DataSource"),
        ("tests.cli_sources:__doc__", "is neither a DataSource"),
        ("tests.cli_sources:not_a_source", "which is not a DataSource"),
        ("tests.cli_sources:exploding", "raised RuntimeError"),
    ],
)
def test_bad_sources_are_clear_config_errors(spec: str, message: str) -> None:
    """Every way a source spec can be wrong names the spec, never the factory's message."""
    with pytest.raises(ConfigError, match=message) as info:
        load_sources([spec])
    assert "zoe@example.org" not in str(info.value)


def test_sources_may_return_one_source() -> None:
    """A factory may return a single DataSource instead of a list."""
    assert [s.category for s in load_sources(["tests.cli_sources:single_source"])] == ["profile"]


def test_mask_url_hides_only_the_password() -> None:
    """mask_url keeps the user and host and hides the password."""
    assert mask_url("postgresql://u:p@h:5432/d") == "postgresql://u:********@h:5432/d"
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"


def test_from_settings_uses_the_configured_places(tmp_path: Path, config_file: Path) -> None:
    """from_settings wires storage, file repositories and the sources from the settings."""
    settings: Settings = load_settings(config_file, environ={})
    service = ExportService.from_settings(settings)
    try:
        assert service.categories == ("profile", "reasoning_history", "broken")
        job = service.process_export(service.create_export("ivy", "json", ["profile"]).id)
        assert job.storage_key is not None
        assert (tmp_path / "files" / job.storage_key).is_file()
        assert (tmp_path / "jobs" / "jobs" / f"{job.id}.json").is_file()
    finally:
        close_service(service)


# ----------------------------------------------------------------- debugging


def test_debug_shows_a_traceback_and_the_default_does_not(run: Run, tmp_path: Path) -> None:
    """--debug prints the traceback (before or after the command); the default only one line."""
    (tmp_path / "reasonkit-export.toml").write_text("bogus = 1\n", encoding="utf-8")
    code, _, err = run("config")
    assert code == 2
    assert "Traceback" not in err
    for argv in (["--debug", "config"], ["config", "--debug"]):
        code, _, err = run(*argv)
        assert code == 2
        assert "Traceback (most recent call last)" in err
        assert err.rstrip().splitlines()[-1].startswith("error: ")


def test_unexpected_errors_name_only_the_type(
    run: Run, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-library exception exits 3 and shows its type, not its message."""

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("zoe@example.org leaked")

    monkeypatch.setattr(ExportService, "get_job", explode)
    code, _, err = run("status", "00000000-0000-0000-0000-000000000000")
    assert code == 3
    assert err == "error: unexpected RuntimeError (run with --debug for the traceback)\n"


def test_overdue_lists_requests_past_their_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`overdue` prints open requests past due_at and exits 1; none exits 0."""
    from datetime import timedelta

    import attrs

    from reasonkit_export import ExportJob
    from reasonkit_export.repositories import FileJobRepository

    repository = FileJobRepository(tmp_path / "jobs")
    config = tmp_path / "reasonkit-export.toml"
    config.write_text(f'storage = "{tmp_path / "files"}"\nrepository = "{tmp_path / "jobs"}"\n')
    assert main(["overdue", "--config", str(config)]) == 0
    from datetime import UTC, datetime

    old = datetime(2020, 1, 1, tzinfo=UTC)
    job = ExportJob(
        user_id="u",
        format="json",
        categories=["a"],
        created_at=old,
        due_at=old + timedelta(days=30),
    )
    repository.add(attrs.evolve(job))
    capsys.readouterr()
    assert main(["overdue", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert f"{job.id} pending due 2020-01-31T00:00:00+00:00" in out
