"""Decode and resize every image once, into a memory-mapped uint8 cache on disk.

Decoding a dermoscopy JPEG costs milliseconds; a GPU trains on thousands of images per second. So
images are decoded and resized once per size (on all cores), stored as raw uint8 arrays, and every
epoch after that only copies bytes. The cache is keyed by the manifest's files and the size and
resize mode, so it is reused across runs and backends, and a file changed on disk is decoded again.

A build writes each row in place and records finished rows in a state file after flushing them, so
an interrupted build resumes where it stopped and ends with the same bytes. `meta.json` describes
the cache for a person looking into the folder.
"""

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import filelock
import numpy as np

from dermnet._io import write_json
from dermnet._progress import progress as progress_bar
from dermnet.data.errors import DataError, first_rows
from dermnet.data.images import RESIZE_MODES, read_image, read_mask, resize
from dermnet.data.manifest import check_on_error, mask_columns

CACHE_VERSION = 2  # 2: EXIF orientation no longer applied (dermnet.data.images)
_CHUNK = 256  # rows decoded between two state saves
_SAMPLED = 4096  # bytes read from each end of a file for its signature


@dataclass
class ImageCache:
    """Decoded images (and masks) of a manifest at one size, as read-only memory-mapped arrays.

    Attributes:
        images: uint8 `[N, H, W, 3]`. masks: uint8 {0, 1} `[N, H, W, C]` (C mask columns) or None.
        rows: the manifest rows, in the order of `images` (rows skipped with `on_error="skip"` removed).
        index: positions of `rows` in the memory-mapped arrays.
        skipped: 'file: problem' for every skipped row.
    """

    images: np.ndarray
    masks: np.ndarray | None
    rows: object
    index: np.ndarray
    path: Path
    skipped: list = field(default_factory=list)

    def __len__(self):
        return len(self.index)


def default_cache_dir():
    """`$DERMNET_CACHE`, else `~/.cache/dermnet`."""
    return Path(os.environ.get("DERMNET_CACHE", Path.home() / ".cache" / "dermnet"))


def build_cache(df, image_size, resize_mode="stretch", interpolation="bicubic", cache_dir=None,
                workers=None, on_error="raise", progress=True):
    """The cache of `df`'s images at `image_size`, built (or resumed) if needed.

    Args:
        df: a validated DataFrame (`dermnet.data.load_dataset`, `from_csv`, ...).
        image_size: an int (square) or `(height, width)`.
        resize_mode: `"stretch"`, `"crop"` or `"pad"` (see `dermnet.data.images.resize`).
        interpolation: `"bicubic"` (the papers'), `"bilinear"` or `"area"`. Masks are always
            resized bilinearly and thresholded at half.
        cache_dir: default `default_cache_dir()`.
        workers: decoding threads (OpenCV releases the GIL); default all cores.
        on_error: `"raise"`: after decoding everything else, one `DataError` lists every bad file
            (the rest stays cached); `"skip"`: bad rows are left out and listed in `skipped`.
    """
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"Unknown resize mode {resize_mode!r}; expected one of {RESIZE_MODES}.")
    check_on_error(on_error)
    columns = mask_columns(df)
    files = [list(row) for row in df[["image", *columns]].itertuples(index=False)]
    key = _key(files, size, resize_mode, interpolation)
    path = Path(cache_dir or default_cache_dir()) / key
    path.mkdir(parents=True, exist_ok=True)
    n = len(df)
    signatures = np.array([_signature(f) for f in files], dtype=np.int64)
    # Another process building this cache (a second run, a multi-host peer on this machine): this one
    # waits for it, then finds the images done.
    with filelock.FileLock(path / ".lock"):
        images = _memmap(path / "images.u8", (n, *size, 3))
        masks = _memmap(path / "masks.u8", (n, *size, len(columns))) if columns else None
        done = _load_state(path, signatures)
        todo = np.flatnonzero(~done)
        errors = {}
        if len(todo):

            def decode(i):
                try:
                    image = read_image(files[i][0])
                    images[i] = resize(image, size, resize_mode, interpolation)
                    for c, mask_file in enumerate(files[i][1:]):
                        mask = read_mask(mask_file)
                        if mask.shape != image.shape[:2]:
                            raise DataError(f"{mask_file}: mask of size {mask.shape[1]}×{mask.shape[0]}, "
                                            f"its image is {image.shape[1]}×{image.shape[0]}")
                        masks[i, ..., c] = resize(mask * 255, size, resize_mode, "bilinear") > 127
                except DataError as err:
                    return i, str(err)
                return i, None

            threads = cv2.getNumThreads()
            cv2.setNumThreads(1)  # parallel over images, not inside each resize
            try:
                with ThreadPoolExecutor(workers or os.cpu_count()) as pool, \
                        progress_bar(len(todo), f"caching images at {size[0]}×{size[1]}", enabled=progress) as bar:
                    for chunk_start in range(0, len(todo), _CHUNK):
                        chunk = todo[chunk_start:chunk_start + _CHUNK]
                        for i, error in pool.map(decode, chunk):
                            bar.update(1)
                            if error:
                                errors[i] = error
                        for array in (images, masks):
                            if array is not None:
                                array.flush()  # bytes on disk before the state says they are
                        done[[i for i in chunk if i not in errors]] = True
                        _save_state(path, done, signatures)
            finally:
                cv2.setNumThreads(threads)
        if errors and on_error == "raise":
            raise DataError(f"{len(errors)} of {n} images cannot be used (the others are cached; fix or "
                            f"remove these, or pass on_error='skip'): {first_rows(errors.values(), 3)}")
        write_json(path / "meta.json", {"version": CACHE_VERSION, "rows": n, "size": size,
                                         "resize": resize_mode, "interpolation": interpolation,
                                         "mask_columns": columns})
    index = np.flatnonzero(done)
    return ImageCache(_read_only(images), _read_only(masks), df.iloc[index].reset_index(drop=True), index,
                      path, [errors[i] for i in sorted(errors)])


