"""The shared test harness: small builds of every registered model, one check per property, and the
test data helpers.

`tests/test_models.py` runs every `check_*` over `dermnet.list_models()`, as timm's
`tests/test_models.py` runs over its `list_models()` and keras-hub's `TestCase` runs its
`run_model_saving_test` / `run_precision_test` over each model: a new model gets every check by
being registered (and given a small build in `SMALL_BUILDS`). Each check asks the model's contract
(`dermnet.models.contract`) what it is, so one check serves classifiers, SDL's pairs, the triplet
classifier, segmentors, SegAN and the attribute network alike.
"""

import copy
import functools
import re
from pathlib import Path

import keras
import numpy as np
import pytest

import dermnet
from dermnet import backbones
from dermnet.data.synthetic import synthetic
from dermnet.models import contract, inference_model

SHARED = Path(__file__).resolve().parents[2] / "shared"

_SMALL_DECODER = {"input_shape": (32, 32, 3), "weights": None, "decoder_filters": (16, 8, 8, 4)}
# Small builds of the models that are not a plain backbone classifier. SDL and the triplet classifier
# take baseline-CNN components; the segmentors keep their architecture with few filters.
SMALL_BUILDS = {
    "sdl": {"backbone": "baseline_cnn", "input_shape": (32, 32, 3), "weights": None},
    "triplet_resnet101": {"backbone": "baseline_cnn", "input_shape": (32, 32, 3), "weights": None},
    "resnet50x2": {"input_shape": (32, 32, 3), "weights": None},
    "unet": {"input_shape": (32, 32, 3), "depth": 2, "filters": 4},
    "unet_fc": {"input_shape": (32, 32, 3), "bottleneck_units": 16},
    "unet_bn": {"input_shape": (32, 32, 3)},
    "unet_vgg16": _SMALL_DECODER,
    "deeplabv3plus": {"input_shape": (32, 32, 3), "weights": None, "aspp_filters": 8, "low_level_filters": 4},
    "segan": {**_SMALL_DECODER, "critic_filters": (4, 8)},
    "attribute_net": _SMALL_DECODER,
    "ha2020_effnet": {"backbone": "efficientnet_b0", "input_shape": (32, 32, 3), "weights": None},
}


# keras.applications backbones whose depth makes each check take 20-100 s on JAX on 2 cores. Their
# graphs are keras.applications' own, which Keras tests on every backend; on JAX dermnet checks what
# is its own (SDL, the triplet classifier, the segmentors, Inception-v4, the heads) with resnet50 as
# the one applications backbone. TensorFlow runs every check on every model.
DEEP_APPLICATIONS = (
    "densenet201",
    "inception_resnet_v2",
    "inception_v3",
    "resnet101",
    "resnet50x2",
    "efficientnet_b0",
    "efficientnetv2_b0",
    "convnext_tiny",
)

# Today's keras.applications families (issue 42): the smallest member of each takes every check; the others,
# which differ from it only in widths and depths, are built (`test_models.py::test_the_other_members_build`).
SMALLEST_MEMBERS = ("efficientnet_b0", "efficientnetv2_b0", "convnext_tiny")
BUILD_ONLY = tuple(
    name
    for name in backbones.BACKBONES
    if name.startswith(("efficientnet", "convnext")) and name not in SMALLEST_MEMBERS
)


def skip_deep_on_jax(name):
    if keras.config.backend() == "jax" and name in DEEP_APPLICATIONS:
        pytest.skip(f"{name} is a deep keras.applications graph: checked on TensorFlow (tests/harness.py)")


def small_kwargs(name):
    """Arguments that build `name` at a small input size. Every registered model needs an entry in
    `SMALL_BUILDS` or is a backbone classifier, so that no model slips past the checks."""
    if name in backbones.BACKBONES:
        side = max(backbones.BACKBONES[name].min_size, 32)
        return {"input_shape": (side, side, 3), "weights": None}
    if name == "ensemble":
        # Cheap members (each is checked on its own); ResNet-50 at 32 px behind a 48 px input
        # exercises the Resize path in front of a batch-norm network.
        return {
            "members": [
                dermnet.build("resnet50", num_classes=7, weights=None, input_shape=(32, 32, 3)),
                dermnet.build("baseline_cnn", num_classes=7, input_shape=(48, 48, 3)),
            ],
            "input_shape": (48, 48, 3),
            "weights": None,
        }
    if name in SMALL_BUILDS:
        return dict(SMALL_BUILDS[name])
    raise KeyError(f"tests/harness.py: SMALL_BUILDS has no entry for the model {name!r}")


