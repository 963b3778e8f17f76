"""Export benchmarks: the library against a naive peer and a hand-written floor.

Usage::

    python -m bench                       # 100k records, every case, table on stdout
    python -m bench --records 100000 1000000 --write docs/performance.md
    python -m bench --cases lib-json-gz naive-zip --records 20000

Every case runs in its own process (so peak RSS is that case's alone) and
reports seconds, records/s, MB/s of input (the records' compact JSON size),
the ratios to the naive peer and to the floor, and the peak RSS growth over
the process's baseline after imports and set-up.

The synthetic workload: mixed prose with non-ASCII and emoji, ints, floats,
timestamps, lists and nested mappings, about 520 bytes of JSON per record,
generated lazily and deterministically (seeded).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_WORDS = [
    "the",
    "export",
    "contains",
    "every",
    "record",
    "naïve",
    "café",
    "Zoë",
    "Ångström",
    "Ελληνικά",
    "Кириллица",
    "🙂",
    "privacy",
    "request",
    "model",
    "answer",
    "summary",
    "conversation",
    "explain",
    "algorithm",
    "edge",
    "cases",
    "résumé",
    "über",
    "straße",
    "東京",
    "data",
    "portability",
    "article",
    "fifteen",
    "twenty",
    "🚀",
    "quick",
    "brown",
    "fox",
]
_BASE = datetime(2025, 1, 1, tzinfo=UTC)


class SyntheticSource:
    """Deterministic records of about 520 bytes of JSON each."""

    category = "reasoning_history"

    def __init__(self, count: int, seed: int = 7) -> None:
        self._count = count
        self._seed = seed

    def count(self, user_id: str) -> int:
        """The number of records."""
        return self._count

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        """Yield the records."""
        rng = random.Random(self._seed)
        prose = [" ".join(rng.choice(_WORDS) for _ in range(40)) for _ in range(512)]
        tags = [["gdpr", "demo"], ["export"], ["a", "b", "c"], []]
        for n in range(self._count):
            yield {
                "id": n,
                "created_at": _BASE + timedelta(seconds=37 * n),
                "prompt": prose[n % 512],
                "answer": prose[(n * 7 + 3) % 512][:120],
                "score": (n % 1000) / 7.0,
                "tokens": {"input": 40 + n % 97, "output": 120 + n % 311},
                "meta": {"model": "reasoner-2", "latency_ms": n % 5000, "ok": n % 11 != 0},
                "tags": tags[n % 4],
            }


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":")).encode()


def input_megabytes(count: int) -> float:
    """The workload's size as compact JSON, in MB (10^6 bytes)."""
    sample = sum(len(_encode(r)) for r in SyntheticSource(2000).records("u"))
    return sample / 2000 * count / 1e6


# ------------------------------------------------------------------ the cases


def _library(
    fmt: str,
    *,
    compress: bool,
    encrypt: bool,
    out: Path,
    csv_in_zip: bool = True,
    html_in_zip: bool = False,
    pdf_in_zip: bool = False,
    pdf_summary_above: int | None = 20_000,
) -> Callable[[int], int]:
    from reasonkit_export import ExportConfig, ExportService
    from reasonkit_export.crypto import generate_identity
    from reasonkit_export.storage import FsspecStorage

    def run(count: int) -> int:
        config = ExportConfig(
            storage_backend="memory",
            rate_limit=None,
            compression_enabled=compress,
            encryption_recipients=[str(generate_identity().recipient)] if encrypt else [],
            zip_include_pdf=pdf_in_zip,
            zip_include_csv=csv_in_zip,
            zip_include_html=html_in_zip,
            zip_pdf_summary_above=pdf_summary_above,
            max_file_size_mb=100_000,
        )
        service = ExportService(
            sources=[SyntheticSource(count)], storage=FsspecStorage(str(out)), config=config
        )
        job = service.process_export(service.create_export("u", fmt, ["reasoning_history"]).id)
        assert job.status == "completed", job.error
        return int(service.storage.size(job.storage_key or ""))

    return run


def _naive_json(out: Path) -> Callable[[int], int]:
    def run(count: int) -> int:
        records = list(SyntheticSource(count).records("u"))
        data = json.dumps({"reasoning_history": records}, default=str, ensure_ascii=False)
        path = out / "naive.json.gz"
        path.write_bytes(gzip.compress(data.encode()))
        return path.stat().st_size

    return run


