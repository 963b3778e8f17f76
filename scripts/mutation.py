"""Mutation testing of the modules that guard users, one module at a time.

Usage (from the repository root, with the ``test`` and ``mutation`` extras)::

    python scripts/mutation.py --list          # the targets and their tests
    python scripts/mutation.py tokens          # mutate one target, run only its tests
    python scripts/mutation.py tokens --survivors   # list the survivors of the last run
    python scripts/mutation.py tokens --show NAME   # the diff of one mutant
    python scripts/mutation.py tokens --rerun-survivors   # after adding tests
    python scripts/mutation.py tokens --only 'GLOB' ...   # a chunk of mutants, by name

Each target runs mutmut in its own scratch directory ``.mutation/<target>/``
(ignored by git): ``src`` and ``tests`` are symlinks to the checkout, and the
``pyproject.toml`` there is this repository's with the ``[tool.mutmut]`` table
narrowed to the target (``only_mutate``, the target's test files and, for
modules only partly in scope, the functions to mutate). mutmut then copies the
code into ``.mutation/<target>/mutants/`` and mutates it there; the checkout
itself is never touched.

The score printed at the end is the raw score, ``(killed + timeout) / all
mutants`` (no mutant is left out as equivalent). A *timeout* is a mutant whose
tests did not finish in three times their usual time: the mutant makes the
code loop forever (an infinite loop in a guard module is a behaviour change the
tests catch, as they never pass); the count is printed on its own, with the
score of killed mutants alone, so a slow machine cannot hide in it. Every
survivor that remains must be listed with a reason in
``tests/mutation-survivors.md``. Not part of CI's default run: a full
pass over every target takes about an hour on two cores.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutation"
PACKAGE = "reasonkit_export"


@dataclass(frozen=True)
class Target:
    """One module (or part of one) and the tests that pin its behaviour."""

    source: str
    tests: tuple[str, ...]
    #: further modules mutated in the same run (their functions narrowed by ``functions``).
    also: tuple[str, ...] = ()
    #: mutmut mutant-name globs; empty means every function of ``source``.
    functions: tuple[str, ...] = ()
    #: extra pytest arguments (e.g. ``-m`` to pick the PostgreSQL cases).
    pytest_args: tuple[str, ...] = ()
    note: str = ""
    #: the run needs the PostgreSQL test server (its tests must not skip).
    postgres: bool = False

    @property
    def sources(self) -> tuple[str, ...]:
        """Every file the run mutates."""
        return (self.source, *self.also)


TARGETS: dict[str, Target] = {
    "tokens": Target(
        source="src/reasonkit_export/_tokens.py",
        tests=("tests/test_tokens.py",),
    ),
    "csv": Target(
        source="src/reasonkit_export/formats/_csv_table.py",
        tests=("tests/formats/test_csv.py", "tests/formats/test_csv_cells.py"),
        functions=(
            "*._csv_table.x__needs_quotes*",
            "*._csv_table.x_flatten_record*",
            "*._csv_table.x_neutralize_cell*",
            "*._csv_table.x_encode_row*",
            "*._csv_table.x__make_flattener*",
            "*._csv_table.x__plain_list_encoder*",
        ),
        note="neutralisation and cell encoding only (not the table spooling or ZIP layout)",
    ),
    "csv-plan": Target(
        source="src/reasonkit_export/formats/_csv_table.py",
        tests=(
            "tests/formats/test_csv_plan.py",
            "tests/formats/test_csv.py",
            "tests/formats/test_csv_cells.py",
        ),
        functions=(
            "*._csv_table.x_compile_row_plan*",
            "*._csv_table.x__plain_cell_code*",
        ),
        note="the compiled CSV row plans (checked byte for byte against the walk)",
    ),
    "scheduling": Target(
        source="src/reasonkit_export/scheduling.py",
        tests=(
            "tests/test_scheduling.py",
            "tests/test_scheduling_rules.py",
            "tests/test_schedules.py",
        ),
        # 20 s of host processes racing through the service; it pins no cron rule.
        pytest_args=(
            "--deselect",
            "tests/test_schedules.py::test_racing_host_processes_create_one_job",
        ),
    ),
    "crypto-stream": Target(
        source="src/reasonkit_export/crypto/_stream.py",
        tests=("tests/crypto",),
        # rage's scrypt work factor makes this one test take 25 s; the vectors cover STREAM.
        pytest_args=("--deselect", "tests/crypto/test_interop.py::test_rage_to_ours_passphrase"),
    ),
    "crypto-header": Target(
        source="src/reasonkit_export/crypto/_header.py",
        tests=("tests/crypto",),
    ),
    "rules": Target(
        source="src/reasonkit_export/repositories/_rules.py",
        tests=("tests/test_contracts.py",),
    ),
    "sql-claim": Target(
        source="src/reasonkit_export/repositories/sql.py",
        also=("src/reasonkit_export/repositories/_rules.py",),
        # The SQL contract classes (TestSqlite*/TestPostgres*JobRepository) live here.
        tests=("tests/test_sql_repositories.py",),
        functions=(
            "*.sql.xǁSqlJobRepositoryǁclaim__*",
            "*.sql.xǁSqlJobRepositoryǁsave__*",
            "*.sql.xǁSqlJobRepositoryǁlist_by_status__*",
            "*.sql.xǁSqlJobRepositoryǁlist_to_sweep__*",
            "*.sql.xǁSqlJobRepositoryǁ_sweep_condition__*",
            "*.sql.xǁSqlJobRepositoryǁ_sweep_batch__*",
            "*.sql.xǁSqlJobRepositoryǁ_sweep_rest__*",
            "*._rules.x_claimed__*",
        ),
        postgres=True,
        note=(
            "SqlJobRepository claim, save (the fence) and the lease sweep, with"
            " _rules.claimed, on SQLite and PostgreSQL"
        ),
    ),
}


def _toml_value(value: object) -> str:
    """A TOML literal for the few types the mutmut table holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _pyproject_for(target: Target) -> str:
    """This repository's pyproject.toml with ``[tool.mutmut]`` narrowed to ``target``."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    base = tomllib.loads(text)["tool"]["mutmut"]
    table = dict(base)
    table["only_mutate"] = list(target.sources)
    table["pytest_add_cli_args_test_selection"] = list(target.tests)
    table["pytest_add_cli_args"] = [*base.get("pytest_add_cli_args", []), *target.pytest_args]
    body = "".join(f"{key} = {_toml_value(value)}\n" for key, value in table.items())
    # Replace the [tool.mutmut] table (up to the next table header) with the narrowed one.
    narrowed, count = re.subn(
        r"^\[tool\.mutmut\]\n(?:(?!\[).*\n|\n)*",
        lambda _: "[tool.mutmut]\n" + body + "\n",
        text,
        flags=re.MULTILINE,
    )
    if count != 1:
        raise SystemExit("pyproject.toml must hold exactly one [tool.mutmut] table")
    assert tomllib.loads(narrowed)["tool"]["mutmut"]["only_mutate"] == list(target.sources)
    return narrowed


def _prepare(name: str, target: Target, *, fresh: bool) -> Path:
    work = SCRATCH / name
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for link in ("src", "tests"):
        path = work / link
        if not path.exists():
            path.symlink_to(ROOT / link, target_is_directory=True)
    (work / "pyproject.toml").write_text(_pyproject_for(target), encoding="utf-8")
    return work


def _require_postgres() -> None:
    """Stop unless the PostgreSQL test server answers (its mutants would survive as skips)."""
    sys.path.insert(0, str(ROOT))
    import sqlalchemy
    from tests.sql_support import postgres_test_url

    engine = sqlalchemy.create_engine(postgres_test_url(), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise SystemExit(
            f"PostgreSQL is unreachable at the test URL ({type(exc).__name__}); "
            "start it or set REASONKIT_TEST_POSTGRES_URL"
        ) from None
    finally:
        engine.dispose()


def _mutmut(work: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    mutmut = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut) if mutmut.exists() else "mutmut", *args]
    return subprocess.run(command, cwd=work, check=False, text=True, capture_output=capture)


def _results(work: Path, target: Target) -> dict[str, str]:
    """``{mutant name: status}`` of the last run, narrowed to the target's functions."""
    done = _mutmut(work, "results", "--all", "true", capture=True)
    statuses: dict[str, str] = {}
    for line in done.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and (
            not target.functions or any(fnmatch.fnmatch(name, f) for f in target.functions)
        ):
            statuses[name] = status
    return statuses


