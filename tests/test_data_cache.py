"""The decode-once cache: right bytes, reuse, resume after an interruption, bad files."""

import os

import numpy as np
import pytest
from harness import write_dataset

from dermnet import data
from dermnet.data import DataError, cache as cache_module
from dermnet.data.images import read_image, read_image_bgr, resize

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
    monkeypatch.setattr(cache_module, "read_image_bgr", lambda p: decoded.append(p) or read_image_bgr(p))
    again = data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)
    assert decoded == [] and again.path == first.path
    changed = dataset["image"][3]
    os.utime(changed, ns=(1, 1))  # a file edited on disk
    data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)
    assert decoded == [changed]
    other_size = data.build_cache(dataset, 8, cache_dir=tmp_path / "cache", progress=False)
    assert other_size.path != first.path


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
        return read_image_bgr(path)

    monkeypatch.setattr(cache_module, "read_image_bgr", interrupted)
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
    with pytest.raises(DataError, match=r"2 of 20 images cannot be used.*IMG_0005.png: not an image.*IMG_0011.png: truncated"):
        data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", progress=False)
    cache = data.build_cache(dataset, 16, cache_dir=tmp_path / "cache", on_error="skip", progress=False)
    assert len(cache) == 18 and len(cache.rows) == 18
    assert "IMG_0005" not in set(cache.rows["image_id"]) and len(cache.skipped) == 2
    np.testing.assert_array_equal(cache.images[cache.index[5]], resize(read_image(cache.rows["image"][5]), (16, 16)))
