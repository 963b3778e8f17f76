"""Claims shared by two processes: every item goes to exactly one of them."""

from __future__ import annotations

import subprocess
import sys
import time as clock
from pathlib import Path

import pytest

from reasonkit_export.formats import _claims
from reasonkit_export.formats._claims import Claims

_RACER = """
import os, sys, time
from reasonkit_export.formats._claims import Claims
path, child, go, count = sys.argv[1], sys.argv[2] == "child", sys.argv[3], int(sys.argv[4])
claims = Claims(open(path, "r+b", buffering=0), child=child)
open(go + "-" + sys.argv[2], "w").close()  # ready
while not os.path.exists(go):  # both begin together
    time.sleep(0.0005)
taken = []
for n in range(count):
    if claims.claim(n):
        taken.append(n)
    os.sched_yield()  # as between pages: the other racer gets its turns
print(" ".join(map(str, taken)))
"""


def test_an_item_is_claimed_once(tmp_path: Path) -> None:
    path = tmp_path / "claims.bin"
    path.touch()
    mine = Claims(path.open("r+b", buffering=0), child=False)
    theirs = Claims(path.open("r+b", buffering=0), child=True)
    try:
        assert mine.claim(3) is True
        assert mine.claim(3) is False
        assert theirs.claim(3) is False
        assert theirs.claim(0) is True
        assert mine.claim(0) is False
        assert mine.claim(1) is True  # between two claimed items: still free
        assert path.read_bytes() == b"\x01\x01\x00\x01"
    finally:
        mine.close()
        theirs.close()


def test_negative_items_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "claims.bin"
    path.touch()
    claims = Claims(path.open("r+b", buffering=0), child=True)
    try:
        with pytest.raises(ValueError, match="start at 0"):
            claims.claim(-1)
    finally:
        claims.close()


def test_two_processes_racing_split_the_items_exactly(tmp_path: Path) -> None:
    """Two processes claim the same 100,000 items at once: each goes to exactly one.

    How the items fall depends on the scheduler (``flock`` is not fair: one
    racer may take them all), so only the split itself is checked.
    """
    path = tmp_path / "claims.bin"
    path.touch()
    gate = tmp_path / "go"
    count = 100_000
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(path), role, str(gate), str(count)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for role in ("child", "parent")
    ]
    deadline = clock.monotonic() + 60
    while not all((tmp_path / f"go-{role}").exists() for role in ("child", "parent")):
        assert clock.monotonic() < deadline, "the racers did not start"
        clock.sleep(0.01)
    gate.touch()
    taken = [set(map(int, racer.communicate(timeout=120)[0].split())) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    assert taken[0].isdisjoint(taken[1])
    assert taken[0] | taken[1] == set(range(count))


def test_without_flock_the_split_is_fixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where flock does not exist, the child takes the even items and the parent the odd."""
    monkeypatch.setattr(_claims, "_flock", None)
    path = tmp_path / "claims.bin"
    path.touch()
    child = Claims(path.open("r+b", buffering=0), child=True)
    parent = Claims(path.open("r+b", buffering=0), child=False)
    try:
        assert [n for n in range(6) if child.claim(n)] == [0, 2, 4]
        assert [n for n in range(6) if parent.claim(n)] == [1, 3, 5]
    finally:
        child.close()
        parent.close()
