"""The suite's own order: the tests `conftest.LONGEST_FIRST` starts first still exist under those names."""

import subprocess
import sys
from pathlib import Path

from conftest import LONGEST_FIRST

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_listed_longest_first_is_collected():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            *LONGEST_FIRST,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    collected = {line for line in done.stdout.splitlines() if "::" in line}
    assert done.returncode == 0 and collected == set(LONGEST_FIRST), done.stdout[-3000:] + done.stderr[-2000:]


def test_the_longest_tests_are_dealt_to_the_head_of_each_workers_share():
    from types import SimpleNamespace

    from conftest import dealt_longest_first

    items = [SimpleNamespace(nodeid=f"tests/test_x.py::test_{i}") for i in range(10)]
    items[7].nodeid, items[2].nodeid, items[9].nodeid = LONGEST_FIRST[:3]
    ordered = [item.nodeid for item in dealt_longest_first(items, workers=2)]
    assert sorted(ordered) == sorted(item.nodeid for item in items)  # each test once
    first, second = ordered[:5], ordered[5:]  # worksteal's shares: 10 // 2, then the rest
    assert first[:2] == [LONGEST_FIRST[0], LONGEST_FIRST[2]] and second[0] == LONGEST_FIRST[1]
    assert [n for n in ordered if "test_x" in n] == [
        f"tests/test_x.py::test_{i}" for i in (0, 1, 3, 4, 5, 6, 8)
    ]
    alone = [item.nodeid for item in dealt_longest_first(items, workers=1)]
    assert alone[:3] == list(LONGEST_FIRST[:3])
