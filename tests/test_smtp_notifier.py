"""SmtpNotifier against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import ssl
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reasonkit_export import ExportConfig, ExportService
from reasonkit_export._models import ExportJob, ExportStatus, NotificationEvent
from reasonkit_export.exceptions import InvalidRequest
from reasonkit_export.notifiers._smtp import SmtpDeliveryError, SmtpNotifier
from reasonkit_export.testing import StaticDataSource

T0 = dt.datetime(2025, 6, 1, 9, 30, tzinfo=dt.UTC)
EXPIRES = dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)
ADDRESS = "zoe@example.org"
SENDER = "Example Exports <no-reply@example.com>"
LOGIN = "mailer"
PASSWORD = "s3cr3t-Pa55word-never-shown"


class Inbox:
    """An aiosmtpd handler that keeps every envelope it receives."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Accept the recipient unless the test asked to refuse it (quoting it, as servers do)."""
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the envelope."""
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        """The received messages, parsed."""
        parsed = []
        for envelope in self.envelopes:
            raw = envelope.original_content or b""
            message = message_from_bytes(raw, policy=policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


class LocalController(Controller):
    """A Controller that binds port 0 and learns the port the kernel chose (no race)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        LOGIN.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def _start(inbox: Inbox, **kwargs: Any) -> LocalController:
    controller = LocalController(
        inbox, hostname="127.0.0.1", port=0, server_hostname="localhost", **kwargs
    )
    controller.start()
    return controller


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1: (cert file, key file, cert PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return directory / "cert.pem", directory / "key.pem", pem.decode()


@pytest.fixture
def server_tls(certificate: tuple[Path, Path, str]) -> ssl.SSLContext:
    """The server side of TLS."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate[0], certificate[1])
    return context


@pytest.fixture
def client_tls(certificate: tuple[Path, Path, str]) -> ssl.SSLContext:
    """A client context that trusts only the test certificate, with hostname checks."""
    return ssl.create_default_context(cadata=certificate[2])


@pytest.fixture
def inbox() -> Inbox:
    """An empty inbox."""
    return Inbox()


@pytest.fixture
def server(inbox: Inbox) -> Iterator[LocalController]:
    """A plain SMTP server without authentication."""
    controller = _start(inbox)
    yield controller
    controller.stop()


@pytest.fixture
def make_notifier(server: LocalController) -> Callable[..., SmtpNotifier]:
    """Build a notifier for the plain server; keyword arguments override."""

    def make(**overrides: Any) -> SmtpNotifier:
        options: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": server.port,
            "sender": SENDER,
            "recipient_resolver": {"user-42": ADDRESS}.get,
            "timeout": 5.0,
            "product_name": "Example",
            "security": "none",  # the plain test server; the default is starttls
        }
        options.update(overrides)
        return SmtpNotifier(**options)

    return make


def _job(**changes: Any) -> ExportJob:
    fields: dict[str, Any] = {
        "user_id": "user-42",
        "format": "json",
        "categories": ("profile",),
        "created_at": T0,
        "status": ExportStatus.COMPLETED,
        "download_url": "https://app.example/exports/abc?token=t0k3n",
        "expires_at": EXPIRES,
    }
    return ExportJob(**{**fields, **changes})


def _bodies(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert isinstance(plain, EmailMessage)
    assert isinstance(rich, EmailMessage)
    text, markup = plain.get_content(), rich.get_content()
    assert isinstance(text, str)
    assert isinstance(markup, str)
    return text, markup


def test_completed_message_has_headers_link_and_expiry(
    make_notifier: Callable[..., SmtpNotifier], inbox: Inbox
) -> None:
    """A completed export mails the link and its expiry in both bodies, with the right headers."""
    job = _job()
    make_notifier(subject_prefix="[Example] ").notify(job, NotificationEvent.COMPLETED)
    [envelope] = inbox.envelopes
    assert envelope.mail_from == "no-reply@example.com"
    assert envelope.rcpt_tos == [ADDRESS]
    [message] = inbox.messages()
    assert message["From"] == SENDER
    assert message["To"] == ADDRESS
    assert message["Subject"] == "[Example] Your data export is ready"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    text, markup = _bodies(message)
    for body in (text, markup):
        assert "2025-06-02T09:30:00Z" in body
        assert "2 June 2025, 09:30 UTC" in body
        assert str(job.id) in body
        assert "user-42" not in body
        assert ADDRESS not in body
    assert "https://app.example/exports/abc?token=t0k3n" in text
    assert '<a href="https://app.example/exports/abc?token=t0k3n">' in markup


def test_completed_without_url_points_to_the_app(
    make_notifier: Callable[..., SmtpNotifier], inbox: Inbox
) -> None:
    """Without a download URL the message says the export is ready in the app."""
    make_notifier().notify(_job(download_url=None), NotificationEvent.COMPLETED)
    text, markup = _bodies(inbox.messages()[0])
    assert "sign in to Example" in text
    assert "<a " not in markup


@pytest.mark.parametrize(
    ("event", "subject", "phrase"),
    [
        (NotificationEvent.FAILED, "could not be completed", "try again"),
        (NotificationEvent.EXPIRED, "link has expired", "request a new export"),
        (NotificationEvent.CANCELLED, "was cancelled", "has been cancelled"),
    ],
)
def test_other_events(
    make_notifier: Callable[..., SmtpNotifier],
    inbox: Inbox,
    event: NotificationEvent,
    subject: str,
    phrase: str,
) -> None:
    """Failed, expired and cancelled each get their own subject and text, and no link."""
    job = _job(
        status=ExportStatus(event.value),
        error="psycopg.OperationalError: connection to 10.0.0.5 failed",
    )
    make_notifier().notify(job, event)
    [message] = inbox.messages()
    assert subject in message["Subject"]
    for body in _bodies(message):
        assert phrase in body
        assert "t0k3n" not in body
        assert "psycopg" not in body
        assert str(job.id) in body


def test_resolver_without_address_sends_nothing(
    make_notifier: Callable[..., SmtpNotifier], inbox: Inbox
) -> None:
    """A resolver answering None means no mail and no error."""
    asked: list[str] = []

    def resolver(user_id: str) -> str | None:
        asked.append(user_id)
        return None

    make_notifier(recipient_resolver=resolver).notify(_job(), NotificationEvent.COMPLETED)
    assert asked == ["user-42"]
    assert inbox.envelopes == []


def test_html_escapes_everything_interpolated(
    make_notifier: Callable[..., SmtpNotifier], inbox: Inbox
) -> None:
    """A hostile URL and product name are escaped in the HTML part."""
    url = 'https://x.example/d?a=1&b="><script>alert(1)</script>'
    notifier = make_notifier(product_name="<b>Evil & Co</b>")
    notifier.notify(_job(download_url=url), NotificationEvent.COMPLETED)
    text, markup = _bodies(inbox.messages()[0])
    assert "<script>" not in markup
    assert "<b>Evil" not in markup
    assert "&lt;b&gt;Evil &amp; Co&lt;/b&gt;" in markup
    assert 'href="https://x.example/d?a=1&amp;b=&quot;&gt;&lt;script&gt;' in markup
    assert url in text


def test_non_http_link_is_not_clickable(
    make_notifier: Callable[..., SmtpNotifier], inbox: Inbox
) -> None:
    """A javascript: download URL is shown as text, never as an anchor."""
    make_notifier().notify(_job(download_url="javascript:alert(1)"), NotificationEvent.COMPLETED)
    _text, markup = _bodies(inbox.messages()[0])
    assert "<a " not in markup
    assert "javascript:alert(1)" in markup


def test_logs_one_line_without_the_address(
    make_notifier: Callable[..., SmtpNotifier], caplog: pytest.LogCaptureFixture
) -> None:
    """Sending logs one line with the job id and event, never the address."""
    job = _job()
    with caplog.at_level(logging.DEBUG, logger="reasonkit_export.notify"):
        make_notifier().notify(job, NotificationEvent.COMPLETED)
    records = [r for r in caplog.records if r.name == "reasonkit_export.notify"]
    assert len(records) == 1
    assert str(job.id) in records[0].getMessage()
    assert "completed" in records[0].getMessage()
    assert ADDRESS not in caplog.text


def test_refused_recipient_error_hides_the_address(
    make_notifier: Callable[..., SmtpNotifier], inbox: Inbox
) -> None:
    """A refused recipient raises with the SMTP code but without the address."""
    inbox.refuse.add(ADDRESS)
    with pytest.raises(SmtpDeliveryError) as caught:
        make_notifier().notify(_job(), NotificationEvent.COMPLETED)
    assert caught.value.stage == "send"
    assert caught.value.smtp_code == 550
    assert ADDRESS not in str(caught.value)
    assert caught.value.__suppress_context__


def test_starttls_login_delivers(
    inbox: Inbox, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    """STARTTLS then AUTH LOGIN against a server that requires both."""
    controller = _start(
        inbox,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    )
    try:
        SmtpNotifier(
            host="127.0.0.1",
            port=controller.port,
            sender=SENDER,
            recipient_resolver=lambda _user: ADDRESS,
            security="starttls",
            username=LOGIN,
            password=PASSWORD,
            ssl_context=client_tls,
            timeout=5.0,
        ).notify(_job(), NotificationEvent.COMPLETED)
    finally:
        controller.stop()
    assert len(inbox.envelopes) == 1


def test_wrong_password_raises_without_the_password(
    inbox: Inbox, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    """A refused login raises an error that shows neither password."""
    controller = _start(
        inbox,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    )
    wrong = "Wr0ng-" + PASSWORD
    notifier = SmtpNotifier(
        host="127.0.0.1",
        port=controller.port,
        sender=SENDER,
        recipient_resolver=lambda _user: ADDRESS,
        security="starttls",
        username=LOGIN,
        password=wrong,
        ssl_context=client_tls,
        timeout=5.0,
    )
    try:
        with pytest.raises(SmtpDeliveryError) as caught:
            notifier.notify(_job(), NotificationEvent.COMPLETED)
    finally:
        controller.stop()
    assert caught.value.stage == "login"
    assert caught.value.smtp_code == 535
    for shown in (str(caught.value), repr(caught.value), repr(notifier)):
        assert wrong not in shown
    assert inbox.envelopes == []


def test_implicit_tls_login_delivers(
    inbox: Inbox, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    """security='ssl' speaks TLS from the first byte (port 465 style) and logs in."""
    # aiosmtpd only counts STARTTLS as TLS; on an implicit-TLS listener it must
    # be told that AUTH is fine (the whole connection is encrypted anyway).
    controller = _start(
        inbox, ssl_context=server_tls, authenticator=_authenticate, auth_require_tls=False
    )
    try:
        SmtpNotifier(
            host="127.0.0.1",
            port=controller.port,
            sender=SENDER,
            recipient_resolver=lambda _user: ADDRESS,
            security="ssl",
            username=LOGIN,
            password=PASSWORD,
            ssl_context=client_tls,
            timeout=5.0,
        ).notify(_job(), NotificationEvent.CANCELLED)
    finally:
        controller.stop()
    assert len(inbox.envelopes) == 1


def test_untrusted_certificate_is_refused(inbox: Inbox, server_tls: ssl.SSLContext) -> None:
    """With the default context a self-signed server certificate fails STARTTLS."""
    controller = _start(inbox, tls_context=server_tls, require_starttls=True)
    try:
        with pytest.raises(SmtpDeliveryError, match=r"starttls failed.*SSLCertVerificationError"):
            SmtpNotifier(
                host="127.0.0.1",
                port=controller.port,
                sender=SENDER,
                recipient_resolver=lambda _user: ADDRESS,
                security="starttls",
                timeout=5.0,
            ).notify(_job(), NotificationEvent.COMPLETED)
    finally:
        controller.stop()
    assert inbox.envelopes == []


def _stopped_server_port() -> int:
    """Start a server, stop it, and return the port nobody listens on any more."""
    controller = _start(Inbox())
    controller.stop()
    return int(controller.port)


def test_unreachable_server_raises_without_the_password() -> None:
    """A stopped server raises an OSError whose text and repr hide the password."""
    port = _stopped_server_port()
    notifier = SmtpNotifier(
        host="127.0.0.1",
        port=port,
        sender=SENDER,
        recipient_resolver=lambda _user: ADDRESS,
        security="ssl",
        username=LOGIN,
        password=PASSWORD,
        timeout=2.0,
    )
    with pytest.raises(OSError) as caught:
        notifier.notify(_job(), NotificationEvent.COMPLETED)
    assert isinstance(caught.value, SmtpDeliveryError)
    assert caught.value.stage == "connect"
    for shown in (str(caught.value), repr(caught.value), repr(notifier)):
        assert PASSWORD not in shown


def test_configuration_is_validated() -> None:
    """Unknown security modes and a login without TLS are refused up front."""

    def resolver(_user: str) -> str:
        return ADDRESS

    with pytest.raises(InvalidRequest):
        SmtpNotifier(host="h", sender=SENDER, recipient_resolver=resolver, security="tls")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="starttls"):
        SmtpNotifier(
            host="h",
            sender=SENDER,
            recipient_resolver=resolver,
            username=LOGIN,
            password=PASSWORD,
            security="none",
        )
    with pytest.raises(InvalidRequest):
        SmtpNotifier(host="h", sender=SENDER, recipient_resolver=resolver, username=LOGIN)
    with pytest.raises(InvalidRequest):
        SmtpNotifier(host="h", sender="", recipient_resolver=resolver)


def _service(notifier: SmtpNotifier) -> ExportService:
    return ExportService(
        sources=[StaticDataSource("profile", [{"name": "Zoë"}])],
        notifier=notifier,
        config=ExportConfig(
            storage_backend="memory",
            download_url_template="https://app.example/exports/{job_id}",
        ),
    )


def test_service_completion_mails_the_link(
    make_notifier: Callable[..., SmtpNotifier], inbox: Inbox
) -> None:
    """End to end: a processed export e-mails its download link."""
    service = _service(make_notifier())
    job = service.create_export("user-42", "json", ["profile"])
    done = service.process_export(job.id)
    assert done.status is ExportStatus.COMPLETED
    [message] = inbox.messages()
    text, _markup = _bodies(message)
    assert f"https://app.example/exports/{job.id}" in text
    assert done.notification_error is None


def test_service_completes_when_the_mail_server_is_down(
    make_notifier: Callable[..., SmtpNotifier],
) -> None:
    """With the SMTP server stopped the export completes and the failure is recorded."""
    service = _service(make_notifier(port=_stopped_server_port(), timeout=2.0))
    job = service.create_export("user-42", "json", ["profile"])
    done = service.process_export(job.id)
    assert done.status is ExportStatus.COMPLETED
    assert done.notification_error is not None
    assert "connect failed" in done.notification_error
    assert ADDRESS not in done.notification_error


def test_default_refuses_a_server_without_starttls(inbox: Inbox, server: LocalController) -> None:
    """By default (starttls) a server that does not offer STARTTLS gets nothing in plaintext."""
    notifier = SmtpNotifier(
        host="127.0.0.1",
        port=server.port,
        sender=SENDER,
        recipient_resolver=lambda _user: ADDRESS,
        timeout=5.0,
    )
    assert "security='starttls'" in repr(notifier)
    with pytest.raises(SmtpDeliveryError, match="does not offer STARTTLS") as caught:
        notifier.notify(_job(), NotificationEvent.COMPLETED)
    assert caught.value.stage == "starttls"
    assert inbox.envelopes == []


def test_default_upgrades_to_tls_and_verifies(
    inbox: Inbox, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    """By default the link travels only after STARTTLS, with a verified certificate."""
    controller = _start(inbox, tls_context=server_tls, require_starttls=True)
    try:
        SmtpNotifier(
            host="localhost",
            port=controller.port,
            sender=SENDER,
            recipient_resolver=lambda _user: ADDRESS,
            ssl_context=client_tls,
            timeout=5.0,
        ).notify(_job(), NotificationEvent.COMPLETED)
    finally:
        controller.stop()
    assert len(inbox.envelopes) == 1  # require_starttls: no mail without TLS


def test_explicit_none_sends_plaintext(inbox: Inbox, server: LocalController) -> None:
    """security='none' is honoured only when set explicitly."""
    SmtpNotifier(
        host="127.0.0.1",
        port=server.port,
        sender=SENDER,
        recipient_resolver=lambda _user: ADDRESS,
        security="none",
        timeout=5.0,
    ).notify(_job(), NotificationEvent.COMPLETED)
    assert len(inbox.envelopes) == 1
