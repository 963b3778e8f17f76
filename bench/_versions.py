"""Run a measuring snippet against one version of the library (its ``src`` folder)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(code: str, src: str, *arguments: object) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter with ``src`` first on its path; return its JSON.

    The snippet gets ``arguments`` as ``sys.argv[1:]`` and prints one JSON
    object of measurements; the benchmarks' own modules (``bench.*``) import
    from this checkout.
    """
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, arguments)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(src).resolve()), str(ROOT)])},
    )
    if result.returncode:
        raise SystemExit(result.stderr)
    measured: dict[str, float] = json.loads(result.stdout)
    return measured


def print_table(
    description: str,
    code: str,
    *,
    records: int,
    columns: list[str],
    cells: Callable[[dict[str, float]], list[float]],
) -> None:
    """Measure ``code`` for every version on the command line and print one row each.

    The command line: ``--records``, ``--rounds`` and ``--src`` (each version's
    ``src`` folder).
    """
    parser = argparse.ArgumentParser(description=description.partition("\n")[0])
    parser.add_argument("--records", type=int, default=records)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--src", nargs="+", default=["src"], help="each version's src folder")
    args = parser.parse_args()
    print("| version | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for src in args.src:
        values = cells(measure(code, src, args.records, args.rounds))
        print(f"| {src} | " + " | ".join(f"{value:.2f}" for value in values) + " |")
