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

from bench._versions import print_table

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


def main() -> None:
    """Measure every version and print the table."""
    print_table(
        __doc__,
        _ONE,
        records=50_000,
        columns=["decode and render (µs/record)", "decode alone", "render"],
        cells=lambda m: [m["both"], m["decode"], m["both"] - m["decode"]],
    )


if __name__ == "__main__":
    main()
