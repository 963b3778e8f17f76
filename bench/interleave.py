"""Two versions of the library, run alternately, case by case: a fair before/after.

A shared or noisy machine drifts over minutes; running the old and the new
code in turns, several rounds, lets both see the same drift. Each run is a
fresh process (``python -m bench.exports --one``) with ``PYTHONPATH`` set to
one version's ``src`` folder (a git worktree of the older commit, say)::

    git worktree add /tmp/before 92f9554
    python -m bench.interleave --records 100000 --rounds 4 \\
        --cases naive-zip lib-zip lib-zip-html lib-zip-default \\
        --src /tmp/before/src src

It prints the seconds of every run and their minimum and median per version
and case, and the median CPU time of a run (user and system of the timed
export, its child processes included) with the cores it kept busy on average (CPU time
over wall time). On a machine whose speed drifts, the CPU time drifts with
the wall time; the cores figure does not, and shows whether a change moved
work onto an idle core or only made it smaller.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(src: str, case: str, records: int) -> tuple[float, float]:
    """Seconds and CPU seconds of one run of ``case`` with the library from ``src``."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.exports", "--one", case, str(records)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(Path(src).resolve())},
    )
    if result.returncode != 0:
        raise SystemExit(f"case {case} with {src} failed:\n{result.stderr}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return float(measured["seconds"]), float(measured["cpu_seconds"])


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", nargs="+", required=True)
    parser.add_argument("--src", nargs="+", required=True, help="each version's src folder")
    args = parser.parse_args()
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for src in args.src:
            for case in args.cases:
                times.setdefault((src, case), []).append(run(src, case, args.records))
    print(
        "| version | case | min (s) | median (s) | CPU, median (s) | cores |"
        f" runs ({args.records:,} records) |"
    )
    print("|---|---|---:|---:|---:|---:|---|")
    for (src, case), measured in times.items():
        seconds = [wall for wall, _ in measured]
        cpu = [used for _, used in measured]
        cores = statistics.median(used / wall for wall, used in measured)
        runs = " ".join(f"{value:.2f}" for value in seconds)
        print(
            f"| {src} | {case} | {min(seconds):.2f} | {statistics.median(seconds):.2f}"
            f" | {statistics.median(cpu):.2f} | {cores:.2f} | {runs} |"
        )


if __name__ == "__main__":
    main()