def _read_only(array):
    """The same file mapped read-only: training cannot write into the cache."""
    return None if array is None else np.memmap(array.filename, np.uint8, "r", shape=array.shape)


def _key(files, size, resize_mode, interpolation):
    content = json.dumps([CACHE_VERSION, size, resize_mode, interpolation, [list(map(str, f)) for f in files]])
    return hashlib.sha256(content.encode()).hexdigest()[:24]


def _signature(row_files):
    """Size, modification time and the first and last `_SAMPLED` bytes of a row's files: a file
    changed on disk is decoded again, even one replaced by another of the same size and time. (A
    hash of whole files would read the data set again on every load.)"""
    digest = hashlib.blake2b(digest_size=8)
    for name in row_files:
        if not isinstance(name, str):
            continue
        try:
            with open(name, "rb") as file:
                stat = os.fstat(file.fileno())
                digest.update(repr((stat.st_size, stat.st_mtime_ns)).encode() + file.read(_SAMPLED))
                file.seek(max(stat.st_size - _SAMPLED, 0))
                digest.update(file.read(_SAMPLED))
        except OSError as err:
            raise DataError(f"{name}: cannot read the file ({err.strerror})") from None
    return int.from_bytes(digest.digest(), "little", signed=True)


def _memmap(file, shape):
    """The array in `file`, its disk space reserved first: a memory map that runs out of disk
    space kills the process (SIGBUS) with no message, a reservation that fails is a clear error."""
    size = int(np.prod(shape))
    if not (file.exists() and file.stat().st_size == size):
        with open(file, "wb") as out:
            try:
                if hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(out.fileno(), 0, size)
                else:  # macOS and Windows: a sparse file, as numpy makes it
                    out.truncate(size)
            except OSError as err:
                out.close()
                file.unlink()
                free = shutil.disk_usage(file.parent).free
                raise DataError(f"{file.parent}: no room for the image cache ({err.strerror}): it needs "
                                f"{size / 1e9:.2f} GB, {free / 1e9:.2f} GB are free; free some space, set "
                                "DERMNET_CACHE to a folder on a larger disk, or cache a smaller image size") from None
    return np.memmap(file, np.uint8, "r+", shape=shape)


def _load_state(path, signatures):
    """Which rows hold finished bytes of unchanged files."""
    try:
        state = np.load(path / "state.npz")
        if len(state["signatures"]) == len(signatures):
            return state["done"] & (state["signatures"] == signatures)
    except (OSError, ValueError, KeyError):
        pass  # no state yet, or a state from an interrupted write: start over
    return np.zeros(len(signatures), bool)


def _save_state(path, done, signatures):
    with open(path / "state.tmp.npz", "wb") as f:
        np.savez(f, done=done, signatures=signatures)
    os.replace(path / "state.tmp.npz", path / "state.npz")  # atomic: never a half-written state
