"""A notifier that writes one log line per event, without personal data."""

from __future__ import annotations

import logging

from reasonkit_export._models import ExportJob, NotificationEvent

__all__ = ["LoggingNotifier"]


class LoggingNotifier:
    """Logs ``export <id> <event>`` at INFO on the ``reasonkit_export.notify`` logger.

    Only the job id, the event, the format and the status appear: never the
    user id, the download URL (a bearer credential) or record data.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger("reasonkit_export.notify")

    def notify(self, job: ExportJob, event: NotificationEvent) -> None:
        """Log the event."""
        self._logger.info(
            "export %s %s (format=%s, status=%s)", job.id, event.value, job.format, job.status
        )
