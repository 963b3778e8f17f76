"""Notifiers: tell the user (or an operator) that an export changed state."""

from __future__ import annotations

from reasonkit_export.notifiers._logging import LoggingNotifier
from reasonkit_export.notifiers._smtp import SmtpDeliveryError, SmtpNotifier

__all__ = ["LoggingNotifier", "SmtpDeliveryError", "SmtpNotifier"]
