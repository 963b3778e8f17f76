"""The ``reasonkit-export`` command line (also ``python -m reasonkit_export``).

Exit codes: 0 success, 1 the export itself failed, 2 bad usage or input,
3 any other library error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from reasonkit_export._demo import demo_sources
from reasonkit_export._models import ExportConfig, ExportFormat, ExportStatus
from reasonkit_export._serialization import job_to_dict
from reasonkit_export._service import ExportService
from reasonkit_export._version import __version__
from reasonkit_export.exceptions import ExportError, InvalidRequest

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reasonkit-export",
        description="GDPR personal-data exports (Art. 15 access, Art. 20 portability).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="export sample data on the embedded default (files on disk, no server)",
        description=(
            "Builds sample data for a user (non-ASCII names, nested fields, timestamps), "
            "exports it with a file job repository and local storage under DIR, and "
            "prints the job, the file path, its size and its sha256."
        ),
    )
    demo.add_argument(
        "--dir", default="demo-exports", help="where jobs and files go (default: %(default)s)"
    )
    demo.add_argument(
        "--format",
        default="json",
        choices=[f.value for f in ExportFormat],
        help="export format (default: %(default)s)",
    )
    demo.add_argument("--user", default="demo-user-1", help="the user id (default: %(default)s)")
    demo.add_argument(
        "--records", type=int, default=25, help="history records to generate (default: 25)"
    )
    demo.add_argument("--no-compression", action="store_true", help="store without gzip")
    return parser


def _demo(args: argparse.Namespace) -> int:
    root = Path(args.dir).resolve()
    config = ExportConfig(
        storage_backend="local",
        local_path=str(root),
        compression_enabled=not args.no_compression,
        rate_limit=None,
    )
    service = ExportService.from_config(config, sources=demo_sources(args.records))
    job = service.create_export(args.user, args.format, ["all"])
    job = service.process_export(job.id)
    print(json.dumps(job_to_dict(job), indent=2, ensure_ascii=False))
    if job.status is not ExportStatus.COMPLETED:
        print(f"export failed: {job.error}", file=sys.stderr)
        return EXIT_FAILED
    assert job.storage_key is not None
    path = root / "files" / job.storage_key
    print(f"file:   {path}")
    print(f"size:   {job.file_size} bytes")
    print(f"sha256: {job.sha256}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "demo":
            return _demo(args)
    except InvalidRequest as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ExportError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_USAGE  # pragma: no cover - argparse requires a command
