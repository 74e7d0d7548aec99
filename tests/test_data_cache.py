"""The decode-once cache: right bytes, reuse, resume after an interruption, bad files."""

import os

import numpy as np
import pandas as pd
import pytest
from harness import write_dataset
from PIL import Image

from dermnet import data
from dermnet.data import DataError
from dermnet.data import cache as cache_module
from dermnet.data.images import hdf5_member, read_image, resize

pytestmark = pytest.mark.portable


@pytest.fixture
def dataset(tmp_path):
    return data.from_csv(write_dataset(tmp_path / "data", n=20, masks=True))


def test_cache_holds_the_resized_images_and_masks(dataset, tmp_path):
    cache = data.build_cache(dataset, (24, 32), cache_dir=tmp_path / "cache", progress=False)
    assert cache.images.shape == (20, 24, 32, 3) and cache.images.dtype == np.uint8
    for i in (0, 7):
        np.testing.assert_array_equal(cache.images[i], resize(read_image(dataset["image"][i]), (24, 32)))
    assert cache.masks.shape == (20, 24, 32, 1) and set(np.unique(cache.masks)) == {0, 1}
    assert cache.masks[:, 12, 16, 0].all() and not cache.masks[:, 0, 0, 0].any()  # the centred square
    with pytest.raises(ValueError):  # read-only: training cannot corrupt the cache
        cache.images[0, 0, 0, 0] = 1


def test_cache_is_reused_and_rebuilt_for_a_changed_file(dataset, tmp_path, monkeypatch):
    first = data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)
    decoded = []
    monkeypatch.setattr(cache_module, "read_image", lambda p: decoded.append(p) or read_image(p))
    again = data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)
    assert decoded == [] and again.path == first.path
    os.utime(dataset["image"][3], ns=(1, 1))  # touched, not changed (an archive extracted again)
    data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)
    assert decoded == []
    replaced = dataset["image"][5]  # replaced by another image of the same size and modification time
    for pixels in (0, 255):
        Image.fromarray(np.full((36, 48, 3), pixels, np.uint8)).save(replaced, compress_level=0)
        if pixels == 0:
            data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)
            before = os.stat(replaced)
    os.utime(replaced, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(replaced).st_size == before.st_size
    decoded.clear()
    cache = data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)
    assert decoded == [replaced] and cache.images[5].min() == 255
    other_size = data.build_cache(dataset, 8, cache_dir=tmp_path / "cache", progress=False)
    assert other_size.path != first.path


def test_a_file_edited_in_the_middle_keeping_its_size_and_time_is_decoded_again(tmp_path, monkeypatch):
    """PH2 is BMP: an uncompressed file whose pixels change far from both ends, archives re-extracted
    with their recorded times."""
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for i in range(2):
        pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "images" / f"IMG_{i}.bmp")
    pd.DataFrame(
        {
            "image_id": ["IMG_0", "IMG_1"],
            "label": ["a", "b"],
            "image": ["images/IMG_0.bmp", "images/IMG_1.bmp"],
        }
    ).to_csv(tmp_path / "m.csv", index=False)
    dataset = data.from_csv(tmp_path / "m.csv")
    first = np.array(data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False).images[1])
    edited, before = dataset["image"][1], os.stat(dataset["image"][1])
    with open(edited, "r+b") as file:  # 2,000 bytes of pixels, over 4 KiB from either end of 12 kB
        file.seek(5000)
        file.write(b"\xff" * 2000)
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(edited).st_size == before.st_size and os.stat(edited).st_mtime_ns == before.st_mtime_ns
    decoded = []
    monkeypatch.setattr(cache_module, "read_image", lambda p: decoded.append(p) or read_image(p))
    cache = data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)
    assert decoded == [edited]
    np.testing.assert_array_equal(cache.images[1], resize(read_image(edited), (16, 16)))
    assert (cache.images[1] != first).any()


class Interruption(BaseException):
    """Stands in for Ctrl-C or a killed job (pytest handles a real KeyboardInterrupt itself)."""


