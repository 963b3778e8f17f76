"""pytest fixtures for testing code that uses reasonkit_export.

Installed packages register this module as the ``reasonkit_export`` plugin
(a ``pytest11`` entry point), so the fixtures are available in every test
without imports; ``pytest -p no:reasonkit_export`` turns them off. Each test
gets a fresh :class:`~reasonkit_export.testing.ExportTestKit`:

* ``export_kit``: the kit (service plus every fake).
* ``export_service``: its :class:`~reasonkit_export.ExportService`.
* ``frozen_clock``, ``recording_notifier``, ``memory_storage``: its fakes.
* ``export_kit_options``: the keyword arguments for
  :func:`~reasonkit_export.testing.make_test_service`; override it in your
  ``conftest.py`` to register your own data sources::

      @pytest.fixture
      def export_kit_options():
          return {"sources": [MyProfileSource(db)]}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reasonkit_export._service import ExportService
from reasonkit_export.testing._fakes import (
    ExportTestKit,
    FrozenClock,
    MemoryStorage,
    RecordingNotifier,
    make_test_service,
)

__all__ = [
    "export_kit",
    "export_kit_options",
    "export_service",
    "frozen_clock",
    "memory_storage",
    "recording_notifier",
]


@pytest.fixture
def export_kit_options() -> dict[str, Any]:
    """Keyword arguments for ``make_test_service``; override to plug in your sources."""
    return {}


@pytest.fixture
def export_kit(export_kit_options: dict[str, Any]) -> Iterator[ExportTestKit]:
    """A fresh service on fakes (no disk, no network, no rate limit, no compression)."""
    kit = make_test_service(**export_kit_options)
    yield kit
    kit.storage.clear()


@pytest.fixture
def export_service(export_kit: ExportTestKit) -> ExportService:
    """The service of ``export_kit``."""
    return export_kit.service


@pytest.fixture
def frozen_clock(export_kit: ExportTestKit) -> FrozenClock:
    """The clock of ``export_kit``."""
    return export_kit.clock


@pytest.fixture
def recording_notifier(export_kit: ExportTestKit) -> RecordingNotifier:
    """The notifier of ``export_kit``."""
    return export_kit.notifier


@pytest.fixture
def memory_storage(export_kit: ExportTestKit) -> MemoryStorage:
    """The storage of ``export_kit``."""
    return export_kit.storage
