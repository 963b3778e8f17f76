"""Key helpers for hosts: read an age identity file, make a signing key.

Lives below :mod:`reasonkit_export.settings` and the CLI, which read key files
the same way.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from reasonkit_export.exceptions import InvalidRequest

__all__ = ["generate_signing_key", "key_lines", "load_identity"]


def key_lines(text: str) -> list[str]:
    """The non-blank, non-comment lines of a key file (age-keygen files have comments)."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def load_identity(path: str | os.PathLike[str]) -> str:
    """Read the age identity from a ``keygen`` / ``age-keygen`` file.

    The file holds one ``AGE-SECRET-KEY-1...`` line; blank lines and ``#``
    comments (such as ``# public key: age1...``) are ignored. The result is
    what ``ExportConfig(encryption_key=...)`` takes.

    Raises:
        InvalidRequest: the file cannot be read, or does not hold exactly one
            identity (the message names the file, never a key).
        KeyFormatError: the line is not a valid age identity.
    """
    from reasonkit_export.crypto import parse_identity

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        name = os.fspath(path)
        raise InvalidRequest(f"cannot read identity file {name!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidRequest(f"identity file {os.fspath(path)!r} is not UTF-8 text") from None
    lines = key_lines(text)
    if len(lines) != 1:
        raise InvalidRequest(
            f"identity file {os.fspath(path)!r} must hold exactly one identity, found {len(lines)}"
        )
    parse_identity(lines[0])
    return lines[0]


def generate_signing_key() -> str:
    """A fresh random key for ``ExportConfig(signing_keys=[...])``: 32 bytes, URL-safe text."""
    return secrets.token_urlsafe(32)
