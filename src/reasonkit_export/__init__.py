"""reasonkit_export: hand your users a complete, trustworthy copy of their data.

GDPR Art. 15 (access) and Art. 20 (portability) exports for any Python
service: plug in your :class:`~reasonkit_export.protocols.DataSource` objects,
call :meth:`ExportService.create_export` from your request handler and
:meth:`ExportService.process_export` from your queue, and stream the result
with :meth:`ExportService.open_download`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reasonkit_export._lazy import lazy_exports

if TYPE_CHECKING:
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

# Names are imported on first use (PEP 562): a process that needs one module
# (the HTML view's and the PDF summary's child processes, a CLI command) does
# not pay for importing every other one. tests/test_lazy_exports.py holds this
# table to the imports above and to __all__.
_EXPORTS: dict[str, str] = {
    "ArtifactPart": "reasonkit_export._models",
    "AsyncDownload": "reasonkit_export._async",
    "AsyncExportService": "reasonkit_export._async",
    "Category": "reasonkit_export._models",
    "CategoryDescription": "reasonkit_export._about",
    "ConflictError": "reasonkit_export.exceptions",
    "ConflictRetriesExhausted": "reasonkit_export.exceptions",
    "ControllerInfo": "reasonkit_export._about",
    "CryptoError": "reasonkit_export.exceptions",
    "DatabaseError": "reasonkit_export.exceptions",
    "Download": "reasonkit_export._download",
    "ExportConfig": "reasonkit_export._models",
    "ExportError": "reasonkit_export.exceptions",
    "ExportExpired": "reasonkit_export.exceptions",
    "ExportFormat": "reasonkit_export._models",
    "ExportJob": "reasonkit_export._models",
    "ExportNotFound": "reasonkit_export.exceptions",
    "ExportNotReady": "reasonkit_export.exceptions",
    "ExportService": "reasonkit_export._service",
    "ExportStatus": "reasonkit_export._models",
    "InvalidRequest": "reasonkit_export.exceptions",
    "InvalidSchedule": "reasonkit_export.exceptions",
    "InvalidTimezone": "reasonkit_export.exceptions",
    "InvalidToken": "reasonkit_export.exceptions",
    "NotFound": "reasonkit_export.exceptions",
    "NotificationEvent": "reasonkit_export._models",
    "Presenter": "reasonkit_export._present",
    "ProcessingError": "reasonkit_export.exceptions",
    "RateLimit": "reasonkit_export._models",
    "RateLimitExceeded": "reasonkit_export.exceptions",
    "ScheduleNotFound": "reasonkit_export.exceptions",
    "ScheduledExport": "reasonkit_export._models",
    "SourceError": "reasonkit_export.exceptions",
    "StorageBackend": "reasonkit_export._models",
    "StorageError": "reasonkit_export.exceptions",
    "WorkerStats": "reasonkit_export._run_worker",
    "__version__": "reasonkit_export._version",
    "generate_signing_key": "reasonkit_export._keys",
    "job_view": "reasonkit_export._views",
    "load_identity": "reasonkit_export._keys",
    "register_catalogue": "reasonkit_export._i18n",
    "run_worker": "reasonkit_export._run_worker",
    "schedule_view": "reasonkit_export._views",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
