"""The exporting process's per-record cost: reading records into the spools.

A ZIP export reads each record once and spools it twice: its JSON line
(``RecordSpool``, later ``data.json`` and the HTML view's input) and its CSV
row (``CsvTable``). That loop is the exporting process's share of a large
export, and on two cores the whole export waits for it. This measures it
alone, in one process, for one or more versions of the library (each in a
fresh process with ``PYTHONPATH`` set to its ``src`` folder)::

    git worktree add /tmp/before 063c757
    python -m bench.spool --records 100000 --rounds 5 --src /tmp/before/src src

It prints microseconds of CPU per record, the best of the rounds, for the
JSON lines alone, the CSV rows alone and both as a ZIP export spools them.
The records are the export benchmarks' (``bench.exports.SyntheticSource``),
made before the clock starts.
"""

from __future__ import annotations

from bench._versions import print_table

_ONE = """
import json, sys, time
from bench.exports import SyntheticSource
from reasonkit_export.formats._csv_table import CsvTable
from reasonkit_export.formats._spool import RecordSpool
from reasonkit_export.formats._zip import _Spooled, _SpoolFiles
count, rounds = int(sys.argv[1]), int(sys.argv[2])
records = list(SyntheticSource(count).records("u"))

def lines(files):
    spool = RecordSpool(files.get("records"), category="c")
    for record in records:
        spool.add(record)
    spool.seal()

def rows(files):
    table = CsvTable(neutralize_formulas=True, file=files.get("csv").segment())
    for record in records:
        table.add(record)
    table.seal()

def both(files):
    item = _Spooled(
        category="c",
        table=CsvTable(neutralize_formulas=True, file=files.get("csv").segment()),
        records=RecordSpool(files.get("records"), category="c"),
    )
    add = item.add
    for record in records:
        add(record)
    item.seal()

result = {}
for name, stage in (("lines", lines), ("rows", rows), ("both", both)):
    best = float("inf")
    for _ in range(rounds):
        files = _SpoolFiles(None)
        start = time.process_time()
        stage(files)
        best = min(best, time.process_time() - start)
        files.close()
    result[name] = best / count * 1e6
print(json.dumps(result))
"""


def main() -> None:
    """Measure every version and print the table."""
    print_table(
        __doc__,
        _ONE,
        records=100_000,
        columns=["JSON lines (µs/record)", "CSV rows", "both, as a ZIP spools them"],
        cells=lambda m: [m["lines"], m["rows"], m["both"]],
    )


if __name__ == "__main__":
    main()
