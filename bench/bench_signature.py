"""What signing whole files costs the image cache: 10,000 JPEGs of 100–300 kB, before and after.

    python bench/bench_signature.py [--files 10000] [--out bench/RESULTS.md]

The cache signs each manifest file at every load, to decode again a file changed on disk. Before,
it read a file's size, modification time and first and last 4 KiB (one thread); now it hashes the
whole file with blake2b on all cores (`dermnet.data.cache._signatures`). Both are timed on the same
files, from the page cache (they were just written: a cold disk adds the time to read them once),
taking turns for 3 rounds (medians). sha256 is timed too: where the CPU has SHA instructions it is
faster than blake2b, elsewhere about half as fast.

The files are 40 distinct random JPEGs written 10,000 times, each copy with its own bytes appended
after the end-of-image marker (decoders ignore them), so every file is different on disk.
"""

import argparse
import datetime
import hashlib
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from dermnet.data import cache


def jpegs(folder, count, seed=0):
    """`count` JPEG files of 100–300 kB in `folder`; their paths."""
    rng = np.random.default_rng(seed)
    sources = []
    for _ in range(40):
        side = int(rng.integers(420, 760))
        noise = cv2.GaussianBlur(rng.integers(0, 256, (side, side, 3), dtype=np.uint8), (3, 3), 0)
        sources.append(cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    paths = []
    for i in range(count):
        path = folder / f"IMG_{i:05d}.jpg"
        path.write_bytes(sources[i % len(sources)] + i.to_bytes(8, "little"))
        paths.append(str(path))
    return paths


def sampled(name, sampled_bytes=4096):
    """The signature before: size, modification time, the first and last 4 KiB."""
    with open(name, "rb") as file:
        stat = os.fstat(file.fileno())
        head = file.read(sampled_bytes)
        file.seek(max(stat.st_size - sampled_bytes, 0))
        return repr((stat.st_size, stat.st_mtime_ns)).encode() + head + file.read(sampled_bytes)


def sha256(name):
    digest = hashlib.sha256()
    with open(name, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.digest()


def cpu():
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def on_threads(function, paths, workers):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, paths))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args(argv)
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        paths = jpegs(Path(tmp), args.files)
        rows = [[path] for path in paths]
        total = sum(os.path.getsize(p) for p in paths)
        contenders = {
            "before: size, mtime, first and last 4 KiB (1 thread)": lambda: [sampled(p) for p in paths],
            "whole file, blake2b, 1 thread": lambda: cache._signatures(rows, 1),
            f"whole file, blake2b, {cores} threads (dermnet now)": lambda: cache._signatures(rows, cores),
            f"whole file, sha256, {cores} threads": lambda: on_threads(sha256, paths, cores),
        }
        seconds = {name: [] for name in contenders}
        for _ in range(3):
            for name, function in contenders.items():
                start = time.perf_counter()
                function()
                seconds[name].append(time.perf_counter() - start)
    lines = [
        "",
        "## Cache signatures (bench/bench_signature.py)",
        "",
        f"`python bench/bench_signature.py --files {args.files}` on {datetime.date.today()}, "
        f"{cpu()}, {cores} cores, Python {platform.python_version()}: "
        f"{args.files:,} JPEGs, {total / args.files / 1e3:.0f} kB on average ({total / 1e9:.2f} GB), "
        "from the page cache; medians of 3 rounds.",
        "",
        "| signature | seconds | files/s | MB/s read |",
        "| --- | --- | --- | --- |",
    ]
    for name, s in seconds.items():
        median = float(np.median(s))
        read = total if "whole" in name else args.files * 8192
        lines.append(f"| {name} | {median:.3f} | {args.files / median:,.0f} | {read / median / 1e6:,.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "a") as results:
        results.write(text)


if __name__ == "__main__":
    main()
