"""Shared test helpers: small builds and per-backend gradients."""

import functools
import os

import keras
import numpy as np
import pytest

import dermnet
from dermnet import backbones


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory):
    """The tests' image cache: never the user's, and one per test process (`pytest -n` runs several)."""
    before = os.environ.get("DERMNET_CACHE")
    os.environ["DERMNET_CACHE"] = str(tmp_path_factory.mktemp("dermnet-cache"))
    yield
    if before is None:
        del os.environ["DERMNET_CACHE"]
    else:
        os.environ["DERMNET_CACHE"] = before


def small_kwargs(name):
    """Arguments that build `name` at a small input size, for fast tests.

    Every registered model needs an entry here (or be a backbone classifier), so that a new
    model cannot slip past the parametrized tests.
    """
    if name in backbones.BACKBONES:
        side = max(backbones.BACKBONES[name].min_size, 32)
        return {"input_shape": (side, side, 3), "weights": None}
    if name == "ensemble":
        # Cheap members (each is tested on its own); ResNet-50 at 32 px behind a 48 px input
        # exercises the Resize path in front of a batch-norm network.
        return {
            "members": [
                dermnet.build("resnet50", num_classes=7, weights=None, input_shape=(32, 32, 3)),
                dermnet.build("baseline_cnn", num_classes=7, input_shape=(48, 48, 3)),
            ],
            "input_shape": (48, 48, 3),
            "weights": None,
        }
    if name == "sdl":  # two baseline CNNs: tests/test_synergic.py covers the pair training path
        return {"backbone": "baseline_cnn", "input_shape": (32, 32, 3), "weights": None}
    if name == "triplet_resnet101":  # tests/test_embedding.py trains it; a small backbone here
        return {"backbone": "baseline_cnn", "input_shape": (32, 32, 3), "weights": None}
    if name == "resnet50x2":  # two ResNet-50s, as the ensemble's member is tested at 32 px
        return {"input_shape": (32, 32, 3), "weights": None}
    # Segmentors: full architectures, few filters (tests/test_segmentation_models.py).
    small_decoder = {"input_shape": (32, 32, 3), "weights": None, "decoder_filters": (16, 8, 8, 4)}
    segmentors = {
        "unet": {"input_shape": (32, 32, 3), "depth": 2, "filters": 4},
        "unet_fc": {"input_shape": (32, 32, 3), "bottleneck_units": 16},
        "unet_vgg16": small_decoder,
        "deeplabv3plus": {"input_shape": (32, 32, 3), "weights": None, "aspp_filters": 8, "low_level_filters": 4},
        "segan": {**small_decoder, "critic_filters": (4, 8)},
        "attribute_net": small_decoder,
    }
    if name in segmentors:
        return segmentors[name]
    raise KeyError(f"tests/conftest.py: small_kwargs() has no entry for the model {name!r}")


@functools.lru_cache(maxsize=None)
def small_model(name):
    """One small build per model and test session (tests must not change it)."""
    return dermnet.build(name, **small_kwargs(name))


def random_images(model, batch=4, seed=0):
    """uint8 pixels of the model's input size (None sides become 64)."""
    height, width, _ = (side or 64 for side in model.input_shape[1:])
    return np.random.default_rng(seed).integers(0, 256, (batch, height, width, 3), dtype="uint8")


def gradients(model, x, y, loss=None):
    """Gradients of `loss(y, y_pred)` (default: categorical cross-entropy) w.r.t.
    `model.trainable_variables`, any backend."""
    loss_fn = loss or keras.losses.CategoricalCrossentropy()
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return tape.gradient(loss, model.trainable_variables)
    if backend == "jax":
        import jax

        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_of(trainable):
            y_pred, _ = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, y_pred)

        # jit: one XLA compile is far faster than JAX's op-by-op eager mode on deep models
        return jax.jit(jax.grad(loss_of))([v.value for v in model.trainable_variables])
    pytest.skip(f"no gradient helper for the {backend} backend")


@pytest.fixture
def mixed_bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def tensorflow_only():
    if keras.config.backend() != "tensorflow":
        pytest.skip("SavedModel export and tf.data need the TensorFlow backend")


def write_dataset(root, n=24, num_classes=3, size=(36, 48), masks=False, lesions_per_image=1):
    """A tiny image folder with a manifest (`root/manifest.csv`): returns the manifest path.

    Images are PNGs whose colour encodes the class (so cached bytes can be checked against labels);
    with `lesions_per_image=2`, pairs of consecutive images share a `lesion_id`.
    """
    import cv2
    import pandas as pd

    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        label = i % num_classes
        image = np.full((*size, 3), 40 + 200 * label // max(num_classes - 1, 1), np.uint8)
        image[..., 2] = i  # a per-image fingerprint
        cv2.imwrite(str(root / "images" / f"IMG_{i:04d}.png"), image[..., ::-1])
        row = {"image_id": f"IMG_{i:04d}", "label": f"class_{label}", "split": "train",
               "lesion_id": f"L{i // lesions_per_image:04d}", "image": f"images/IMG_{i:04d}.png"}
        if masks:
            mask = np.zeros(size, np.uint8)
            mask[size[0] // 4:3 * size[0] // 4, size[1] // 4:3 * size[1] // 4] = 255
            cv2.imwrite(str(root / "images" / f"IMG_{i:04d}_segmentation.png"), mask)
            row["mask"] = f"images/IMG_{i:04d}_segmentation.png"
        rows.append(row)
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


SHARED = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared"


def shared_folder(*parts):
    """A folder of ../shared, or a clean skip where it is absent (as on a user's machine)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared is only beside the developers' checkout)")
    return path
