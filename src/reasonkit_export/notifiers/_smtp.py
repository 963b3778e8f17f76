"""A notifier that e-mails the user through an SMTP server (stdlib only).

One message per event, with a plain-text body and an HTML alternative. The
messages carry only what the user needs: the download link and its expiry,
or a short explanation, and the job id as a reference. No record contents,
no user id, no internal error details.
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Literal, assert_never
from urllib.parse import urlsplit

import attrs

from reasonkit_export._models import ExportJob, NotificationEvent
from reasonkit_export.exceptions import InvalidRequest, SmtpDeliveryError

__all__ = ["SmtpDeliveryError", "SmtpNotifier"]

Security = Literal["none", "starttls", "ssl"]

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@attrs.frozen
class _Text:
    """One message: subject, paragraphs, and an optional link paragraph."""

    subject: str
    paragraphs: tuple[str, ...]
    link: str | None = None


def _human(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    # Month names from a fixed table: strftime("%B") follows the process locale.
    return f"{utc.day} {_MONTHS[utc.month - 1]} {utc.year}, {utc:%H:%M} UTC"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SmtpNotifier:
    """E-mails the user when an export completed, failed, expired or was cancelled.

    Args:
        host: the SMTP server.
        port: its port (25 plain or STARTTLS, 587 submission, 465 implicit TLS).
        sender: the ``From`` address, e.g. ``"Example <no-reply@example.com>"``.
        recipient_resolver: ``user_id -> address``, supplied by the host;
            ``None`` means "do not e-mail this user" and is not an error.
        security: ``"starttls"`` (the default: upgrade after connecting, and
            refuse to send if the server does not offer STARTTLS), ``"ssl"``
            (implicit TLS from the first byte) or ``"none"`` (plaintext; the
            message carries the download link, a bearer credential, so only
            set it explicitly for a relay on the same host).
        username: the login, if the server needs one (needs TLS).
        password: its password; never shown in ``repr``, logs or errors.
        timeout: seconds for connecting and for each server reply.
        ssl_context: the TLS settings; default: the system's trusted CAs with
            hostname checking (certificates are always verified).
        subject_prefix: put before every subject, e.g. ``"[Example] "``.
        product_name: how the messages name the service ("your data export
            for <product_name>").

    Raises:
        InvalidRequest: an unknown ``security``, or credentials without TLS.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        sender: str,
        recipient_resolver: Callable[[str], str | None],
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        subject_prefix: str = "",
        product_name: str = "your account",
    ) -> None:
        if security not in ("none", "starttls", "ssl"):
            raise InvalidRequest(f"security must be 'none', 'starttls' or 'ssl', got {security!r}")
        if (username is None) != (password is None):
            raise InvalidRequest("give both username and password, or neither")
        if username is not None and security == "none":
            # smtplib would send the password in clear text over the network.
            raise InvalidRequest("SMTP login needs security='starttls' or 'ssl'")
        if not parseaddr(sender)[1]:
            raise InvalidRequest("sender must be an e-mail address")
        self._host = host
        self._port = port
        self._sender = sender
        self._resolve = recipient_resolver
        self._security: Security = security
        self._username = username
        self._password = password
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._subject_prefix = subject_prefix
        self._product = product_name
        self._logger = logging.getLogger("reasonkit_export.notify")

    def __repr__(self) -> str:
        auth = "login" if self._username is not None else "none"
        return (
            f"SmtpNotifier(host={self._host!r}, port={self._port}, "
            f"security={self._security!r}, auth={auth!r})"
        )

    def notify(self, job: ExportJob, event: NotificationEvent) -> None:
        """E-mail the job's user about ``event``.

        Sends nothing when the resolver has no address for the user.

        Raises:
            SmtpDeliveryError: the server could not be reached or refused the
                message (an ``smtplib.SMTPException``, so also an ``OSError``).
        """
        recipient = self._resolve(job.user_id)
        if recipient is None:
            self._logger.info("export %s: no e-mail address; %s not e-mailed", job.id, event.value)
            return
        message = self.build_message(job, event, recipient)
        self._send(message)
        self._logger.info("export %s: %s e-mail sent", job.id, event.value)

    def build_message(
        self, job: ExportJob, event: NotificationEvent, recipient: str
    ) -> EmailMessage:
        """The message :meth:`notify` sends, for previews and tests."""
        text = self._text(job, NotificationEvent(event))
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = recipient
        message["Subject"] = f"{self._subject_prefix}{text.subject}"
        message["Date"] = formatdate(usegmt=True)
        # make_msgid's default domain is socket.getfqdn(), a DNS lookup per
        # message; the sender's domain is what receiving servers expect anyway.
        domain = parseaddr(self._sender)[1].rpartition("@")[2] or "localhost"
        message["Message-ID"] = make_msgid(domain=domain)
        # RFC 3834: tells autoresponders (vacation replies) not to answer.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(self._plain(text, job))
        message.add_alternative(self._html(text, job), subtype="html")
        return message

    def _text(self, job: ExportJob, event: NotificationEvent) -> _Text:
        product = self._product
        if event is NotificationEvent.COMPLETED:
            paragraphs = [f"Your data export for {product} is ready."]
            if job.download_url:
                paragraphs.append("You can download it with this link:")
            else:
                paragraphs.append(f"You can download it when you sign in to {product}.")
            if job.expires_at is not None:
                paragraphs.append(
                    f"The download is available until {_human(job.expires_at)} "
                    f"({_iso(job.expires_at)}); after that the file is deleted."
                )
            paragraphs.append("Keep the file safe: it contains your personal data.")
            return _Text("Your data export is ready", tuple(paragraphs), job.download_url)
        if event is NotificationEvent.FAILED:
            return _Text(
                "Your data export could not be completed",
                (
                    f"We are sorry: the export of your data for {product} could not be completed.",
                    (
                        "Please try again later. If it keeps failing, contact our support "
                        "and quote the reference below."
                    ),
                ),
            )
        if event is NotificationEvent.EXPIRED:
            return _Text(
                "Your data export link has expired",
                (
                    (
                        f"The download link for your data export for {product} has expired "
                        "and the file has been deleted."
                    ),
                    "If you still need your data, please request a new export.",
                ),
            )
        if event is NotificationEvent.CANCELLED:
            return _Text(
                "Your data export was cancelled",
                (
                    f"Your data export for {product} has been cancelled; no file was kept.",
                    "You can request a new export at any time.",
                ),
            )
        if event is NotificationEvent.DEADLINE_EXTENDED:
            # GDPR Art. 12(3): the user must be told of an extension and why.
            paragraphs = [
                f"We need more time to prepare your data export for {product}.",
            ]
            if job.due_at is not None:
                paragraphs.append(
                    f"We will complete it by {_human(job.due_at)} ({_iso(job.due_at)})."
                )
            if job.deadline_extension_reason:
                paragraphs.append(f"The reason: {job.deadline_extension_reason}")
            return _Text("Your data export will take longer", tuple(paragraphs))
        assert_never(event)

    @staticmethod
    def _footer(job: ExportJob) -> str:
        return f"Reference: export {job.id}. This message was sent automatically."

    def _plain(self, text: _Text, job: ExportJob) -> str:
        blocks = ["Hello,", *text.paragraphs[:2]]
        if text.link:
            blocks.append(text.link)
        # "-- " on its own line is the signature delimiter mail clients fold away.
        blocks += [*text.paragraphs[2:], f"-- \n{self._footer(job)}"]
        return "\n\n".join(blocks) + "\n"

    def _html(self, text: _Text, job: ExportJob) -> str:
        def p(content: str) -> str:
            return f"<p>{content}</p>"

        blocks = [p("Hello,"), *(p(html.escape(x)) for x in text.paragraphs[:2])]
        if text.link:
            link = html.escape(text.link, quote=True)
            # Only http(s) becomes a clickable link: a javascript: or data: URL
            # from a misconfigured template must not be one click away.
            if urlsplit(text.link).scheme.lower() in ("http", "https"):
                blocks.append(p(f'<a href="{link}">{link}</a>'))
            else:
                blocks.append(p(link))
        blocks += [p(html.escape(x)) for x in text.paragraphs[2:]]
        blocks.append(f'<p style="color:#666;font-size:small">{html.escape(self._footer(job))}</p>')
        subject = html.escape(text.subject)
        body = "\n".join(blocks)
        return (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f"<title>{subject}</title></head>\n<body>\n{body}\n</body></html>\n"
        )

    def _send(self, message: EmailMessage) -> None:
        stage = "connect"
        try:
            client: smtplib.SMTP
            if self._security == "ssl":
                client = smtplib.SMTP_SSL(
                    self._host, self._port, timeout=self._timeout, context=self._context()
                )
            else:
                client = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
            with client:
                if self._security == "starttls":
                    stage = "starttls"
                    client.ehlo()
                    if not client.has_extn("starttls"):
                        # Never fall back to plaintext: the mail carries the link.
                        raise SmtpDeliveryError(
                            "notification e-mail not sent (starttls failed: the server "
                            "does not offer STARTTLS, and the link is never sent in "
                            "plaintext unless security='none' is set explicitly)",
                            stage="starttls",
                        )
                    client.starttls(context=self._context())
                if self._username is not None and self._password is not None:
                    stage = "login"
                    client.login(self._username, self._password)
                stage = "send"
                client.send_message(message, from_addr=parseaddr(self._sender)[1])
        except SmtpDeliveryError:
            raise
        except OSError as exc:  # smtplib.SMTPException and ssl.SSLError are OSErrors
            # "from None": the cause's text may quote the recipient's address.
            raise SmtpDeliveryError.from_cause(stage, exc) from None

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context
