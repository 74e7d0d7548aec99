"""Test-time augmentation: identity views equal the plain prediction, pooling, save/reload/export."""

import keras
import numpy as np
import pytest

import dermnet
from dermnet.data import Augmentation
from dermnet.evaluation import tta, tta_model
from dermnet.evaluation.tta import PoolReplicas

pytestmark = pytest.mark.portable


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(0)
    return dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3))


def images(n=4):
    return np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype="uint8")


def test_identity_views_equal_the_plain_prediction(classifier):
    plain = classifier.predict(images(), verbose=0)
    np.testing.assert_allclose(tta(classifier, images(), replicas=4, augmentation="none"), plain, atol=1e-6)
    np.testing.assert_allclose(
        tta(classifier, images(), replicas=4, augmentation="none", pool="max_logit"), plain, atol=1e-5
    )


def test_views_are_augmented_and_pooled(classifier):
    model = tta_model(classifier, replicas=3, augmentation=Augmentation(flip_horizontal=True), seed=0)
    x = images()
    views = [x] + [keras.ops.convert_to_numpy(model.get_layer(f"view_{i}")(x)) for i in (1, 2)]
    flipped = [
        [np.array_equal(v[b], x[b][:, ::-1]) or np.array_equal(v[b], x[b]) for b in range(4)] for v in views
    ]
    assert all(all(row) for row in flipped) and not all(np.array_equal(v, x) for v in views)
    each = [classifier.predict(v, verbose=0) for v in views]
    np.testing.assert_allclose(model.predict(x, verbose=0), np.mean(each, axis=0), atol=1e-6)
    # the same views at every call: a reproducible prediction
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


def test_max_logit_pooling():
    probabilities = [np.array([[0.7, 0.2, 0.1]]), np.array([[0.1, 0.6, 0.3]])]
    pooled = keras.ops.convert_to_numpy(PoolReplicas("max_logit")(probabilities))
    expected = np.array([[0.7, 0.6, 0.3]]) / 1.6  # softmax of the maximum log-probabilities
    np.testing.assert_allclose(pooled, expected, rtol=1e-5)


def test_saves_reloads_and_exports(classifier, tmp_path, tensorflow_only):
    import tensorflow as tf

    model = tta_model(classifier, replicas=3, augmentation="xue2018")
    x = images()
    model.save(tmp_path / "tta.keras")
    reloaded = keras.saving.load_model(tmp_path / "tta.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    model.export(tmp_path / "saved_model")
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))  # kept: its variables die with it
    served = loaded.serve(x.astype("float32")).numpy()
    np.testing.assert_allclose(served, model.predict(x, verbose=0), atol=1e-5)


def test_bad_arguments(classifier):
    with pytest.raises(ValueError, match="at least 1"):
        tta_model(classifier, replicas=0)
    with pytest.raises(ValueError, match="without crop"):
        tta_model(classifier, augmentation=Augmentation(crop=(16, 16)))
    with pytest.raises(ValueError, match="Unknown pool"):
        tta_model(classifier, pool="median")
