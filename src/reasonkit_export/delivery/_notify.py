"""Deliver through an existing notifier, as an extra completion message."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from reasonkit_export._download import Download
from reasonkit_export._models import ExportJob, NotificationEvent
from reasonkit_export.delivery._base import check_name
from reasonkit_export.exceptions import InvalidRequest

if TYPE_CHECKING:
    # Only for typing: protocols.py re-exports Delivery from this package, so a
    # runtime import here would be circular.
    from reasonkit_export.protocols import Notifier

__all__ = ["NotifierDelivery"]


class NotifierDelivery:
    """Send one more ``completed`` notification through ``notifier``.

    Useful to reach a second channel (for example an :class:`SmtpNotifier`
    addressed to the receiving controller) with the download link.

    Args:
        notifier: any object with ``notify(job, event)``.
        name: the delivery's name on the job record.
    """

    def __init__(self, notifier: Notifier, *, name: str = "notify") -> None:
        self.name = check_name(name)
        if not callable(getattr(notifier, "notify", None)):
            raise InvalidRequest("NotifierDelivery needs an object with notify(job, event)")
        self._notifier = notifier

    def __repr__(self) -> str:
        return f"NotifierDelivery(name={self.name!r}, notifier={type(self._notifier).__name__})"

    def deliver(self, job: ExportJob, open_artifact: Callable[[], Download]) -> str:
        """Notify about the completed export; return ``"notified"``.

        Raises:
            Exception: whatever the notifier raises.
        """
        del open_artifact  # a notification carries the link, not the data
        self._notifier.notify(job, NotificationEvent.COMPLETED)
        return "notified"
