"""Benchmark the PDF writer: render N synthetic chat records and report the speed.

Usage::

    PYTHONPATH=src .venv/bin/python bench/bench_pdf.py [--records N] [--profile]

Each record looks like a chat history entry: an integer id, an ISO
timestamp, ~300 characters of prose with some non-ASCII words, a model name
and a token count. Records are generated lazily from a small pool of
sentences, so generating them costs next to nothing and the numbers measure
the writer. Prints records/s, the output size and the peak RSS growth over
the run (``resource.getrusage``; the high-water mark, so run one size per
process).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._pdf import PdfWriter

_SENTENCE = (
    "the quick brown fox jumps over a lazy dog while Zoë Ångström reads naïve café menus "
    "Ελληνικά Кириллица privacy request export model answer summary of the conversation "
    "please explain how the algorithm handles edge cases and what happens next"
)
_WORDS = _SENTENCE.split(" ")


def _prose_pool(rng: random.Random, size: int = 200) -> list[str]:
    pool = []
    for _ in range(size):
        words: list[str] = []
        while sum(len(word) + 1 for word in words) < 300:
            words.append(rng.choice(_WORDS))
        pool.append(" ".join(words))
    return pool


def _records(count: int, pool: list[str]) -> Iterator[dict[str, Any]]:
    for index in range(count):
        yield {
            "id": index,
            "created_at": f"2024-05-{1 + index % 28:02d}T12:{index % 60:02d}:00+00:00",
            "prompt": pool[index % len(pool)],
            "model": "reasonkit-large-2",
            "tokens": 100 + index % 900,
        }


def _max_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Run the benchmark with the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000, help="records to render")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    args = parser.parse_args()

    pool = _prose_pool(random.Random(42))
    info = ExportInfo(
        export_id=uuid.uuid4(),
        user_id="user-42",
        generated_at=datetime.now(UTC),
        format="pdf",
        categories=("profile", "conversations"),
        generator="bench_pdf",
    )
    sections = [
        Section(category="profile", records=[{"name": "Zoë Ångström", "email": "z@example.org"}]),
        Section(category="conversations", records=_records(args.records, pool)),
    ]
    # Warm up imports and font parsing so they are not counted as growth.
    with tempfile.TemporaryFile() as scratch:
        PdfWriter().write(info, [Section(category="warmup", records=[{"a": 1}])], scratch)

    rss_before = _max_rss_mb()
    profiler = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryFile() as sink:
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        result = PdfWriter().write(info, sections, sink)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - start
        size = sink.tell()
    rss_growth = _max_rss_mb() - rss_before

    print(f"records:        {args.records:,}")
    print(f"pages:          {result.pages:,}")
    print(f"time:           {elapsed:.2f} s")
    print(f"records/s:      {args.records / elapsed:,.0f}")
    print(f"output:         {size / 1e6:.2f} MB")
    per_1000 = rss_growth / max(args.records, 1) * 1000
    print(f"peak RSS growth: {rss_growth:.1f} MB ({per_1000:.2f} MB per 1,000 records)")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
