"""Old keyword names kept for one release, each with a DeprecationWarning.

Owns :func:`renamed_keyword` and the list of renames (:data:`RENAMED`), so
that dropping them in the next release is one place to look.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["RENAMED", "renamed_keyword"]

RENAMED = {
    # old keyword -> new keyword (ExportService and AsyncExportService)
    "notify_email": "notify",  # schedule_export, update_schedule: as create_export
}


def renamed_keyword(old: str, old_value: Any, new_value: Any, *, unset: Any) -> Any:
    """The value to use for a renamed keyword; warns when the old name was passed.

    Args:
        old: the old keyword's name (a key of :data:`RENAMED`).
        old_value: what the caller passed under the old name (``unset`` if nothing).
        new_value: what the caller passed under the new name (or its default).
        unset: the marker for "not passed".
    """
    if old_value is unset:
        return new_value
    warnings.warn(
        f"{old}= is deprecated and will be removed in the next release; use {RENAMED[old]}=",
        DeprecationWarning,
        stacklevel=3,
    )
    return old_value
