"""Decode and resize every image once, into a memory-mapped uint8 cache on disk.

Decoding a dermoscopy JPEG costs milliseconds; a GPU trains on thousands of images per second. So
images are decoded and resized once per size (on all cores), stored as raw uint8 arrays, and every
epoch after that only copies bytes. The cache is keyed by the manifest's files and the size and
resize mode, so it is reused across runs and backends, and a file changed on disk is decoded again.

A build writes each row in place and records finished rows in a state file after flushing them, so
an interrupted build resumes where it stopped and ends with the same bytes. `meta.json` describes
the cache for a person looking into the folder.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import filelock
import numpy as np

from dermnet._io import write_json
from dermnet._progress import progress as progress_bar
from dermnet.data.errors import DataError, first_rows
from dermnet.data.images import RESIZE_MODES, hdf5_parts, read_image, read_mask, resize
from dermnet.data.manifest import check_on_error, mask_columns

if TYPE_CHECKING:
    import pandas as pd

CACHE_VERSION = 2  # 2: EXIF orientation no longer applied (dermnet.data.images)
_CHUNK = 256  # rows decoded between two state saves
_BLOCK = 1 << 20  # bytes read at a time to sign a file
_PROCESSES_FROM = 50_000  # images in HDF5 files to decode from which worker processes pay (_pool)


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
    rows: pd.DataFrame
    index: np.ndarray
    path: Path
    skipped: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.index)


def default_cache_dir() -> Path:
    """`$DERMNET_CACHE`, else `~/.cache/dermnet`."""
    return Path(os.environ.get("DERMNET_CACHE", Path.home() / ".cache" / "dermnet"))


# The lines libpng and OpenCV print for a file they cannot decode.
_DECODER_LINES = ("libpng warning:", "libpng error:", "[ WARN:", "[ERROR:")


@contextmanager
def _decoders_quiet() -> Iterator[None]:
    """libpng and OpenCV print a line or two to the process's stderr for each file they cannot decode,
    below Python (no logging setting reaches libpng's): over a bad copy of a data set, thousands, which
    say less than the DataError that names every bad file. No library holds them back, so while images
    decode, file descriptor 2 goes to a temporary file, and then its other lines come back. Python's own
    writes (the progress bar, warnings) still reach the terminal as they happen: where `sys.stderr` is
    descriptor 2 it is pointed at a copy of the real one meanwhile (a notebook's is not: it never goes
    through descriptor 2)."""
    sys.stderr.flush()
    python_stderr = sys.stderr
    try:
        on_descriptor_2 = python_stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a notebook's or a test's capture: no descriptor
        on_descriptor_2 = False
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        if on_descriptor_2:
            sys.stderr = open(  # closed below, when the original comes back
                os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding, errors="backslashreplace"
            )
        try:
            yield
        finally:
            if on_descriptor_2:
                sys.stderr.close()
                sys.stderr = python_stderr
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            for line in held.read().decode(errors="replace").splitlines():
                if not line.startswith(_DECODER_LINES):
                    print(line, file=sys.stderr)


@contextmanager
def _naming_the_cache(folder: Path) -> Iterator[None]:
    """An OSError of the cache's own files (a read-only folder, a full disk: the system's message names
    no file for the latter) says which folder and the way out."""
    try:
        yield
    except OSError as err:
        raise OSError(
            err.errno,
            f"the image cache in {folder} cannot be written ({err.strerror or err}): free space there, "
            "or point the DERMNET_CACHE environment variable (cache_dir=) at another folder",
        ) from err


def build_cache(
    df: pd.DataFrame,
    image_size: int | tuple[int, ...],
    resize_mode: str = "stretch",
    interpolation: str = "bicubic",
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    on_error: str = "raise",
    progress: bool = True,
) -> ImageCache:
    """The cache of `df`'s images at `image_size`, built (or resumed) if needed.

    Args:
        df: a validated DataFrame (`dermnet.data.load_dataset`, `from_csv`, ...).
        image_size: an int (square) or `(height, width)`.
        resize_mode: `"stretch"`, `"crop"` or `"pad"` (see `dermnet.data.images.resize`).
        interpolation: `"bicubic"` (the papers'), `"bilinear"` or `"area"`. Masks are always
            resized bilinearly and thresholded at half.
        cache_dir: default `default_cache_dir()`.
        workers: signing and decoding threads (OpenCV releases the GIL), or decoding processes for
            50,000 images or more inside HDF5 files (see `_pool`: a script that builds such a cache needs
            Python's `if __name__ == "__main__":` guard, as any that starts processes); default all cores.
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
    with _naming_the_cache(path.parent):
        path.mkdir(parents=True, exist_ok=True)
    n = len(df)
    workers = workers or os.cpu_count() or 1  # None where the count is unknown
    signatures = _signatures(files, workers)
    images_file, masks_file = path / "images.u8", path / "masks.u8"
    # Another process building this cache (a second run, a multi-host peer on this machine): this one
    # waits for it, then finds the images done.
    with _naming_the_cache(path.parent), filelock.FileLock(path / ".lock"):
        _reserve(images_file, (n, *size, 3))
        if columns:
            _reserve(masks_file, (n, *size, len(columns)))
        done = _load_state(path, signatures)
        todo = np.flatnonzero(~done)
        errors = {}
        if len(todo):
            decode = partial(_decode, size=size, resize_mode=resize_mode, interpolation=interpolation)
            # A state save writes 9 bytes per row of the cache: at 400,000 rows, saving every 256 rows
            # would write 5.6 GB of state. About 100 saves per build instead (at least every _CHUNK rows).
            chunk_size = max(_CHUNK, len(todo) // 100)
            threads = cv2.getNumThreads()
            cv2.setNumThreads(1)  # parallel over images, not inside each resize
            # Rows are written with plain positioned writes, not through a writable memory map: the
            # written pages are the kernel's page cache, not this process's memory, whereas every page
            # touched through a map counts in its resident memory until the whole cache is resident.
            # Only this thread writes, so seek + write need no lock.
            try:
                with (
                    _decoders_quiet(),
                    _pool(workers, files, todo) as pool,
                    open(images_file, "r+b") as image_out,
                    open(masks_file, "r+b") if columns else nullcontext() as mask_out,
                    progress_bar(
                        len(todo), f"caching images at {size[0]}×{size[1]}", enabled=progress
                    ) as bar,
                ):
                    for chunk_start in range(0, len(todo), chunk_size):
                        chunk = todo[chunk_start : chunk_start + chunk_size]
                        # Rows in chunks: fewer trips.
                        rows = pool.map(
                            decode, [files[i] for i in chunk], chunksize=max(1, len(chunk) // (8 * workers))
                        )
                        for i, (image, masks, error) in zip(chunk, rows):
                            bar.update(1)
                            if error:
                                errors[i] = error
                                continue
                            _write_row(image_out, i, image)
                            if columns:
                                _write_row(mask_out, i, masks)
                        for out in (image_out, mask_out):
                            if out is not None:
                                out.flush()
                                os.fsync(out.fileno())  # bytes on disk before the state says they are
                        done[[i for i in chunk if i not in errors]] = True
                        _save_state(path, done, signatures)
            finally:
                cv2.setNumThreads(threads)
        if errors and on_error == "raise":
            raise DataError(
                f"{len(errors)} of {n} images cannot be used (the others are cached; fix or "
                f"remove these, or pass on_error='skip'): {first_rows(errors.values(), 3)}"
            )
        write_json(
            path / "meta.json",
            {
                "version": CACHE_VERSION,
                "rows": n,
                "size": size,
                "resize": resize_mode,
                "interpolation": interpolation,
                "mask_columns": columns,
            },
        )
    index = np.flatnonzero(done)
    # Mapped read-only: training cannot write into the cache.
    images = np.memmap(images_file, np.uint8, "r", shape=(n, *size, 3))
    masks = np.memmap(masks_file, np.uint8, "r", shape=(n, *size, len(columns))) if columns else None
    return ImageCache(
        images, masks, df.iloc[index].reset_index(drop=True), index, path, [errors[i] for i in sorted(errors)]
    )


def _decode(
    row_files: list[str], size: tuple[int, ...], resize_mode: str, interpolation: str
) -> tuple[Any, Any, str | None]:
    """(image, masks `[H, W, C]` or None, None) of a manifest row at `size`; (None, None, 'file: problem')."""
    try:
        image = read_image(row_files[0])
        masks: Any = []  # the resized masks, then stacked
        for mask_file in row_files[1:]:
            mask = read_mask(mask_file)
            if mask.shape != image.shape[:2]:
                raise DataError(
                    f"{mask_file}: mask of size {mask.shape[1]}×{mask.shape[0]}, "
                    f"its image is {image.shape[1]}×{image.shape[0]}"
                )
            masks.append(resize(mask * 255, size, resize_mode, "bilinear") > 127)
    except DataError as err:
        return None, None, str(err)
    masks = np.stack(masks, axis=-1).astype(np.uint8) if masks else None
    return resize(image, size, resize_mode, interpolation), masks, None


def _pool(workers: Any, files: list[list[str]], todo: np.ndarray) -> Executor:
    """Threads (OpenCV and simplejpeg release the GIL while decoding), or processes for many
    images inside HDF5 files: h5py holds the GIL and its own lock while it reads (~150 µs of a
    ~450 µs decode of a 150 px JPEG), so threads barely scale there. Measured on 20,000 such JPEGs
    (~6 kB, 100-250 px) in one HDF5 file, resized to 64 px, on 2 cores: 1 thread 9.6 s, 2 threads
    8.1-8.4 s, 2 processes 4.7 s once started; starting them costs ~5 s (a worker imports
    dermnet.data, and so Keras and TensorFlow, ~340 MB of its own memory), so processes pay from
    about 26,000 images on: `_PROCESSES_FROM`. Spawned, not forked: TensorFlow may be loaded here,
    and a forked copy of it (or of an open HDF5 file) is unsafe."""
    members = sum(hdf5_parts(files[i][0]) is not None for i in todo[:_PROCESSES_FROM])
    if workers > 1 and members >= _PROCESSES_FROM:
        return ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=cv2.setNumThreads,
            initargs=(1,),
        )
    return ThreadPoolExecutor(workers)


def _write_row(file: Any, i: int, row: Any) -> None:
    file.seek(i * row.nbytes)
    file.write(np.ascontiguousarray(row))


def _key(files: list[list[str]], size: tuple[int, ...], resize_mode: str, interpolation: str) -> str:
    content = json.dumps(
        [CACHE_VERSION, size, resize_mode, interpolation, [list(map(str, f)) for f in files]]
    )
    return hashlib.sha256(content.encode()).hexdigest()[:24]


def _signatures(files: list[list[str]], workers: int | None) -> np.ndarray:
    """One int64 per manifest row: a hash of the whole content of the row's files, so a file changed
    on disk is decoded again, whatever its size and modification time say (a BMP edited in the
    middle, an archive extracted again with its recorded times), and a file only touched is not.

    Signing reads the data set at each load: 10,000 JPEGs of 190 kB (1.9 GB) take about 3 s from the
    page cache on a 2-core machine, against 0.2 s for size, time and 8 KiB per file, and ~30 s to
    decode them (bench/bench_signature.py). Files are signed on `workers` threads (hashlib and file
    reads release the GIL).

    An image inside an HDF5 file is signed by its key and its HDF5 file's signature, computed once:
    any change to the HDF5 file decodes all of its images again; such a file is replaced whole when
    its data set changes, not edited image by image."""
    rows = [[(name, hdf5_parts(name)) for name in row if isinstance(name, str)] for row in files]
    to_sign = list(dict.fromkeys(member[0] if member else name for row in rows for name, member in row))
    with ThreadPoolExecutor(workers) as pool:
        signed = dict(zip(to_sign, pool.map(_file_signature, to_sign)))
    signatures = np.empty(len(rows), np.int64)
    for i, row in enumerate(rows):
        digest = hashlib.blake2b(digest_size=8)
        for name, member in row:
            digest.update(signed[member[0]] + b"::" + member[1].encode() if member else signed[name])
        signatures[i] = int.from_bytes(digest.digest(), "little", signed=True)
    return signatures


def _file_signature(name: str) -> bytes:
    """The blake2b digest of a file's content."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(name, "rb") as file:
            while block := file.read(_BLOCK):
                digest.update(block)
    except OSError as err:
        raise DataError(f"{name}: cannot read the file ({err.strerror})") from None
    return digest.digest()


def _reserve(file: Path, shape: tuple[int, ...]) -> None:
    """A file for a uint8 array of `shape`, its disk space reserved first: a write that runs out of
    disk space half-way through a build (or a memory map of a sparse file, which dies by SIGBUS with
    no message) is worse than a reservation that fails with a clear error."""
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
                raise DataError(
                    f"{file.parent}: no room for the image cache ({err.strerror}): it needs "
                    f"{size / 1e9:.2f} GB, {free / 1e9:.2f} GB are free; free some space, set "
                    "DERMNET_CACHE to a folder on a larger disk, or cache a smaller image size"
                ) from None


def _load_state(path: Path, signatures: np.ndarray) -> np.ndarray:
    """Which rows hold finished bytes of unchanged files."""
    try:
        state = np.load(path / "state.npz")
        if len(state["signatures"]) == len(signatures):
            return state["done"] & (state["signatures"] == signatures)
    except (OSError, ValueError, KeyError):
        pass  # no state yet, or a state from an interrupted write: start over
    return np.zeros(len(signatures), bool)


def _save_state(path: Path, done: np.ndarray, signatures: np.ndarray) -> None:
    with open(path / "state.tmp.npz", "wb") as f:
        np.savez(f, done=done, signatures=signatures)
    os.replace(path / "state.tmp.npz", path / "state.npz")  # atomic: never a half-written state
