"""``python -m bench.fault_campaign``: the long crash-and-fault campaign.

Runs the campaign of ``tests/fault_campaign.py`` on PostgreSQL (kills and
connection cuts through the proxy), SQLite and the file repository, and
prints the counts and the violations by kind. Exit code 1 if any violation
was found. Example::

    python -m bench.fault_campaign --kills 600 --cuts 150 --seed 1

``--kills`` is the total over the backends (PostgreSQL gets half, SQLite and
the file repository a quarter each); ``--cuts`` applies to PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tests.fault_campaign import Plan, Report, run_campaign
from tests.sql_support import postgres_test_url


def main(argv: list[str] | None = None) -> int:
    """Run the campaign; print one line per backend and a total."""
    parser = argparse.ArgumentParser(prog="python -m bench.fault_campaign")
    parser.add_argument("--kills", type=int, default=600, help="SIGKILLs in total (default 600)")
    parser.add_argument("--cuts", type=int, default=150, help="PostgreSQL cuts (default 150)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=2, help="worker processes at once")
    parser.add_argument(
        "--backends", default="postgres,sqlite,file", help="comma-separated (default: all three)"
    )
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    share = {"postgres": 2, "sqlite": 1, "file": 1}
    weight = sum(share[b] for b in backends)
    reports: list[Report] = []
    with tempfile.TemporaryDirectory(prefix="fault-campaign-") as scratch:
        for number, backend in enumerate(backends):
            plan = Plan(
                kills=max(1, args.kills * share[backend] // weight),
                cuts=args.cuts if backend == "postgres" else 0,
                parallel=args.parallel,
                max_seconds=3600,
            )
            report = run_campaign(
                seed=args.seed + number,
                backend=backend,
                root=Path(scratch) / backend,
                plan=plan,
                postgres_url=postgres_test_url() if backend == "postgres" else None,
            )
            reports.append(report)
            print(report.summary(), flush=True)
    total: Counter[str] = Counter()
    for report in reports:
        total.update(report.violations)
    kills = sum(r.kills for r in reports)
    cuts = sum(r.cuts for r in reports)
    phases: Counter[str] = Counter()
    for report in reports:
        phases.update(report.kills_by_phase)
    print(
        f"total: kills={kills} cuts={cuts} "
        f"connections_cut={sum(r.connections_cut for r in reports)} "
        f"storage_faults={sum(r.storage_faults for r in reports)} "
        f"processes={sum(r.processes for r in reports)} jobs={sum(r.jobs for r in reports)} "
        f"violations={dict(total)} kills_by_phase={dict(sorted(phases.items()))}"
    )
    if args.json:
        print(json.dumps([{**r.as_dict()} for r in reports], indent=2))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
