"""The embedded synthetic data set: shapes, determinism, balance, learnability and the files it writes."""

import functools
import json

import cv2
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from dermnet.data.synthetic import CLASS_NAMES, synthetic, write_synthetic


@functools.lru_cache(maxsize=None)
def drawn(n, image_size=64, num_classes=3, seed=0):
    """One draw per argument set and test session (tests must not change the arrays)."""
    return synthetic(n, image_size, num_classes, seed)


@pytest.mark.portable
@pytest.mark.parametrize("image_size, shape", [(64, (64, 64)), ((48, 80), (48, 80))])
def test_shapes_dtypes_and_values(image_size, shape):
    images, masks, labels = synthetic(14, image_size, num_classes=7)
    assert images.shape == (14, *shape, 3) and images.dtype == np.uint8
    assert masks.shape == (14, *shape) and masks.dtype == np.uint8
    assert labels.shape == (14,) and labels.dtype == np.int64
    assert set(np.unique(masks)) == {0, 1}
    assert set(labels) == set(range(7))
    assert images.std() > 20  # not blank: skin, lesion and a dark vignette


@pytest.mark.portable
def test_deterministic_per_image():
    images, masks, labels = drawn(10)
    again = synthetic(10, 64, 3, seed=0)
    assert all(a.tobytes() == b.tobytes() for a, b in zip((images, masks, labels), again))
    first = synthetic(5, 64, 3, seed=0)  # image i depends on (seed, i) only, not on n
    assert all(np.array_equal(a[:5], b) for a, b in zip((images, masks, labels), first))
    other = synthetic(10, 64, 3, seed=1)
    assert not np.array_equal(images, other[0]) and not np.array_equal(masks, other[1])


@pytest.mark.portable
@pytest.mark.parametrize("n, num_classes", [(30, 3), (30, 7), (2, 3)])
def test_balanced_labels(n, num_classes):
    counts = np.bincount(synthetic(n, 32, num_classes)[2], minlength=num_classes)
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == n


@pytest.mark.portable
def test_masks_are_plausible():
    _, masks, labels = drawn(70, num_classes=7)
    covered = masks.mean((1, 2))
    assert covered.min() > 0.03 and covered.max() < 0.6, covered
    # class sizes overlap: the smallest melanoma is smaller than the largest nevus
    assert covered[labels == 1].min() < covered[labels == 0].max()


def _accuracy(model, features, labels, train=300):
    model.fit(features[:train], labels[:train])
    return model.score(features[train:], labels[train:])


def _hand_features(images, masks):
    """Cheap per-image features: the lesion's colour against the skin, its colour spread, texture and size."""
    features = []
    for image, mask in zip(images.astype(np.float32) / 255, masks):
        lesion, skin = image[mask == 1], image[(mask == 0) & (image.sum(-1) > 0.5)]  # skin: not the vignette
        texture = np.abs(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_32F))[mask == 1].mean()
        features.append([*(lesion.mean(0) - skin.mean(0)), *lesion.std(0), mask.mean(), texture])
    return np.array(features)


@pytest.mark.parametrize("num_classes, least", [(3, 0.8), (7, 0.7)])
def test_learnable_but_not_from_brightness(num_classes, least):
    images, masks, labels = drawn(600, num_classes=num_classes, seed=1)
    learned = _accuracy(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        _hand_features(images, masks),
        labels,
    )
    assert learned > least, learned
    # A flexible learner on the mean brightness alone stays near chance
    brightness = images.mean((1, 2, 3))[:, None]
    for model in (LogisticRegression(), DecisionTreeClassifier(max_depth=3, random_state=0)):
        assert _accuracy(model, brightness, labels) < 1 / num_classes + 0.2


def test_write_synthetic(tmp_path):
    root = tmp_path / "synthetic"
    table = write_synthetic(root, n=20, image_size=(48, 64), num_classes=3, seed=3)
    assert table.columns.tolist() == ["image_id", "label", "split", "lesion_id", "image", "mask"]
    assert table.image_id.tolist() == [f"SYN_{i:05d}" for i in range(20)]
    assert (table.lesion_id == table.image_id).all()
    # The validated manifest: absolute paths, the classes in CLASS_NAMES order
    assert table["mask"][0] == str(root / "masks/SYN_00000_segmentation.png")
    assert table.image[0] == str(root / "images/SYN_00000.png") and table.attrs["classes"] == CLASS_NAMES[:3]
    assert json.loads((root / "synthetic.json").read_text())["image_size"] == [48, 64]
    on_disk = pd.read_csv(root / "manifest.csv")
    assert on_disk["image"][0] == "images/SYN_00000.png"
    pd.testing.assert_frame_equal(
        table.drop(columns=["image", "mask"]), on_disk.drop(columns=["image", "mask"])
    )

    images, masks, labels = synthetic(20, (48, 64), 3, seed=3)
    assert table.label.tolist() == [CLASS_NAMES[label] for label in labels]
    for row, image, mask in zip(table.itertuples(), images, masks):  # lossless PNGs, RGB on disk as BGR
        np.testing.assert_array_equal(cv2.imread(row.image)[..., ::-1], image)
        np.testing.assert_array_equal(cv2.imread(row.mask, cv2.IMREAD_GRAYSCALE), mask * 255)

    # 70/15/15 within each class (7 images of a class: 5/1/1, 6: 4/1/1)
    counts = table.groupby(["label", "split"]).size().unstack(fill_value=0)
    assert (counts.train >= 4).all() and (counts.validation == 1).all() and (counts.test >= 1).all()

    # The same arguments: nothing rewritten; others: replaced, with no staging folder left beside it
    files = sorted(root.rglob("*"))
    stamps = [path.stat().st_mtime_ns for path in files]
    again = write_synthetic(root, n=20, image_size=(48, 64), num_classes=3, seed=3)
    pd.testing.assert_frame_equal(again, table)
    assert [path.stat().st_mtime_ns for path in files] == stamps and sorted(root.rglob("*")) == files
    assert len(write_synthetic(root, n=6, image_size=(48, 64), seed=3)) == 6
    assert len(list((root / "images").iterdir())) == 6
    assert [path.name for path in tmp_path.iterdir()] == ["synthetic"]


def test_interrupted_write_leaves_the_earlier_set(tmp_path, monkeypatch):
    root = tmp_path / "synthetic"
    earlier = write_synthetic(root, n=4, image_size=32)
    calls = []
    monkeypatch.setattr(cv2, "imwrite", lambda *args: calls.append(args) or len(calls) < 5)  # a full disk
    with pytest.raises(OSError, match="could not write"):
        write_synthetic(root, n=8, image_size=32)
    assert [path.name for path in tmp_path.iterdir()] == ["synthetic"]
    monkeypatch.undo()
    pd.testing.assert_frame_equal(write_synthetic(root, n=4, image_size=32), earlier)


def test_write_synthetic_refuses_other_folders(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="other files"):
        write_synthetic(tmp_path, n=3)
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.portable
@pytest.mark.parametrize(
    "kwargs",
    [dict(n=0), dict(num_classes=1), dict(num_classes=8), dict(image_size=31), dict(image_size=(64, 16))],
)
def test_bad_arguments(kwargs, tmp_path):
    arguments = {"n": 4, **kwargs}
    with pytest.raises(ValueError):
        synthetic(**arguments)
    with pytest.raises(ValueError):
        write_synthetic(tmp_path / "synthetic", **arguments)
    assert not any(tmp_path.iterdir())
