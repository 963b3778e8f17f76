"""Passphrase recipients and identities (the age ``scrypt`` stanza)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from reasonkit_export.crypto._header import Stanza
from reasonkit_export.crypto._primitives import (
    b64decode,
    b64encode,
    is_wrapped_file_key_size,
    unwrap_file_key,
    wrap_file_key,
)
from reasonkit_export.exceptions import HeaderError, InvalidRequest

__all__ = ["DEFAULT_MAX_WORK_FACTOR", "DEFAULT_WORK_FACTOR", "ScryptIdentity", "ScryptRecipient"]

DEFAULT_WORK_FACTOR = 18
DEFAULT_MAX_WORK_FACTOR = 22
# Beyond 2**30 scrypt needs more than a terabyte of memory; nobody means that.
_WORK_FACTOR_LIMIT = 30
_LABEL = b"age-encryption.org/v1/scrypt"
_STANZA_TYPE = "scrypt"
_SALT_SIZE = 16
# Decimal without sign or leading zeros: exactly one spelling per value.
_WORK_FACTOR_RE = re.compile(r"[1-9][0-9]{0,2}")


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    """Return the passphrase as UTF-8 bytes, refusing empty ones."""
    if isinstance(passphrase, str):
        data = passphrase.encode("utf-8")
    elif isinstance(passphrase, (bytes, bytearray)):
        data = bytes(passphrase)
    else:
        raise TypeError(f"the age passphrase must be str or bytes, not {type(passphrase).__name__}")
    if not data:
        raise InvalidRequest("the age passphrase must not be empty")
    return data


def _check_work_factor(value: int, name: str) -> int:
    """Validate a log2(N) work factor argument."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{name} must be an int")
    if not 1 <= value <= _WORK_FACTOR_LIMIT:
        raise InvalidRequest(f"{name} must be between 1 and {_WORK_FACTOR_LIMIT}, got {value}")
    return value


def _derive(passphrase: bytes, salt: bytes, work_factor: int) -> bytes:
    """Derive the wrapping key: scrypt(passphrase, label || salt, N=2**work_factor, r=8, p=1)."""
    kdf = Scrypt(salt=_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1)
    return kdf.derive(passphrase)


class ScryptRecipient:
    """Encrypt to a passphrase. A file with a passphrase recipient may have no other.

    Args:
        passphrase: the passphrase (``str`` is encoded as UTF-8).
        work_factor: log2 of the scrypt cost N; 18 (age's default) takes about
            a second and 256 MiB of memory.
    """

    __slots__ = ("_passphrase", "_work_factor")

    def __init__(self, passphrase: str | bytes, work_factor: int = DEFAULT_WORK_FACTOR) -> None:
        """Validate and keep the passphrase and work factor."""
        self._passphrase = _passphrase_bytes(passphrase)
        self._work_factor = _check_work_factor(work_factor, "work_factor")

    @property
    def work_factor(self) -> int:
        """log2 of the scrypt cost parameter N."""
        return self._work_factor

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Wrap ``file_key`` under a key derived from the passphrase and a fresh salt."""
        salt = os.urandom(_SALT_SIZE)
        body = wrap_file_key(_derive(self._passphrase, salt, self._work_factor), file_key)
        return [Stanza(_STANZA_TYPE, (b64encode(salt), str(self._work_factor)), body)]

    def __repr__(self) -> str:
        """Show the work factor, never the passphrase."""
        return f"ScryptRecipient(passphrase='***', work_factor={self._work_factor})"


class ScryptIdentity:
    """Decrypt with a passphrase.

    Args:
        passphrase: the passphrase (``str`` is encoded as UTF-8).
        max_work_factor: the largest log2(N) accepted. A file asking for more
            is refused before any scrypt work, so that a hostile file cannot
            pin a CPU and gigabytes of memory.
    """

    __slots__ = ("_max_work_factor", "_passphrase")

    def __init__(
        self, passphrase: str | bytes, max_work_factor: int = DEFAULT_MAX_WORK_FACTOR
    ) -> None:
        """Validate and keep the passphrase and the work factor bound."""
        self._passphrase = _passphrase_bytes(passphrase)
        self._max_work_factor = _check_work_factor(max_work_factor, "max_work_factor")

    @property
    def max_work_factor(self) -> int:
        """The largest log2(N) this identity will compute."""
        return self._max_work_factor

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """Return the file key from a ``scrypt`` stanza if the passphrase opens it, else ``None``.

        Raises:
            HeaderError: a ``scrypt`` stanza is malformed, or its work factor
                exceeds ``max_work_factor``.
        """
        for stanza in stanzas:
            if stanza.type != _STANZA_TYPE:
                continue
            if len(stanza.args) != 2:
                raise HeaderError("malformed scrypt stanza: wrong number of arguments")
            try:
                salt = b64decode(stanza.args[0])
            except ValueError as exc:
                raise HeaderError(f"malformed scrypt stanza: salt: {exc}") from exc
            if len(salt) != _SALT_SIZE:
                raise HeaderError("malformed scrypt stanza: salt has the wrong length")
            if _WORK_FACTOR_RE.fullmatch(stanza.args[1]) is None:
                raise HeaderError("malformed scrypt stanza: invalid work factor")
            work_factor = int(stanza.args[1])
            # Checked before any scrypt work: the bound is a DoS defence.
            if work_factor > self._max_work_factor:
                raise HeaderError(
                    f"scrypt work factor {work_factor} exceeds the maximum {self._max_work_factor}"
                )
            if not is_wrapped_file_key_size(stanza.body):
                raise HeaderError("malformed scrypt stanza: body has the wrong length")
            key = _derive(self._passphrase, salt, work_factor)
            file_key = unwrap_file_key(key, stanza.body)
            if file_key is not None:
                return file_key
        return None

    def __repr__(self) -> str:
        """Show the work factor bound, never the passphrase."""
        return f"ScryptIdentity(passphrase='***', max_work_factor={self._max_work_factor})"