@functools.lru_cache(maxsize=None)
def small_model(name):
    """One small build per model and test process (checks must not change it), drawn from a fixed
    seed, so that a check passes or fails with the code and not with the draw (in every process and
    test order: tests/test_headless.py checks that a seeded build does not depend on what the process
    built before). The seed is 1 because seed 0 drew all 4 ReLU units of SegAN's first
    squeeze-and-excitation bottleneck dead when it had 4 (64 channels / 16; CI met it): it has 8 now,
    which a draw in about 256 still kills (`dermnet.layers.SqueezeExcite`)."""
    keras.utils.set_random_seed(1)
    return dermnet.build(name, **small_kwargs(name))


def random_images(model, batch=4, seed=0):
    """uint8 pixels of the model's input size (None sides become 64)."""
    height, width, _ = (side or 64 for side in model.input_shape[1:])
    return np.random.default_rng(seed).integers(0, 256, (batch, height, width, 3), dtype="uint8")


def with_metadata(model, images, seed=0):
    """`images`, or `{"image": images, "metadata": ...}` (a fixed draw per seed) for a model whose
    contract's stream is "metadata"."""
    if contract(model).stream != "metadata":
        return images
    metadata = (
        np.random.default_rng(seed).normal(size=(len(images), model.metadata_features)).astype("float32")
    )
    return {"image": images, "metadata": metadata}


def as_numpy(outputs):
    """A prediction as numpy: probabilities, masks, or a dict of them."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def outputs_of(model, images):
    """The model's inference outputs on `images`, as numpy, for checks that compare two models or two
    inputs. On TensorFlow an eager call: tracing `predict` for one batch costs more than running the
    graph (5 s against 1 s for Inception-ResNet-v2 at 75 px, this 2-core machine), and `check_forward`
    exercises `predict` itself. On JAX the jitted `predict`: JAX's op-by-op eager mode is the slow one."""
    images = with_metadata(model, images)
    if keras.config.backend() == "tensorflow":
        return as_numpy(model(images, training=False))
    return as_numpy(model.predict(images, verbose=0))


def masks_of(outputs):
    return as_numpy(outputs["masks"] if isinstance(outputs, dict) else outputs)


def training_batch(model, batch=4, seed=0):
    """(x, y) of one training batch in the form the model's contract declares: images and class
    labels, SDL's n-tuples with their labels and synergic targets, or images and masks."""
    declared = contract(model)
    if declared.predicts_masks:
        side = model.input_shape[1] or 64
        images, masks, _ = synthetic(batch, image_size=side, seed=seed)
        shape = model.output_shape["masks"] if isinstance(model.output_shape, dict) else model.output_shape
        return images, np.repeat(masks[..., None], shape[-1], axis=-1).astype("float32")
    classes = model.output_shape[-1]
    if declared.stream == "pairs":
        n = declared.stream_options["n"]
        labels = np.stack([np.arange(batch) % classes, np.arange(batch)[::-1] % classes], axis=1)[:, :n]
        x = tuple(random_images(model, batch, seed + i) for i in range(n))
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        synergic = np.stack([labels[:, i] == labels[:, j] for i, j in pairs], axis=1).astype("float32")
        return x, {"labels": labels, "synergic": synergic}
    # Photo-like mid-range pixels: uniform 0-255 noise through the unnormalised "caffe" scale saturates a
    # from-scratch net's softmax, and on JAX Keras' probability clipping then zeroes every gradient.
    if declared.stream == "triplets":  # Xue et al.'s: plain rows and a triplet (a real batch has one kind)
        batch = max(batch, 6)
        role = np.full(batch, -1)
        role[-3:] = [0, 1, 2]
        labels = np.arange(batch) % classes
        labels[-3:] = [1, 1, 0]
        y = {"labels": labels, "role": role, "triplet": np.where(role >= 0, 0, -1)}
    else:
        y = np.arange(batch) % classes
    images = np.random.default_rng(seed).integers(96, 160, (batch, *model.input_shape[1:]), dtype="uint8")
    return with_metadata(model, images, seed), y


