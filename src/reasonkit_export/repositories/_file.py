"""File repositories: one JSON document per record, for the embedded default.

Layout under ``directory``::

    jobs/<job id>.json               one document per job
    users/<user key>/<job id>        empty markers: a user's jobs, for history
    sweep/<job id>                   empty markers: jobs with a ``sweep_at``, for
                                     ``list_to_sweep`` (an index, not the truth)
    status/<status>/<job id>         empty markers: jobs by status, for
                                     ``list_by_status`` (an index, not the truth)

The indexes are built once, from the documents, when a folder written by an
earlier version (without them) is opened; every process sharing a folder must
then run a version that keeps them.
    schedules/<schedule id>.json     one document per schedule
    .lock                            flock(2) lock serialising writers

``<user key>`` is an HMAC-SHA-256 of the user id under the first signing key
when the repository has signing keys (``signing_keys=``), else a SHA-256 of
the user id; either way no personal data appears in file names, and with a
key the names cannot be matched against a list of known user ids. Folders
named under an older key (after a rotation) or without a key (written by an
earlier version) stay readable; the next job added for that user moves their
markers into the current folder and removes the old one.

Documents are replaced atomically (write to a temporary file in the same
directory, fsync, ``os.replace``), so readers never see a partial
document and need no lock. Writers take an exclusive ``flock`` on ``.lock``,
which makes compare-and-set, claims and schedule fire-time claims safe across
the threads and processes of one host (not across hosts on a network file
system: use the SQL repositories there).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import shutil
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import attrs

from reasonkit_export._files import DIR_MODE, FILE_MODE, check_mode, create_private, make_dirs
from reasonkit_export._models import ExportJob, ExportStatus, ScheduledExport
from reasonkit_export._serialization import (
    job_from_dict,
    job_to_dict,
    schedule_from_dict,
    schedule_to_dict,
)
from reasonkit_export._tokens import normalize_keys
from reasonkit_export.exceptions import (
    ConflictError,
    DatabaseError,
    ExportNotFound,
    ScheduleNotFound,
)
from reasonkit_export.repositories._rules import (
    claimed,
    fenced,
    newest_first,
    sweep_due,
    sweep_matches,
)

__all__ = ["FileJobRepository", "FileScheduleRepository"]

T = TypeVar("T")


class _DocumentStore:
    """Atomic JSON documents in a directory tree, with a cross-process write lock."""

    def __init__(self, directory: str | os.PathLike[str], *, file_mode: int, dir_mode: int) -> None:
        self.root = Path(directory)
        self.file_mode = check_mode(file_mode, "file_mode")
        self.dir_mode = check_mode(dir_mode, "dir_mode")
        try:
            make_dirs(self.root, self.dir_mode)
        except OSError as exc:
            raise DatabaseError(f"cannot create repository directory: {exc.strerror}") from exc
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive write lock (threads and processes)."""
        with self._thread_lock:
            fd = self._open_lock()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the flock

    def _open_lock(self) -> int:
        path = self.root / ".lock"
        try:
            return os.open(path, os.O_RDWR)
        except FileNotFoundError:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, self.file_mode)
            os.fchmod(fd, self.file_mode)  # the umask may have narrowed it
            return fd

    def read(self, path: Path) -> dict[str, Any] | None:
        """Return the document at ``path``, or None if there is none."""
        try:
            with path.open("rb") as handle:
                data: dict[str, Any] = json.load(handle)
                return data
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise DatabaseError(f"cannot read repository document {path.name}") from exc

    def write(self, path: Path, document: dict[str, Any]) -> None:
        """Replace the document at ``path`` atomically."""
        make_dirs(path.parent, self.dir_mode)
        temporary = path.with_name(f".{path.name}.{uuid4().hex}.tmp")
        try:
            with create_private(temporary, self.file_mode) as handle:
                handle.write(json.dumps(document, separators=(",", ":")).encode())
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise DatabaseError(f"cannot write repository document {path.name}") from exc

    def make_dir(self, directory: Path) -> None:
        """Create ``directory`` (and parents) with the store's folder mode."""
        try:
            make_dirs(directory, self.dir_mode)
        except OSError as exc:
            raise DatabaseError(f"cannot create repository directory: {exc.strerror}") from exc

    def touch(self, path: Path) -> None:
        """Create an empty marker file with the store's file mode (no error if present)."""
        self.make_dir(path.parent)
        try:
            create_private(path, self.file_mode).close()
        except FileExistsError:
            return
        except OSError as exc:
            raise DatabaseError(f"cannot write repository marker {path.name}") from exc

    def read_all(self, directory: Path, decode: Callable[[dict[str, Any]], T]) -> Iterator[T]:
        """Yield every ``*.json`` document of ``directory``, decoded."""
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                data = self.read(directory / name)
                if data is not None:  # removed meanwhile
                    yield decode(data)


_FOLDER_CONTEXT = b"reasonkit-export/user-folder\x00"  # separates these MACs from tokens


