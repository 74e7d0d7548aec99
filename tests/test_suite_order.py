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