def loss_of(model, x, y):
    """The model's training loss on (x, y): its own `compute_loss`, or its contract's default loss."""
    declared = contract(model)
    if declared.loss is None:
        return model.compute_loss(x, y, model(x, training=True), training=True)
    # keras.losses.get of a name gives the per-sample function: its mean is the training loss
    return keras.ops.mean(keras.losses.get(declared.loss())(y, model(x, training=True)))


def gradients(model, x, y, loss=None):
    """Gradients w.r.t. `model.trainable_variables` of `loss(y, y_pred)`, or of `loss_of(model, x, y)`
    when `loss` is None, on the active backend."""

    def objective():
        return loss_of(model, x, y) if loss is None else loss(y, model(x, training=True))

    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = objective()
        return tape.gradient(value, model.trainable_variables)
    if backend == "jax":
        import jax

        non_trainable = [(v, v.value) for v in model.non_trainable_variables]

        def value_of(trainable):
            with keras.StatelessScope(
                state_mapping=[*zip(model.trainable_variables, trainable), *non_trainable]
            ):
                return objective()

        # jit: one XLA compile is far faster than JAX's op-by-op eager mode on deep models
        return jax.jit(jax.grad(value_of))([v.value for v in model.trainable_variables])
    pytest.skip(f"no gradient helper for the {backend} backend")


# The checks: each takes a registered model's name and fails with the property it found broken.


def check_forward(name):
    """A prediction on uint8 pixels: class probabilities (rows sum to 1) or masks of the input's size
    in [0, 1], float32; float pixels give the same."""
    model = small_model(name)
    images = random_images(model)
    predicted = as_numpy(model.predict(with_metadata(model, images), verbose=0))
    if contract(model).predicts_masks:
        masks = masks_of(predicted)
        assert masks.shape[:3] == images.shape[:3] and masks.dtype == np.float32
        assert np.all((masks >= 0) & (masks <= 1))
    else:
        assert predicted.shape == (len(images), model.output_shape[-1]) and predicted.dtype == np.float32
        np.testing.assert_allclose(predicted.sum(axis=-1), 1.0, atol=1e-5)
    as_float = outputs_of(model, images.astype("float32"))
    keras.tree.map_structure(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), as_float, predicted)


def check_gradients_reach_every_weight(name):
    """The training loss (the model's own, or its contract's default) gives every trainable weight a
    finite gradient that is not all zero."""
    model = small_model(name)
    x, y = training_batch(model)
    grads = gradients(model, x, y)
    assert len(grads) == len(model.trainable_variables) > 0
    for variable, grad in zip(model.trainable_variables, grads):
        assert grad is not None, f"{variable.path} gets no gradient"
        grad = keras.ops.convert_to_numpy(grad)
        assert np.isfinite(grad).all(), f"{variable.path} has a non-finite gradient"
        assert np.any(grad != 0), f"{variable.path} has an all-zero gradient"


def check_save_and_reload(name, folder):
    """`.keras` with `safe_mode=True` and no custom_objects: the same class, weights and outputs."""
    model = small_model(name)
    images = random_images(model)
    path = Path(folder) / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert type(reloaded) is type(model)
    assert [_path(w) for w in reloaded.weights] == [_path(w) for w in model.weights]
    np.testing.assert_allclose(
        masks_of(outputs_of(reloaded, images)), masks_of(outputs_of(model, images)), atol=1e-5
    )


def _path(weight):
    # A weight created without a name is "variable_<n>", numbered anew in each build of a process
    # (keras.applications' ConvNeXt LayerScale): its place in the model is the rest of its path.
    return re.sub(r"/variable(_\d+)?$", "/variable", weight.path)


def check_config_round_trip(name):
    """`from_config(get_config())` builds the same class with the same weights' shapes, and given the
    weights it predicts the same."""
    model = small_model(name)
    config = model.get_config()
    # Keras' own Functional.from_config consumes its argument (dermnet's classes copy theirs)
    clone = type(model).from_config(copy.deepcopy(config))
    assert type(clone) is type(model)
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in model.weights]
    assert clone.get_config() == config
    clone.set_weights(model.get_weights())
    images = random_images(model)
    np.testing.assert_allclose(
        masks_of(outputs_of(clone, images)), masks_of(outputs_of(model, images)), atol=1e-5
    )