def _user_key(user_id: str, key: bytes | None = None) -> str:
    data = user_id.encode("utf-8")
    if key is None:
        return hashlib.sha256(data).hexdigest()[:32]
    return hmac.new(key, _FOLDER_CONTEXT + data, hashlib.sha256).hexdigest()[:32]


class FileJobRepository:
    """Jobs as JSON documents in ``directory``; safe for several processes on one host.

    Args:
        directory: the repository's folder (created if missing).
        file_mode: the mode of every document and marker, whatever the
            umask; 0o600 by default (documents hold user ids and live
            download tokens).
        dir_mode: the mode of every folder created; 0o700 by default.
        signing_keys: keys for naming user folders (HMAC of the user id);
            the first names new folders, all are read (pass
            ``ExportConfig.signing_keys``). Without keys, folder names are a
            plain SHA-256 of the user id.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        file_mode: int = FILE_MODE,
        dir_mode: int = DIR_MODE,
        signing_keys: Sequence[str | bytes] = (),
    ) -> None:
        self._keys = normalize_keys(list(signing_keys))
        self._store = _DocumentStore(directory, file_mode=file_mode, dir_mode=dir_mode)
        self._jobs = self._store.root / "jobs"
        self._users = self._store.root / "users"
        self._sweep = self._store.root / "sweep"
        self._status = self._store.root / "status"
        self._store.make_dir(self._jobs)
        self._store.make_dir(self._users)
        if not self._sweep.is_dir():
            self._index_sweeps()
        if not self._status.is_dir():
            self._index_statuses()

    def _index_sweeps(self) -> None:
        """Build ``sweep/`` for documents written before it existed."""

        def fill(building: Path) -> None:
            for job in self._store.read_all(self._jobs, job_from_dict):
                if job.sweep_at is not None:
                    self._store.touch(building / str(job.id))

        self._build_index(self._sweep, fill)

    def _index_statuses(self) -> None:
        """Build ``status/<status>/`` for documents written before it existed."""

        def fill(building: Path) -> None:
            for status in ExportStatus:
                self._store.make_dir(building / status.value)
            for job in self._store.read_all(self._jobs, job_from_dict):
                self._store.touch(building / job.status.value / str(job.id))

        self._build_index(self._status, fill)

    def _build_index(self, index: Path, fill: Callable[[Path], None]) -> None:
        """Build folder ``index`` once, under the lock, in a scratch folder renamed when done."""
        building = self._store.root / f".{index.name}-building"
        with self._store.locked():
            if index.is_dir():
                return  # another process built it meanwhile
            if building.is_dir():
                shutil.rmtree(building)  # a build that died half-way
            self._store.make_dir(building)
            fill(building)
            building.rename(index)

    def _write(self, job: ExportJob, previous: ExportStatus | None = None) -> None:
        """Store ``job`` (under the lock), keeping the ``sweep/`` and ``status/`` indexes supersets.

        Each marker is made before the document is written and an old one
        removed only after, so a crash in between leaves an extra marker
        (readers check the document) but never a job missing from an index.
        ``previous`` is the stored document's status, if there is one.
        """
        marker = self._sweep / str(job.id)
        if job.sweep_at is not None:
            self._store.touch(marker)
        self._store.touch(self._status / job.status.value / str(job.id))
        self._store.write(self._path(job.id), job_to_dict(job))
        if job.sweep_at is None:
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()
        if previous is not None and previous != job.status:
            with contextlib.suppress(FileNotFoundError):
                (self._status / previous.value / str(job.id)).unlink()

    def __repr__(self) -> str:
        return f"FileJobRepository({str(self._store.root)!r})"

    def _path(self, job_id: UUID) -> Path:
        return self._jobs / f"{job_id}.json"

    def _user_dirs(self, user_id: str) -> list[Path]:
        """The user's current folder first, then older spellings still read."""
        keys: list[bytes | None] = [*self._keys, None]
        return [self._users / name for name in dict.fromkeys(_user_key(user_id, k) for k in keys)]

    def _migrate(self, current: Path, older: list[Path]) -> None:
        """Move markers from older folder names into ``current`` (under the lock)."""
        for folder in older:
            try:
                names = os.listdir(folder)
            except FileNotFoundError:
                continue
            for name in names:
                self._store.touch(current / name)
                with contextlib.suppress(FileNotFoundError):
                    (folder / name).unlink()
            with contextlib.suppress(OSError):
                folder.rmdir()

    def _load(self, job_id: UUID) -> ExportJob:
        data = self._store.read(self._path(job_id))
        if data is None:
            raise ExportNotFound(job_id)
        return job_from_dict(data)

    def add(self, job: ExportJob) -> ExportJob:
        """Store a new job."""
        with self._store.locked():
            if self._path(job.id).exists():
                raise ConflictError(job.id)
            current, *older = self._user_dirs(job.user_id)
            self._store.touch(current / str(job.id))
            self._migrate(current, older)
            self._write(job)
        return job

    def get(self, job_id: UUID) -> ExportJob:
        """Return the job or raise ExportNotFound."""
        return self._load(job_id)

    def list_for_user(
        self,
        user_id: str,
        *,
        limit: int | None = None,
        statuses: Collection[ExportStatus] | None = None,
    ) -> list[ExportJob]:
        """Return a user's jobs, newest first."""
        names: dict[str, None] = {}
        # Older folders first: a marker being moved is touched in the current
        # folder before it leaves the old one, so this order never misses it.
        for folder in reversed(self._user_dirs(user_id)):
            try:
                names.update(dict.fromkeys(os.listdir(folder)))
            except FileNotFoundError:
                continue
        jobs: list[ExportJob] = []
        for name in names:
            data = self._store.read(self._jobs / f"{name}.json")
            if data is not None:
                jobs.append(job_from_dict(data))
        return newest_first(jobs, limit=limit, statuses=statuses)

    def list_by_status(
        self, statuses: Collection[ExportStatus], *, before: datetime | None = None
    ) -> Iterator[ExportJob]:
        """Yield jobs for sweeps (reads only the documents ``status/`` lists for ``statuses``)."""
        names: set[str] = set()
        # Listed under the lock: a job moving between two of the statuses
        # meanwhile could otherwise be seen in neither folder.
        with self._store.locked():
            for status in statuses:
                try:
                    names.update(os.listdir(self._status / ExportStatus(status).value))
                except FileNotFoundError:
                    continue
        for name in sorted(names):
            data = self._store.read(self._jobs / f"{name}.json")
            if data is not None:
                job = job_from_dict(data)
                if sweep_matches(job, statuses, before):  # a marker may be stale
                    yield job

    def list_to_sweep(self, now: datetime) -> Iterator[ExportJob]:
        """Yield the jobs whose ``sweep_at`` is at or before ``now`` (reads only ``sweep/``)."""
        try:
            names = sorted(os.listdir(self._sweep))
        except FileNotFoundError:
            return
        for name in names:
            data = self._store.read(self._jobs / f"{name}.json")
            if data is not None:
                job = job_from_dict(data)
                if sweep_due(job, now):
                    yield job

    def claim(self, job_id: UUID, *, now: datetime, lease: timedelta) -> ExportJob | None:
        """Atomically claim the job for one worker."""
        with self._store.locked():
            old = self._load(job_id)
            new = claimed(old, now=now, lease=lease)
            if new is not None:
                self._write(new, old.status)
            return new

    def save(self, job: ExportJob) -> ExportJob:
        """Compare-and-set on version."""
        with self._store.locked():
            old = self._load(job.id)
            new = fenced(old, job)
            self._write(new, old.status)
            return new


