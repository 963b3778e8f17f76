"""Operator commands of ``reasonkit-export``: cancel, extend, list, schedules, fetch, doctor.

Registered on the parser by :func:`add_commands`; each handler takes the parsed
arguments and the CLI's lazily built context (anything with ``settings`` and
``service(with_sources=...)``) and returns the exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from reasonkit_export._models import ExportJob, ExportStatus, ScheduledExport, add_months
from reasonkit_export._serialization import job_to_dict
from reasonkit_export._service import ExportService
from reasonkit_export._views import schedule_view
from reasonkit_export.exceptions import ExportError, InvalidRequest
from reasonkit_export.settings import Settings, load_sources, mask_url

__all__ = [
    "DOCTOR_EXIT_CODES",
    "add_commands",
    "add_enqueue_option",
    "enqueue_jobs",
    "load_enqueue",
]

_COPY_CHUNK = 1024 * 1024

# `doctor`: one exit code per kind of failure (the first failing check wins).
DOCTOR_EXIT_CODES: dict[str, int] = {
    "repository": 10,
    "migrations": 11,
    "storage": 12,
    "keys": 13,
    "sources": 14,
    "mail": 15,
}


class Context(Protocol):
    """What the commands need from the CLI's context."""

    @property
    def settings(self) -> Settings: ...

    def service(self, *, with_sources: bool = True) -> ExportService: ...


Handler = Callable[[argparse.Namespace, Any], int]


def _job_line(job: ExportJob) -> str:
    size = f"{job.file_size} bytes" if job.file_size is not None else "-"
    return (
        f"{job.id}  {job.status.value:<10} {job.format.value:<4} {job.user_id}  "
        f"{job.created_at.isoformat()}  {size:>14}  {','.join(job.categories)}"
    )


# ------------------------------------------------------------------ jobs


def _cancel(args: argparse.Namespace, ctx: Context) -> int:
    service = ctx.service(with_sources=False)
    job = service.get_job(args.job_id)
    job = service.cancel_export(job.id, user_id=job.user_id)
    print(f"{job.id} {job.status.value}")
    return 0 if job.status is ExportStatus.CANCELLED else 1


