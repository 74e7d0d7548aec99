"""The triplet classifier (Xue et al.): the paper's triplet sampling (minority anchor and positive,
the hardest majority negative, drawn anew every few epochs) alternating with cross-entropy batches;
dermnet's CE + batch-hard triplet loss on P×K batches; probabilities at inference, an embedding model
for nearest-class-mean, save/reload."""

import keras
import numpy as np
import pytest
from harness import gradients

import dermnet
from dermnet import data, training
from dermnet.data import triplet_dataset
from dermnet.data.triplets import AlternatingTriplets, minor_major_triplets
from dermnet.evaluation import NearestClassMean, classification_scores
from dermnet.losses import sampled_triplet_loss
from dermnet.models.embedding import TripletClassifier

pytestmark = pytest.mark.portable
SMALL = {
    "backbone": "baseline_cnn",
    "input_shape": (32, 32, 3),
    "weights": None,
    "preprocessing": "per_image",
}


def test_batch_hard_loss_is_cross_entropy_plus_weighted_triplet():
    keras.utils.set_random_seed(0)
    model = dermnet.build(
        "triplet_resnet101", num_classes=3, triplet_weight=2.0, mining="batch_hard", **SMALL
    )
    x = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype="uint8")
    y = np.array([0, 0, 1, 1, 2, 2])
    out = model(x, training=True)
    assert set(out) == {"probabilities", "embedding"} and tuple(out["embedding"].shape) == (6, 256)
    cross_entropy = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, out["probabilities"]))
    expected = cross_entropy + 2.0 * model.triplet_loss(y, out["embedding"])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.compute_loss(x, y, out)),
        keras.ops.convert_to_numpy(expected),
        rtol=1e-6,
    )
    assert tuple(model(x).shape) == (6, 3)  # inference: probabilities only
    grads = gradients(model, x, y, loss=lambda y, y_pred: model.compute_loss(x, y, y_pred))
    for variable, grad in zip(model.trainable_variables, grads):
        assert np.any(keras.ops.convert_to_numpy(grad) != 0), f"{variable.path} gets no gradient"


def test_trains_on_pk_batches_and_predicts_by_nearest_class_mean(tmp_path, monkeypatch):
    df = data.load_dataset("synthetic", tmp_path / "synthetic")
    train, test = df[df.split == "train"], df[df.split == "test"]
    keras.utils.set_random_seed(0)
    model = dermnet.build("triplet_resnet101", num_classes=3, mining="batch_hard", **SMALL)
    streams = []
    monkeypatch.setattr(
        data,
        "triplet_dataset",
        lambda *args, **kwargs: streams.append(args) or triplet_dataset(*args, **kwargs),
    )
    recipe = dermnet.recipes.get("xue2018_task3").at_size(32)
    history = training.train(model, recipe, train, epochs=2, batch_size=12, cache_dir=tmp_path, verbose=0)[0]
    assert [args[2:4] for args in streams] == [(3, 4)]  # P = 3 classes × K = 4 images
    assert np.isfinite(history.history["loss"]).all() and "accuracy" in history.history
    cache = data.build_cache(test, 32, cache_dir=tmp_path)
    train_cache = data.build_cache(train, 32, cache_dir=tmp_path)
    ncm = NearestClassMean(model.embedding_model(), samples_per_class=20).fit(
        train_cache.images, data.class_indices(train_cache.rows)
    )
    scores = classification_scores(data.class_indices(cache.rows), ncm.predict(cache.images))
    assert np.isfinite(scores["auc"])


def test_saves_and_reloads(tmp_path):
    model = dermnet.build("triplet_resnet101", num_classes=3, **SMALL)
    x = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype="uint8")
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(again, TripletClassifier) and again.triplet_weight == 1.0
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(
        again.embedding_model().predict(x, verbose=0),
        model.embedding_model().predict(x, verbose=0),
        atol=1e-5,
    )


LABELS = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 0])  # class 0 the majority


def test_every_minority_image_is_an_anchor_with_the_hardest_majority_negative():
    embeddings = np.random.default_rng(0).normal(size=(len(LABELS), 5))
    triplets = minor_major_triplets(LABELS, np.random.default_rng(1), embeddings)
    anchors, positives, negatives = triplets.T
    assert sorted(anchors) == list(np.flatnonzero(LABELS != 0))
    assert (LABELS[positives] == LABELS[anchors]).all() and (positives != anchors).all()
    majors = np.flatnonzero(LABELS == 0)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)  # where the loss measures
    for anchor, negative in zip(anchors, negatives):  # brute force: the nearest, squared Euclidean
        distances = ((unit[majors] - unit[anchor]) ** 2).sum(axis=1)
        assert negative == majors[np.argmin(distances)]
    # Nearest on the unit sphere, not in the raw space: the long majority row points the anchor's way.
    labels, raw = np.array([1, 0, 0]), np.array([[1.0, 0.0], [10.0, 1.0], [0.5, 0.5]])
    assert minor_major_triplets(labels, np.random.default_rng(0), raw)[0, 2] == 1
    before = minor_major_triplets(LABELS, np.random.default_rng(1))  # no embeddings yet: a random negative
    assert (LABELS[before[:, 2]] == 0).all()
    with pytest.raises(ValueError, match="majority class and at least one other"):
        minor_major_triplets(np.zeros(4, "int64"), np.random.default_rng(0))