class FileScheduleRepository:
    """Schedules as JSON documents in ``directory`` (may be shared with the job repository).

    ``file_mode`` and ``dir_mode`` work as for :class:`FileJobRepository`.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        file_mode: int = FILE_MODE,
        dir_mode: int = DIR_MODE,
    ) -> None:
        self._store = _DocumentStore(directory, file_mode=file_mode, dir_mode=dir_mode)
        self._dir = self._store.root / "schedules"
        self._store.make_dir(self._dir)

    def __repr__(self) -> str:
        return f"FileScheduleRepository({str(self._store.root)!r})"

    def _path(self, schedule_id: UUID) -> Path:
        return self._dir / f"{schedule_id}.json"

    def _load(self, schedule_id: UUID) -> ScheduledExport:
        data = self._store.read(self._path(schedule_id))
        if data is None:
            raise ScheduleNotFound(schedule_id)
        return schedule_from_dict(data)

    def add(self, schedule: ScheduledExport) -> ScheduledExport:
        """Store a new schedule."""
        with self._store.locked():
            if self._path(schedule.id).exists():
                raise ConflictError(schedule.id)
            self._store.write(self._path(schedule.id), schedule_to_dict(schedule))
        return schedule

    def get(self, schedule_id: UUID) -> ScheduledExport:
        """Return the schedule or raise ScheduleNotFound."""
        return self._load(schedule_id)

    def list_for_user(self, user_id: str) -> list[ScheduledExport]:
        """Return a user's schedules, oldest first."""
        mine = [
            s for s in self._store.read_all(self._dir, schedule_from_dict) if s.user_id == user_id
        ]
        return sorted(mine, key=lambda s: (s.created_at, str(s.id)))

    def list_due(self, now: datetime) -> list[ScheduledExport]:
        """Return enabled schedules with ``next_run <= now``."""
        return [
            s
            for s in self._store.read_all(self._dir, schedule_from_dict)
            if s.enabled and s.next_run is not None and s.next_run <= now
        ]

    def save(self, schedule: ScheduledExport) -> ScheduledExport:
        """Compare-and-set on version."""
        with self._store.locked():
            stored = self._load(schedule.id)
            if stored.version != schedule.version:
                raise ConflictError(schedule.id)
            new = attrs.evolve(schedule, version=schedule.version + 1)
            self._store.write(self._path(schedule.id), schedule_to_dict(new))
            return new

    def delete(self, schedule_id: UUID) -> None:
        """Remove the schedule; idempotent."""
        with self._store.locked(), contextlib.suppress(FileNotFoundError):
            self._path(schedule_id).unlink()
