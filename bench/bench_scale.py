"""Scale benchmark: an ISIC 2024-sized data set (400,000 small JPEGs in one HDF5 file) through the cache.

    python bench/bench_scale.py [--images 400000] [--side 64] [--workdir /tmp/dermnet-scale] [--keep]

1. Generates `--images` JPEGs of 100-250 px a side (a smooth background, a darker disc, low-frequency
   noise: ~6 kB each, as ISIC 2024's crops; seeded, on all cores) into `WORKDIR/train-image.hdf5`, one
   scalar bytes dataset per `isic_id` as ISIC 2024 stores them, and `WORKDIR/train-metadata.csv`
   (`isic_id,target,patient_id`: ~0.1 % positives, ~1,000 patients).
2. In a fresh subprocess each, so that each peak is its own:
   (a) `build_cache` at `--side` (from an empty cache folder);
   (b) one epoch of batches of 64 from the finished cache, by the stream training uses
       (`classification_dataset`, shuffled, no augmentation).
   Each reports its wall time, images/s, the size of the cache on disk, peak resident memory (VmHWM)
   and, sampled every 0.1 s from /proc/self/status, the peaks of anonymous (RssAnon: the process's
   own) and file-backed (RssFile: mapped files, reclaimable page cache) resident memory; with worker
   processes, the peak of their RssAnon summed.

The manifest comes from `dermnet.data.load_dataset("isic2024", WORKDIR)`. The bench writes only its
own files into WORKDIR (a folder of other files is refused) and removes them at the end unless `--keep`.
`--pool threads|processes` forces the cache's thread or process pool (default: its own choice).
"""

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

# What the bench writes into --workdir; MARK says that it made the folder's contents.
MARK = ".dermnet-bench-scale"
OWN_FILES = {MARK, "train-image.hdf5", "train-metadata.csv", "cache"}
BLOCK = 2000  # images generated per task: the RNG of block b is seeded (seed, b), whatever the core count