def test_plain_and_triplet_batches_alternate_with_the_same_rows():
    sampler = AlternatingTriplets(LABELS, batch_size=5, seed=0)
    sampler.redraw(np.random.default_rng(0).normal(size=(len(LABELS), 4)), epoch=0)
    batches = sampler.epoch(3)
    assert len(batches) == 2 * (len(LABELS) // 5) and {b.shape for b in batches} == {(5, 3)}
    plain, triplet = batches[0::2], batches[1::2]
    assert all((b[:, 1] == -1).all() for b in plain)
    assert len(np.unique(np.concatenate([b[:, 0] for b in plain]))) == 10  # a shuffle: no image twice
    drawn = {tuple(t) for t in sampler.triplets}
    for batch in triplet:  # 5 // 3 = 1 triplet (anchor, positive, negative), then 2 unused rows
        assert list(batch[:, 1]) == [0, 1, 2, -2, -2] and list(batch[:, 2]) == [0, 0, 0, -1, -1]
        assert tuple(batch[:3, 0]) in drawn
    with pytest.raises(ValueError, match="3 embeddings for 12"):
        sampler.redraw(np.zeros((3, 4)), epoch=1)


def test_the_sampled_triplet_loss_is_eq_4_over_the_anchors_whose_triplet_is_whole():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(8, 3)).astype("float32")
    unit = e / np.linalg.norm(e, axis=1, keepdims=True)
    role = np.array([0, 1, 2, -1, 2, 0, 1, 0])  # triplets 0 and 1 (its rows out of order), 2 lacks p and n
    triplet = np.array([0, 0, 0, -1, 1, 1, 1, 2])

    def hinge(a, p, n):
        return max(((unit[a] - unit[p]) ** 2).sum() + 0.3 - ((unit[a] - unit[n]) ** 2).sum(), 0.0)

    expected = (hinge(0, 1, 2) + hinge(5, 6, 4)) / 2
    got = float(sampled_triplet_loss(e, role, triplet, margin=0.3))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert expected > 0  # random embeddings break the margin: the check is not 0 == 0
    assert float(sampled_triplet_loss(e, np.full(8, -1), np.full(8, -1))) == 0.0  # a plain batch


def test_a_plain_batch_trains_cross_entropy_and_a_triplet_batch_the_triplet_loss():
    keras.utils.set_random_seed(0)
    model = dermnet.build("triplet_resnet101", num_classes=3, **SMALL)
    assert model.mining == "minor_major" and model.margin == 0.2
    x = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype="uint8")
    labels = np.array([1, 1, 0, 2, 2, 0])
    out = model(x, training=True)
    plain = {"labels": labels, "role": np.full(6, -1), "triplet": np.full(6, -1)}
    cross_entropy = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, out["probabilities"]))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.compute_loss(x, plain, out)),
        keras.ops.convert_to_numpy(cross_entropy),
        rtol=1e-6,
    )
    triplets = {
        "labels": labels,
        "role": np.array([0, 1, 2, 0, 1, 2]),
        "triplet": np.array([0, 0, 0, 1, 1, 1]),
    }
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.compute_loss(x, triplets, out)),
        keras.ops.convert_to_numpy(
            sampled_triplet_loss(out["embedding"], triplets["role"], triplets["triplet"])
        ),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="mining='batch_hard'"):
        model.compute_loss(x, labels, out)


def test_the_paper_recipe_alternates_and_draws_triplets_every_refresh(tmp_path, monkeypatch):
    df = data.load_dataset("synthetic", tmp_path / "synthetic")
    train = df[df.split == "train"]
    keras.utils.set_random_seed(0)
    model = dermnet.build("triplet_resnet101", num_classes=3, refresh_every=2, **SMALL)
    drawings = []
    redraw = AlternatingTriplets.redraw
    monkeypatch.setattr(
        AlternatingTriplets,
        "redraw",
        lambda self, embeddings, epoch: (
            drawings.append((epoch, embeddings.shape)) or redraw(self, embeddings, epoch)
        ),
    )
    recipe = dermnet.recipes.get("xue2018_task3").at_size(32)
    history = training.train(model, recipe, train, epochs=3, batch_size=12, cache_dir=tmp_path, verbose=0)[0]
    assert drawings == [(0, (len(train), 256)), (2, (len(train), 256))]  # run epochs 0 and 2 of 0-2
    assert np.isfinite(history.history["loss"]).all() and "accuracy" in history.history


def test_cross_entropy_only_trains_on_plain_batches(tmp_path):
    df = data.load_dataset("synthetic", tmp_path / "synthetic")
    model = dermnet.build("triplet_resnet101", num_classes=3, triplet_weight=0.0, **SMALL)
    assert dermnet.models.contract(model).stream == "images"
    recipe = dermnet.recipes.get("xue2018_task3").at_size(32)
    history = training.train(
        model, recipe, df[df.split == "train"], epochs=1, batch_size=12, cache_dir=tmp_path, verbose=0
    )[0]
    assert np.isfinite(history.history["loss"]).all()


def test_a_model_saved_before_mining_existed_loads_as_batch_hard():
    config = TripletClassifier(
        num_classes=3, mining="batch_hard", **{k: v for k, v in SMALL.items() if k != "weights"}
    ).get_config()
    del config["mining"], config["refresh_every"]
    old = TripletClassifier.from_config({**config, "squared": False})
    assert old.mining == "batch_hard" and old.margin == 0.5
