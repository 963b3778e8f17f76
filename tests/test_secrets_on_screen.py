"""Secrets never on screen: tokens in CLI output, URL passwords in reprs, AWS keys in logs."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy

from reasonkit_export import ExportConfig, ExportService
from reasonkit_export._redact import mask_secrets, mask_url
from reasonkit_export.cli import main
from reasonkit_export.repositories.sql import SqlJobRepository
from reasonkit_export.settings import Settings, close_service, load_settings
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import StaticDataSource
from tests.moto_support import moto_server

SIGNING_KEY = "k" * 40
DB_PASSWORD = "hunter2-db-password"
PRESIGNED = (
    "https://bucket.s3.amazonaws.com/job/attempt-1?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20250601%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20250601T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=deadbeefcafe0123456789"
)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 for this module."""
    yield from moto_server()


@pytest.mark.parametrize(
    ("url", "hidden", "kept"),
    [
        ("postgresql://app:hunter2@db/app", "hunter2", "postgresql://app:***@db/app"),
        ("postgresql://app@db/app?password=hunter2&sslmode=require", "hunter2", "sslmode=require"),
        ("mysql://db/app?user=a&PassWord=hunter2", "hunter2", "user=a"),
        ("sqlite:///x.db?password=hunter2", "hunter2", "sqlite:///x.db?password=***"),
        ("https://x.example/d/1?token=eyJhbGciOi.abc", "eyJhbGciOi", "https://x.example/d/1"),
        (PRESIGNED, "AKIAIOSFODNN7EXAMPLE", "X-Amz-Expires=3600"),
        (PRESIGNED, "deadbeefcafe", "X-Amz-Signature=***"),
        ("https://x.example/d/eyJ2IjoxLCJwIjoiZA.c2lnbmF0dXJlLXNpZ25hdHVyZQ", "eyJ2", "/d/***"),
    ],
)
def test_mask_url(url: str, hidden: str, kept: str) -> None:
    """Passwords, tokens, signatures and credentials in URLs are masked; the rest stays."""
    shown = mask_url(url)
    assert hidden not in shown
    assert kept in shown


def test_mask_secrets_in_botocore_style_text() -> None:
    """Authorization headers and key ids in free text (botocore's DEBUG lines) are masked."""
    line = (
        "Sending http request: <AWSPreparedRequest headers={'Authorization': b'AWS4-HMAC-SHA256 "
        "Credential=AKIAIOSFODNN7EXAMPLE/20250601/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=0123abcd', 'X-Amz-Security-Token': b'FwoGZXIvYXdzEXAMPLE'}>"
    )
    shown = mask_secrets(line)
    for secret in ("AKIAIOSFODNN7EXAMPLE", "0123abcd", "FwoGZXIvYXdzEXAMPLE"):
        assert secret not in shown


@pytest.fixture
def cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CLI configuration whose jobs carry a signed download link."""
    for name in list(os.environ):
        if name.startswith("REASONKIT_EXPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "reasonkit-export.toml"
    path.write_text(
        f'storage = "{tmp_path / "files"}"\n'
        f'repository = "file://{tmp_path / "jobs"}"\n'
        'sources = ["tests.cli_sources:make_sources"]\n'
        "rate_limit = false\n"
        f'signing_keys = ["{SIGNING_KEY}"]\n'
        'download_url_template = "https://app.example/exports/{job_id}?token={token}"\n',
        encoding="utf-8",
    )
    return path


def test_cli_masks_download_tokens(cli_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`status` and `history --json` mask the live token unless --show-secrets."""
    service = ExportService.from_settings(load_settings(cli_config, environ={}))
    try:
        job = service.process_export(service.create_export("dana", "json", ["profile"]).id)
    finally:
        close_service(service)
    assert job.download_url is not None
    token = job.download_url.split("token=")[1]
    assert main(["status", str(job.id)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert token not in json.dumps(shown)
    assert shown["download_url"].startswith(f"https://app.example/exports/{job.id}?token=")
    assert main(["history", "dana", "--json"]) == 0
    assert token not in capsys.readouterr().out
    assert main(["status", str(job.id), "--show-secrets"]) == 0
    assert json.loads(capsys.readouterr().out)["download_url"] == job.download_url
    assert main(["history", "dana", "--json", "--show-secrets"]) == 0
    assert token in capsys.readouterr().out


def test_config_masks_query_passwords(
    cli_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`config` masks ?password= in URLs, not only user:password@."""
    monkeypatch.setenv(
        "REASONKIT_EXPORT_STORAGE", f"s3://bucket/x?password={DB_PASSWORD}&region=eu"
    )
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert DB_PASSWORD not in out
    assert "region=eu" in out


def test_settings_repr_masks_urls_and_options() -> None:
    """The CLI settings' repr hides URL passwords and storage option values."""
    settings = Settings(
        storage=f"s3://bucket/x?password={DB_PASSWORD}",
        storage_options={"secret": "s3-secret-value"},
        repository=f"postgresql://app:{DB_PASSWORD}@db/app?sslpassword={DB_PASSWORD}",
        config=ExportConfig(storage_backend="memory"),
    )
    text = repr(settings)
    assert DB_PASSWORD not in text
    assert "s3-secret-value" not in text
    assert "secret" in text  # the option names stay, for debugging


def test_sql_repository_and_service_reprs_mask_passwords(tmp_path: Path) -> None:
    """SqlJobRepository and ExportService reprs hide a password given as a query parameter."""
    del tmp_path
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?password={DB_PASSWORD}"
    repository = SqlJobRepository(sqlalchemy.create_engine(url))
    service = ExportService(
        sources=[StaticDataSource("profile", [])],
        repository=repository,
        storage=FsspecStorage(f"memory://x?password={DB_PASSWORD}"),
        config=ExportConfig(storage_backend="memory"),
    )
    for text in (repr(repository), repr(service)):
        assert DB_PASSWORD not in text
    repository.close()


def test_botocore_debug_logs_never_show_credentials(
    caplog: pytest.LogCaptureFixture, moto_endpoint: str
) -> None:
    """At DEBUG, no log record of an S3 round trip carries the access key id or secret."""
    key_id, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    ).create_bucket(Bucket="logged")
    options: dict[str, Any] = {
        "key": key_id,
        "secret": secret,
        "client_kwargs": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
        "skip_instance_cache": True,
    }
    with caplog.at_level(logging.DEBUG):
        storage = FsspecStorage("s3://logged/exports", storage_options=options)
        with storage.open_write("a.bin") as sink:
            sink.write(b"data")
        with storage.open_read("a.bin") as source:
            assert source.read() == b"data"
    messages = [record.getMessage() for record in caplog.records]
    assert any("Credential=***" in message for message in messages)  # botocore did log it
    for message in messages:
        assert key_id not in message
        assert secret not in message


def test_storage_repr_hides_credentials() -> None:
    """User info and query strings of a storage URL never appear in repr."""
    storage = FsspecStorage("memory://user:secret@root/x?token=abc")
    assert "secret" not in repr(storage)
    assert "abc" not in repr(storage)
