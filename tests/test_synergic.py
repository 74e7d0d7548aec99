"""Synergic deep learning: structure, the loss of eq. 5, eq. 6 prediction, training on both backends."""

import itertools

import keras
import numpy as np
import pytest
from harness import gradients

import dermnet
from dermnet.models.synergic import SynergicModel

pytestmark = pytest.mark.portable
SMALL = {"backbone": "baseline_cnn", "input_shape": (32, 32, 3), "weights": None}


def pair_batch(n, batch=6, num_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    images = tuple(rng.integers(0, 256, (batch, 32, 32, 3), dtype="uint8") for _ in range(n))
    labels = rng.integers(0, num_classes, (batch, n))
    synergic = np.stack([labels[:, i] == labels[:, j] for i, j in itertools.combinations(range(n), 2)], 1)
    return images, {"labels": labels, "synergic": synergic.astype("float32")}


@pytest.mark.parametrize("n", [2, 3, 4])
def test_n_components_and_a_synergic_network_per_pair(n):
    model = dermnet.build("sdl", n=n, **SMALL)
    assert len(model.components) == n and len(model.synergic_networks) == n * (n - 1) // 2
    x, y = pair_batch(n)
    out = model(x)
    assert tuple(out["probabilities"].shape) == (6, n, 2) and tuple(out["synergic"].shape) == (
        6,
        n * (n - 1) // 2,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    history = model.fit(x, y, epochs=2, batch_size=3, verbose=0)
    assert {"loss", "synergic_accuracy", *[f"accuracy_{i + 1}" for i in range(n)]} <= set(history.history)
    assert np.isfinite(history.history["loss"]).all()


def test_prediction_is_eq_6_the_mean_of_the_components():
    model = dermnet.build("sdl", n=3, **SMALL)
    x = pair_batch(2)[0][0]
    each = [keras.ops.convert_to_numpy(c(x)[0]) for c in model.components]
    np.testing.assert_allclose(model.predict(x, verbose=0), np.mean(each, axis=0), atol=1e-6)
    np.testing.assert_array_equal(model.predict(x, verbose=0).argmax(1), np.sum(each, axis=0).argmax(1))


def loss_gradients(model, x, y):
    """Gradients of the model's own training loss (eq. 5), on either backend."""
    grads = gradients(model, x, y, loss=lambda y, y_pred: model.compute_loss(x, y, y_pred))
    return [keras.ops.convert_to_numpy(g) for g in grads]


def test_with_lambda_zero_components_train_as_plain_classifiers():
    model = dermnet.build("sdl", n=2, synergic_weight=0.0, **SMALL)
    x, y = pair_batch(2)
    # Keyed by the variable itself: both components have a "conv1/kernel", say.
    grads = dict(zip([id(v) for v in model.trainable_variables], loss_gradients(model, x, y)))
    for i, component in enumerate(model.components):
        plain = keras.Model(component.input, component.output[0])
        variables = plain.trainable_variables
        targets = keras.utils.to_categorical(y["labels"][:, i], 2)
        for variable, grad in zip(
            variables, gradients(plain, x[i], targets, loss=keras.losses.CategoricalCrossentropy())
        ):
            np.testing.assert_allclose(
                grads[id(variable)], keras.ops.convert_to_numpy(grad), rtol=1e-4, atol=1e-7
            )
    # λ = 0 builds no synergic networks: nothing untrained rides along.
    assert model.synergic_networks == [] and "synergic" not in model(x)
    assert len(grads) == sum(len(c.trainable_variables) for c in model.components)


def test_resnet50x2_is_two_resnet50s_trained_apart():
    model = dermnet.build("resnet50x2", input_shape=(32, 32, 3), weights=None)
    assert isinstance(model, SynergicModel) and model.n == 2 and model.synergic_networks == []
    assert all(c.get_layer("resnet50_backbone") for c in model.components)
    assert model.synergic_accuracy is None  # its progress bar shows the components' accuracies only


def test_every_weight_learns_from_the_synergic_loss():
    model = dermnet.build("sdl", n=3, **SMALL)
    x, y = pair_batch(3)
    for variable, grad in zip(model.trainable_variables, loss_gradients(model, x, y)):
        assert np.isfinite(grad).all() and np.any(grad != 0), f"{variable.path} gets no gradient"


def test_eq_5_lambda_weighs_the_components_updates_not_the_synergic_networks():
    one = dermnet.build("sdl", n=2, synergic_weight=1.0, **SMALL)
    x, y = pair_batch(2)
    grads = {}
    for weight in (1.0, 3.0, 5.0):
        model = dermnet.build("sdl", n=2, synergic_weight=weight, **SMALL)
        model.set_weights(one.get_weights())
        grads[weight] = dict(zip([v.path for v in model.trainable_variables], loss_gradients(model, x, y)))
    for path, grad in grads[1.0].items():
        if path.startswith("synergic_"):  # Δ(S) = ∂l_S/∂θ_S, whatever λ
            np.testing.assert_allclose(grads[3.0][path], grad, rtol=1e-5, atol=1e-8, err_msg=path)
        else:  # ∂lᵢ/∂θᵢ + λ·∂l_S/∂θᵢ: linear in λ
            np.testing.assert_allclose(
                grads[5.0][path] - grads[3.0][path],
                grads[3.0][path] - grad,
                rtol=1e-3,
                atol=1e-6,
                err_msg=path,
            )
    changed = [
        p
        for p, g in grads[1.0].items()
        if not p.startswith("synergic_") and not np.allclose(grads[3.0][p], g)
    ]
    assert changed, "λ changes no component's gradient"


def test_the_synergic_networks_start_from_the_seed():
    def synergic_weights(seed):
        keras.utils.set_random_seed(seed)
        model = dermnet.build(
            "sdl", backbone="baseline_cnn", num_classes=2, input_shape=(32, 32, 3), weights=None
        )
        return [np.asarray(w) for w in model.synergic_networks[0].weights]

    same, again, other = synergic_weights(0), synergic_weights(0), synergic_weights(1)
    assert all(np.array_equal(a, b) for a, b in zip(same, again))
    assert not np.array_equal(same[0], other[0])  # an initializer seeded at import would give the same


def test_save_reload_and_inference_model(tmp_path):
    model = dermnet.build("sdl", n=2, **SMALL)
    x, y = pair_batch(2)
    model.compile(optimizer="sgd")
    model.fit(x, y, epochs=1, verbose=0)
    single = x[0]
    model.save(tmp_path / "sdl.keras")
    reloaded = keras.saving.load_model(tmp_path / "sdl.keras", safe_mode=True)
    assert isinstance(reloaded, SynergicModel) and reloaded.n == 2
    np.testing.assert_allclose(
        reloaded.predict(single, verbose=0), model.predict(single, verbose=0), atol=1e-5
    )
    inference = model.inference_model()
    np.testing.assert_allclose(
        inference.predict(single, verbose=0), model.predict(single, verbose=0), atol=1e-6
    )
    inference.save(tmp_path / "inference.keras")
    again = keras.saving.load_model(tmp_path / "inference.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(single, verbose=0), model.predict(single, verbose=0), atol=1e-5)
    model.save_weights(tmp_path / "sdl.weights.h5")
    from_file = dermnet.build("sdl", n=2, **{**SMALL, "weights": str(tmp_path / "sdl.weights.h5")})
    np.testing.assert_allclose(
        from_file.predict(single, verbose=0), model.predict(single, verbose=0), atol=1e-5
    )


def test_inference_model_exports_a_savedmodel(tmp_path, tensorflow_only):
    import tensorflow as tf

    inference = dermnet.build("sdl", n=2, **SMALL).inference_model()
    x = pair_batch(2)[0][0].astype("float32")
    inference.export(tmp_path / "saved_model")
    reloaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    np.testing.assert_allclose(reloaded.serve(x).numpy(), keras.ops.convert_to_numpy(inference(x)), atol=1e-5)


def test_trains_on_a_pair_stream(tmp_path):
    from dermnet import data

    df = data.load_dataset("synthetic", tmp_path / "synthetic")
    stream = data.pair_dataset(df[df.split == "train"].iloc[:64], 32, batch_size=16, cache_dir=tmp_path)
    model = dermnet.build("sdl", n=2, num_classes=3, **SMALL)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    history = model.fit(stream, epochs=1, shuffle=False, verbose=0)  # the stream shuffles itself
    assert np.isfinite(history.history["loss"]).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 2 components"):
        dermnet.build("sdl", n=1, **SMALL)
    with pytest.raises(ValueError, match="tuple of 2 image batches"):
        dermnet.build("sdl", n=2, **SMALL)(pair_batch(3)[0])
