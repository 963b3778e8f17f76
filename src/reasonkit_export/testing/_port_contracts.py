"""Contract suites for the ports a host plugs in: data sources, notifiers, deliveries, writers.

The storage and repository suites live in :mod:`reasonkit_export.testing._contracts`;
these four check the ports that move data *through* an export. Subclass one
and provide its fixture; pytest collects the inherited tests::

    from reasonkit_export.testing import DataSourceContract

    class TestOrders(DataSourceContract):
        @pytest.fixture
        def source(self):
            return OrdersSource(db)    # a source that has records for user_id

        @pytest.fixture
        def user_id(self):
            return "42"                # a user with at least one record

Every suite checks the protocol in :mod:`reasonkit_export.protocols`, and a
data source's optional features only when it has them. Our own sources,
notifiers, deliveries and writers run these same suites.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

import pytest

from reasonkit_export._about import CategoryDescription, description_of
from reasonkit_export._download import Download
from reasonkit_export._models import ExportJob, ExportStatus, NotificationEvent
from reasonkit_export.formats._base import ArtifactPlan, ExportInfo, Section, WriteResult
from reasonkit_export.protocols import (
    CountingSource,
    DataSource,
    Delivery,
    DescribedSource,
    ExcludingSource,
    FormatWriter,
    IncrementalSource,
    Notifier,
    RedactingSource,
)

__all__ = [
    "DataSourceContract",
    "DeliveryContract",
    "FormatWriterContract",
    "NotifierContract",
]

_T0 = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
_FAR_FUTURE = datetime(2999, 1, 1, tzinfo=UTC)
_TOKEN = "contract-bearer-token-3c1d9e"  # noqa: S105 - a marker searched for in output
_ARTIFACT = b'{"profile": {"name": "contract-person-Zo\xc3\xab"}}\n' * 64


# ------------------------------------------------------------------ data sources


class DataSourceContract:
    """The :class:`~reasonkit_export.protocols.DataSource` contract, optional features included.

    Provide a ``source`` fixture and, unless ``"user-1"`` has records in it,
    a ``user_id`` fixture naming a user with at least one record. A source
    that fails on purpose (a fake outage) sets ``source_error`` to the
    exception type it raises after its records; the suite then checks the
    records before the failure and that the failure is of that type.
    """

    source_error: ClassVar[type[BaseException] | None] = None

    @pytest.fixture
    def user_id(self) -> str:
        """A user with at least one record (override it for your data)."""
        return "user-1"

    def _collect(self, records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Every record, up to the deliberate failure when ``source_error`` is set."""
        collected: list[Mapping[str, Any]] = []
        if self.source_error is None:
            collected.extend(records)
            return collected
        with pytest.raises(self.source_error):
            collected.extend(records)
        return collected

    def test_is_a_data_source(self, source: DataSource) -> None:
        """The source satisfies the runtime-checkable protocol."""
        assert isinstance(source, DataSource)

    def test_category_is_a_non_empty_string(self, source: DataSource) -> None:
        """``category`` is a non-empty, non-blank str (the name users ask for)."""
        assert isinstance(source.category, str)
        assert source.category.strip()

    def test_records_are_mappings_with_string_keys(self, source: DataSource, user_id: str) -> None:
        """Every record is a mapping whose keys are strings."""
        records = self._collect(source.records(user_id))
        assert records or self.source_error is not None, f"no records for {user_id!r}"
        for record in records:
            assert isinstance(record, Mapping)
            assert all(isinstance(key, str) for key in record)

    def test_records_can_be_read_again(self, source: DataSource, user_id: str) -> None:
        """Each call starts afresh and yields the same records (a retried export sees them)."""
        first = [dict(r) for r in self._collect(source.records(user_id))]
        second = [dict(r) for r in self._collect(source.records(user_id))]
        assert first == second

    def test_count_matches_records(self, source: DataSource, user_id: str) -> None:
        """A counting source's count is None (unknown) or exactly what records yields."""
        if not isinstance(source, CountingSource) or not callable(source.count):
            pytest.skip("the source does not count")
        counted = source.count(user_id)
        assert counted is None or isinstance(counted, int)
        if counted is not None and self.source_error is None:
            assert counted == len(list(source.records(user_id)))

    def test_since_filters(self, source: DataSource, user_id: str) -> None:
        """An incremental source yields a subset for ``since``, none after the far future."""
        if not isinstance(source, IncrementalSource) or source.supports_since is not True:
            pytest.skip("the source does not support since")
        full = [dict(r) for r in self._collect(source.records(user_id))]
        assert [dict(r) for r in self._collect(source.records(user_id, since=None))] == full
        recent = self._collect(source.records(user_id, since=_T0))
        assert all(dict(record) in full for record in recent)
        assert self._collect(source.records(user_id, since=_FAR_FUTURE)) == []

    def test_redact_returns_mappings(self, source: DataSource, user_id: str) -> None:
        """A redacting source returns a mapping with string keys for every record."""
        if not isinstance(source, RedactingSource):
            pytest.skip("the source does not redact")
        for record in self._collect(source.records(user_id)):
            redacted = source.redact(record, user_id)
            assert isinstance(redacted, Mapping)
            assert all(isinstance(key, str) for key in redacted)

    def test_description_is_valid(self, source: DataSource) -> None:
        """A described source's description is a CategoryDescription or builds one."""
        if not isinstance(source, DescribedSource) or source.description is None:
            pytest.skip("the source has no description")
        assert isinstance(description_of(source), CategoryDescription)

    def test_excluded_fields_are_left_out(self, source: DataSource, user_id: str) -> None:
        """Declared excluded fields are strings, and no record carries a top-level one."""
        if not isinstance(source, ExcludingSource):
            pytest.skip("the source excludes no fields")
        excluded = source.excluded_fields
        assert not isinstance(excluded, str | bytes)
        assert all(isinstance(name, str) and name for name in excluded)
        top_level = {name for name in excluded if "." not in name}
        for record in self._collect(source.records(user_id)):
            assert top_level.isdisjoint(record)