def generate_block(seed, block, count):
    """[(isic_id, JPEG bytes)] of one block."""
    import cv2
    import simplejpeg

    rng = np.random.default_rng([seed, block])
    out = []
    for k in range(count):
        height, width = (int(v) for v in rng.integers(100, 251, 2))
        y, x = np.mgrid[:height, :width]
        disc = (y - height * rng.uniform(0.35, 0.65)) ** 2 + (x - width * rng.uniform(0.35, 0.65)) ** 2
        lesion = disc < (min(height, width) * rng.uniform(0.15, 0.4)) ** 2
        noise = cv2.resize(rng.normal(0, 10, (height // 8 + 1, width // 8 + 1, 3)), (width, height))
        skin = rng.integers(120, 220, 3) + noise - rng.integers(40, 100) * lesion[..., None]
        jpeg = simplejpeg.encode_jpeg(np.clip(skin, 0, 255).astype(np.uint8), int(rng.integers(80, 95)))
        out.append((f"ISIC_{block * BLOCK + k:07d}", jpeg))
    return out


def generate(workdir, n, seed=0):
    import h5py
    import pandas as pd

    workdir.mkdir(parents=True, exist_ok=True)
    blocks = [(seed, b, min(BLOCK, n - b * BLOCK)) for b in range((n + BLOCK - 1) // BLOCK)]
    start = time.perf_counter()
    # Encoding on all cores; this process writes the HDF5 file (h5py writes from one process).
    with (
        ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("spawn")) as pool,
        h5py.File(workdir / "train-image.hdf5", "w") as h5,
    ):
        for images in pool.map(generate_block, *zip(*blocks)):
            for isic_id, jpeg in images:
                h5[isic_id] = np.bytes_(jpeg)
    rng = np.random.default_rng([seed, 2**31])  # a stream no block uses
    ids = [f"ISIC_{i:07d}" for i in range(n)]
    pd.DataFrame(
        {
            "isic_id": ids,
            "target": (rng.random(n) < 0.001).astype(int),
            "patient_id": [f"IP_{p:07d}" for p in rng.integers(0, 1000, n)],
        }
    ).to_csv(workdir / "train-metadata.csv", index=False)
    size = (workdir / "train-image.hdf5").stat().st_size
    print(
        f"generated {n:,} JPEGs in {time.perf_counter() - start:.0f} s: {size / 1e9:.2f} GB "
        f"({size / n / 1e3:.1f} kB each)",
        flush=True,
    )


def manifest(workdir):
    """(DataFrame, how it was made)."""
    from dermnet import data

    return data.load_dataset("isic2024", workdir), "load_dataset('isic2024')"


class Memory:
    """Peaks of RssAnon and RssFile of this process (and RssAnon of its children), sampled."""

    def __init__(self, every=0.1):
        self.peaks = {"RssAnon": 0, "RssFile": 0, "children RssAnon": 0}
        self.every, self.stopped = every, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stopped.set()
        self.thread.join()
        self.sample()
        self.peaks["VmHWM"] = status(os.getpid())["VmHWM"]

    def run(self):
        while not self.stopped.wait(self.every):
            self.sample()

    def sample(self):
        own = status(os.getpid())
        children = [status(pid).get("RssAnon", 0) for pid in children_of(os.getpid())]
        for name, value in (
            ("RssAnon", own["RssAnon"]),
            ("RssFile", own["RssFile"]),
            ("children RssAnon", sum(children)),
        ):
            self.peaks[name] = max(self.peaks[name], value)


def status(pid):
    """The kB fields of /proc/PID/status ({} for a process that has just ended)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {
        key: int(value.split()[0])
        for key, value in (line.split(":", 1) for line in lines)
        if value.strip().endswith("kB")
    }


def children_of(pid):
    pids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            pids += (task / "children").read_text().split()
        except OSError:
            pass
    return pids


def stage(args):
    """One measurement in this (fresh) process: prints one JSON line."""
    from dermnet.data import cache as cache_module

    if args.pool != "auto":
        cache_module._PROCESSES_FROM = 1 if args.pool == "processes" else 2**62
    result = {}
    with Memory() as memory:
        start = time.perf_counter()
        df, how = manifest(args.workdir)
        result.update(manifest=how, manifest_s=time.perf_counter() - start, rows=len(df))
        cache_dir = args.workdir / "cache"
        if args.stage == "build":
            start = time.perf_counter()
            cache = cache_module.build_cache(df, args.side, cache_dir=cache_dir, progress=False)
            result["seconds"] = time.perf_counter() - start
            result["pool"] = "processes" if len(df) >= cache_module._PROCESSES_FROM else "threads"
        else:
            from dermnet.data import classification_dataset

            start = time.perf_counter()
            stream = classification_dataset(df, args.side, 64, cache_dir=cache_dir)
            result["open_s"] = time.perf_counter() - start
            start, images = time.perf_counter(), 0
            for x, _ in stream:
                images += len(x)
            result["seconds"] = time.perf_counter() - start
            result["images"] = images
            cache = cache_module.build_cache(df, args.side, cache_dir=cache_dir, progress=False)
    result.update({key: value / 2**20 for key, value in memory.peaks.items()})  # kB -> GiB
    result["cache_GB"] = sum(f.stat().st_blocks * 512 for f in cache.path.iterdir()) / 1e9
    print("RESULT " + json.dumps(result), flush=True)


def run_stage(args, name):
    command = [
        sys.executable,
        __file__,
        "--stage",
        name,
        "--workdir",
        str(args.workdir),
        "--side",
        str(args.side),
        "--pool",
        args.pool,
    ]
    out = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        sys.exit(f"stage {name} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400_000)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dermnet-scale"))
    parser.add_argument("--pool", choices=("auto", "threads", "processes"), default="auto")
    parser.add_argument("--keep", action="store_true", help="keep the generated data (default: deleted)")
    parser.add_argument("--stage", choices=("build", "stream"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.workdir = args.workdir.resolve()
    if args.stage:
        return stage(args)
    present = sorted(p.name for p in args.workdir.glob("*")) if args.workdir.exists() else []
    others = [name for name in present if name not in OWN_FILES or MARK not in present]
    if others:  # never remove or overwrite what the bench did not write
        sys.exit(
            f"{args.workdir} holds other files ({', '.join(others[:5])}): give an empty or new --workdir"
        )
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / MARK).touch()
    metadata = args.workdir / "train-metadata.csv"
    if not (metadata.exists() and sum(1 for _ in open(metadata)) == args.images + 1):
        generate(args.workdir, args.images)
    shutil.rmtree(args.workdir / "cache", ignore_errors=True)
    print(f"{args.images:,} images → {args.side}×{args.side}, {os.cpu_count()} cores", flush=True)
    for name in ("build", "stream"):
        r = run_stage(args, name)
        detail = f"pool {r['pool']}" if name == "build" else f"opening the built cache {r['open_s']:.1f} s"
        rate = r.get("images", r["rows"]) / r["seconds"]
        print(
            f"{name:6}: {r['seconds']:7.1f} s {rate:8.0f} images/s ({detail}; manifest "
            f"{r['manifest_s']:.1f} s, {r['manifest']}); cache {r['cache_GB']:.2f} GB; VmHWM "
            f"{r['VmHWM']:.2f} GiB, peak RssAnon {r['RssAnon']:.2f} GiB, peak RssFile {r['RssFile']:.2f} "
            f"GiB, workers' RssAnon {r['children RssAnon']:.2f} GiB",
            flush=True,
        )
    if not args.keep:
        shutil.rmtree(args.workdir / "cache")
        for name in OWN_FILES - {"cache", MARK}:
            (args.workdir / name).unlink(missing_ok=True)
        (args.workdir / MARK).unlink()  # last: an interrupted clean-up can be run again


if __name__ == "__main__":
    main()
