"""reasonkit_export: hand your users a complete, trustworthy copy of their data.

GDPR Art. 15 (access) and Art. 20 (portability) exports for any Python
service: plug in your :class:`~reasonkit_export.protocols.DataSource` objects,
call :meth:`ExportService.create_export` from your request handler and
:meth:`ExportService.process_export` from your queue, and stream the result
with :meth:`ExportService.open_download`.
"""

from __future__ import annotations

from reasonkit_export._about import CategoryDescription, ControllerInfo
from reasonkit_export._async import AsyncDownload, AsyncExportService
from reasonkit_export._download import Download
from reasonkit_export._i18n import register_catalogue
from reasonkit_export._keys import generate_signing_key, load_identity
from reasonkit_export._models import (
    ArtifactPart,
    Category,
    ExportConfig,
    ExportFormat,
    ExportJob,
    ExportStatus,
    NotificationEvent,
    RateLimit,
    ScheduledExport,
    StorageBackend,
)
from reasonkit_export._present import Presenter
from reasonkit_export._run_worker import WorkerStats, run_worker
from reasonkit_export._service import ExportService
from reasonkit_export._version import __version__
from reasonkit_export._views import job_view, schedule_view
from reasonkit_export.exceptions import (
    ConflictError,
    ConflictRetriesExhausted,
    CryptoError,
    DatabaseError,
    ExportError,
    ExportExpired,
    ExportNotFound,
    ExportNotReady,
    InvalidRequest,
    InvalidSchedule,
    InvalidTimezone,
    InvalidToken,
    NotFound,
    ProcessingError,
    RateLimitExceeded,
    ScheduleNotFound,
    SourceError,
    StorageError,
)

__all__ = [
    "ArtifactPart",
    "AsyncDownload",
    "AsyncExportService",
    "Category",
    "CategoryDescription",
    "ConflictError",
    "ConflictRetriesExhausted",
    "ControllerInfo",
    "CryptoError",
    "DatabaseError",
    "Download",
    "ExportConfig",
    "ExportError",
    "ExportExpired",
    "ExportFormat",
    "ExportJob",
    "ExportNotFound",
    "ExportNotReady",
    "ExportService",
    "ExportStatus",
    "InvalidRequest",
    "InvalidSchedule",
    "InvalidTimezone",
    "InvalidToken",
    "NotFound",
    "NotificationEvent",
    "Presenter",
    "ProcessingError",
    "RateLimit",
    "RateLimitExceeded",
    "ScheduleNotFound",
    "ScheduledExport",
    "SourceError",
    "StorageBackend",
    "StorageError",
    "WorkerStats",
    "__version__",
    "generate_signing_key",
    "job_view",
    "load_identity",
    "register_catalogue",
    "run_worker",
    "schedule_view",
]