# ------------------------------------------------------------------ notifiers


def contract_job(user_id: str, **changes: Any) -> ExportJob:
    """A completed job of ``user_id`` with a download link, as the suites hand it out."""
    fields: dict[str, Any] = {
        "user_id": user_id,
        "format": "json",
        "categories": ("profile",),
        "status": ExportStatus.COMPLETED,
        "progress": 100,
        "created_at": _T0,
        "completed_at": _T0 + timedelta(minutes=1),
        "expires_at": _T0 + timedelta(days=1),
        "file_size": len(_ARTIFACT),
        "sha256": hashlib.sha256(_ARTIFACT).hexdigest(),
        "filename": "export-20250601-contract.json",
        "media_type": "application/json",
        "storage_key": "exports/contract.json",
        "download_url": f"https://exports.example/d/contract?token={_TOKEN}",
    }
    return ExportJob(**{**fields, **changes})


def _secrets_in_logs(
    caplog: pytest.LogCaptureFixture, secrets: Iterable[str], foreign: Iterable[str]
) -> list[str]:
    ignored = tuple(foreign)
    wanted = [secret for secret in secrets if secret]
    lines = [
        record.getMessage()
        for record in caplog.records
        if not any(record.name == name or record.name.startswith(f"{name}.") for name in ignored)
    ]
    return [line for line in lines if any(secret in line for secret in wanted)]


