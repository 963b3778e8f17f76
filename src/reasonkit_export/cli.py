"""The ``reasonkit-export`` command line (also ``python -m reasonkit_export``).

Operator commands over the service a TOML file and ``REASONKIT_EXPORT_*``
environment variables describe (see :mod:`reasonkit_export.settings` and
``docs/cli.md``), plus ``demo``, which needs no configuration.

Exit codes: 0 success, 1 the operation ran but failed, 2 bad usage or
configuration, 3 any other library error (130 when interrupted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from reasonkit_export._cli_ops import add_commands, add_enqueue_option, enqueue_jobs, load_enqueue
from reasonkit_export._demo import demo_sources
from reasonkit_export._models import ExportFormat, ExportJob, ExportStatus
from reasonkit_export._redact import mask_url as _mask_url
from reasonkit_export._serialization import job_to_dict
from reasonkit_export._service import ExportService
from reasonkit_export._version import __version__
from reasonkit_export.crypto import ByteSource
from reasonkit_export.exceptions import (
    CryptoError,
    ExportError,
    ExportExpired,
    ExportNotReady,
    InvalidRequest,
    InvalidToken,
    KeyFormatError,
    NotFound,
    RateLimitExceeded,
)
from reasonkit_export.settings import (
    CONFIG_ENV,
    DEFAULT_CONFIG_NAME,
    FILE_SUFFIX,
    Settings,
    artifact_location,
    close_service,
    describe_settings,
    explain_settings,
    key_lines,
    load_settings,
)

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_INTERRUPTED = 130

_AGE_MAGIC = b"age-encryption.org/v1\n"
_COPY_CHUNK = 1024 * 1024

_EPILOG = f"""\
configuration:
  Commands other than demo, keygen and decrypt/verify with --identity-file read
  ./{DEFAULT_CONFIG_NAME} (or --config FILE, or ${CONFIG_ENV}) and
  REASONKIT_EXPORT_<SETTING> environment variables, which override the file.
  Secrets (encryption_key, decryption_identities, signing_keys) may be given as
  <setting>{FILE_SUFFIX} paths instead. 'reasonkit-export config --explain' lists
  every setting; 'reasonkit-export config' shows the effective values, secrets
  masked.

exit codes:
  0    success
  1    the operation ran but failed: an export failed, no such job, the
       archive does not match its manifest, decryption failed
  2    usage or configuration error
  3    any other library error (storage, database, ...)
  130  interrupted
"""


class _Failed(Exception):
    """A command ends with this message and exit code (the message is safe to show)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class _Context:
    """Settings and service, built only when a command needs them."""

    def __init__(self, args: argparse.Namespace, environ: Mapping[str, str]) -> None:
        self._config: str | None = args.config
        self._environ = environ
        self._settings: Settings | None = None
        self._service: ExportService | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DeprecationWarning)
                self._settings = load_settings(self._config, environ=self._environ)
            for warning in caught:
                print(f"warning: {warning.message}", file=sys.stderr)
            for note in self._settings.warnings:
                print(f"warning: {note}", file=sys.stderr)
        return self._settings

    def service(self, *, with_sources: bool = True) -> ExportService:
        if self._service is None:
            self._service = ExportService.from_settings(self.settings, with_sources=with_sources)
        return self._service

    def close(self) -> None:
        if self._service is not None:
            close_service(self._service)


# ------------------------------------------------------------------- output


def _clean(text: str) -> str:
    """Escape control characters, so a hostile member name cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _report(ctx: _Context, job: ExportJob) -> int:
    """Print a job's outcome (file, size, sha256 last); 0 only if it completed."""
    print(f"job:    {job.id}")
    print(f"status: {job.status.value}")
    for warning in job.warnings:
        print(f"warning: {_clean(warning)}", file=sys.stderr)
    if job.status is ExportStatus.COMPLETED:
        assert job.storage_key is not None
        if job.encrypted:
            print("encrypted: yes (size and sha256 are of the decrypted file)")
        print(f"file:   {artifact_location(ctx.settings, job.storage_key)}")
        print(f"size:   {job.file_size} bytes")
        print(f"sha256: {job.sha256}")
        return EXIT_OK
    if job.status is ExportStatus.FAILED:
        print(f"error: export failed: {job.error}", file=sys.stderr)
    elif job.status is ExportStatus.PROCESSING:
        print(f"error: export {job.id} is being built by another worker", file=sys.stderr)
    else:
        print(f"error: export {job.id} is {job.status.value}", file=sys.stderr)
    return EXIT_FAILED


