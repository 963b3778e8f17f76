"""Keep secrets off the screen: URL passwords, download tokens, AWS credentials.

Used wherever a URL or a job may be shown: the CLI (``status``, ``history
--json``, ``config``), reprs (CLI settings, repositories, the service) and
log records. ``mask_url`` hides a password in the user-info part and the
value of every query parameter whose name looks secret (``password``,
``token``, ``sig``, ``X-Amz-Signature``, ...); ``mask_secrets`` also hides
download tokens wherever they appear (in a path, for example).
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse

__all__ = [
    "MASK",
    "install_aws_log_redaction",
    "mask_secrets",
    "mask_secrets_only",
    "mask_url",
]

MASK = "***"

# Query parameter names whose values are credentials (compared lowercased,
# "-" and "_" ignored): passwords, bearer tokens, signatures, SAS and AWS
# presigning parameters.
_SECRET_PARAMS = frozenset(
    name.replace("-", "").replace("_", "")
    for name in (
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "token",
        "access_token",
        "auth",
        "key",
        "apikey",
        "api_key",
        "sig",
        "signature",
        "sas",
        "credential",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
        "awsaccesskeyid",
        "sslpassword",
    )
)

# A download token: base64url JSON payload ('{"' is "eyJ") and a signature.
_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{12,}\b")
_AWS_CREDENTIAL = re.compile(r"(Credential=)[^,\s\"'&]+", re.IGNORECASE)
_AWS_HEADER = re.compile(
    r"((?:X-Amz-Security-Token|X-Amz-Signature|Signature)['\"]?\s*[:=]\s*b?['\"]?)[^,\s\"'&}]+",
    re.IGNORECASE,
)


def _secret_param(name: str) -> bool:
    return name.lower().replace("-", "").replace("_", "") in _SECRET_PARAMS


def mask_url(url: str, mask: str = MASK) -> str:
    """``url`` with its password and secret-looking query values replaced by ``mask``.

    Anything that does not parse as a URL is returned with tokens masked.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return mask_secrets_only(url, mask)
    netloc = parts.netloc
    if password is not None:
        host = netloc.rpartition("@")[2]
        netloc = f"{parts.username or ''}:{mask}@{host}"
    query = parts.query
    if query:
        pairs = []
        for item in query.split("&"):
            name, sep, value = item.partition("=")
            key = urllib.parse.unquote_plus(name)
            pairs.append(f"{name}={mask}" if sep and value and _secret_param(key) else item)
        query = "&".join(pairs)
    # Edited in place, not rebuilt: urlunsplit respells some URLs
    # (``sqlite:///x.db`` would lose a slash).
    head, sep, tail = url.partition("?")
    if netloc != parts.netloc:
        head = head.replace(f"//{parts.netloc}", f"//{netloc}", 1)
    if sep and query != parts.query:
        tail = query + tail[len(parts.query) :]
    return mask_secrets_only(head + sep + tail, mask)


def mask_secrets_only(text: str, mask: str = MASK) -> str:
    """``text`` with download tokens and AWS key ids masked (no URL parsing)."""
    text = _TOKEN.sub(mask, text)
    return _AWS_KEY_ID.sub(mask, text)


def mask_secrets(text: str) -> str:
    """Mask every URL-ish secret in free text: tokens, AWS credentials and signatures."""
    text = mask_secrets_only(text)
    text = _AWS_CREDENTIAL.sub(rf"\g<1>{MASK}", text)
    return _AWS_HEADER.sub(rf"\g<1>{MASK}", text)


class _RedactingFilter(logging.Filter):
    """Rewrites a record's message with AWS credentials and tokens masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken record is the logging module's business
            return True
        redacted = mask_secrets(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


# botocore logs requests, headers (Authorization: ... Credential=<key id>/...)
# and presigned URLs at DEBUG. A filter on a logger sees only that logger's
# own records, so every logger that logs them gets one.
AWS_LOGGERS = (
    "botocore",
    "botocore.auth",
    "botocore.endpoint",
    "botocore.httpsession",
    "botocore.hooks",
    "botocore.parsers",
    "botocore.retryhandler",
    "botocore.credentials",
    "botocore.utils",
    "botocore.regions",
    "botocore.client",
    "aiobotocore",
    "aiobotocore.endpoint",
    "aiobotocore.httpsession",
    "aiobotocore.credentials",
    "aiobotocore.utils",
    "aiobotocore.regions",
    "s3fs",
)
_installed = False
_lock = threading.Lock()
_FILTER = _RedactingFilter()


def install_aws_log_redaction() -> None:
    """Attach the redacting filter to botocore's, aiobotocore's and s3fs's loggers (once)."""
    global _installed  # noqa: PLW0603 - one process-wide installation
    with _lock:
        if _installed:
            return
        for name in AWS_LOGGERS:
            logging.getLogger(name).addFilter(_FILTER)
        _installed = True