class NotifierContract:
    """The :class:`~reasonkit_export.protocols.Notifier` contract.

    Provide a ``notifier`` fixture that can reach the user named by the
    ``user_id`` fixture (default ``"contract-user-5f0c"``; a notifier that
    looks addresses up must know this user). ``personal_data`` lists further
    strings no log line may contain (the user's e-mail address, say);
    ``foreign_loggers`` names loggers of test infrastructure (a local mail
    server) whose lines the log check ignores.
    """

    personal_data: ClassVar[tuple[str, ...]] = ()
    foreign_loggers: ClassVar[tuple[str, ...]] = ()

    @pytest.fixture
    def user_id(self) -> str:
        """The user the contract's jobs belong to."""
        return "contract-user-5f0c"

    def test_is_a_notifier(self, notifier: Notifier) -> None:
        """The notifier satisfies the runtime-checkable protocol."""
        assert isinstance(notifier, Notifier)

    @pytest.mark.parametrize("event", list(NotificationEvent))
    def test_accepts_every_event(
        self, notifier: Notifier, user_id: str, event: NotificationEvent
    ) -> None:
        """Every notification event is delivered without error and returns None."""
        job = contract_job(user_id, status=_STATUS_OF[event])
        assert notifier.notify(job, event) is None  # type: ignore[func-returns-value]

    def test_logs_no_personal_data(
        self, notifier: Notifier, user_id: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """No log line names the user or carries the download link (a bearer credential)."""
        caplog.set_level(logging.DEBUG)
        for event in NotificationEvent:
            notifier.notify(contract_job(user_id, status=_STATUS_OF[event]), event)
        secrets = (user_id, _TOKEN, *self.personal_data)
        assert _secrets_in_logs(caplog, secrets, self.foreign_loggers) == []


_STATUS_OF = {
    NotificationEvent.COMPLETED: ExportStatus.COMPLETED,
    NotificationEvent.FAILED: ExportStatus.FAILED,
    NotificationEvent.EXPIRED: ExportStatus.EXPIRED,
    NotificationEvent.CANCELLED: ExportStatus.CANCELLED,
    NotificationEvent.DEADLINE_EXTENDED: ExportStatus.PENDING,
}


# ------------------------------------------------------------------ deliveries


class _Stream(io.BytesIO):
    """An artifact stream that can fail half way, to check errors surface."""

    def __init__(self, data: bytes, *, fail: bool) -> None:
        super().__init__(data)
        self._fail = fail

    def read(self, size: int | None = -1, /) -> bytes:
        if self._fail:
            if self.tell() >= len(_ARTIFACT) // 2:
                raise OSError("the artifact stream broke")
            size = 1024 if size is None or size < 0 else min(size, 1024)
        return super().read(size)

    def readinto(self, buffer: Any, /) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Opener:
    """An ``open_artifact`` that keeps every download it hands out."""

    def __init__(self, job: ExportJob, *, fail: bool = False) -> None:
        self._job = job
        self._fail = fail
        self.downloads: list[Download] = []

    def __call__(self) -> Download:
        download = Download(
            job_id=self._job.id,
            filename=self._job.filename or "export.bin",
            media_type=self._job.media_type or "application/octet-stream",
            size=len(_ARTIFACT),
            sha256=hashlib.sha256(_ARTIFACT).hexdigest(),
            stream=_Stream(_ARTIFACT, fail=self._fail),
        )
        self.downloads.append(download)
        return download


class DeliveryContract:
    """The :class:`~reasonkit_export.protocols.Delivery` contract.

    Provide a ``delivery`` fixture whose destination accepts deliveries (a
    loopback server or an in-memory store in tests). The suite hands it a
    completed job of the ``user_id`` fixture's user, with a download link.
    """

    @pytest.fixture
    def user_id(self) -> str:
        """The user the delivered job belongs to."""
        return "contract-user-5f0c"

    def test_is_a_delivery_with_a_name(self, delivery: Delivery) -> None:
        """The delivery satisfies the protocol and has a non-empty ``name``."""
        assert isinstance(delivery, Delivery)
        assert isinstance(delivery.name, str)
        assert delivery.name.strip()

    def test_returns_a_short_detail_without_secrets(self, delivery: Delivery, user_id: str) -> None:
        """``deliver`` returns a short non-empty str naming neither user nor download token."""
        job = contract_job(user_id)
        detail = delivery.deliver(job, _Opener(job))
        assert isinstance(detail, str)
        assert 0 < len(detail) <= 500
        assert user_id not in detail
        assert _TOKEN not in detail

    def test_closes_every_download_it_opens(self, delivery: Delivery, user_id: str) -> None:
        """Each artifact the delivery opened is closed when ``deliver`` returns."""
        job = contract_job(user_id)
        opener = _Opener(job)
        delivery.deliver(job, opener)
        assert all(download.closed for download in opener.downloads)

    def test_a_broken_artifact_stream_fails_the_delivery(
        self, delivery: Delivery, user_id: str
    ) -> None:
        """A delivery that reads the artifact raises when the stream breaks, never succeeds."""
        job = contract_job(user_id)
        opener = _Opener(job, fail=True)
        try:
            delivery.deliver(job, opener)
        except Exception:  # noqa: BLE001 - any exception is the documented failure signal
            failed = True
        else:
            failed = False
        if not opener.downloads:
            assert not failed, "a delivery that never opened the artifact failed"
            return
        assert failed, "the artifact stream broke, yet the delivery reported success"
        assert all(download.closed for download in opener.downloads)

    def test_delivers_again(self, delivery: Delivery, user_id: str) -> None:
        """The same delivery can run again for another export (it keeps no one-shot state)."""
        for _ in range(2):
            job = contract_job(user_id)
            assert delivery.deliver(job, _Opener(job))


# ------------------------------------------------------------------ format writers


class _OneShot:
    """Records that may be iterated once, counting how many were taken."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._records = records
        self.iterations = 0
        self.taken = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.iterations += 1
        if self.iterations > 1:
            raise AssertionError("a section's records were iterated twice")
        for record in self._records:
            self.taken += 1
            yield record


class _SourceBroke(Exception):
    """Raised by a section's records in the contract's failure test."""


class _Sink(io.BytesIO):
    """A sink that remembers whether anyone closed it."""

    closed_by_writer = False

    def close(self) -> None:
        self.closed_by_writer = True
        super().close()


_SECTIONS: Mapping[str, list[dict[str, Any]]] = {
    "profile": [
        {"name": "Zoë Контракт 契約", "email": "zoe@example.org", "age": 41, "vip": True},
    ],
    "reasoning_history": [
        {"id": n, "prompt": f"question {n}", "tags": ["a", "b"], "meta": {"tokens": n}, "x": None}
        for n in range(1, 6)
    ],
    "empty": [],
}


class FormatWriterContract:
    """The :class:`~reasonkit_export.protocols.FormatWriter` contract.

    Provide a ``writer`` fixture. The suite writes three categories (one
    record, five nested records, none) through it.
    """

    def _info(self, *categories: str) -> ExportInfo:
        return ExportInfo(
            export_id=UUID("0b6a1c2d-0000-4000-8000-00000000c0de"),
            user_id="contract-user-5f0c",
            generated_at=_T0,
            format="contract",
            categories=categories,
            generator="reasonkit_export contract",
        )

    def test_is_a_format_writer(self, writer: FormatWriter) -> None:
        """The writer satisfies the runtime-checkable protocol."""
        assert isinstance(writer, FormatWriter)

    def test_plan_describes_the_artifact(self, writer: FormatWriter) -> None:
        """``plan`` names an extension without a dot and a type/subtype media type, stably."""
        for categories in (("profile",), tuple(_SECTIONS)):
            info = self._info(*categories)
            plan = writer.plan(info)
            assert isinstance(plan, ArtifactPlan)
            assert plan.extension
            assert "." not in plan.extension
            assert plan.extension == plan.extension.strip()
            kind, _, subtype = plan.media_type.partition("/")
            assert kind
            assert subtype
            assert isinstance(plan.gzip_allowed, bool)
            assert writer.plan(info) == plan

    def test_write_counts_every_record_and_leaves_the_sink_open(self, writer: FormatWriter) -> None:
        """``write`` returns every category's record count, writes bytes, leaves the sink open."""
        info = self._info(*_SECTIONS)
        records = {name: _OneShot(rows) for name, rows in _SECTIONS.items()}
        sections = [Section(category=name, records=rows) for name, rows in records.items()]
        sink = _Sink()
        result = writer.write(info, iter(sections), sink)
        assert isinstance(result, WriteResult)
        assert dict(result.record_counts) == {name: len(rows) for name, rows in _SECTIONS.items()}
        assert not sink.closed_by_writer
        assert sink.getvalue()

    def test_reads_each_section_once_and_fully(self, writer: FormatWriter) -> None:
        """Each section's records are iterated exactly once, to the end (they may be a stream)."""
        info = self._info(*_SECTIONS)
        records = {name: _OneShot(rows) for name, rows in _SECTIONS.items()}
        sections = (Section(category=name, records=rows) for name, rows in records.items())
        writer.write(info, sections, _Sink())
        assert {name: (r.iterations, r.taken) for name, r in records.items()} == {
            name: (1, len(rows)) for name, rows in _SECTIONS.items()
        }

    def test_errors_from_records_propagate(self, writer: FormatWriter) -> None:
        """An exception raised while iterating records reaches the caller as it was raised."""

        def broken() -> Iterator[dict[str, Any]]:
            yield {"id": 1}
            raise _SourceBroke("the data source went away")

        info = self._info("profile", "reasoning_history")
        sections = [
            Section(category="profile", records=list(_SECTIONS["profile"])),
            Section(category="reasoning_history", records=broken()),
        ]
        sink = _Sink()
        with pytest.raises(_SourceBroke):
            writer.write(info, sections, sink)
        assert not sink.closed_by_writer
