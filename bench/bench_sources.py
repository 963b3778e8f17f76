"""Discovery plus export of 1,000,000 related rows vs a hand-written SELECT ... JOIN per table.

    python -m bench.bench_sources --backend postgres --rows 1000000
    python -m bench.bench_sources --backend sqlite --rows 1000000 --repeat 5

Builds a schema (users, posts, comments, orders, order_items) where user 1
owns ``--rows`` related rows (5% posts, 20% comments, 15% orders, 60% order
items) and other users own 40% as many again, with the foreign keys
indexed. Then, each case in its own process (so peak RSS is its own),
``--repeat`` times round robin, keeping the fastest run of each (wall time,
and the process's CPU time, which a busy machine disturbs less; on SQLite
all the work is in that process, on PostgreSQL the server's is not):

- ``discovered``: ``import`` of the module, ``discover_sources(engine,
  "users")`` and every source's ``records("1")`` read to the end (rows in
  primary-key order, the default); ``discovered-unordered`` with
  ``ordered=False``;
- ``hand``: one hand-written ``SELECT t.* FROM t JOIN parent ... WHERE
  owner = :u`` per table, streamed the same way (``stream_results``,
  ``yield_per``) into the same dicts, values as the driver returns them
  (on SQLite: timestamps as strings, decimals as floats); ``hand-ordered``
  adds the primary-key ``ORDER BY`` that the sources use;
- ``hand-typed``: ``hand-ordered`` with the result columns typed as the DDL
  declares them (``TextClause.columns(created_at=DateTime(),
  total=Numeric(10, 2), ...)``), so its rows hold ``datetime`` and
  ``Decimal`` values like the sources' rows: the like-for-like peer;
- ``import``: only ``import reasonkit_export.sources.sql`` (part of the
  ``discovered`` cases' time, shown on its own);
- ``export``: the discovered sources through ``ExportService`` to a JSON file
  on local disk (the whole pipeline, for context).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import sqlalchemy as sa

POSTGRES_URL = os.environ.get(
    "REASONKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CHUNK = 2000

SCHEMA = [
    (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200), name VARCHAR(200),"
        " password_hash VARCHAR(200), created_at TIMESTAMP)"
    ),
    (
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id"
        " INTEGER NOT NULL REFERENCES users(id),"
        " title VARCHAR(200), body TEXT, created_at TIMESTAMP)"
    ),
    (
        "CREATE TABLE comments (id INTEGER PRIMARY KEY,"
        " post_id INTEGER NOT NULL REFERENCES posts(id),"
        " author_id INTEGER NOT NULL REFERENCES users(id), body TEXT, created_at TIMESTAMP)"
    ),
    (
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id"
        " INTEGER NOT NULL REFERENCES users(id),"
        " total NUMERIC(10, 2), placed_at TIMESTAMP)"
    ),
    (
        "CREATE TABLE order_items (id INTEGER PRIMARY KEY,"
        " order_id INTEGER NOT NULL REFERENCES orders(id), sku VARCHAR(40), quantity INTEGER,"
        " price NUMERIC(10, 2))"
    ),
    "CREATE INDEX posts_author ON posts (author_id)",
    "CREATE INDEX comments_author ON comments (author_id)",
    "CREATE INDEX comments_post ON comments (post_id)",
    "CREATE INDEX orders_user ON orders (user_id)",
    "CREATE INDEX order_items_order ON order_items (order_id)",
]

# The hand-written peer: what a host would write per table without the library.
HAND = {
    "users": "SELECT u.id, u.email, u.name, u.created_at FROM users u WHERE u.id = :u",
    "posts": "SELECT p.* FROM posts p WHERE p.author_id = :u",
    "comments": "SELECT c.* FROM comments c WHERE c.author_id = :u",
    "orders": "SELECT o.* FROM orders o WHERE o.user_id = :u",
    "order_items": "SELECT i.* FROM order_items i JOIN orders o ON o.id = i.order_id"
    " WHERE o.user_id = :u",
}
ORDER = {"users": "u.id", "posts": "p.id", "comments": "c.id", "orders": "o.id"}
# The non-text, non-integer columns as the DDL above declares them: what a host
# passes to ``TextClause.columns`` to get datetime and Decimal values back.
_STAMP, _MONEY = sa.DateTime(), sa.Numeric(10, 2)
TYPED: dict[str, dict[str, sa.types.TypeEngine[Any]]] = {
    "users": {"created_at": _STAMP},
    "posts": {"created_at": _STAMP},
    "comments": {"created_at": _STAMP},
    "orders": {"total": _MONEY, "placed_at": _STAMP},
    "order_items": {"price": _MONEY},
}


def _numbers(dialect: str, count: int) -> str:
    if dialect == "postgresql":
        return f"SELECT g FROM generate_series(1, {count}) AS g"
    return (
        f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {count}) "
        "SELECT g FROM s"
    )


def populate(engine: sa.Engine, rows: int) -> None:
    """Create the schema; user 1 owns ``rows`` related rows, others 40% as many again."""
    posts, comments, orders = rows * 5 // 100, rows * 20 // 100, rows * 15 // 100
    items = rows - posts - comments - orders
    all_posts, all_comments = posts * 14 // 10, comments * 14 // 10
    all_orders = orders * 14 // 10
    per_order = items // orders  # 4: items are 60% of the rows, orders 15%
    all_items = all_orders * per_order
    dialect = engine.dialect.name
    stamp = (
        "TIMESTAMP '2025-01-01 12:00:00'" if dialect == "postgresql" else "'2025-01-01 12:00:00'"
    )
    other = "2 + g % 999"
    with engine.begin() as db:
        for ddl in SCHEMA:
            db.execute(sa.text(ddl))
        for statement in [
            (
                f"INSERT INTO users (id, email, name, password_hash, created_at) "
                f"SELECT g, 'user' || g || '@example.org', 'User ' || g, 'x', {stamp} "
                f"FROM ({_numbers(dialect, 1000)}) n"
            ),
            (
                f"INSERT INTO posts SELECT g, CASE WHEN g <= {posts} THEN 1 ELSE {other} END, "
                f"'Post number ' || g, 'Some text about things, naïve café ' || g, {stamp} "
                f"FROM ({_numbers(dialect, all_posts)}) n"
            ),
            (
                f"INSERT INTO comments SELECT g, 1 + g % {all_posts}, "
                f"CASE WHEN g <= {comments} THEN 1 ELSE {other} END, 'A comment ' || g, {stamp} "
                f"FROM ({_numbers(dialect, all_comments)}) n"
            ),
            (
                f"INSERT INTO orders SELECT g, CASE WHEN g <= {orders} THEN 1 ELSE {other} END, "
                f"g % 1000 + 0.99, {stamp} FROM ({_numbers(dialect, all_orders)}) n"
            ),
            (
                f"INSERT INTO order_items SELECT g, 1 + (g - 1) / {per_order}, "
                f"'SKU-' || (g % 500), 1 + g % 3, 9.90 FROM ({_numbers(dialect, all_items)}) n"
            ),
        ]:
            db.execute(sa.text(statement))
    with engine.begin() as db:
        db.execute(sa.text("ANALYZE"))


def _discovered(engine: sa.Engine, *, ordered: bool = True) -> int:
    from reasonkit_export.sources.sql import discover_sources

    count = 0
    for source in discover_sources(engine, "users", chunk_size=CHUNK, ordered=ordered):
        for _record in source.records("1"):
            count += 1
    return count


def _hand(engine: sa.Engine, *, ordered: bool, typed: bool = False) -> int:
    count = 0
    for table, query in HAND.items():
        order = f" ORDER BY {ORDER.get(table, 'i.id')}" if ordered else ""
        text = sa.text(query + order)
        statement = text.columns(**TYPED[table]) if typed else text
        with engine.connect() as connection:
            streaming = connection.execution_options(stream_results=True, yield_per=CHUNK)
            with streaming.execute(statement, {"u": 1}) as result:
                keys = tuple(result.keys())
                for rows in result.partitions(CHUNK):
                    for row in rows:
                        _record = dict(zip(keys, row, strict=True))
                        count += 1
    return count


def _export(engine: sa.Engine) -> int:
    from reasonkit_export import ExportConfig, ExportService
    from reasonkit_export.sources.sql import discover_sources

    with tempfile.TemporaryDirectory(prefix="rk-bench-src-") as directory:
        service = ExportService.from_config(
            ExportConfig(local_path=directory, compression_enabled=False),
            sources=discover_sources(engine, "users", chunk_size=CHUNK),
        )
        job = service.process_export(service.create_export("1", "json", ["all"]).id)
        assert job.status == "completed", job.error
        return sum(job.record_counts.values())


def _import(engine: sa.Engine) -> int:
    import reasonkit_export.sources.sql  # noqa: F401 - the cost measured

    return 0


CASES: dict[str, Callable[[sa.Engine], int]] = {
    "import": _import,
    "discovered": _discovered,
    "discovered-unordered": lambda engine: _discovered(engine, ordered=False),
    "hand": lambda engine: _hand(engine, ordered=False),
    "hand-ordered": lambda engine: _hand(engine, ordered=True),
    "hand-typed": lambda engine: _hand(engine, ordered=True, typed=True),
    "export": _export,
}


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_one(case: str, url: str, schema: str | None) -> dict[str, Any]:
    """Run one case in this process; return rows, seconds and peak RSS growth."""
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    engine = sa.create_engine(url, connect_args=connect_args)
    with engine.connect() as connection:  # connect before measuring
        connection.execute(sa.text("SELECT 1"))
    baseline = _rss_mb()
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    rows = CASES[case](engine)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    engine.dispose()
    return {
        "case": case,
        "rows": rows,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rss_growth_mb": peak - baseline,
    }


def _cpu_seconds() -> float:
    """CPU time of this process (user + system): steadier than wall time on a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _subprocess(case: str, url: str, schema: str | None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_sources", "--one", case, url, schema or ""],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        raise SystemExit(f"case {case} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of a case's runs (the least disturbed; CPU time likewise), highest RSS growth."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["cpu_seconds"] = min(r["cpu_seconds"] for r in runs)
    best["rss_growth_mb"] = max(r["rss_growth_mb"] for r in runs)
    best["runs"] = len(runs)
    return best


def _database(backend: str, directory: str) -> Iterator[tuple[str, str | None]]:
    if backend == "sqlite":
        yield f"sqlite:///{directory}/bench.sqlite3", None
        return
    schema = f"rk_bench_{uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as db:
        db.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield POSTGRES_URL, schema
    finally:
        with admin.begin() as db:
            db.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    """Build the data once, run each case in its own process, print a Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_sources")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per case, round robin; the fastest is shown"
    )
    parser.add_argument("--one", nargs=3, metavar=("CASE", "URL", "SCHEMA"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        case, url, schema = args.one
        print(json.dumps(run_one(case, url, schema or None)))
        return 0
    with tempfile.TemporaryDirectory(prefix="rk-bench-db-") as directory:
        for url, schema in _database(args.backend, directory):
            connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
            engine = sa.create_engine(url, connect_args=connect_args)
            start = time.perf_counter()
            populate(engine, args.rows)
            engine.dispose()
            print(f"populated in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            runs: dict[str, list[dict[str, Any]]] = {case: [] for case in args.cases}
            # Round robin, so a burst of load from elsewhere hits every case alike.
            for _ in range(args.repeat):
                for case in args.cases:
                    runs[case].append(_subprocess(case, url, schema))
            results = [_best(case_runs) for case_runs in runs.values()]
    peers = {r["case"]: r for r in results if r["case"] in ("hand", "hand-typed")}
    print(
        f"\n{args.backend}, user 1 owns {args.rows:,} related rows, "
        f"fastest of {args.repeat} run(s) per case\n"
    )
    print(
        "| case | rows | seconds | rows/s | vs hand | vs hand-typed "
        "| CPU s (client) | CPU vs hand-typed | peak RSS growth (MB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ratios = [
            f"{r['seconds'] / peers[peer]['seconds']:.2f}x" if peer in peers and r["rows"] else "-"
            for peer in ("hand", "hand-typed")
        ]
        typed = peers.get("hand-typed")
        cpu_ratio = "-"
        if typed and r["rows"]:
            cpu_ratio = f"{r['cpu_seconds'] / typed['cpu_seconds']:.2f}x"
        rate = f"{r['rows'] / r['seconds']:,.0f}" if r["rows"] else "-"
        print(
            f"| {r['case']} | {r['rows']:,} | {r['seconds']:.2f} | {rate} | "
            f"{' | '.join(ratios)} | {r['cpu_seconds']:.2f} | {cpu_ratio} | "
            f"{r['rss_growth_mb']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
