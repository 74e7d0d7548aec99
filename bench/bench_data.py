"""Data benchmark: cache build against a plain OpenCV loop, and streaming throughput from the cache.

    python bench/bench_data.py [--images ../shared/data/isic-archive-557] [--size 224] [--batch 64]

1. Cache build: images/s and source megapixels/s of `dermnet.data.build_cache` (1 thread and all
   cores) against a plain `cv2.imread` + bicubic `cv2.resize` loop on one core, and the ratio per
   core used. Each is timed on a cold build (a fresh cache folder); the files are read once first
   so the page cache treats every contender alike.
2. Streaming: 224 px uint8 batches/s and images/s from the cache, without and with augmentation
   (the `ray2020` preset inside the stream), after one warm-up epoch. The 557 images are listed
   18 times (10,026 rows, the size of HAM10000) so that an epoch is as long as a real one: tf.data's
   start-up at each epoch would otherwise dominate 8-batch epochs.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from dermnet import data

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic-archive-557"


def opencv_loop(paths, size):
    cv2.setNumThreads(1)
    for path in paths:
        cv2.resize(cv2.imread(path), (size, size), interpolation=cv2.INTER_CUBIC)


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def stream_rate(stream, epochs):
    """Images/s over `epochs` epochs after one warm-up epoch (tf.data start-up, page cache)."""
    count, start = 0, None
    for epoch in range(epochs + 1):
        start = start or (time.perf_counter() if epoch == 1 else None)
        if hasattr(stream, "on_epoch_begin"):  # a PyDataset: what fit() calls before each pass
            stream.on_epoch_begin()
        for images, _ in stream:
            count += len(images) if epoch else 0
    return count / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=SHARED_IMAGES)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    if not (args.images / "metadata.csv").exists():
        sys.exit(f"{args.images}: no metadata.csv (the ISIC images of ../shared are needed)")
    metadata = pd.read_csv(args.images / "metadata.csv")
    manifest = pd.DataFrame(
        {
            "image_id": metadata["image_id"],
            "label": metadata["benign_malignant"],
            "image": [f"images/{i}.jpg" for i in metadata["image_id"]],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        manifest.to_csv(Path(tmp) / "manifest.csv", index=False)
        df = data.from_csv(Path(tmp) / "manifest.csv", root=args.images)
        paths = df["image"].tolist()
        megapixels = sum(np.prod(data.images.read_header(p)[0]) for p in paths) / 1e6
        for path in paths:  # the page cache holds every file for every contender
            Path(path).read_bytes()
        cores = os.cpu_count()
        print(
            f"{len(paths)} JPEGs ({megapixels / len(paths):.2f} megapixels each on average) → "
            f"{args.size}×{args.size}, {cores} cores"
        )

        loop_seconds, _ = timed(opencv_loop, paths, args.size)
        loop_rate = len(paths) / loop_seconds
        print(f"plain OpenCV loop, 1 core: {loop_rate:7.1f} images/s {megapixels / loop_seconds:7.1f} MP/s")
        for workers in (1, cores):
            seconds, _ = timed(
                data.build_cache,
                df,
                args.size,
                cache_dir=Path(tmp) / f"cache{workers}",
                workers=workers,
                progress=False,
            )
            rate = len(paths) / seconds
            print(
                f"build_cache, {workers} thread(s): {rate:7.1f} images/s {megapixels / seconds:7.1f} MP/s "
                f"= {rate / workers / loop_rate:.0%} of the loop per core"
            )

        copies = pd.concat(
            [df.assign(image_id=df["image_id"] + f"_{k}") for k in range(18)], ignore_index=True
        )
        copies.attrs = df.attrs
        data.build_cache(copies, args.size, cache_dir=Path(tmp) / "cache", progress=False)
        for augment in (None, "ray2020"):
            stream = data.classification_dataset(
                copies, args.size, args.batch, augment=augment, cache_dir=Path(tmp) / "cache"
            )
            rate = stream_rate(stream, args.epochs)
            print(
                f"stream {type(stream).__name__}, batch {args.batch}, augment={augment}: "
                f"{rate / args.batch:7.1f} batches/s {rate:8.0f} images/s"
            )


if __name__ == "__main__":
    main()