def test_interrupted_build_resumes_and_ends_with_the_same_bytes(dataset, tmp_path, monkeypatch):
    reference = data.build_cache(dataset, 16, cache_dir=tmp_path / "reference", progress=False)
    monkeypatch.setattr(cache_module, "_CHUNK", 4)
    calls, interrupt_at = [], [10]

    def interrupted(path):
        calls.append(path)
        if len(calls) == interrupt_at[0]:
            raise Interruption
        return read_image(path)

    monkeypatch.setattr(cache_module, "read_image", interrupted)
    with pytest.raises(Interruption):
        data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", workers=1, progress=False)
    calls.clear()
    interrupt_at[0] = None
    resumed = data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert len(calls) == 20 - 8  # two chunks of 4 were finished before the interruption
    assert (resumed.path / "images.u8").read_bytes() == (reference.path / "images.u8").read_bytes()
    assert (resumed.path / "masks.u8").read_bytes() == (reference.path / "masks.u8").read_bytes()


def test_bad_files_are_all_listed_or_skipped(dataset, tmp_path):
    (tmp_path / "data" / "images" / "IMG_0005.png").write_bytes(b"not a png")
    truncated = tmp_path / "data" / "images" / "IMG_0011.png"
    truncated.write_bytes(truncated.read_bytes()[:-30])
    with pytest.raises(
        DataError,
        match=r"2 of 20 images cannot be used.*IMG_0005.png: not an image.*IMG_0011.png: this PNG image cannot be decoded",
    ):
        data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)
    cache = data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", on_error="skip", progress=False)
    assert len(cache) == 18 and len(cache.rows) == 18
    assert "IMG_0005" not in set(cache.rows["image_id"]) and len(cache.skipped) == 2
    np.testing.assert_array_equal(
        cache.images[cache.index[5]], resize(read_image(cache.rows["image"][5]), (16, 16))
    )


def test_a_full_disk_is_a_clear_error_not_a_crash(dataset, tmp_path, monkeypatch):
    import errno

    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache_module.os, "posix_fallocate", no_space, raising=False)
    with pytest.raises(
        DataError, match=r"cache.*: no room for the image cache .*it needs 0.02 GB.*DERMNET_CACHE"
    ):
        data.build_cache(dataset, 512, cache_dir=tmp_path / "cache", progress=False)
    assert not list((tmp_path / "cache").rglob("*.u8"))  # no half-made file left behind


def jpegs_in_hdf5(folder, n=12, storage="bytes", seed=0):
    """The same n JPEGs as files and inside one HDF5 file (ISIC 2024's layout): two validated manifests."""
    import h5py

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f"ISIC_{i:07d}" for i in range(n)]
    with h5py.File(folder / "train-image.hdf5", "w") as h5:
        for i in ids:
            Image.fromarray(rng.integers(0, 256, (rng.integers(20, 40), 30, 3), dtype=np.uint8)).save(
                folder / f"{i}.jpg", quality=90
            )
            jpeg = (folder / f"{i}.jpg").read_bytes()
            h5[i] = np.bytes_(jpeg) if storage == "bytes" else np.frombuffer(jpeg, np.uint8)
    labels = ["malignant" if k % 4 == 0 else "benign" for k in range(n)]

    def manifest(images):
        return data.validate(
            pd.DataFrame({"image_id": ids, "image": images, "label": labels}), classes=("benign", "malignant")
        )

    return (
        manifest([str(folder / f"{i}.jpg") for i in ids]),
        manifest([hdf5_member(folder / "train-image.hdf5", i) for i in ids]),
    )


@pytest.mark.parametrize("storage", ["bytes", "uint8"])
def test_cache_of_images_inside_an_hdf5_file_holds_the_same_bytes_as_of_files(tmp_path, storage):
    files, members = jpegs_in_hdf5(tmp_path / "data", storage=storage)
    from_files = data.build_cache(files, (16, 24), cache_dir=tmp_path / "cache", progress=False)
    from_members = data.build_cache(members, (16, 24), cache_dir=tmp_path / "cache", progress=False)
    assert from_members.path != from_files.path
    assert (from_members.path / "images.u8").read_bytes() == (from_files.path / "images.u8").read_bytes()


