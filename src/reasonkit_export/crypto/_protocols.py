"""The two roles age keys play; the ports live in :mod:`reasonkit_export.protocols`."""

from __future__ import annotations

from reasonkit_export.protocols import Identity, Recipient

__all__ = ["Identity", "Recipient"]