def _line(job: ExportJob) -> str:
    """One job on one line, for commands that handle many."""
    text = f"{job.id} {job.status.value}"
    if job.status is ExportStatus.COMPLETED:
        text += f" {job.file_size} bytes sha256:{job.sha256}"
    elif job.status is ExportStatus.FAILED:
        text += f" ({job.error})"
    return text


class _Progress:
    """Shows a job's progress while this thread builds it.

    A second thread polls the repository (the worker records progress there),
    so the export itself is untouched. On a terminal it draws a bar on stderr;
    otherwise it prints a plain line whenever the percentage changes.
    """

    _WIDTH = 30

    def __init__(self, service: ExportService, job: ExportJob, *, interval: float = 0.2) -> None:
        self._service = service
        self._job_id = job.id
        self._interval = interval
        self._stream = sys.stderr
        self._tty = self._stream.isatty()
        self._last: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reasonkit-progress", daemon=True)

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()
        if self._tty and self._last is not None:
            self._stream.write("\n")
            self._stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._poll()

    def _poll(self) -> None:
        try:
            percent = self._service.get_job(self._job_id).progress
        except ExportError:
            return  # a missed reading only delays the bar; the export decides the outcome
        if percent == self._last:
            return
        self._last = percent
        if self._tty:
            done = percent * self._WIDTH // 100
            bar = "#" * done + "." * (self._WIDTH - done)
            self._stream.write(f"\rexporting [{bar}] {percent:3d}%")
        else:
            self._stream.write(f"progress: {percent}%\n")
        self._stream.flush()


# ----------------------------------------------------------------- commands