def test_worker_processes_build_the_same_cache(tmp_path, monkeypatch):
    """Processes decode many HDF5 members (h5py holds the GIL); here from 1 member on."""
    _, members = jpegs_in_hdf5(tmp_path / "data")
    threads = data.build_cache(members, 16, cache_dir=tmp_path / "threads", workers=2, progress=False)
    monkeypatch.setattr(cache_module, "_PROCESSES_FROM", 1)
    monkeypatch.setattr(cache_module, "_CHUNK", 5)  # several chunks, a state save after each
    processes = data.build_cache(members, 16, cache_dir=tmp_path / "processes", workers=2, progress=False)
    assert (processes.path / "images.u8").read_bytes() == (threads.path / "images.u8").read_bytes()
    assert np.load(processes.path / "state.npz")["done"].all()


def test_an_hdf5_file_is_signed_once_per_build_and_a_change_decodes_its_images_again(tmp_path, monkeypatch):
    _, members = jpegs_in_hdf5(tmp_path / "data")
    signed = []
    sign = cache_module._file_signature
    monkeypatch.setattr(cache_module, "_file_signature", lambda name: signed.append(name) or sign(name))
    first = data.build_cache(members, 16, cache_dir=tmp_path / "cache", progress=False)
    assert signed == [str(tmp_path / "data" / "train-image.hdf5")]  # once, not once per image
    decoded = []
    monkeypatch.setattr(cache_module, "read_image", lambda p: decoded.append(p) or read_image(p))
    data.build_cache(members, 16, cache_dir=tmp_path / "cache", progress=False)
    assert decoded == []
    signature, before = cache_module._signatures([[members["image"][3]]], 2)[0], np.array(first.images[3])
    # The data set's HDF5 file replaced by a new one: other pixels under the same keys.
    jpegs_in_hdf5(tmp_path / "new", seed=1)
    os.replace(tmp_path / "new" / "train-image.hdf5", tmp_path / "data" / "train-image.hdf5")
    assert cache_module._signatures([[members["image"][3]]], 2)[0] != signature
    again = data.build_cache(members, 16, cache_dir=tmp_path / "cache", progress=False)
    assert again.path == first.path and sorted(decoded) == sorted(members["image"])
    new_pixels = resize(read_image(tmp_path / "new" / "ISIC_0000003.jpg"), (16, 16))
    np.testing.assert_array_equal(again.images[3], new_pixels)
    assert (again.images[3] != before).any()


def test_a_cache_folder_that_cannot_be_written_is_named_with_the_way_out(dataset, tmp_path, monkeypatch):
    import errno

    def refused(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(cache_module.Path, "mkdir", refused)
    with pytest.raises(
        OSError, match=r"image cache in .*cache cannot be written \(Read-only file system\).*DERMNET_CACHE"
    ):
        data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)


def test_files_opencv_cannot_decode_are_named_once_without_its_own_log_lines(dataset, tmp_path, capfd):
    damaged = tmp_path / "data" / "images" / "IMG_0007.png"
    data_bytes = bytearray(damaged.read_bytes())
    data_bytes[-20] ^= 0xFF  # inside the image data: libpng prints two lines, OpenCV decodes nothing
    damaged.write_bytes(bytes(data_bytes))
    with pytest.raises(DataError, match="IMG_0007.png: this PNG image cannot be decoded"):
        data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)
    assert "libpng" not in capfd.readouterr().err


def test_a_cache_build_in_a_terminal_shows_its_progress_and_not_the_decoders_lines(tmp_path):
    # In a process of its own, whose sys.stderr is file descriptor 2, as in a terminal or a log; the PNG is
    # damaged after the manifest is read (validation would name it first).
    import subprocess
    import sys

    manifest = write_dataset(tmp_path / "data", n=8)
    damaged = tmp_path / "data" / "images" / "IMG_0007.png"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from dermnet import data\n"
        f"df = data.from_csv({str(manifest)!r})\n"
        f"damaged = bytearray(Path({str(damaged)!r}).read_bytes()); damaged[-20] ^= 0xFF\n"
        f"Path({str(damaged)!r}).write_bytes(bytes(damaged))\n"
        f"data.build_cache(df, 16, cache_dir={str(tmp_path / 'cache')!r}, on_error='skip')\n"
        "print('after', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "caching images at 16×16" in done.stderr and "libpng" not in done.stderr
    assert done.stderr.rstrip().endswith("after")
