"""Configuration shared by the web process and the worker, read from the environment.

Both processes must see the same export directory: the file job repository and
the local storage under it are how the worker's results reach the web app.

Environment variables (all optional); the two ``REASONKIT_EXPORT_*`` ones are
the library's own settings (see ``docs/configuration.md``):

``REASONKIT_EXPORT_LOCAL_PATH``
    where jobs and files live (default ``./example-exports``).
``REASONKIT_EXPORT_LINK_EXPIRY_HOURS``
    how long a completed export stays downloadable (default 24); the worker
    applies it when it completes an export.
``REASONKIT_REDIS_URL``
    the Redis that RQ uses (default ``redis://127.0.0.1:6379/0``).
``REASONKIT_QUEUE``
    the RQ queue name (default ``exports``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasonkit_export import ExportService

__all__ = ["Settings", "build_service"]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What the example needs to know; ``from_env`` reads it from the environment."""

    export_dir: Path = Path("example-exports")
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_name: str = "exports"
    link_expiry_hours: float = 24
    job_timeout_seconds: int = 3600
    retry_after_seconds: int = 30

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            export_dir=Path(env.get("REASONKIT_EXPORT_LOCAL_PATH", str(defaults.export_dir))),
            redis_url=env.get("REASONKIT_REDIS_URL", defaults.redis_url),
            queue_name=env.get("REASONKIT_QUEUE", defaults.queue_name),
            link_expiry_hours=float(
                env.get("REASONKIT_EXPORT_LINK_EXPIRY_HOURS", str(defaults.link_expiry_hours))
            ),
        )

    def as_env(self) -> dict[str, str]:
        """The environment variables that make ``from_env`` return these settings."""
        return {
            "REASONKIT_EXPORT_LOCAL_PATH": str(self.export_dir),
            "REASONKIT_REDIS_URL": self.redis_url,
            "REASONKIT_QUEUE": self.queue_name,
            "REASONKIT_EXPORT_LINK_EXPIRY_HOURS": str(self.link_expiry_hours),
        }

    def export_settings(self) -> dict[str, Any]:
        """The library settings (the shape of a ``reasonkit-export.toml``) of both processes.

        ``download_url_template`` makes every completed job carry the API's own
        download route as its ``download_url``.
        """
        return {
            "local_path": os.fspath(self.export_dir),
            "link_expiry_hours": self.link_expiry_hours,
            "download_url_template": "/exports/{job_id}/download",
            "sources": ["examples.fastapi_app.sources:example_sources"],
        }


def build_service(settings: Settings) -> ExportService:
    """Build the service both processes use: file repository and local storage.

    ``from_env`` has already read the environment, so it is not read twice.
    """
    return ExportService.from_settings(settings.export_settings(), environ={})