#: statuses that count as a detected mutant (a timeout is a mutant that hangs the tests)
DETECTED = frozenset({"killed", "caught by type check", "timeout"})
SURVIVORS_FILE = ROOT / "tests" / "mutation-survivors.md"


def _listed_equivalents(target_name: str) -> set[str]:
    """Mutant name suffixes listed for ``target_name`` in tests/mutation-survivors.md.

    A section starts with ``## <target> —``; the first cell of each table row names
    mutants in backticks, either in full (``xǁCǁf__mutmut_15``) or, after a full
    name, by number alone (``_21``), and ``… `_4``` spans a range.
    """
    names: set[str] = set()
    section = ""
    for line in SURVIVORS_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].split()[0]
            continue
        if section != target_name or not line.startswith("| `"):
            continue
        cell = line.split("|")[1]
        prefix, last = "", 0
        for gap, token in re.findall(r"([^`]*)`([^`]+)`", cell):
            full = re.fullmatch(r"(.+__mutmut_)(\d+)", token)
            short = re.fullmatch(r"_(\d+)", token)
            if full:
                prefix, number = full.group(1), int(full.group(2))
                names.add(token)
            elif short and prefix:
                number = int(short.group(1))
                start = last + 1 if "…" in gap else number
                names.update(f"{prefix}{n}" for n in range(start, number + 1))
            else:
                continue
            last = number
    return names


