"""Every docstring example of the package runs (`doctest` over every module).

The examples run with the names they use for a user's objects (`model`, `images`, `df`, ...) bound
to small ones, `~` in a temporary folder and the working directory another. Where an example shows
its output, the output must match; where it shows none, it must only run.
"""

import doctest
import importlib
import pkgutil

import cv2
import keras
import numpy as np
import pytest

import dermnet

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("tensorflow_only")]  # some examples feed tf.data
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(dermnet.__path__, "dermnet.") if m.name != "dermnet.cli"
)


class _RunsOrMatches(doctest.OutputChecker):
    """An example that shows no output only has to run; one that shows output has to match it."""

    def check_output(self, want, got, optionflags):
        return not want or super().check_output(want, got, optionflags)


@pytest.fixture(scope="module")
def user_objects(tmp_path_factory):
    """The objects the examples call a user's own, small: built once for every module's examples."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        df = dermnet.data.load_dataset("synthetic", "~/data/synthetic")
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    small = {"input_shape": (32, 32, 3), "weights": None}
    segmentor = {"input_shape": (None, None, 3), "depth": 2, "filters": 4}
    triplet = dermnet.build("triplet_resnet101", backbone="baseline_cnn", num_classes=3, **small)
    return home, {
        "dermnet": dermnet,
        "keras": keras,
        "np": np,
        "df": df,
        "train_df": df[df.split == "train"],
        "images": images,
        "images_uint8": images,
        "masks": rng.integers(0, 2, (4, 32, 32, 1)).astype("float32"),
        "model": dermnet.build("unet", **segmentor),
        "unet": dermnet.build("unet", **segmentor),
        "deeplab": dermnet.build("deeplabv3plus", **small, aspp_filters=8, low_level_filters=4),
        "unet_probabilities": rng.random((2, 32, 32, 1)),
        "deeplab_probabilities": rng.random((2, 32, 32, 1)),
        "classifier": dermnet.build("baseline_cnn", num_classes=2, **small),
        "net": dermnet.build("baseline_cnn", num_classes=2, input_shape=(None, None, 3)),
        "inception_v4": dermnet.build("baseline_cnn", num_classes=3, **small),
        "resnet101": dermnet.build("baseline_cnn", num_classes=3, **small),
        "val_images": rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8),
        "val_labels": np.arange(24) % 3,
        "val_lesions": np.arange(24) // 2,
        "test_images": rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
        "embedding_model": triplet.embedding_model(),
        "train_images": rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8),
        "train_labels": np.arange(12) % 3,
        "ds": tf.data.Dataset.from_tensor_slices(images).batch(2),
    }


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module, user_objects, tmp_path, monkeypatch):
    home, objects = user_objects
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "new").mkdir()  # a folder of new images to predict on
    for i, image in enumerate(objects["images"][:2]):
        cv2.imwrite(str(tmp_path / "new" / f"{i}.png"), image)
    tests = doctest.DocTestFinder().find(importlib.import_module(module), extraglobs=objects)
    runner = doctest.DocTestRunner(
        checker=_RunsOrMatches(), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples of {module} failed (above)"
