"""The HTML view's per-record cost: rendering records as the child process does.

The view's child decodes each record's JSON line and renders it
(``RecordRenderer.render_bytes``); on a large export that is most of the
child's work, and the child is the view's share of the export's time. This
measures just that, in one process, for one or more versions of the library
(each in a fresh process with ``PYTHONPATH`` set to its ``src`` folder)::

    git worktree add /tmp/before 739e5fb
    python -m bench.render --records 50000 --rounds 5 --src /tmp/before/src src

It prints microseconds per record, the best of the rounds: decoding and
rendering together, and decoding alone (orjson when installed). The records
are the export benchmarks' (``bench.exports.SyntheticSource``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_ONE = """
import json, sys, time
from bench.exports import SyntheticSource
from reasonkit_export._encoding import dumps_compact
from reasonkit_export._present import Presenter
from reasonkit_export.formats._html import RecordRenderer
try:
    from orjson import loads
except ImportError:
    loads = json.loads
count, rounds = int(sys.argv[1]), int(sys.argv[2])
lines = [dumps_compact(record) for record in SyntheticSource(count).records("u")]
presenter = Presenter(locale="en", timezone="UTC", descriptions={})
both = decode = float("inf")
for _ in range(rounds):
    render = RecordRenderer(presenter, "reasoning_history").render_bytes
    start = time.perf_counter()
    for number, line in enumerate(lines, start=1):
        render(number, loads(line))
    both = min(both, time.perf_counter() - start)
    start = time.perf_counter()
    for line in lines:
        loads(line)
    decode = min(decode, time.perf_counter() - start)
print(json.dumps({"both": both / count * 1e6, "decode": decode / count * 1e6}))
"""


def run(src: str, records: int, rounds: int) -> dict[str, float]:
    """Microseconds per record with the library from ``src``."""
    result = subprocess.run(
        [sys.executable, "-c", _ONE, str(records), str(rounds)],
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


def main() -> None:
    """Measure every version and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--src", nargs="+", default=["src"], help="each version's src folder")
    args = parser.parse_args()
    print("| version | decode and render (µs/record) | decode alone | render |")
    print("|---|---:|---:|---:|")
    for src in args.src:
        measured = run(src, args.records, args.rounds)
        both, decode = measured["both"], measured["decode"]
        print(f"| {src} | {both:.2f} | {decode:.2f} | {both - decode:.2f} |")


if __name__ == "__main__":
    main()
