"""Splits: stratified, grouped by lesion and near-duplicates, reproducible."""

import cv2
import numpy as np
import pandas as pd
import pytest
from harness import shared_folder

from dermnet import data

pytestmark = pytest.mark.portable


def lesions(n_lesions=300, seed=0):
    """A HAM10000-like table: imbalanced classes, 1–4 images per lesion."""
    rng = np.random.default_rng(seed)
    rows = []
    for lesion in range(n_lesions):
        label = rng.choice(["nv", "mel", "bkl", "df"], p=[0.7, 0.15, 0.1, 0.05])
        rows += [(f"I{len(rows) + k}", label, f"L{lesion}") for k in range(rng.integers(1, 5))]
    return pd.DataFrame(rows, columns=["image_id", "label", "lesion_id"])


def test_split_is_grouped_stratified_and_reproducible():
    df = lesions()
    result = data.split(df, seed=3)
    assert (result.groupby("lesion_id")["split"].nunique() == 1).all()
    shares = pd.crosstab(result["label"], result["split"], normalize="index")
    assert ((shares - pd.Series({"train": 0.7, "validation": 0.15, "test": 0.15})).abs() < 0.06).all().all()
    assert result["split"].tolist() == data.split(df, seed=3)["split"].tolist()
    assert result["split"].tolist() != data.split(df, seed=4)["split"].tolist()
    two_way = data.split(df, {"train": 0.8, "test": 0.2})
    assert set(two_way["split"]) == {"train", "test"}
    with pytest.raises(ValueError, match="sum to 1"):
        data.split(df, {"train": 0.8, "test": 0.3})


def test_the_papers_per_image_split_by_counts():
    """Ray et al. 2020's per-image split of HAM10000 (7,210 / 1,803 / 1,002), on the manifest's labels."""
    from importlib import resources

    df = pd.read_csv(resources.files("dermnet.data.manifests").joinpath("ham10000.csv"))
    per_image = data.split(df, data.RAY2020_SPLIT, group_by="image")
    counts = per_image["split"].value_counts()
    assert all(abs(counts[name] - n) <= 7 for name, n in data.RAY2020_SPLIT.items()), counts  # 7 classes
    assert (per_image.groupby("lesion_id")["split"].nunique() > 1).any()  # what grouping by lesion prevents
    assert (data.split(df, data.RAY2020_SPLIT).groupby("lesion_id")["split"].nunique() == 1).all()
    with pytest.raises(ValueError, match="add up to 10014, not to the 10015 images"):
        data.split(df, {"train": 7210, "validation": 1803, "test": 1001})
    with pytest.raises(ValueError, match="group_by must be 'lesion' or 'image'"):
        data.split(df, group_by="patient")


def test_near_duplicates_are_found_grouped_and_reported(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        image = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3)).astype(np.uint8), (0, 0), 6)
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), image)
        rows.append((str(i), "a" if i % 2 else "b", str(tmp_path / f"{i}.jpg")))
        if i < 3:  # a re-encoded, slightly brightened and rescaled copy: a near-duplicate
            copy = cv2.resize(cv2.convertScaleAbs(image, alpha=1.0, beta=6), (160, 120))
            cv2.imwrite(str(tmp_path / f"{i}_copy.jpg"), copy, [cv2.IMWRITE_JPEG_QUALITY, 70])
            rows.append((f"{i}_copy", "a" if i % 2 else "b", str(tmp_path / f"{i}_copy.jpg")))
    df = pd.DataFrame(rows, columns=["image_id", "label", "image"])
    result = data.split(df, {"train": 0.5, "test": 0.5}, seed=1, near_duplicates=True)
    report = result.attrs["near_duplicates"]
    assert sorted(zip(report["image_id"], report["near_duplicate_of"])) == [
        (str(i), f"{i}_copy") for i in range(3)
    ]
    for i in range(3):
        assert result.set_index("image_id").loc[[str(i), f"{i}_copy"], "split"].nunique() == 1


def test_no_near_duplicates_among_real_distinct_lesions():
    root = shared_folder("data", "ham10000-5")
    pairs = data.near_duplicate_pairs(sorted(str(p) for p in (root / "images").glob("*.jpg")))
    assert pairs == []
