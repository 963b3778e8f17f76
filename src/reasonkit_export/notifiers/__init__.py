"""Notifiers: tell the user (or an operator) that an export changed state."""

from __future__ import annotations

from reasonkit_export.notifiers._logging import LoggingNotifier

__all__ = ["LoggingNotifier"]
