"""FsspecStorage on S3 (s3fs) against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import boto3
import pytest

from reasonkit_export import ExportConfig, ExportService
from reasonkit_export._models import ExportStatus
from reasonkit_export.exceptions import InvalidRequest, StorageError
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import StaticDataSource, StorageContract
from tests.moto_support import moto_server

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """moto's S3 server on a free port of 127.0.0.1, with AWS lookups fenced off."""
    yield from moto_server()


@pytest.fixture
def client(endpoint: str) -> Any:
    """A boto3 client for the moto server, to look behind the storage's back."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def bucket(client: Any) -> str:
    """A fresh, empty bucket per test."""
    name = f"exports-{uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name


def _options(endpoint: str) -> dict[str, Any]:
    return {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        # A private s3fs instance per storage: nothing cached leaks between tests.
        "skip_instance_cache": True,
    }


def _storage(endpoint: str, bucket: str, **kwargs: Any) -> FsspecStorage:
    return FsspecStorage(f"s3://{bucket}/exports", storage_options=_options(endpoint), **kwargs)


class TestS3Storage(StorageContract):
    """S3 through s3fs honours the whole storage contract."""

    @pytest.fixture
    def storage(self, endpoint: str, bucket: str) -> FsspecStorage:
        """A storage under a prefix of a fresh bucket."""
        return _storage(endpoint, bucket)


def _pattern(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def test_multipart_upload_round_trip(endpoint: str, bucket: str, client: Any) -> None:
    """12 MiB with a 5 MiB block size goes up in parts and reads back identically."""
    storage = _storage(endpoint, bucket, block_size=5 * MIB)
    data = _pattern(12 * MIB)
    with storage.open_write("job/big.bin") as sink:
        for start in range(0, len(data), MIB):
            sink.write(data[start : start + MIB])
    assert storage.size("job/big.bin") == len(data)
    with storage.open_read("job/big.bin") as source:
        assert hashlib.sha256(source.read()).digest() == hashlib.sha256(data).digest()
    head = client.head_object(Bucket=bucket, Key="exports/job/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart ETag: three parts


def test_no_temporary_objects_on_s3(endpoint: str, bucket: str, client: Any) -> None:
    """S3 writes go straight to the key: only the artifact itself is in the bucket."""
    storage = _storage(endpoint, bucket)
    with storage.open_write("job/export.json") as sink:
        sink.write(b"{}")
    listed = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["exports/job/export.json"]


def test_aborted_multipart_upload_leaves_nothing(endpoint: str, bucket: str, client: Any) -> None:
    """A failure after 7 of 12 MiB leaves no object and no pending multipart upload."""
    storage = _storage(endpoint, bucket, block_size=5 * MIB)
    with (
        pytest.raises(RuntimeError, match="source failed"),
        storage.open_write("job/big.bin") as sink,
    ):
        for _ in range(7):
            sink.write(_pattern(MIB))
        # The first part is on the server by now: a real upload to abort,
        # and still no object under the key.
        assert client.list_multipart_uploads(Bucket=bucket).get("Uploads")
        assert not storage.exists("job/big.bin")
        raise RuntimeError("source failed")
    assert not storage.exists("job/big.bin")
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_aborted_rewrite_keeps_the_old_object(endpoint: str, bucket: str) -> None:
    """A failed multipart rewrite of an existing key leaves the old content."""
    storage = _storage(endpoint, bucket, block_size=5 * MIB)
    with storage.open_write("job/data.bin") as sink:
        sink.write(b"old")
    with pytest.raises(RuntimeError), storage.open_write("job/data.bin") as sink:
        sink.write(_pattern(6 * MIB))
        raise RuntimeError("boom")
    with storage.open_read("job/data.bin") as source:
        assert source.read() == b"old"


def test_small_block_size_is_raised_to_the_s3_minimum(endpoint: str, bucket: str) -> None:
    """The 4 MiB default block size (below S3's 5 MiB part minimum) still works."""
    storage = _storage(endpoint, bucket, block_size=MIB)
    with storage.open_write("job/x.bin") as sink:
        sink.write(_pattern(6 * MIB))
    assert storage.size("job/x.bin") == 6 * MIB


def test_exists_is_not_fooled_by_a_stale_listing(endpoint: str, bucket: str, client: Any) -> None:
    """A cached directory listing cannot hide a new object or keep a deleted one."""
    storage = _storage(endpoint, bucket)
    with storage.open_write("job/a.json") as sink:
        sink.write(b"a")
    storage.fs.ls(f"{bucket}/exports/job")  # fills s3fs's listing cache
    client.put_object(Bucket=bucket, Key="exports/job/b.json", Body=b"bb")
    client.delete_object(Bucket=bucket, Key="exports/job/a.json")
    assert storage.exists("job/b.json")
    assert storage.size("job/b.json") == 2
    assert not storage.exists("job/a.json")


def test_read_sees_an_object_replaced_behind_its_back(
    endpoint: str, bucket: str, client: Any
) -> None:
    """open_read uses the current size and ETag, not ones cached earlier."""
    storage = _storage(endpoint, bucket)
    with storage.open_write("job/a.json") as sink:
        sink.write(b"short")
    assert storage.size("job/a.json") == 5
    storage.fs.ls(f"{bucket}/exports/job")
    client.put_object(Bucket=bucket, Key="exports/job/a.json", Body=b"much longer now")
    with storage.open_read("job/a.json") as source:
        assert source.read() == b"much longer now"


def test_presigned_url_downloads_the_content(endpoint: str, bucket: str) -> None:
    """A presigned URL is a SigV4 URL with the requested lifetime that fetches the bytes."""
    storage = _storage(endpoint, bucket)
    with storage.open_write("job/export.json") as sink:
        sink.write(b'{"name": "Zo\\u00eb"}')
    url = storage.signed_url("job/export.json", timedelta(minutes=15))
    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["900"]
    assert urlsplit(url).path == f"/{bucket}/exports/job/export.json"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b'{"name": "Zo\\u00eb"}'


def test_presigned_url_for_a_missing_key_is_refused(endpoint: str, bucket: str) -> None:
    """Fetching a presigned URL of a missing object fails with 404."""
    url = _storage(endpoint, bucket).signed_url("job/gone.json", timedelta(minutes=1))
    assert url is not None
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=10).close()
    assert caught.value.code == 404
    caught.value.close()