def _when(text: str) -> datetime:
    """An ISO 8601 date or time; without a timezone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or time (2026-03-01 or 2026-03-01T12:00+01:00)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _extend_deadline(args: argparse.Namespace, ctx: Context) -> int:
    service = ctx.service(with_sources=False)
    until: datetime | None = args.until
    if until is None:
        job = service.get_job(args.job_id)
        if job.due_at is None:
            raise InvalidRequest(f"export {job.id} has no deadline to extend; give --until")
        until = add_months(job.due_at, args.months)
    job = service.extend_deadline(args.job_id, args.reason, until)
    due = job.due_at.isoformat() if job.due_at is not None else "?"
    print(f"{job.id} {job.status.value} due {due} (extended: {job.deadline_extension_reason})")
    return 0


def _list(args: argparse.Namespace, ctx: Context) -> int:
    service = ctx.service(with_sources=False)
    statuses = [ExportStatus(s) for s in args.status] if args.status else None
    jobs: Iterable[ExportJob]
    if args.overdue:
        jobs = service.overdue_exports()
    elif args.user is not None:
        jobs = service.repository.list_for_user(str(args.user), statuses=statuses)
    else:
        jobs = service.repository.list_by_status(statuses or list(ExportStatus))
    selected = [
        job
        for job in jobs
        if (statuses is None or job.status in statuses)
        and (args.user is None or job.user_id == args.user)
    ]
    selected.sort(key=lambda job: (job.created_at, str(job.id)), reverse=True)
    selected = selected[: args.limit]
    if args.json:
        print(json.dumps([job_to_dict(job) for job in selected], indent=2, ensure_ascii=False))
        return 0
    for job in selected:
        print(_job_line(job))
    return 0


# ------------------------------------------------------------------ schedules


def _schedule_line(schedule: ScheduledExport) -> str:
    state = "enabled " if schedule.enabled else "disabled"
    next_run = schedule.next_run.isoformat() if schedule.next_run is not None else "-"
    return (
        f"{schedule.id}  {state} {schedule.user_id}  {schedule.cron_expression!r} "
        f"{schedule.timezone}  {schedule.format.value}  next {next_run}"
    )


def _schedules_list(args: argparse.Namespace, ctx: Context) -> int:
    service = ctx.service(with_sources=False)
    if args.user is not None:
        schedules = service.schedules.list_for_user(str(args.user))
    else:
        # Without --user the repositories can list enabled schedules only.
        schedules = service.schedules.list_due(datetime.max.replace(tzinfo=UTC))
    if args.json:
        rows = [{**schedule_view(s), "user_id": s.user_id} for s in schedules]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for schedule in schedules:
        print(_schedule_line(schedule))
    return 0


def _schedule(service: ExportService, schedule_id: str) -> ScheduledExport:
    from reasonkit_export.exceptions import ScheduleNotFound

    try:
        key = uuid.UUID(schedule_id)
    except ValueError:
        raise ScheduleNotFound(schedule_id) from None
    return service.schedules.get(key)


def _schedules_toggle(args: argparse.Namespace, ctx: Context) -> int:
    service = ctx.service(with_sources=False)
    schedule = _schedule(service, args.schedule_id)
    enabled = args.schedules_command == "enable"
    schedule = service.update_schedule(schedule.id, user_id=schedule.user_id, enabled=enabled)
    print(_schedule_line(schedule))
    return 0


def _schedules_delete(args: argparse.Namespace, ctx: Context) -> int:
    service = ctx.service(with_sources=False)
    schedule = _schedule(service, args.schedule_id)
    service.delete_schedule(schedule.id, user_id=schedule.user_id)
    print(f"{schedule.id} deleted")
    return 0


def _schedules(args: argparse.Namespace, ctx: Context) -> int:
    if args.schedules_command == "list":
        return _schedules_list(args, ctx)
    if args.schedules_command == "delete":
        return _schedules_delete(args, ctx)
    return _schedules_toggle(args, ctx)


# ------------------------------------------------------------------ fetch


def _fetch(args: argparse.Namespace, ctx: Context) -> int:
    service = ctx.service(with_sources=False)
    job = service.get_job(args.job_id)
    target = Path(args.output)
    target.mkdir(parents=True, exist_ok=True)
    parts: list[int | None] = [part.number for part in job.parts] or [None]
    for number in parts:
        with service.open_download(job.id, user_id=job.user_id, part=number) as download:
            path = target / Path(download.filename).name
            if path.exists() and not args.force:
                raise InvalidRequest(f"{path} exists; pass --force to replace it")
            # Personal data: a private temporary (0600), renamed into place when complete.
            fd, temporary = tempfile.mkstemp(dir=target, prefix=f".{path.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as sink:
                    for chunk in download.iter_chunks(_COPY_CHUNK):
                        sink.write(chunk)
                    sink.flush()
                    os.fsync(sink.fileno())
                Path(temporary).replace(path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        print(path)
    return 0


# ------------------------------------------------------------------ doctor


class _Doctor:
    """Runs the checks, prints one line each, remembers the first failure's code."""

    def __init__(self) -> None:
        self.code = 0

    def ok(self, check: str, detail: str) -> None:
        print(f"ok    {check}: {detail}")

    def fail(self, check: str, detail: str) -> None:
        print(f"FAIL  {check}: {detail}")
        if self.code == 0:
            self.code = DOCTOR_EXIT_CODES[check]

    def skip(self, check: str, detail: str) -> None:
        print(f"-     {check}: {detail}")


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ExportError | OSError):
        return str(exc) or type(exc).__name__
    return type(exc).__name__  # host code's messages may carry anything


def _check_repository(doctor: _Doctor, service: ExportService, settings: Settings) -> None:
    where = settings.repository_location
    try:
        service.repository.list_for_user("reasonkit-doctor", limit=1)
        service.schedules.list_for_user("reasonkit-doctor")
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none raised
        message = _error_text(exc)
        check = "migrations" if "reasonkit-export migrate" in message else "repository"
        doctor.fail(check, f"{where}: {message}")
        return
    doctor.ok("repository", f"{where} answers")
    version = getattr(service.repository, "schema_version", None)
    if callable(version):
        from reasonkit_export.repositories._sql_schema import SCHEMA_VERSION as LATEST_VERSION

        current = version()
        if current < LATEST_VERSION:
            doctor.fail(
                "migrations",
                f"schema version {current}, this library needs {LATEST_VERSION}: "
                "run `reasonkit-export migrate`",
            )
            return
        doctor.ok("migrations", f"schema version {current}")


def _check_storage(doctor: _Doctor, service: ExportService) -> None:
    key = f"reasonkit-doctor/{uuid.uuid4().hex}"
    try:
        with service.storage.open_write(key) as sink:
            sink.write(b"reasonkit doctor\n")
        readable = service.storage.exists(key) and service.storage.size(key) == 17
        service.storage.delete(key)
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none raised
        doctor.fail("storage", f"{service.storage!r} is not writable: {_error_text(exc)}")
        return
    if not readable:
        doctor.fail("storage", f"{service.storage!r}: a written file did not read back")
        return
    doctor.ok("storage", f"{service.storage!r} is writable")


