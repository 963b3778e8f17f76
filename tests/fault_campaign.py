"""The crash-and-fault campaign: real worker processes, SIGKILL, cut connections, failing storage.

:func:`run_campaign` keeps a pool of export jobs busy with worker processes
(``tests/campaign_worker.py``) that build, cancel and sweep (``recover_stale``
and ``expire_exports``, where jobs out of attempts are given up). Each
process dies by SIGKILL at a random operation (its own tripwire) or at a
random moment (the harness's timer); storage operations fail at random; on
PostgreSQL a thread cuts every connection through a :class:`SeverableProxy`.
When the targets are reached, faults stop and recovery runs the way an
operator's cron would (``recover_stale``, ``expire_exports``, redelivery by
``process_export``) until no job is active. Then :func:`check` looks for
violations:

* ``stuck``: a job still pending or processing after recovery;
* ``corrupt``: a completed job whose download does not decrypt, does not
  match its size and SHA-256, or is not a complete export (JSON parsed and
  counted, ZIP checked with ``verify_archive``);
* ``double_claim``: two claims of one job with the same attempt number, or a
  job completed twice; ``attempt_regressed``: a job whose attempt is lower
  than one claimed;
* ``lost_notification``: a completed job whose user was never told;
* ``orphan_<status>``: a file of a job that is not completed (after the
  final expiry sweep), or of a superseded attempt of a completed one;
  ``part_temporary``: a ``.part`` left behind; ``empty_folder``: a per-job
  folder with nothing in it;
* ``worker_error``: a worker died of an exception that is not an
  ``ExportError`` (a bug).

The randomness is seeded: one seed replays the same plan (the timing of
processes and cuts still varies, so the exact kill points do).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import attrs

from reasonkit_export import ExportExpired, ExportService, ExportStatus
from reasonkit_export.crypto import generate_identity
from reasonkit_export.formats import verify_archive
from tests import campaign_worker
from tests.fault_support import SeverableProxy

ROOT = Path(__file__).resolve().parent.parent
ACTIVE = (ExportStatus.PENDING, ExportStatus.PROCESSING)
_STEPS = {"build": 40, "cancel": 10, "sweep": 25}

ORPHANS = frozenset(
    {
        "part_temporary",
        "empty_folder",
        "orphan_cancelled",
        "orphan_failed",
        "orphan_expired",
        "orphan_completed",
        "orphan_pending",
        "orphan_processing",
        "orphan_unknown",
    }
)
"""Violation kinds about files left in storage (the deletion outbox's business)."""
LIFECYCLE = frozenset(
    {"stuck", "corrupt", "double_claim", "attempt_regressed", "lost_notification", "worker_error"}
)
"""Violation kinds about jobs, files and claims."""


@attrs.define
class Report:
    """What a campaign did and found.

    Attributes:
        seed: the seed of the plan.
        backend: ``file``, ``sqlite`` or ``postgres``.
        processes: worker processes started.
        kills: processes that ended by SIGKILL.
        kills_by_phase: kills by ``action/phase`` (``cancel/cancel-cleanup``,
            ``sweep/giveup-cleanup``, ``build/build``, ``timer``, ...).
        cuts: cuts through the proxy that broke open database connections.
        connections_cut: database connections those cuts broke.
        storage_faults: storage operations that failed on purpose.
        jobs: jobs created.
        final: jobs by final status.
        violations: what went wrong, by kind.
        examples: one example per kind of violation.
        seconds: how long the campaign and recovery took.
    """

    seed: int
    backend: str
    processes: int = 0
    kills: int = 0
    kills_by_phase: Counter[str] = attrs.field(factory=Counter)
    cuts: int = 0
    connections_cut: int = 0
    storage_faults: int = 0
    jobs: int = 0
    final: Counter[str] = attrs.field(factory=Counter)
    violations: Counter[str] = attrs.field(factory=Counter)
    examples: dict[str, str] = attrs.field(factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able data."""
        return attrs.asdict(self, value_serializer=lambda _i, _f, v: v)

    def violation(self, kind: str, example: str) -> None:
        """Count one violation of ``kind``."""
        self.violations[kind] += 1
        self.examples.setdefault(kind, example)

    def summary(self) -> str:
        """One paragraph for logs and assertion messages."""
        return (
            f"seed={self.seed} backend={self.backend} processes={self.processes} "
            f"kills={self.kills} cuts={self.cuts} connections_cut={self.connections_cut} "
            f"storage_faults={self.storage_faults} "
            f"jobs={self.jobs} final={dict(self.final)} "
            f"kills_by_phase={dict(sorted(self.kills_by_phase.items()))} "
            f"violations={dict(self.violations)} examples={self.examples} "
            f"seconds={self.seconds:.0f}"
        )


@attrs.define
class Plan:
    """How hard to push.

    Attributes:
        kills: stop faulting once this many processes were killed...
        cuts: ...and the database connections were cut this often (PostgreSQL only).
        parallel: worker processes at once.
        jobs_active: keep about this many jobs pending or processing.
        storage_fault: probability that one storage operation fails.
        max_seconds: stop faulting after this long even if the targets are not met.
    """

    kills: int = 30
    cuts: int = 10
    parallel: int = 2
    jobs_active: int = 6
    storage_fault: float = 0.03
    max_seconds: float = 90.0


@contextmanager
def backend_spec(backend: str, root: Path, postgres_url: str | None) -> Iterator[dict[str, Any]]:
    """``{"repo": worker spec, "host_repo": the harness's spec, "proxy": proxy or None}``."""
    if backend == "file":
        spec = f"file:{root / 'jobs'}"
        yield {"repo": spec, "host_repo": spec, "proxy": None}
        return
    from reasonkit_export.repositories.sql import SqlJobRepository

    if backend == "sqlite":
        url = f"sqlite:///{root / 'jobs.sqlite3'}"
        with SqlJobRepository(url) as repository:
            repository.migrate()
        yield {"repo": f"sql:{url}", "host_repo": f"sql:{url}", "proxy": None}
        return
    import sqlalchemy
    from sqlalchemy.engine import make_url

    assert postgres_url is not None
    target = make_url(postgres_url)
    schema = f"rk_campaign_{uuid4().hex}"
    with SqlJobRepository(postgres_url, schema=schema) as repository:
        repository.migrate()
    proxy = SeverableProxy((target.host or "127.0.0.1", target.port or 5432))
    proxied = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        yield {
            "repo": f"sql:{proxied}#{schema}",
            "host_repo": f"sql:{postgres_url}#{schema}",
            "proxy": proxy,
        }
    finally:
        proxy.close()
        engine = sqlalchemy.create_engine(postgres_url)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


class _Cutter:
    """Cuts every proxied connection at random intervals until stopped."""

    def __init__(self, proxy: SeverableProxy, rng: random.Random) -> None:
        self.proxy = proxy
        self.rng = rng
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

        self.cuts = 0
        self.connections = 0

    def _run(self) -> None:
        while not self.stop.wait(self.rng.uniform(0.15, 0.6)):
            cut = self.proxy.sever(refuse_next=self.rng.choice([0, 0, 1]))
            if cut:  # a cut counts only when it broke open connections
                self.cuts += 1
                self.connections += cut


class Campaign:
    """One campaign over one backend, in ``root``."""

    def __init__(
        self, *, seed: int, backend: str, root: Path, plan: Plan, postgres_url: str | None = None
    ) -> None:
        self.seed = seed
        self.backend = backend
        self.root = root
        self.plan = plan
        self.postgres_url = postgres_url
        self.rng = random.Random(seed)
        self.report = Report(seed=seed, backend=backend)
        self.log = root / "campaign.log"
        self.notifications = root / "notifications.log"
        self.storage = root / "files"
        self.users: dict[UUID, str] = {}
        self.base: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = 0.0
        self._cutter: _Cutter | None = None

    # ------------------------------------------------------------ running

    def run(self) -> Report:
        """Fault, recover, check; returns the report."""
        started = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(exist_ok=True)
        with backend_spec(self.backend, self.root, self.postgres_url) as backend:
            self.base = {
                "repo": backend["repo"],
                "storage": str(self.storage),
                "log": str(self.log),
                "notifications": str(self.notifications),
                "lease": 0.5,
                "max_attempts": 2,
                "retry_backoff": 0.05,
                "encryption_key": str(generate_identity()),
            }
            host = campaign_worker.build_service({**self.base, "repo": backend["host_repo"]}, None)
            try:
                self._fault(host, backend["proxy"])
                self._recover(host)
                check(host, self)
            finally:
                close = getattr(host.repository, "close", None)
                if close is not None:
                    close()
        self._read_log()
        self.report.seconds = time.monotonic() - started
        return self.report

    def _fault(self, host: ExportService, proxy: SeverableProxy | None) -> None:
        plan = self.plan
        cutter = None
        if proxy is not None:
            cutter = _Cutter(proxy, random.Random(self.seed + 1))
            cutter.thread.start()
        self._stop = threading.Event()
        self._deadline = time.monotonic() + plan.max_seconds
        self._cutter = cutter
        slots = [threading.Thread(target=self._slot, args=(host, n)) for n in range(plan.parallel)]
        try:
            for slot in slots:
                slot.start()
            while not self._done():
                time.sleep(0.05)
        finally:
            self._stop.set()
            for slot in slots:
                slot.join()
            if cutter is not None:
                cutter.stop.set()
                cutter.thread.join()
                self.report.cuts = cutter.cuts
                self.report.connections_cut = cutter.connections

    def _done(self) -> bool:
        if time.monotonic() >= self._deadline:
            return True
        cuts_met = self._cutter is None or self._cutter.cuts >= self.plan.cuts
        return self.report.kills >= self.plan.kills and cuts_met

    def _slot(self, host: ExportService, number: int) -> None:
        """One fork server, fed one step at a time until the campaign stops."""
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.campaign_worker", "--serve"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdin is not None
        assert server.stdout is not None
        stderr = self.root / f"stderr-{number}.txt"
        try:
            while not self._stop.is_set():
                with self._lock:
                    spec = self._next_spec(host)
                spec["stderr"] = str(stderr)
                server.stdin.write(json.dumps(spec) + "\n")
                server.stdin.flush()
                answer = server.stdout.readline().split()
                assert answer, "the fork server died"
                assert answer[0] == "exit", f"fork server answered {answer!r}"
                code, timer_killed = int(answer[1]), answer[2] == "1"
                with self._lock:
                    self._count(spec, code, timer_killed, stderr)
        finally:
            server.stdin.close()
            server.wait(timeout=60)
            server.stdout.close()

    def _count(self, spec: dict[str, Any], code: int, timer_killed: bool, stderr: Path) -> None:
        self.report.processes += 1
        if code == -signal.SIGKILL:
            self.report.kills += 1
            if timer_killed:
                self.report.kills_by_phase[f"{spec['action']}/timer"] += 1
        elif code != 0:
            self.report.violation("worker_error", stderr.read_text(errors="replace")[-2000:])

    def _next_spec(self, host: ExportService) -> dict[str, Any]:
        rng = self.rng
        active = [j for j in self.users if host.get_job(j).status in ACTIVE]
        for _ in range(self.plan.jobs_active - len(active)):
            user = f"user-{rng.randrange(10**6)}"
            job = host.create_export(user, rng.choice(["json", "json", "zip"]), ["history"])
            self.users[job.id] = user
            active.append(job.id)
            self.report.jobs += 1
        action = rng.choices(["build", "cancel", "sweep"], weights=[6, 1, 3])[0]
        chosen = rng.sample(active, min(len(active), 3 if action == "build" else 1))
        return {
            **self.base,
            "action": action,
            "seed": rng.randrange(2**32),
            "jobs": [[str(job_id), self.users[job_id]] for job_id in chosen],
            # Cancels and sweeps take few steps: aim their kills at the clean-up.
            "kill_at": rng.randint(1, _STEPS[action]) if rng.random() < 0.75 else None,
            "timer": rng.uniform(0.05, 1.5) if rng.random() < 0.2 else None,
            "storage_fault": self.plan.storage_fault,
            # Some exports expire during the campaign, so expiry sweeps get killed too.
            "link_expiry_hours": rng.choice([24, 0.01]),
        }

    def _recover(self, host: ExportService) -> None:
        """What an operator's cron and queue do once the storm is over."""
        lease = self.base["lease"]
        for _ in range(60):
            time.sleep(lease + 0.1)
            host.recover_stale()
            host.expire_exports()
            active = [j for j in self.users if host.get_job(j).status in ACTIVE]
            for job_id in active:
                host.process_export(job_id)
            waiting = [
                j
                for j in self.users
                if host.get_job(j).status in ACTIVE or host.get_job(j).pending_notification
            ]
            if not waiting:
                break
        time.sleep(lease + 0.1)
        host.recover_stale()
        host.expire_exports()

    def _read_log(self) -> None:
        if not self.log.exists():
            return
        for line in self.log.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if words[0] == "kill":
                self.report.kills_by_phase[f"{words[1]}/{words[2]}"] += 1
            elif words[0] == "fault":
                self.report.storage_faults += 1


# ------------------------------------------------------------------ checking


def _allowed_keys(jobs: list[Any]) -> set[str]:
    """The files of completed jobs (the final ``expire_exports`` ran just before)."""
    keys: set[str] = set()
    for job in jobs:
        if job.status is ExportStatus.COMPLETED:
            if job.storage_key:
                keys.add(job.storage_key)
            keys.update(part.key for part in job.parts)
    return keys


def _check_download(host: ExportService, job: Any, user: str) -> str | None:
    """Why a completed job's file is not a good export, or None."""
    import hashlib

    try:
        with host.open_download(job.id, user_id=user) as download:
            data = b"".join(download.iter_chunks())
    except ExportExpired:
        return None  # its window closed after the last sweep: nothing to check
    except Exception as exc:  # noqa: BLE001 - every failure is a finding
        return f"{job.id}: download failed: {type(exc).__name__}: {exc}"
    if len(data) != job.file_size or hashlib.sha256(data).hexdigest() != job.sha256:
        return f"{job.id}: size or sha256 differs from the job"
    try:
        if job.format.value == "zip":
            problems = verify_archive(io.BytesIO(data))
            if problems:
                return f"{job.id}: {problems[0]}"
        else:
            document = json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
            if job.record_counts.get("history") != campaign_worker.RECORDS or not document:
                return f"{job.id}: record count {job.record_counts}"
    except Exception as exc:  # noqa: BLE001
        return f"{job.id}: unreadable: {type(exc).__name__}: {exc}"
    return None


def check(host: ExportService, campaign: Campaign) -> None:
    """Count every violation of the guarantees into ``campaign.report``."""
    report = campaign.report
    jobs = [host.get_job(job_id) for job_id in campaign.users]
    for job in jobs:
        report.final[job.status.value] += 1
        if job.status in ACTIVE:
            report.violation("stuck", f"{job.id} {job.status.value} attempt {job.attempt}")
        if job.status is ExportStatus.COMPLETED:
            problem = _check_download(host, job, campaign.users[job.id])
            if problem is not None:
                report.violation("corrupt", problem)
    _check_claims(campaign, {job.id: job for job in jobs})
    _check_notifications(campaign, jobs)
    # Read again: a download past the window expires its job.
    _check_storage(campaign, [host.get_job(job_id) for job_id in campaign.users])


def _check_claims(campaign: Campaign, jobs: dict[UUID, Any]) -> None:
    report = campaign.report
    claims: Counter[tuple[str, str]] = Counter()
    completions: Counter[str] = Counter()
    highest: dict[str, int] = {}
    if campaign.log.exists():
        for line in campaign.log.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if words[0] == "claim":
                claims[(words[1], words[2])] += 1
                highest[words[1]] = max(highest.get(words[1], 0), int(words[2]))
            elif words[0] == "complete":
                completions[words[1]] += 1
    for (job_id, attempt), count in claims.items():
        if count > 1:
            report.violation("double_claim", f"{job_id} attempt {attempt} claimed {count} times")
    for job_id, count in completions.items():
        if count > 1:
            report.violation("double_claim", f"{job_id} completed {count} times")
    for job_id, claimed in highest.items():
        job = jobs.get(UUID(job_id))
        if job is not None and job.attempt < claimed:
            report.violation("attempt_regressed", f"{job_id}: {job.attempt} < {claimed}")


def _check_notifications(campaign: Campaign, jobs: list[Any]) -> None:
    told: Counter[str] = Counter()
    if campaign.notifications.exists():
        told.update(campaign.notifications.read_text(encoding="utf-8").splitlines())
    for job in jobs:
        if job.status is ExportStatus.COMPLETED and job.notify and not told[f"{job.id} completed"]:
            campaign.report.violation("lost_notification", f"{job.id} completed, never notified")


def _check_storage(campaign: Campaign, jobs: list[Any]) -> None:
    report = campaign.report
    allowed = _allowed_keys(jobs)
    by_id = {str(job.id): job for job in jobs}
    root = campaign.storage
    for directory, folders, files in os.walk(root):
        here = Path(directory)
        if here != root and not files and not folders:
            report.violation("empty_folder", str(here.relative_to(root)))
        for name in files:
            key = str((here / name).relative_to(root))
            if name.startswith(".") and name.endswith(".part"):
                report.violation("part_temporary", key)
            elif key not in allowed:
                job = by_id.get(key.split("/", 1)[0])
                status = job.status.value if job is not None else "unknown"
                report.violation(f"orphan_{status}", key)


def plant_and_check(root: Path) -> Counter[str]:
    """Plant one violation of each kind the checks know, check, return what they found.

    Proves the checks can fail: a test asserts every planted kind is reported.
    """
    campaign = Campaign(seed=0, backend="file", root=root, plan=Plan())
    root.mkdir(parents=True, exist_ok=True)
    campaign.storage.mkdir(exist_ok=True)
    with backend_spec("file", root, None) as backend:
        campaign.base = {
            "repo": backend["repo"],
            "storage": str(campaign.storage),
            "log": str(campaign.log),
            "notifications": str(campaign.notifications),
            "lease": 0.5,
            "max_attempts": 2,
            "retry_backoff": 0.05,
            "encryption_key": str(generate_identity()),
        }
        host = campaign_worker.build_service(campaign.base, None)
        jobs = []
        for n in range(4):
            job = host.create_export(f"user-{n}", "json", ["history"])
            campaign.users[job.id] = f"user-{n}"
            jobs.append(job)
        stuck, corrupt, cancelled, quiet = jobs
        done = host.process_export(corrupt.id)
        assert done.storage_key is not None
        stored = campaign.storage / done.storage_key
        stored.write_bytes(stored.read_bytes()[:-1] + b"!")
        host.process_export(quiet.id)
        campaign.notifications.write_text("")  # nobody was told about "quiet"
        host.cancel_export(cancelled.id, user_id="user-2")
        (campaign.storage / str(cancelled.id)).mkdir(exist_ok=True)
        (campaign.storage / str(cancelled.id) / "attempt-1").write_bytes(b"personal data")
        (campaign.storage / str(quiet.id) / ".attempt-2.abc.part").write_bytes(b"half")
        (campaign.storage / str(stuck.id)).mkdir()
        (campaign.storage / "no-such-job").mkdir()
        (campaign.storage / "no-such-job" / "attempt-1").write_bytes(b"x")
        with campaign.log.open("a", encoding="utf-8") as log:
            log.write(f"claim {quiet.id} 1 1\nclaim {quiet.id} 1 2\n")
        check(host, campaign)
    return campaign.report.violations


def run_campaign(
    *, seed: int, backend: str, root: Path, plan: Plan, postgres_url: str | None = None
) -> Report:
    """Run one campaign; see the module docstring."""
    return Campaign(
        seed=seed, backend=backend, root=root, plan=plan, postgres_url=postgres_url
    ).run()