def test_presigned_url_lifetime_is_bounded(endpoint: str, bucket: str) -> None:
    """Lifetimes beyond SigV4's 7 days, or not positive, are refused up front."""
    storage = _storage(endpoint, bucket)
    assert storage.signed_url("job/x", timedelta(days=7)) is not None
    with pytest.raises(InvalidRequest):
        storage.signed_url("job/x", timedelta(days=7, seconds=1))
    with pytest.raises(InvalidRequest):
        storage.signed_url("job/x", timedelta(0))


def test_missing_bucket_raises_storage_error(endpoint: str) -> None:
    """Writing into a bucket that does not exist raises StorageError and leaves nothing."""
    storage = _storage(endpoint, f"missing-{uuid4().hex[:12]}")
    with pytest.raises(StorageError), storage.open_write("job/x.json") as sink:
        sink.write(b"x")


def test_credentials_stay_out_of_repr(endpoint: str, bucket: str) -> None:
    """The storage's repr shows the URL, never the secret key."""
    options = {**_options(endpoint), "secret": "very-secret-key-1234"}
    storage = FsspecStorage(f"s3://{bucket}/exports", storage_options=options)
    assert "very-secret-key-1234" not in repr(storage)


def test_service_exports_to_s3_with_a_presigned_link(endpoint: str, bucket: str) -> None:
    """End to end: from_config with the s3 backend stores the artifact and links to it."""
    service = ExportService.from_config(
        ExportConfig(storage_backend="s3", s3_bucket=bucket, compression_enabled=False),
        sources=[StaticDataSource("profile", [{"name": "Zoë"}])],
        storage_options=_options(endpoint),
    )
    job = service.create_export("user-1", "json", ["profile"])
    done = service.process_export(job.id)
    assert done.status is ExportStatus.COMPLETED
    assert done.download_url is not None
    assert parse_qs(urlsplit(done.download_url).query)["X-Amz-Expires"] == ["86400"]
    with urllib.request.urlopen(done.download_url, timeout=10) as response:
        body = response.read()
    assert len(body) == done.file_size
    assert hashlib.sha256(body).hexdigest() == done.sha256


def test_s3_links_longer_than_a_week_need_a_template() -> None:
    """Presigned S3 links last at most 7 days, so longer expiry needs a template."""
    with pytest.raises(InvalidRequest, match="168"):
        ExportConfig(storage_backend="s3", s3_bucket="b", link_expiry_hours=200)
    ExportConfig(
        storage_backend="s3",
        s3_bucket="b",
        link_expiry_hours=200,
        download_url_template="https://app.example/e/{job_id}",
    )
