"""The delivery port, its error, and helpers shared by the adapters.

:class:`~reasonkit_export.exceptions.DeliveryError` is defined in
:mod:`reasonkit_export.exceptions` and re-exported here.

This module imports only models, the download handle and exceptions, so that
:mod:`reasonkit_export.protocols` can re-export :class:`Delivery` without an
import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from reasonkit_export._download import Download
from reasonkit_export._models import ExportJob
from reasonkit_export.exceptions import DeliveryError, InvalidRequest

__all__ = ["Delivery", "DeliveryError"]


@runtime_checkable
class Delivery(Protocol):
    """Hands a completed export to someone else (GDPR Art. 20(2) direct transfer).

    The service calls every configured delivery after an export completed and
    its notification went out, records each result or failure on the job,
    and never fails or loses the export because a delivery failed.

    Attributes:
        name: unique per service, e.g. ``"webhook:partner-x"``; it labels the
            result on the job record.
    """

    name: str

    def deliver(self, job: ExportJob, open_artifact: Callable[[], Download]) -> str:
        """Deliver the completed export.

        Args:
            job: the completed job.
            open_artifact: opens the plaintext artifact for streaming; call it
                only if the data itself has to move, and close what it returns.

        Returns:
            A short, non-secret detail for the job record (``"HTTP 200"``).

        Raises:
            Exception: the delivery failed, after the adapter's own retries.
                The message must not contain secrets or personal data.
        """
        ...


def check_name(name: object) -> str:
    """Return ``name`` if it is a usable delivery name, else raise InvalidRequest."""
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise InvalidRequest(f"a delivery name must be a non-empty string, got {name!r}")
    return name


def redact_url(url: str) -> str:
    """``url`` without user info, query or fragment, which may carry credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    if not parts.scheme:
        return parts.path
    if ":" in host:
        host = f"[{host}]"  # IPv6 literals keep their brackets
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path}"
