"""The two roles age keys play: recipients wrap a file key, identities unwrap it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from reasonkit_export.crypto._header import Stanza

__all__ = ["Identity", "Recipient"]


@runtime_checkable
class Recipient(Protocol):
    """Something a file can be encrypted to (an ``age1…`` key, a passphrase)."""

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Return the stanzas that let the matching identity recover ``file_key``."""
        ...


@runtime_checkable
class Identity(Protocol):
    """Something that can open files (an ``AGE-SECRET-KEY-1…`` key, a passphrase)."""

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """Return the 16-byte file key, or ``None`` when no stanza is for this identity.

        Raises:
            HeaderError: a stanza of this identity's type is malformed.
        """
        ...
