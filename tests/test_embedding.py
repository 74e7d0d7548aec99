"""The triplet classifier (Xue et al.): CE + batch-hard triplet loss in one step, P×K training,
probabilities at inference, an embedding model for nearest-class-mean, save/reload."""

import keras
import numpy as np
import pytest

import dermnet
from dermnet import data, training
from dermnet.evaluation import NearestClassMean, classification_scores
from dermnet.data import triplet_dataset
from dermnet.models.embedding import TripletClassifier
from harness import gradients

pytestmark = pytest.mark.portable
SMALL = {"backbone": "baseline_cnn", "input_shape": (32, 32, 3), "weights": None, "preprocessing": "per_image"}


def test_loss_is_cross_entropy_plus_weighted_triplet():
    keras.utils.set_random_seed(0)
    model = dermnet.build("triplet_resnet101", num_classes=3, triplet_weight=2.0, **SMALL)
    x = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype="uint8")
    y = np.array([0, 0, 1, 1, 2, 2])
    out = model(x, training=True)
    assert set(out) == {"probabilities", "embedding"} and tuple(out["embedding"].shape) == (6, 256)
    cross_entropy = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, out["probabilities"]))
    expected = cross_entropy + 2.0 * model.triplet_loss(y, out["embedding"])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.compute_loss(x, y, out)),
                               keras.ops.convert_to_numpy(expected), rtol=1e-6)
    assert tuple(model(x).shape) == (6, 3)  # inference: probabilities only
    grads = gradients(model, x, y, loss=lambda y, y_pred: model.compute_loss(x, y, y_pred))
    for variable, grad in zip(model.trainable_variables, grads):
        assert np.any(keras.ops.convert_to_numpy(grad) != 0), f"{variable.path} gets no gradient"


def test_trains_on_pk_batches_and_predicts_by_nearest_class_mean(tmp_path, monkeypatch):
    df = data.load_dataset("synthetic", tmp_path / "synthetic")
    train, test = df[df.split == "train"], df[df.split == "test"]
    keras.utils.set_random_seed(0)
    model = dermnet.build("triplet_resnet101", num_classes=3, **SMALL)
    streams = []
    monkeypatch.setattr(data, "triplet_dataset", lambda *args, **kwargs: streams.append(args) or
                        triplet_dataset(*args, **kwargs))
    recipe = dermnet.recipes.get("xue2018_task3").at_size(32)
    history = training.train(model, recipe, train, epochs=2, batch_size=12, cache_dir=tmp_path, verbose=0)[0]
    assert [args[2:4] for args in streams] == [(3, 4)]  # P = 3 classes × K = 4 images
    assert np.isfinite(history.history["loss"]).all() and "accuracy" in history.history
    cache = data.build_cache(test, 32, cache_dir=tmp_path)
    train_cache = data.build_cache(train, 32, cache_dir=tmp_path)
    ncm = NearestClassMean(model.embedding_model(), samples_per_class=20).fit(
        train_cache.images, data.class_indices(train_cache.rows))
    scores = classification_scores(data.class_indices(cache.rows), ncm.predict(cache.images))
    assert np.isfinite(scores["auc"])


def test_saves_and_reloads(tmp_path):
    model = dermnet.build("triplet_resnet101", num_classes=3, **SMALL)
    x = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype="uint8")
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(again, TripletClassifier) and again.triplet_weight == 1.0
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(again.embedding_model().predict(x, verbose=0),
                               model.embedding_model().predict(x, verbose=0), atol=1e-5)