def _naive_zip(out: Path) -> Callable[[int], int]:
    def run(count: int) -> int:
        records = list(SyntheticSource(count).records("u"))
        data = json.dumps({"reasoning_history": records}, default=str, ensure_ascii=False)
        path = out / "naive.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("data.json", data)
        return path.stat().st_size

    return run


def _floor(*, encrypt: bool, out: Path) -> Callable[[int], int]:
    """A minimal hand-written streaming exporter: the fastest parts we know, no features.

    orjson per record, 1 MiB blocks, ISA-L (else zlib) level-1 deflate into a
    valid streaming ZIP with one member, optional age encryption, one file.
    """
    try:
        import orjson

        def dumps(record: dict[str, Any]) -> bytes:
            return orjson.dumps(record)
    except ImportError:
        dumps = _encode

    # Imported before the clock starts, as the library cases import theirs.
    from reasonkit_export.crypto import encrypting_writer, generate_identity
    from reasonkit_export.formats._zipstream import ZipStream

    def run(count: int) -> int:
        path = out / "floor.zip"
        with path.open("wb") as raw:
            sink: Any = raw
            encryptor = None
            if encrypt:
                encryptor = encrypting_writer(raw, generate_identity().recipient)
                sink = encryptor
            archive = ZipStream(sink, level=1, date_time=datetime(2025, 1, 1))
            # Streamed as the library streams a spooled data.json (bounded size).
            with archive.open("data.json", size_bound=1 << 31) as member:
                buffer = bytearray(b'{"reasoning_history":[')
                for index, record in enumerate(SyntheticSource(count).records("u")):
                    if index:
                        buffer += b","
                    buffer += dumps(record)
                    if len(buffer) > 1 << 20:
                        member.write(buffer)
                        buffer.clear()
                buffer += b"]}"
                member.write(buffer)
            archive.close()
            if encryptor is not None:
                encryptor.close()
        return path.stat().st_size

    return run


def _source_only() -> Callable[[int], int]:
    def run(count: int) -> int:
        for _ in SyntheticSource(count).records("u"):
            pass
        return 0

    return run


