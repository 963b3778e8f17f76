"""Every data source, notifier, delivery and format writer we ship passes its public contract.

The SQL TableSource runs the data-source contract in
``tests/sources/test_table_source_contract.py``, on every database backend.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from uuid import uuid4

import pytest

from reasonkit_export import NotificationEvent
from reasonkit_export.delivery import NotifierDelivery, StorageCopyDelivery, WebhookDelivery
from reasonkit_export.formats import CsvWriter, JsonWriter, PdfWriter, ZipWriter
from reasonkit_export.notifiers import LoggingNotifier, SmtpNotifier
from reasonkit_export.testing import (
    DataSourceContract,
    DeliveryContract,
    FailingDataSource,
    FormatWriterContract,
    NotifierContract,
    RecordingNotifier,
    StaticDataSource,
)
from reasonkit_export.testing._port_contracts import contract_job
from tests.test_delivery import HOST, LOOPBACK, SECRET, Receiver, Server
from tests.test_smtp_notifier import Inbox, LocalController, _start

# ------------------------------------------------------------------ data sources


class TestStaticDataSource(DataSourceContract):
    """The static fake serving the same records to everyone honours the contract."""

    @pytest.fixture
    def source(self) -> StaticDataSource:
        """Three profile records for every user."""
        return StaticDataSource("profile", [{"name": "Zoë"}, {"name": "Ann"}, {"n": {"x": 1}}])


class TestStaticDataSourcePerUser(DataSourceContract):
    """The static fake with records per user honours the contract."""

    @pytest.fixture
    def source(self) -> StaticDataSource:
        """Two records for user-1, one for user-2."""
        return StaticDataSource(
            "history", {"user-1": [{"id": 1}, {"id": 2}], "user-2": [{"id": 3}]}
        )


class TestFailingDataSource(DataSourceContract):
    """The outage fake yields valid records, then fails with the configured error."""

    source_error = ConnectionError

    @pytest.fixture
    def source(self) -> FailingDataSource:
        """Two records, then a ConnectionError."""
        return FailingDataSource("profile", fail_after=2)


# ------------------------------------------------------------------ notifiers


class TestRecordingNotifier(NotifierContract):
    """The recording fake honours the notifier contract."""

    @pytest.fixture
    def notifier(self) -> RecordingNotifier:
        """A fresh recording notifier."""
        return RecordingNotifier()


class TestLoggingNotifier(NotifierContract):
    """The logging notifier honours the contract (its log lines name no one)."""

    @pytest.fixture
    def notifier(self) -> LoggingNotifier:
        """A logging notifier on its default logger."""
        return LoggingNotifier()

    def test_logs_one_line_per_event(
        self, notifier: LoggingNotifier, user_id: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The contract's log check is not vacuous: every event is logged."""
        caplog.set_level(logging.INFO)
        for event in NotificationEvent:
            notifier.notify(contract_job(user_id), event)
        assert [r.name for r in caplog.records] == ["reasonkit_export.notify"] * len(
            NotificationEvent
        )


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, LocalController]]:
    """A plain aiosmtpd server on 127.0.0.1 and its inbox."""
    inbox = Inbox()
    controller = _start(inbox)
    try:
        yield inbox, controller
    finally:
        controller.stop()


class TestSmtpNotifier(NotifierContract):
    """The SMTP notifier honours the contract against a real loopback server."""

    personal_data = ("zoe@example.org",)
    foreign_loggers = ("mail.log",)  # aiosmtpd's own debug lines, the test server's

    @pytest.fixture
    def notifier(self, smtp_server: tuple[Inbox, LocalController], user_id: str) -> SmtpNotifier:
        """A notifier that mails the contract's user at zoe@example.org."""
        _inbox, controller = smtp_server
        return SmtpNotifier(
            host="127.0.0.1",
            port=controller.port,
            sender="Example <no-reply@example.com>",
            recipient_resolver={user_id: "zoe@example.org"}.get,
            timeout=5.0,
            security="none",
        )

    def test_every_event_reached_the_inbox(
        self, notifier: SmtpNotifier, smtp_server: tuple[Inbox, LocalController], user_id: str
    ) -> None:
        """The contract's notifications really arrive, one message per event."""
        inbox, _controller = smtp_server
        for event in NotificationEvent:
            notifier.notify(contract_job(user_id), event)
        assert [m["To"] for m in inbox.messages()] == ["zoe@example.org"] * len(NotificationEvent)


# ------------------------------------------------------------------ deliveries


@pytest.fixture
def webhook_url() -> Iterator[str]:
    """A real HTTP receiver on 127.0.0.1 that answers 200, and its URL."""
    state = Receiver()
    server = Server(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/exports"
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


class TestWebhookDelivery(DeliveryContract):
    """The signed webhook honours the delivery contract against a loopback receiver."""

    @pytest.fixture
    def delivery(self, webhook_url: str) -> WebhookDelivery:
        """A webhook to the loopback receiver, allowed by an explicit loopback policy."""
        return WebhookDelivery(webhook_url, SECRET, allow=LOOPBACK, sleep=lambda _: None)


class TestStorageCopyDelivery(DeliveryContract):
    """The storage copy honours the delivery contract on an in-memory store."""

    @pytest.fixture
    def delivery(self) -> Iterator[StorageCopyDelivery]:
        """A copy into a private memory:// root the host configured (trusted)."""
        import fsspec

        root = f"memory://contract-copy-{uuid4().hex}"
        yield StorageCopyDelivery(root, allow=HOST)
        fs = fsspec.filesystem("memory")
        if fs.exists(root):
            fs.rm(root, recursive=True)


class TestNotifierDelivery(DeliveryContract):
    """The notifier delivery honours the delivery contract."""

    @pytest.fixture
    def delivery(self) -> NotifierDelivery:
        """A delivery through a recording notifier."""
        return NotifierDelivery(RecordingNotifier())


# ------------------------------------------------------------------ format writers


class TestJsonWriter(FormatWriterContract):
    """The JSON writer honours the format-writer contract."""

    @pytest.fixture
    def writer(self) -> JsonWriter:
        """A JSON writer."""
        return JsonWriter()


class TestCsvWriter(FormatWriterContract):
    """The CSV writer honours the format-writer contract."""

    @pytest.fixture
    def writer(self) -> CsvWriter:
        """A CSV writer with defaults."""
        return CsvWriter()


class TestPdfWriter(FormatWriterContract):
    """The PDF writer honours the format-writer contract."""

    @pytest.fixture
    def writer(self) -> PdfWriter:
        """A PDF writer with the bundled fonts."""
        return PdfWriter()


class TestZipWriter(FormatWriterContract):
    """The ZIP writer (JSON, CSV, PDF report, README, manifest) honours the contract."""

    @pytest.fixture
    def writer(self) -> ZipWriter:
        """A ZIP writer with every member."""
        return ZipWriter()