def check_bfloat16(name):
    """Under mixed_bfloat16 the model computes in bfloat16 and still answers float32."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = dermnet.build(name, **small_kwargs(name))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert any(layer.compute_dtype == "bfloat16" for layer in model._flatten_layers())
    predicted = masks_of(outputs_of(model, random_images(model)))
    assert predicted.dtype == np.float32 and np.isfinite(predicted).all()


def check_export(name, folder):
    """The SavedModel of `dermnet export` serves, from pixels of another size, what the network
    predicts on them resized (probabilities and labels, or masks at the pixels' size)."""
    import tensorflow as tf

    from dermnet import serving

    model = small_model(name)
    if contract(model).stream == "metadata":
        pytest.skip(
            f"{name} takes metadata beside the image: the SavedModel export serves images alone "
            "(tests/test_metadata_model.py checks its own export)"
        )
    network = inference_model(model)
    size = tuple(side or 40 for side in network.input_shape[1:3])
    serving.export_saved_model(model, Path(folder) / "served", size)
    served = tf.saved_model.load(str(Path(folder) / "served")).signatures["serving_pixels"]
    pixels = random_images(network, batch=2)[:, 3:, :-2]  # not the model's size: the export resizes
    answer = served(pixels=tf.constant(pixels))
    expected = as_numpy(network(np.stack([serving.resize_bicubic(p, size) for p in pixels]), training=False))
    if contract(model).predicts_masks:
        np.testing.assert_allclose(
            answer["masks"].numpy(), serving.resize_masks(masks_of(expected), pixels.shape[1:3]), atol=1e-5
        )
    else:
        np.testing.assert_allclose(answer["probabilities"].numpy(), expected, atol=1e-5)
        classes = np.array([f"class_{k}" for k in range(expected.shape[-1])])
        assert answer["label"].numpy().astype(str).tolist() == classes[expected.argmax(-1)].tolist()


def check_portable_export(name, folder, format):
    """The ONNX or LiteRT export (`dermnet.portable`) passes its own check in its runtime (within 1e-4 of
    the network on odd image files, recorded in its dermnet.json) and gives, there, what the network gives on
    other pixels; a model that takes more than an image is refused, saying so."""
    from dermnet import portable

    model = small_model(name)
    network = inference_model(model)
    size = tuple(side or 40 for side in network.input_shape[1:3])
    out = Path(folder) / format
    if contract(model).stream == "metadata":
        with pytest.raises(ValueError, match="takes more than an image"):
            portable.export_portable(model, out, format, size)
        return
    description = portable.export_portable(model, out, format, size)
    assert description["check"]["passed"] and description["check"]["tolerance"] == 1e-4
    assert description["task"] == contract(model).task and description["size"] == list(size)
    images = random_images(network, batch=3, seed=1).astype("float32")
    if network.input_shape[1] is None:
        images = np.random.default_rng(1).uniform(0, 255, (3, *size, 3)).astype("float32")
    got, expected = portable.load(out).predict(images), as_numpy(network(images, training=False))
    keras.tree.map_structure(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4), got, expected)


# Test data


def write_dataset(root, n=24, num_classes=3, size=(36, 48), masks=False, lesions_per_image=1, test_from=None):
    """A tiny image folder with a manifest (`root/manifest.csv`): returns the manifest path.

    Images are PNGs whose colour encodes the class (so cached bytes can be checked against labels);
    with `lesions_per_image=2`, pairs of consecutive images share a `lesion_id`. The images from the
    index `test_from` on are the "test" split, the others "train" (all of them without it).
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
        row = {
            "image_id": f"IMG_{i:04d}",
            "label": f"class_{label}",
            "split": "test" if test_from is not None and i >= test_from else "train",
            "lesion_id": f"L{i // lesions_per_image:04d}",
            "image": f"images/IMG_{i:04d}.png",
        }
        if masks:
            mask = np.zeros(size, np.uint8)
            mask[size[0] // 4 : 3 * size[0] // 4, size[1] // 4 : 3 * size[1] // 4] = 255
            cv2.imwrite(str(root / "images" / f"IMG_{i:04d}_segmentation.png"), mask)
            row["mask"] = f"images/IMG_{i:04d}_segmentation.png"
        rows.append(row)
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


def shared_folder(*parts):
    """A folder of ../shared, or a clean skip where it is absent (as on a user's machine)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared is only beside the developers' checkout)")
    return path