CASES: dict[str, Callable[[Path], Callable[[int], int]]] = {
    "source-only": lambda out: _source_only(),
    "naive-json-gz": _naive_json,
    "naive-zip": _naive_zip,
    "floor-zip": lambda out: _floor(encrypt=False, out=out),
    "floor-zip-age": lambda out: _floor(encrypt=True, out=out),
    "lib-json": lambda out: _library("json", compress=False, encrypt=False, out=out),
    "lib-json-gz": lambda out: _library("json", compress=True, encrypt=False, out=out),
    "lib-json-gz-age": lambda out: _library("json", compress=True, encrypt=True, out=out),
    "lib-csv": lambda out: _library("csv", compress=False, encrypt=False, out=out),
    "lib-csv-gz": lambda out: _library("csv", compress=True, encrypt=False, out=out),
    "lib-zip": lambda out: _library("zip", compress=True, encrypt=False, out=out),
    "lib-zip-age": lambda out: _library("zip", compress=True, encrypt=True, out=out),
    "lib-zip-html": lambda out: _library(
        "zip", compress=True, encrypt=False, out=out, html_in_zip=True
    ),
    "lib-zip-json": lambda out: _library(
        "zip", compress=True, encrypt=False, out=out, csv_in_zip=False
    ),
    "lib-zip-json-age": lambda out: _library(
        "zip", compress=True, encrypt=True, out=out, csv_in_zip=False
    ),
    # The default archive: CSV tables, the HTML view and report.pdf (a summary
    # above 20,000 records), as ExportConfig() builds it.
    "lib-zip-default": lambda out: _library(
        "zip", compress=True, encrypt=False, out=out, pdf_in_zip=True, html_in_zip=True
    ),
    # The archive with the complete report whatever the size (zip_pdf_summary_above=None).
    "lib-zip-full-pdf": lambda out: _library(
        "zip", compress=True, encrypt=False, out=out, pdf_in_zip=True, pdf_summary_above=None
    ),
    "lib-pdf": lambda out: _library("pdf", compress=True, encrypt=False, out=out),
}
# The complete PDF renders a few thousand records a second: run it on request.
DEFAULT_CASES = [name for name in CASES if name not in ("lib-pdf", "lib-zip-full-pdf")]


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu_seconds() -> float:
    """User and system CPU of this process and of its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def compile_library() -> None:
    """Compile the library's bytecode, as ``pip install`` does, before any clock starts.

    An editable install (``pip install -e``) leaves the library as source;
    where ``PYTHONDONTWRITEBYTECODE`` is set (as on the development
    machines) nothing is ever cached, and every child process of an export
    (the HTML view, the summary report) compiled the modules it imports on
    each run, about 25 ms of CPU each that an installed package never pays.
    """
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("reasonkit_export")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


def run_case(name: str, count: int) -> dict[str, Any]:
    """Run one case in this process and return its measurements."""
    compile_library()
    with tempfile.TemporaryDirectory(prefix="rk-bench-") as directory:
        runner = CASES[name](Path(directory))
        baseline = _rss_mb()
        cpu = _cpu_seconds()
        start = time.perf_counter()
        output = runner(count)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # A child process of the export (the ZIP's summary report) counts in
        # full, as if it ran at the parent's peak.
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "case": name,
        "records": count,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "output_bytes": output,
        "rss_growth_mb": max(peak - baseline, 0.0) + child,
    }


def _in_subprocess(name: str, count: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.exports", "--one", name, str(count)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if result.returncode != 0:
        raise SystemExit(f"case {name} failed:\n{result.stderr}")
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of the results, with ratios to the naive peer and the floor."""
    by = {(r["case"], r["records"]): r for r in results}
    lines = [
        (
            "| case | records | seconds | records/s | MB/s (input) | vs naive | vs floor "
            "| peak RSS growth (MB) | output (MB) |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        count = r["records"]
        mb = input_megabytes(count)
        naive = by.get(("naive-zip", count))
        floor = by.get(("floor-zip-age" if r["case"].endswith("-age") else "floor-zip", count))
        vs_naive = f"{naive['seconds'] / r['seconds']:.2f}x faster" if naive else "-"
        vs_floor = f"{r['seconds'] / floor['seconds']:.2f}x" if floor else "-"
        lines.append(
            f"| {r['case']} | {count:,} | {r['seconds']:.2f} | {count / r['seconds']:,.0f} "
            f"| {mb / r['seconds']:.1f} | {vs_naive} | {vs_floor} "
            f"| {r['rss_growth_mb']:.1f} | {r['output_bytes'] / 1e6:.1f} |"
        )
    return "\n".join(lines)


def _machine() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    extras = []
    for module in ("orjson", "isal"):
        try:
            __import__(module)
            extras.append(module)
        except ImportError:
            pass
    return (
        f"Python {platform.python_version()}, {os.cpu_count()} cores ({cpu}); "
        f"fast extras installed: {', '.join(extras) or 'none'}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark cases and print (or write) the table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000])
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, choices=sorted(CASES))
    parser.add_argument("--write", type=Path, help="also write the table into this Markdown file")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per case; the fastest is reported (the machine may be shared)",
    )
    parser.add_argument("--one", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_case(args.one[0], int(args.one[1]))))
        return 0
    results = []
    for count in args.records:
        for name in args.cases:
            n = count
            runs = [_in_subprocess(name, n) for _ in range(max(args.repeat, 1))]
            result = min(runs, key=lambda run: float(run["seconds"]))
            result["rss_growth_mb"] = max(float(run["rss_growth_mb"]) for run in runs)
            results.append(result)
            print(
                f"{name:>16} {n:>9,} {result['seconds']:7.2f} s "
                f"{n / result['seconds']:>10,.0f} rec/s  +{result['rss_growth_mb']:.1f} MB",
                file=sys.stderr,
            )
    rendered = table(results)
    print(f"{_machine()}\n\n{rendered}")
    if args.write:
        _write(args.write, rendered, " ".join(sys.argv[1:]))
    return 0


def _write(path: Path, rendered: str, arguments: str) -> None:
    marker_start, marker_end = "<!-- bench:start -->", "<!-- bench:end -->"
    block = (
        f"{marker_start}\nMeasured {datetime.now(UTC):%Y-%m-%d} with "
        f"`python -m bench {arguments}` on {_machine()}.\n\n{rendered}\n{marker_end}"
    )
    text = path.read_text() if path.exists() else ""
    if marker_start in text and marker_end in text:
        head, rest = text.split(marker_start, 1)
        text = head + block + rest.split(marker_end, 1)[1]
    else:
        text = f"{text.rstrip()}\n\n{block}\n" if text else f"# Performance\n\n{block}\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
