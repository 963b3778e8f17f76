"""Helpers shared by the delivery adapters, and the port's old import location.

The port :class:`~reasonkit_export.protocols.Delivery` lives in
:mod:`reasonkit_export.protocols` and
:class:`~reasonkit_export.exceptions.DeliveryError` in
:mod:`reasonkit_export.exceptions`; both are re-exported here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from reasonkit_export.exceptions import DeliveryError, InvalidRequest
from reasonkit_export.protocols import Delivery

__all__ = ["Delivery", "DeliveryError"]


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
