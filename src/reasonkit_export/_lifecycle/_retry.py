"""Retry-on-conflict: the one loop for fenced writes that lost a race.

Owns the bound. Every read-modify-write of a job or schedule that must land
(cancelling, extending a deadline, clearing a notification, recording
delivery results, changing a schedule) re-reads the record and tries again
when a concurrent writer won, at most :data:`CONFLICT_ATTEMPTS` times; after
that :class:`~reasonkit_export.exceptions.ConflictRetriesExhausted` says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from reasonkit_export.exceptions import ConflictError, ConflictRetriesExhausted

__all__ = ["CONFLICT_ATTEMPTS", "retry_on_conflict"]

CONFLICT_ATTEMPTS = 50
"""Tries per write; a lease heartbeat or a racing host rarely costs more than one."""

_S = TypeVar("_S")
_T = TypeVar("_T")
_MISSING: Any = object()


def retry_on_conflict(
    step: Callable[[_S], _T],
    *,
    load: Callable[[], _S],
    record_id: UUID | str,
    first: _S = _MISSING,
    attempts: int = CONFLICT_ATTEMPTS,
) -> _T:
    """Run ``step`` on the record, reloading it with ``load`` after every conflict.

    Args:
        step: decides and writes; raises ConflictError when its write lost.
            Anything else it raises (or returns) ends the loop.
        load: reads the current record.
        record_id: the record's id, for the error.
        first: the record as the caller already holds it (else ``load()``).
        attempts: how many times ``step`` may run.

    Raises:
        ConflictRetriesExhausted: every attempt lost to another writer.
    """
    state = load() if first is _MISSING else first
    for attempt in range(1, attempts + 1):
        try:
            return step(state)
        except ConflictRetriesExhausted:
            raise
        except ConflictError:
            if attempt == attempts:
                break
            state = load()
    raise ConflictRetriesExhausted(record_id, attempts)
