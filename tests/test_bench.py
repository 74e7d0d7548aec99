"""The benchmark suite still runs (its quick form; no thresholds: CI machines are shared and noisy)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # over a minute: `pytest -m "not slow"` is the fast loop

SUITE = Path(__file__).resolve().parents[1] / "bench" / "suite.py"


def test_every_benchmark_runs_and_reports_its_figures(tmp_path, tensorflow_only):
    done = subprocess.run(
        [sys.executable, str(SUITE), "--quick", "--out", str(tmp_path / "RESULTS.md")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = (tmp_path / "RESULTS.md").read_text()
    for name in ("training", "sdl", "pipeline", "augmentation", "serving", "memory"):
        section = results.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        figures = re.findall(r"\| ([\d,.]+) (?:img/s|GiB peak RSS) \|", section)
        assert figures and all(float(f.replace(",", "")) > 0 for f in figures), section


def test_an_unknown_benchmark_is_named(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SUITE), "--only", "training,speed"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "unknown benchmarks ['speed']" in done.stderr


def test_the_scale_benchmark_runs_small_and_keeps_to_its_own_files(tmp_path):
    script = SUITE.parent / "bench_scale.py"
    work = tmp_path / "work"
    done = subprocess.run(
        [sys.executable, str(script), "--images", "300", "--side", "16", "--workdir", str(work)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"build : .* images/s .*VmHWM [\d.]+ GiB", done.stdout), done.stdout
    assert re.search(r"stream: .* images/s", done.stdout) and not list(work.iterdir())
    (work / "cache").mkdir()  # a user's folder of the bench's own name is not the bench's
    refused = subprocess.run(
        [sys.executable, str(script), "--images", "300", "--workdir", str(work)],
        capture_output=True,
        text=True,
    )
    assert (
        refused.returncode == 1
        and "holds other files (cache)" in refused.stderr
        and (work / "cache").is_dir()
    )
    (work / "cache").rmdir()
    (work / "mine.txt").write_text("a user's file")
    refused = subprocess.run(
        [sys.executable, str(script), "--images", "300", "--workdir", str(work)],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1 and "holds other files (mine.txt)" in refused.stderr
    assert (work / "mine.txt").read_text() == "a user's file"
