"""Models and configuration: validation, coercion and secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reasonkit_export import (
    Category,
    ExportConfig,
    ExportFormat,
    ExportJob,
    ExportStatus,
    InvalidRequest,
    RateLimit,
)


def test_seed_defaults() -> None:
    """ExportConfig keeps the seed's defaults and adds a default rate limit."""
    config = ExportConfig()
    assert config.storage_backend == "local"
    assert config.s3_bucket is None
    assert config.local_path == "/var/lib/reasonkit/exports"
    assert config.link_expiry_hours == 24
    assert config.max_file_size_mb == 500
    assert config.compression_enabled is True
    assert config.encryption_key is None
    assert config.rate_limit == RateLimit(max_active=1, max_requests=5, window=timedelta(days=1))
    assert config.download_url_template is None


def test_encryption_key_never_in_repr() -> None:
    """The encryption key is a secret and never appears in repr or str."""
    from reasonkit_export.crypto import generate_identity

    secret = str(generate_identity())
    config = ExportConfig(encryption_key=secret, decryption_identities=[secret])
    assert secret[20:40] not in repr(config)
    assert secret[20:40] not in str(config)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"encryption_key": "AGE-SECRET-KEY-1SUPERSECRET"}, "encryption_key"),
        ({"encryption_recipients": ["age1nope"]}, "encryption_recipients"),
        ({"decryption_identities": ["AGE-SECRET-KEY-1NOPE"]}, "decryption_identities"),
    ],
)
def test_malformed_keys_are_refused_without_echoing(kwargs: dict[str, object], field: str) -> None:
    """A malformed key raises InvalidRequest naming the field, never the key."""
    with pytest.raises(InvalidRequest, match=field) as info:
        ExportConfig(**kwargs)  # type: ignore[arg-type]
    assert "SUPERSECRET" not in str(info.value)
    assert "NOPE" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"storage_backend": "ftp"}, "storage_backend"),
        ({"storage_backend": "s3"}, "s3_bucket"),
        ({"local_path": None}, "local_path"),
        ({"link_expiry_hours": 0}, "link_expiry_hours"),
        ({"link_expiry_hours": float("nan")}, "link_expiry_hours"),
        ({"max_file_size_mb": 0}, "max_file_size_mb"),
        ({"max_file_size_mb": True}, "max_file_size_mb"),
        ({"download_url_template": "https://x/"}, "download_url_template"),
        ({"download_url_template": "https://x/{job_id}/{user}"}, "download_url_template"),
        ({"compression_level": 10}, "compression_level"),
        ({"rate_limit": 5}, "rate_limit"),
    ],
)
def test_invalid_config_raises_invalid_request(kwargs: dict[str, object], message: str) -> None:
    """Invalid configuration values raise InvalidRequest naming the field."""
    with pytest.raises(InvalidRequest, match=message):
        ExportConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs", [{"max_active": 0}, {"max_requests": -1}, {"window": timedelta(0)}]
)
def test_invalid_rate_limit(kwargs: dict[str, object]) -> None:
    """RateLimit refuses non-positive values."""
    with pytest.raises(InvalidRequest):
        RateLimit(**kwargs)  # type: ignore[arg-type]


def test_enums_accept_their_strings() -> None:
    """Enum values are the lowercase strings and compare equal to them."""
    assert ExportFormat("zip") is ExportFormat.ZIP
    assert ExportStatus.CANCELLED == "cancelled"  # type: ignore[comparison-overlap]
    assert Category.REASONING_HISTORY == "reasoning_history"  # type: ignore[comparison-overlap]


def test_job_refuses_naive_datetimes_and_bad_progress() -> None:
    """Jobs hold aware UTC datetimes only and progress within 0-100."""
    with pytest.raises(InvalidRequest, match="naive"):
        ExportJob(user_id="u", format="json", categories=["a"], created_at=datetime(2025, 1, 1))
    with pytest.raises(InvalidRequest, match="progress"):
        ExportJob(
            user_id="u", format="json", categories=["a"], created_at=datetime.now(UTC), progress=101
        )
