"""Every registered classifier: builds small, predicts, trains (gradients), saves and reloads
(segmentors: tests/test_segmentation_models.py)."""

import keras
import numpy as np
import pytest

import dermnet
from dermnet.layers import Preprocess
from dermnet.models.classifier import HEADS
from conftest import gradients, random_images, small_kwargs, small_model

pytestmark = pytest.mark.portable
MODELS = dermnet.list_models(task="classification")


def test_every_registered_model_is_covered_by_a_parametrized_suite():
    segmentors = dermnet.list_models(task="segmentation") + dermnet.list_models(task="attributes")
    assert sorted(MODELS + segmentors) == dermnet.list_models()


@pytest.mark.parametrize("name", MODELS)
def test_forward_gives_probabilities(name):
    model = small_model(name)
    x = random_images(model)
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (len(x), model.output_shape[-1])
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
    # uint8 and float pixels are the same input
    as_float = model.predict(x.astype("float32"), verbose=0)
    np.testing.assert_allclose(as_float, probabilities, atol=1e-6)


# SDL's synergic networks learn from pairs of images, the triplet classifier's embedding from its
# own loss: tests/test_synergic.py and tests/test_embedding.py check their gradients.
@pytest.mark.parametrize("name", [m for m in MODELS if m not in ("sdl", "triplet_resnet101")])
def test_every_trainable_weight_gets_a_gradient(name):
    model = small_model(name)
    x = random_images(model)
    y = keras.utils.to_categorical(np.arange(len(x)) % model.output_shape[-1], model.output_shape[-1])
    grads = gradients(model, x, y)
    assert len(grads) == len(model.trainable_variables) > 0
    for variable, grad in zip(model.trainable_variables, grads):
        assert grad is not None, f"{variable.path} gets no gradient"
        grad = keras.ops.convert_to_numpy(grad)
        assert np.isfinite(grad).all(), f"{variable.path} has a non-finite gradient"
        assert np.any(grad != 0), f"{variable.path} has an all-zero gradient"


@pytest.mark.parametrize("name", MODELS)
def test_save_and_reload_with_safe_mode(name, tmp_path):
    model = small_model(name)
    x = random_images(model)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert [w.path for w in reloaded.trainable_weights] == [w.path for w in model.trainable_weights]


@pytest.mark.parametrize("name", MODELS)
def test_builds_under_mixed_bfloat16_with_float32_probabilities(name, mixed_bfloat16):
    model = dermnet.build(name, **small_kwargs(name))
    assert any(layer.compute_dtype == "bfloat16" for layer in model._flatten_layers())
    probabilities = model.predict(random_images(model), verbose=0)
    assert probabilities.dtype == np.float32
    assert np.isfinite(probabilities).all()


# Every head and every preprocessing mode at least once, on the cheapest model.
@pytest.mark.parametrize(
    "head, preprocessing",
    [(HEADS[i % len(HEADS)], mode) for i, mode in enumerate(Preprocess.MODES)],
)
def test_every_head_and_preprocessing_trains_and_reloads(head, preprocessing, tmp_path):
    model = dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 48, 3), head=head,
                          preprocessing=preprocessing)
    # Photo-like mid-range pixels: uniform 0-255 noise through the unnormalised "caffe" scale
    # saturates this from-scratch net's softmax half the time, and on JAX (no logits shortcut in
    # the cross-entropy) Keras' probability clipping then zeroes every gradient.
    x = np.random.default_rng(0).integers(96, 160, (4, 32, 48, 3)).astype("uint8")
    grads = gradients(model, x, keras.utils.to_categorical([0, 1, 2, 0], 3))
    assert all(np.any(keras.ops.convert_to_numpy(g) != 0) for g in grads)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
