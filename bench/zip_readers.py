"""Members over 4 GiB through every ZIP reader: ``python -m bench.zip_readers``.

Writes two archives with :class:`~reasonkit_export.formats._zipstream.ZipStream`
(a 4 GiB + 5 MiB member, deflated or stored, then a small member whose offset
is past 4 GiB), reads each with Python ``zipfile``, ``bsdtar`` from a pipe,
Java ``ZipInputStream`` and Node's ``unzipper`` (``tests/interop/readers.py``),
checks every member's size and SHA-256, and prints the seconds each step took.
JSZip is left out: it holds the whole archive in memory. Needs about 9 GiB of
free disk space in the temporary folder (the stored archive and its buffer)
and several minutes; the test suite runs the same readers on small archives.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.interop.readers import compile_java, large_archive, reader_named

READERS = ["zipfile", "bsdtar-pipe", "java-ZipInputStream", "unzipper"]


def main() -> int:
    """Run the matrix and print one line per step; exit status 1 if a reader failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the archives")
    args = parser.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        classes = compile_java(Path(folder))
        for kind in ("deflated", "stored"):
            path = Path(folder) / f"{kind}.zip"
            start = time.perf_counter()
            wanted = large_archive(path, compress=kind == "deflated")
            size = path.stat().st_size
            print(f"{kind}: wrote {size / 2**30:.2f} GiB in {time.perf_counter() - start:.1f} s")
            for name in READERS:
                start = time.perf_counter()
                try:
                    ok = reader_named(name, classes)(path) == wanted
                    outcome = "ok" if ok else "WRONG CONTENT"
                except BaseException as exc:  # noqa: BLE001 - report every reader, then fail
                    ok, outcome = False, f"FAILED: {str(exc).splitlines()[0][:200]}"
                failures += not ok
                print(f"{kind}: {name}: {outcome} in {time.perf_counter() - start:.1f} s")
            path.unlink()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