def _check_keys(doctor: _Doctor, service: ExportService) -> None:
    config = service.config
    try:
        if config.encryption_enabled:
            from reasonkit_export.crypto import decrypt, encrypt, parse_identity

            recipients = list(config.encryption_recipients)
            if config.encryption_key is not None:
                recipients.insert(0, str(parse_identity(config.encryption_key).recipient))
            sealed = encrypt(b"reasonkit doctor", recipients)
            identities = [*filter(None, [config.encryption_key]), *config.decryption_identities]
            if identities:
                if decrypt(sealed, identities) != b"reasonkit doctor":
                    raise InvalidRequest("decryption returned other bytes")
                doctor.ok("keys", "encryption round-trips with the configured identities")
            else:
                doctor.ok("keys", "encrypts to the recipients (no identity here to decrypt)")
        else:
            doctor.skip("keys", "no encryption configured (exports are stored unencrypted)")
        if config.signing_keys:
            from reasonkit_export._tokens import TokenSigner

            signer = TokenSigner(config.signing_keys)
            now = datetime.now(UTC)
            token = signer.sign(
                job_id=uuid.uuid4(), user_id="doctor", issued_at=now, expires_at=now + timedelta(1)
            )
            signer.verify(token, now=now)
            doctor.ok("keys", f"{len(config.signing_keys)} signing key(s) sign and verify")
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none raised
        doctor.fail("keys", _error_text(exc))


def _check_sources(doctor: _Doctor, settings: Settings) -> None:
    if not settings.sources:
        doctor.skip("sources", "none configured (set sources)")
        return
    try:
        sources = load_sources(settings.sources)
    except ExportError as exc:
        doctor.fail("sources", str(exc))
        return
    for source in sources:
        try:
            # A user nobody has: a healthy source answers with nothing, quickly.
            records = iter(source.records("reasonkit-doctor-nobody"))
            next(records, None)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none raised
            doctor.fail("sources", f"{source.category}: records() raised {type(exc).__name__}")
        else:
            doctor.ok("sources", f"{source.category} answers")


def _check_mail(doctor: _Doctor, service: ExportService) -> None:
    from reasonkit_export.notifiers import SmtpNotifier

    notifiers = [service.notifier]
    if not any(isinstance(n, SmtpNotifier) for n in notifiers):
        doctor.skip("mail", f"{type(service.notifier).__name__}: no mail server to check")
        return
    host, port = service.notifier._host, service.notifier._port  # type: ignore[attr-defined]
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as exc:
        doctor.fail("mail", f"cannot reach {host}:{port}: {exc.strerror or type(exc).__name__}")
        return
    doctor.ok("mail", f"{host}:{port} accepts connections")


def _doctor(_args: argparse.Namespace, ctx: Context) -> int:
    settings = ctx.settings
    doctor = _Doctor()
    print(f"config: {settings.config_path if settings.config_path else '(none: defaults)'}")
    try:
        service = ctx.service(with_sources=False)
    except ExportError as exc:
        from reasonkit_export.exceptions import StorageError

        check = "storage" if isinstance(exc, StorageError) else "repository"
        doctor.fail(check, f"cannot build the service: {exc}")
        return doctor.code
    _check_repository(doctor, service, settings)
    _check_storage(doctor, service)
    _check_keys(doctor, service)
    _check_sources(doctor, settings)
    _check_mail(doctor, service)
    if settings.repository is not None:
        print(f"repository: {mask_url(settings.repository)}")
    print("all checks passed" if doctor.code == 0 else f"exit {doctor.code}")
    return doctor.code


# ------------------------------------------------------------------ worker and queues


def load_enqueue(spec: str) -> Callable[[str], object]:
    """The host's ``module:function`` that enqueues a job id (checked before any work)."""
    from reasonkit_export.settings import ConfigError, load_object

    function = load_object(spec, "--enqueue")
    if not callable(function):
        raise ConfigError(f"--enqueue: {spec!r} is not callable")
    return function  # type: ignore[no-any-return]


def enqueue_jobs(spec: str, function: Callable[[str], object], jobs: Iterable[ExportJob]) -> int:
    """Hand each job id (a string) to the host's function; print one line each."""
    for count, job in enumerate(jobs):
        try:
            function(str(job.id))
        except Exception as exc:
            # The type only: the host's message may carry anything.
            raise ExportError(
                f"--enqueue {spec} raised {type(exc).__name__} for {job.id} "
                f"({count} enqueued before it)"
            ) from exc
        print(f"{job.id} enqueued")
    return 0


def add_enqueue_option(parser: argparse.ArgumentParser) -> None:
    """``--enqueue module:function`` on ``recover`` and ``run-due``."""
    parser.add_argument(
        "--enqueue",
        metavar="MODULE:FUNCTION",
        help="hand each job id (a string) to this function of the host's queue "
        "instead of building here (e.g. myapp.tasks:enqueue_export)",
    )


