"""The crash-and-fault campaign, short: real processes, SIGKILL, cut connections, failing storage.

A few dozen workers die by SIGKILL at random operations (inside builds,
completions, cancels, give-ups and expiry clean-ups) or at random moments;
on PostgreSQL every connection is cut through a proxy again and again;
storage operations fail with EIO or ENOSPC. After recovery (``recover_stale``,
``expire_exports`` and redelivery) no job may be stuck, no completed file
corrupt, no attempt claimed twice, no notification lost, and storage must
hold only the artifacts of completed, unexpired jobs. The long run is
``python -m bench.fault_campaign`` (or ``pytest -m campaign``); its numbers
are in docs/operations.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fault_campaign import ORPHANS, Plan, Report, run_campaign

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("REASONKIT_CAMPAIGN_SEED", "20261126"))


def _split(report: Report) -> tuple[dict[str, int], dict[str, int]]:
    """(lifecycle violations, orphan violations)."""
    lifecycle = {k: n for k, n in report.violations.items() if k not in ORPHANS}
    orphans = {k: n for k, n in report.violations.items() if k in ORPHANS}
    return lifecycle, orphans


@pytest.fixture(scope="module")
def postgres_report(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Report:
    """One short campaign on PostgreSQL through the severable proxy."""
    root = tmp_path_factory.mktemp("campaign-postgres")
    # The targets end the run (about a minute); max_seconds only bounds a very loaded machine.
    plan = Plan(kills=20, cuts=15, max_seconds=150)
    return run_campaign(
        seed=SEED, backend="postgres", root=root, plan=plan, postgres_url=postgres_url
    )


@pytest.fixture(scope="module")
def file_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """One short campaign on the file repository (the embedded default)."""
    root = tmp_path_factory.mktemp("campaign-file")
    return run_campaign(
        seed=SEED + 1, backend="file", root=root, plan=Plan(kills=12, max_seconds=100)
    )


@pytest.mark.postgres
def test_postgres_campaign_kills_cuts_and_recovers(postgres_report: Report) -> None:
    """Kills and connection cuts happened, and recovery left no lifecycle violation."""
    report = postgres_report
    print(report.summary())  # the seed and counts, also on failure
    assert report.kills >= 20, report.summary()
    assert report.cuts >= 15, report.summary()
    assert report.storage_faults > 0 or report.processes < 20, report.summary()
    assert report.final["completed"] > 0, report.summary()
    assert _split(report)[0] == {}, report.summary()


def test_file_campaign_kills_and_recovers(file_report: Report) -> None:
    """Kills on the file repository, and recovery left no lifecycle violation."""
    report = file_report
    print(report.summary())
    assert report.kills >= 12, report.summary()
    assert report.final["completed"] > 0, report.summary()
    assert _split(report)[0] == {}, report.summary()


@pytest.mark.postgres
def test_campaign_leaves_no_orphan_file(postgres_report: Report, file_report: Report) -> None:
    """After recovery, storage holds only the artifacts of completed, unexpired jobs."""
    for report in (postgres_report, file_report):
        assert _split(report)[1] == {}, report.summary()


def test_the_checks_find_planted_violations(tmp_path: Path) -> None:
    """The storage and claim checks are not blind: planted faults are reported."""
    from tests.fault_campaign import plant_and_check

    found = plant_and_check(tmp_path)
    assert {"part_temporary", "empty_folder", "orphan_cancelled", "double_claim"} <= set(found)
    assert {"stuck", "corrupt", "lost_notification", "orphan_unknown"} <= set(found)


@pytest.mark.campaign
def test_long_campaign(tmp_path: Path) -> None:
    """The long run (600 kills, 150 cuts): no violation of any kind."""
    from bench.fault_campaign import main

    kills = int(os.environ.get("REASONKIT_CAMPAIGN_KILLS", "600"))
    cuts = int(os.environ.get("REASONKIT_CAMPAIGN_CUTS", "150"))
    assert main(["--kills", str(kills), "--cuts", str(cuts), "--seed", str(SEED)]) == 0