def _demo(args: argparse.Namespace, _ctx: _Context) -> int:
    root = Path(args.dir).resolve()
    service = ExportService.from_settings(
        {
            "local_path": str(root),
            "compression_enabled": not args.no_compression,
            "rate_limit": False,
        },
        environ={},  # the demo reads no configuration
        sources=demo_sources(args.records),
    )
    job = service.create_export(args.user, args.format, ["all"])
    job = service.process_export(job.id)
    if job.status is not ExportStatus.COMPLETED:
        print(f"export failed: {job.error}", file=sys.stderr)
        return EXIT_FAILED
    assert job.filename is not None
    # The user's file under its real name, next to the storage (decrypted,
    # written aside and renamed, so a half-written file is never visible).
    target = root / Path(job.filename).name
    with service.open_download(job.id, user_id=job.user_id) as download:
        fd, temporary = tempfile.mkstemp(dir=root, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as sink:
                shutil.copyfileobj(download, sink, _COPY_CHUNK)
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    counts = ", ".join(f"{name} {count}" for name, count in job.record_counts.items())
    print(f"exported {sum(job.record_counts.values())} records for {job.user_id} ({counts})")
    print(f"job:    {job.id} ({job.format.value}, {job.status.value})")
    print(f"store:  {root} (jobs in jobs/, stored files in files/)")
    print(f"file:   {target}")
    print(f"size:   {job.file_size} bytes")
    print(f"sha256: {job.sha256}")
    return EXIT_OK


def _export(args: argparse.Namespace, ctx: _Context) -> int:
    service = ctx.service()
    job = service.create_export(args.user, args.format, args.category or ["all"])
    with _Progress(service, job):
        job = service.process_export(job.id)
    return _report(ctx, job)


def _process(args: argparse.Namespace, ctx: _Context) -> int:
    service = ctx.service()
    job = service.get_job(args.job_id)
    with _Progress(service, job):
        job = service.process_export(job.id)
    return _report(ctx, job)


def _shown_job(job: ExportJob, args: argparse.Namespace) -> dict[str, Any]:
    """The job as JSON; the live token in ``download_url`` masked unless --show-secrets."""
    data = job_to_dict(job)
    if data.get("download_url") and not getattr(args, "show_secrets", False):
        data["download_url"] = _mask_url(str(data["download_url"]))
    return data


def _status(args: argparse.Namespace, ctx: _Context) -> int:
    job = ctx.service(with_sources=False).get_job(args.job_id)
    print(json.dumps(_shown_job(job, args), indent=2, ensure_ascii=False))
    return EXIT_OK


def _history(args: argparse.Namespace, ctx: _Context) -> int:
    jobs = ctx.service(with_sources=False).get_history(args.user, limit=args.limit)
    if args.json:
        shown = [_shown_job(job, args) for job in jobs]
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not jobs:
        print("no exports")
    for job in jobs:
        size = f"{job.file_size} bytes" if job.file_size is not None else "-"
        print(
            f"{job.id}  {job.status.value:<10} {job.format.value:<4} "
            f"{job.created_at.isoformat()}  {size:>14}  {','.join(job.categories)}"
        )
    return EXIT_OK


def _process_all(
    service: ExportService, jobs: list[ExportJob], *, process: bool, enqueue: str | None = None
) -> int:
    """Process, enqueue or only list the jobs; 1 if any processed one did not complete."""
    if enqueue is not None:
        return enqueue_jobs(enqueue, load_enqueue(enqueue), jobs)
    code = EXIT_OK
    for job in jobs:
        if process:
            job = service.process_export(job.id)  # noqa: PLW2901 - the processed state replaces it
            if job.status is not ExportStatus.COMPLETED:
                code = EXIT_FAILED
        print(_line(job))
    return code


def _run_due(args: argparse.Namespace, ctx: _Context) -> int:
    if args.enqueue:
        load_enqueue(args.enqueue)  # a wrong path fails before any schedule fires
    service = ctx.service()
    jobs = service.run_due_schedules()
    code = _process_all(service, jobs, process=not args.no_process, enqueue=args.enqueue)
    print(f"{len(jobs)} due schedule(s) created exports", file=sys.stderr)
    return code


def _expire(_args: argparse.Namespace, ctx: _Context) -> int:
    jobs = ctx.service(with_sources=False).expire_exports()
    for job in jobs:
        print(_line(job))
    print(f"expired {len(jobs)} export(s)", file=sys.stderr)
    return EXIT_OK


def _overdue(_args: argparse.Namespace, ctx: _Context) -> int:
    jobs = ctx.service(with_sources=False).overdue_exports()
    for job in jobs:
        due = job.due_at.isoformat() if job.due_at is not None else "?"
        extended = " (extended)" if job.deadline_extension_reason else ""
        print(f"{job.id} {job.status.value} due {due}{extended}")
    print(f"{len(jobs)} overdue export(s)", file=sys.stderr)
    return EXIT_FAILED if jobs else EXIT_OK


def _recover(args: argparse.Namespace, ctx: _Context) -> int:
    if args.enqueue:
        load_enqueue(args.enqueue)  # a wrong path fails before any job is requeued
    service = ctx.service(with_sources=not (args.no_process or args.enqueue))
    jobs = service.recover_stale()
    code = _process_all(service, jobs, process=not args.no_process, enqueue=args.enqueue)
    print(f"{len(jobs)} export(s) requeued", file=sys.stderr)
    return code


def _migrate(_args: argparse.Namespace, ctx: _Context) -> int:
    repository: Any = ctx.service(with_sources=False).repository
    migrate = getattr(repository, "migrate", None)
    if not callable(migrate):
        kind = {"FileJobRepository": "file", "InMemoryJobRepository": "memory"}.get(
            type(repository).__name__, type(repository).__name__
        )
        print(f"{kind} repository: nothing to migrate")
        return EXIT_OK
    # One call creates or upgrades both the job and the schedule tables.
    version = migrate()
    print(f"schema version {version}")
    return EXIT_OK


def _keygen(args: argparse.Namespace, _ctx: _Context) -> int:
    from reasonkit_export.crypto import generate_identity

    identity = generate_identity()
    text = f"{identity}\n# public key: {identity.recipient}\n"
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        # O_EXCL: never overwrite a key someone may still need; 0600 from the start.
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _Failed(f"{args.output} exists; refusing to overwrite a key", EXIT_USAGE) from None
    except OSError as exc:
        raise _Failed(f"cannot create {args.output}: {exc.strerror}", EXIT_USAGE) from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
    print(f"Public key: {identity.recipient}", file=sys.stderr)
    return EXIT_OK


def _identities(args: argparse.Namespace, ctx: _Context) -> list[str]:
    """The identities to decrypt with: --identity-file, else the configuration."""
    if args.identity_file is not None:
        from reasonkit_export.crypto import parse_identity

        try:
            text = Path(args.identity_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise _Failed(f"cannot read {args.identity_file}: {reason}", EXIT_USAGE) from None
        lines = key_lines(text)
        if not lines:
            raise _Failed(f"{args.identity_file} holds no age identity", EXIT_USAGE)
        for line in lines:
            try:
                parse_identity(line)
            except KeyFormatError as exc:
                raise _Failed(f"{args.identity_file}: {exc}", EXIT_USAGE) from None
        return lines
    config = ctx.settings.export_config
    identities = list(config.decryption_identities)
    if config.encryption_key is not None:
        identities.insert(0, config.encryption_key)
    if not identities:
        raise _Failed(
            "no identity to decrypt with: pass --identity-file or configure "
            "encryption_key or decryption_identities",
            EXIT_USAGE,
        )
    return identities


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, after the yield
    except OSError as exc:
        raise _Failed(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
    with handle:
        yield handle


def _decrypt_into(source: ByteSource, identities: list[str], sink: IO[bytes]) -> None:
    from reasonkit_export.crypto import decrypting_reader

    with decrypting_reader(source, identities) as reader:
        shutil.copyfileobj(reader, sink, _COPY_CHUNK)


def _decrypt(args: argparse.Namespace, ctx: _Context) -> int:
    identities = _identities(args, ctx)
    with _open_input(args.file) as source:
        if args.output is None:
            sys.stdout.flush()
            # Every chunk is authenticated before it is written, but a file cut
            # short is only detected at its end: the exit code then says so.
            _decrypt_into(source, identities, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return EXIT_OK
        target = Path(args.output)
        # Plaintext is personal data: a private temporary (mkstemp makes it
        # 0600), renamed into place only once the whole file authenticated.
        try:
            fd, temporary = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".part"
            )
        except OSError as exc:
            raise _Failed(f"cannot write {args.output}: {exc.strerror}", EXIT_USAGE) from None
        try:
            with os.fdopen(fd, "wb") as sink:
                _decrypt_into(source, identities, sink)
                sink.flush()
                os.fsync(sink.fileno())
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return EXIT_OK


def _verify(args: argparse.Namespace, ctx: _Context) -> int:
    from reasonkit_export.formats._manifest import verify_archive

    with _open_input(args.file) as source:
        head = source.read(len(_AGE_MAGIC))
        if head != _AGE_MAGIC:
            if args.file == "-":
                with tempfile.TemporaryFile() as spool:
                    spool.write(head)
                    shutil.copyfileobj(source, spool, _COPY_CHUNK)
                    spool.seek(0)
                    problems = verify_archive(spool)
            else:
                problems = verify_archive(args.file)
        else:
            identities = _identities(args, ctx)
            # An anonymous temporary file: the plaintext never gets a name on disk.
            with tempfile.TemporaryFile() as plain:
                rest = _Prefixed(head, source)
                _decrypt_into(rest, identities, plain)
                plain.seek(0)
                problems = verify_archive(plain)
    if problems:
        for problem in problems:
            print(_clean(problem))
        return EXIT_FAILED
    print("ok: every member matches manifest.json")
    return EXIT_OK


class _Prefixed:
    """A reader that replays bytes already read, then continues with the source."""

    def __init__(self, head: bytes, source: IO[bytes]) -> None:
        self._head = head
        self._source = source

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._source.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._source.read(size)


def _audit(args: argparse.Namespace, ctx: _Context) -> int:
    """List the tables that reference the user that no data source covers."""
    import sqlalchemy

    from reasonkit_export.settings import load_sources
    from reasonkit_export.sources.sql import audit_coverage

    specs = args.source or list(ctx.settings.sources)
    engine = sqlalchemy.create_engine(args.database_url, hide_parameters=True)
    try:
        report = audit_coverage(
            engine,
            load_sources(specs),
            root_table=args.root_table,
            ignore=args.ignore or (),
            schema=args.schema,
        )
    finally:
        engine.dispose()
    for line in report.lines():
        print(line)
    return EXIT_OK if report.ok else EXIT_FAILED


def _config(args: argparse.Namespace, ctx: _Context) -> int:
    if args.explain:
        for line in explain_settings():
            print(line)
        print()
        print(
            f"Precedence: {CONFIG_ENV} / --config / ./{DEFAULT_CONFIG_NAME} < environment. "
            "A dotted key is a key inside a TOML table ([rate_limit] max_active); in the "
            "environment it is joined by '_' (REASONKIT_EXPORT_RATE_LIMIT_MAX_ACTIVE). "
            "Lists in the environment are comma-separated; booleans are 1/0, true/false, "
            "yes/no, on/off; an empty variable counts as unset; relative paths are relative "
            "to the working directory."
        )
        return EXIT_OK
    settings = ctx.settings
    path = settings.config_path
    print(f"# config file: {path if path is not None else '(none)'}")
    rows = describe_settings(settings)
    width = max(len(key) for key, _, _ in rows)
    for key, shown, origin in rows:
        print(f"{key:<{width}} = {shown}  # {origin}")
    return EXIT_OK


# ------------------------------------------------------------------- parser


Handler = Callable[[argparse.Namespace, _Context], int]


def _add_global_options(
    parser: argparse.ArgumentParser, *, default_config: Any, default_debug: Any
) -> None:
    # Each parser gets its own actions: parents= would share them, and a
    # default set on one parser would then leak into the others.
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=default_config,
        help=f"TOML settings file (default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG_NAME})",
    )
    parser.add_argument(
        "--debug", action="store_true", default=default_debug, help="show tracebacks and debug logs"
    )


_SHOW_SECRETS = "print the live download token in download_url (masked by default)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reasonkit-export",
        description="GDPR personal-data exports (Art. 15 access, Art. 20 portability).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(parser, default_config=None, default_debug=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str, **kwargs: Any) -> Any:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=kwargs.pop("description", help_text),
            **kwargs,
        )
        # SUPPRESS: given after the command they count, and absent they keep
        # what the main parser saw before the command.
        _add_global_options(sub, default_config=argparse.SUPPRESS, default_debug=argparse.SUPPRESS)
        sub.set_defaults(handler=handler)
        return sub

    demo = command(
        "demo",
        _demo,
        "export sample data on the embedded default (files on disk, no server)",
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
        type=str.lower,
        choices=[f.value for f in ExportFormat],
        help="export format (default: %(default)s)",
    )
    demo.add_argument("--user", default="demo-user-1", help="the user id (default: %(default)s)")
    demo.add_argument(
        "--records", type=int, default=25, help="history records to generate (default: 25)"
    )
    demo.add_argument("--no-compression", action="store_true", help="store without gzip")

    export = command(
        "export",
        _export,
        "export one user's data now, in this process (create + process)",
        description=(
            "Creates an export for USER and builds it here, showing progress on stderr. "
            "Prints the job id, status, file, size and sha256. Exit 1 if the export failed."
        ),
    )
    export.add_argument("user", metavar="USER", help="the user id")
    export.add_argument(
        "--format",
        default="json",
        type=str.lower,
        choices=[f.value for f in ExportFormat],
        help="export format (default: %(default)s)",
    )
    export.add_argument(
        "--category",
        action="append",
        metavar="C",
        help="a category to export; repeat for several (default: all)",
    )

    process = command("process", _process, "build a pending export (what a queue worker does)")
    process.add_argument("job_id", metavar="JOB_ID")

    status = command("status", _status, "print a job as JSON (operator view: no owner check)")
    status.add_argument("job_id", metavar="JOB_ID")
    status.add_argument("--show-secrets", action="store_true", help=_SHOW_SECRETS)

    history = command("history", _history, "list a user's exports, newest first")
    history.add_argument("user", metavar="USER")
    history.add_argument(
        "--limit", type=int, default=20, help="at most this many (1-1000, default 20)"
    )
    history.add_argument("--json", action="store_true", help="print the jobs as JSON")
    history.add_argument("--show-secrets", action="store_true", help=_SHOW_SECRETS)

    run_due = command("run-due", _run_due, "create the exports of due schedules, then build them")
    run_due.add_argument(
        "--no-process", action="store_true", help="only create the jobs (a queue builds them)"
    )
    add_enqueue_option(run_due)

    command("expire", _expire, "expire exports past their download window and delete files")

    command(
        "overdue",
        _overdue,
        "list requests past their GDPR Art. 12(3) deadline and not completed (exit 1 if any)",
    )

    recover = command("recover", _recover, "requeue exports whose worker died, then build them")
    recover.add_argument(
        "--no-process", action="store_true", help="only requeue (a queue builds them)"
    )
    add_enqueue_option(recover)

    command("migrate", _migrate, "create or upgrade the SQL tables (file repositories: no-op)")

    keygen = command(
        "keygen",
        _keygen,
        "generate an age identity (AGE-SECRET-KEY-1...) and print it with its public key",
    )
    keygen.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (mode 0600, never overwritten)"
    )

    identity_help = (
        "age identity file (AGE-SECRET-KEY-1... lines, # comments); "
        "default: encryption_key and decryption_identities from the configuration"
    )
    decrypt = command(
        "decrypt",
        _decrypt,
        "decrypt an age-encrypted export, streaming",
        description=(
            "Decrypts FILE ('-' for stdin) to OUT or to stdout. With -o, OUT appears only "
            "once the whole file authenticated; on stdout a damaged file stops the output "
            "with exit code 1."
        ),
    )
    decrypt.add_argument("file", metavar="FILE")
    decrypt.add_argument("-i", "--identity-file", metavar="F", help=identity_help)
    decrypt.add_argument("-o", "--output", metavar="OUT", help="write here (mode 0600)")

    verify = command(
        "verify",
        _verify,
        "check a ZIP export against its manifest.json",
        description=(
            "Checks every member of a ZIP export against the sizes and SHA-256 digests "
            "in its manifest.json. An age-encrypted file is decrypted to an anonymous "
            "temporary file first. Exit 0 if intact, 1 with one line per problem."
        ),
    )
    verify.add_argument("file", metavar="FILE")
    verify.add_argument("-i", "--identity-file", metavar="F", help=identity_help)

    add_commands(command)

    audit = command(
        "audit",
        _audit,
        "list tables that reference the user that no data source covers (exit 1 if any)",
        description=(
            "Reflects the database at DATABASE_URL, follows foreign keys from the root "
            "table and reports every table linked to the user that no configured data "
            "source covers, with its columns that look like personal data. Exit 0 when "
            "everything is covered, 1 otherwise: run it in CI when the schema changes."
        ),
    )
    audit.add_argument("database_url", metavar="DATABASE_URL", help="a SQLAlchemy URL")
    audit.add_argument("--root-table", required=True, help="the table with one row per user")
    audit.add_argument(
        "--source",
        action="append",
        metavar="MODULE:FACTORY",
        help="data sources to check; repeat for several (default: the configured sources)",
    )
    audit.add_argument(
        "--ignore", action="append", metavar="TABLE", help="a table not to export on purpose"
    )
    audit.add_argument("--schema", help="the database schema to reflect")

    config = command(
        "config",
        _config,
        "show the effective settings (secrets masked), or explain them all",
    )
    config.add_argument(
        "--explain", action="store_true", help="list every setting, its variable and default"
    )
    return parser


# --------------------------------------------------------------------- main


def _classify(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an error."""
    if isinstance(exc, _Failed):
        return exc.code, str(exc)
    # KeyFormatError is a CryptoError but means a malformed key: a usage error.
    if isinstance(exc, InvalidRequest | KeyFormatError):
        return EXIT_USAGE, str(exc)
    if isinstance(
        exc,
        NotFound | ExportExpired | ExportNotReady | RateLimitExceeded | InvalidToken | CryptoError,
    ):
        return EXIT_FAILED, str(exc)
    if isinstance(exc, ExportError):
        return EXIT_ERROR, str(exc)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return EXIT_ERROR, f"{exc.strerror or type(exc).__name__}{where}"
    # Anything else is unexpected; its message could carry anything, so name the type only.
    return EXIT_ERROR, f"unexpected {type(exc).__name__} (run with --debug for the traceback)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx = _Context(args, os.environ)
    handler: Handler = args.handler
    try:
        return handler(args, ctx)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`... | head`): nothing left to say to it, and
        # Python must not complain again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - every error becomes one line and an exit code
        code, message = _classify(exc)
        if args.debug:
            traceback.print_exc()
        print(f"error: {message}", file=sys.stderr)
        return code
    finally:
        ctx.close()