def _worker(args: argparse.Namespace, ctx: Context) -> int:
    import logging

    from reasonkit_export._run_worker import run_worker

    # One line per job on stderr, whatever the --debug level.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    worker_logger = logging.getLogger("reasonkit_export.worker")
    worker_logger.addHandler(handler)
    worker_logger.setLevel(logging.DEBUG if args.debug else logging.INFO)
    worker_logger.propagate = False
    try:
        stats = run_worker(
            ctx.service(),
            poll_interval=args.poll,
            maintenance_interval=None if args.no_maintenance else args.maintenance_interval,
            once=args.once,
        )
    finally:
        worker_logger.removeHandler(handler)
    return 1 if args.once and stats.failed else 0


# ------------------------------------------------------------------ parser


def add_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the operator commands through the CLI's ``command(name, handler, help)``."""
    cancel = command("cancel", _cancel, "cancel a pending or processing export (operator)")
    cancel.add_argument("job_id", metavar="JOB_ID")

    extend = command(
        "extend-deadline",
        _extend_deadline,
        "extend a request's GDPR Art. 12(3) deadline, with the reason the user is told",
    )
    extend.add_argument("job_id", metavar="JOB_ID")
    extend.add_argument("--reason", required=True, help="why (recorded and notified)")
    when = extend.add_mutually_exclusive_group()
    when.add_argument("--until", type=_when, help="the new deadline, ISO 8601 (no timezone: UTC)")
    when.add_argument(
        "--months",
        type=int,
        default=2,
        help="extend by this many months from the current deadline (default 2, the most allowed)",
    )

    listing = command("list", _list, "list exports by status, user or overdue (newest first)")
    listing.add_argument(
        "--status",
        action="append",
        type=str.lower,
        choices=[s.value for s in ExportStatus],
        help="only this status; repeat for several",
    )
    listing.add_argument("--user", help="only this user's exports")
    listing.add_argument(
        "--overdue", action="store_true", help="only requests past their Art. 12(3) deadline"
    )
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.add_argument("--json", action="store_true", help="print the jobs as JSON")

    schedules = command(
        "schedules", _schedules, "list, enable, disable or delete recurring exports"
    )
    verbs = schedules.add_subparsers(dest="schedules_command", required=True, metavar="ACTION")
    schedules_list = verbs.add_parser("list", help="list schedules (all enabled, or --user's)")
    schedules_list.add_argument("--user", help="every schedule of this user, enabled or not")
    schedules_list.add_argument("--json", action="store_true", help="print them as JSON")
    for verb, text in (
        ("disable", "stop a schedule from firing"),
        ("enable", "let a schedule fire again (from now on)"),
        ("delete", "delete a schedule"),
    ):
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("schedule_id", metavar="SCHEDULE_ID")

    fetch = command(
        "fetch",
        _fetch,
        "write an export's file(s), decrypted, under the real filename into a directory",
    )
    fetch.add_argument("job_id", metavar="JOB_ID")
    fetch.add_argument("-o", "--output", metavar="DIR", default=".", help="directory (default .)")
    fetch.add_argument("--force", action="store_true", help="replace existing files")

    worker = command(
        "worker",
        _worker,
        "build pending exports straight from the repository, and run maintenance",
        description=(
            "Claims pending exports from the job repository and builds them, one log "
            "line per job on stderr; every --maintenance-interval seconds it also "
            "expires old exports (deleting their files), requeues stale ones and fires "
            "due schedules. Run as many as you like, on as many machines: claims are "
            "atomic (PostgreSQL: FOR UPDATE SKIP LOCKED). SIGTERM or Ctrl-C stops it "
            "after the current export."
        ),
    )
    worker.add_argument(
        "--poll", type=float, default=2.0, help="seconds between looks when idle (default 2)"
    )
    worker.add_argument(
        "--maintenance-interval",
        type=float,
        default=60.0,
        help="seconds between maintenance passes (default 60)",
    )
    worker.add_argument(
        "--no-maintenance", action="store_true", help="only build (cron runs the maintenance)"
    )
    worker.add_argument(
        "--once",
        action="store_true",
        help="exit when nothing is pending (exit 1 if an export failed)",
    )

    command(
        "doctor",
        _doctor,
        "check repository, migrations, storage, keys, sources and mail server",
        description=(
            "Checks the repository answers and is migrated, the storage is writable, the "
            "keys encrypt, decrypt, sign and verify, every configured source imports and "
            "answers, and the SMTP server accepts connections. One line per check; exit "
            + ", ".join(f"{code} {name}" for name, code in DOCTOR_EXIT_CODES.items())
            + " (the first failure wins)."
        ),
    )