def _report(name: str, statuses: dict[str, str]) -> float:
    listed = _listed_equivalents(name)

    def is_listed(mutant: str) -> bool:
        return mutant.rpartition(".")[2] in listed

    # A listed equivalent is never "detected", even if a loaded machine timed it out.
    verdicts = {
        mutant: "equivalent (listed)"
        if status in {"survived", "timeout"} and is_listed(mutant)
        else status
        for mutant, status in statuses.items()
    }
    counts: dict[str, int] = {}
    for status in verdicts.values():
        counts[status] = counts.get(status, 0) + 1
    total = sum(counts.values())
    killed = counts.get("killed", 0) + counts.get("caught by type check", 0)
    detected = killed + counts.get("timeout", 0)
    score = 100.0 * detected / total if total else 0.0
    killed_only = 100.0 * killed / total if total else 0.0
    print(
        f"\n{name}: {total} mutants, {killed} killed, {detected - killed} timeout (hang),"
        f" {counts.get('equivalent (listed)', 0)} listed as equivalent,"
        f" score {score:.1f} % (killed alone {killed_only:.1f} %)"
    )
    for status, count in sorted(counts.items()):
        print(f"  {status}: {count}")
    for mutant, status in sorted(verdicts.items()):
        if status not in {"killed", "caught by type check", "equivalent (listed)"}:
            print(f"  {status:>10}  {mutant}")
    stale = sorted(m for m, status in statuses.items() if status == "killed" and is_listed(m))
    for mutant in stale:
        print(f"  killed but listed as equivalent (remove it): {mutant}")
    return score


def main(argv: list[str] | None = None) -> int:
    """Run mutmut on one target; print the raw score and the survivors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", choices=sorted(TARGETS))
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--survivors", action="store_true", help="report the last run only")
    parser.add_argument("--show", metavar="MUTANT", help="print one mutant's diff")
    parser.add_argument(
        "--rerun-survivors",
        action="store_true",
        help="run only the last run's survivors again (after adding tests)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="GLOB",
        help="run only the mutants matching these names or globs, keeping earlier results"
        " (to cover a target in chunks)",
    )
    parser.add_argument("--max-children", type=int, default=2)
    options = parser.parse_args(argv)
    if options.list or options.target is None:
        for key, target in TARGETS.items():
            print(f"{key:14} {' + '.join(target.sources)}  <- {' '.join(target.tests)}")
            if target.note:
                print(f"{'':14} {target.note}")
        return 0
    target = TARGETS[options.target]
    work = SCRATCH / options.target
    if options.show:
        return _mutmut(work, "show", options.show).returncode
    if not options.survivors:
        names = list(target.functions) or [
            "*" + source.removeprefix("src/").removesuffix(".py").replace("/", ".") + ".*"
            for source in target.sources
        ]
        if options.only:
            names = list(options.only)
        elif options.rerun_survivors:
            names = [
                name for name, status in _results(work, target).items() if status not in DETECTED
            ]
            if not names:
                return 0 if _report(options.target, _results(work, target)) >= 90.0 else 1
        work = _prepare(options.target, target, fresh=not (options.rerun_survivors or options.only))
        if target.postgres:
            _require_postgres()
            os.environ["CI"] = "1"  # tests/conftest.py: an unreachable server fails, not skips
        env_note = f"mutmut run on {' + '.join(target.sources)} with {' '.join(target.tests)}"
        print(env_note, flush=True)
        os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        os.environ["REASONKIT_MUTATION"] = "1"  # see tests/conftest.py
        _mutmut(work, "run", "--max-children", str(options.max_children), *names)
    score = _report(options.target, _results(work, target))
    return 0 if score >= 90.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
