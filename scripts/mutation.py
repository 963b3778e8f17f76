"""Mutation testing of the modules that guard users, one module at a time.

Usage (from the repository root, with the ``test`` and ``mutation`` extras)::

    python scripts/mutation.py --list          # the targets and their tests
    python scripts/mutation.py tokens          # mutate one target, run only its tests
    python scripts/mutation.py tokens --survivors   # list the survivors of the last run
    python scripts/mutation.py tokens --show NAME   # the diff of one mutant
    python scripts/mutation.py tokens --rerun-survivors   # after adding tests

Each target runs mutmut in its own scratch directory ``.mutation/<target>/``
(ignored by git): ``src`` and ``tests`` are symlinks to the checkout, and the
``pyproject.toml`` there is this repository's with the ``[tool.mutmut]`` table
narrowed to the target (``only_mutate``, the target's test files and, for
modules only partly in scope, the functions to mutate). mutmut then copies the
code into ``.mutation/<target>/mutants/`` and mutates it there; the checkout
itself is never touched.

The score printed at the end is the raw score, ``killed / (killed + survived
+ no tests + timeout)``. Every survivor that remains must be listed with a
reason in ``tests/mutation-survivors.md``. Not part of CI's default run: a full
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
    #: mutmut mutant-name globs; empty means every function of ``source``.
    functions: tuple[str, ...] = ()
    #: extra pytest arguments (e.g. ``-m`` to pick the PostgreSQL cases).
    pytest_args: tuple[str, ...] = ()
    note: str = ""


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
        tests=("tests/test_sql_repositories.py",),
        functions=(
            "*.sql.xǁSqlJobRepositoryǁclaim__*",
            "*.sql.xǁSqlJobRepositoryǁ_sweep_condition__*",
        ),
        note="SqlJobRepository.claim and the sweep condition (SQLite and PostgreSQL)",
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
    table["only_mutate"] = [target.source]
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
    assert tomllib.loads(narrowed)["tool"]["mutmut"]["only_mutate"] == [target.source]
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


def _report(name: str, statuses: dict[str, str]) -> float:
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    total = sum(counts.values())
    killed = counts.get("killed", 0) + counts.get("caught by type check", 0)
    score = 100.0 * killed / total if total else 0.0
    print(f"\n{name}: {total} mutants, {killed} killed, score {score:.1f} %")
    for status, count in sorted(counts.items()):
        print(f"  {status}: {count}")
    for mutant, status in sorted(statuses.items()):
        if status not in {"killed", "caught by type check"}:
            print(f"  {status:>10}  {mutant}")
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
    parser.add_argument("--max-children", type=int, default=2)
    options = parser.parse_args(argv)
    if options.list or options.target is None:
        for key, target in TARGETS.items():
            print(f"{key:14} {target.source}  <- {' '.join(target.tests)}")
            if target.note:
                print(f"{'':14} {target.note}")
        return 0
    target = TARGETS[options.target]
    work = SCRATCH / options.target
    if options.show:
        return _mutmut(work, "show", options.show).returncode
    if not options.survivors:
        names = list(target.functions) or [
            "*" + target.source.removeprefix("src/").removesuffix(".py").replace("/", ".") + ".*"
        ]
        if options.rerun_survivors:
            names = [
                name
                for name, status in _results(work, target).items()
                if status not in {"killed", "caught by type check"}
            ]
            if not names:
                return 0 if _report(options.target, _results(work, target)) >= 90.0 else 1
        work = _prepare(options.target, target, fresh=not options.rerun_survivors)
        env_note = f"mutmut run on {target.source} with {' '.join(target.tests)}"
        print(env_note, flush=True)
        os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        os.environ["REASONKIT_MUTATION"] = "1"  # see tests/conftest.py
        _mutmut(work, "run", "--max-children", str(options.max_children), *names)
    score = _report(options.target, _results(work, target))
    return 0 if score >= 90.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
