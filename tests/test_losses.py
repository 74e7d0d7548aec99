"""Batch-hard triplet loss against a brute-force numpy computation, finite gradients, serialization."""

import itertools

import keras
import numpy as np
import pytest
from harness import gradients

from dermnet.losses import BatchHardTripletLoss

pytestmark = pytest.mark.portable


def brute_force(labels, embeddings, margin, squared, normalize):
    if normalize:
        embeddings = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    squares = ((embeddings[:, None] - embeddings[None]) ** 2).sum(axis=-1)
    distances = squares if squared else np.sqrt(squares)
    losses = []
    for a in range(len(labels)):
        distance = distances[a].__getitem__
        positives = [distance(p) for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        negatives = [distance(n) for n in range(len(labels)) if labels[n] != labels[a]]
        if positives and negatives:
            losses.append(max(max(positives) - min(negatives) + margin, 0.0))
    return np.mean(losses)


@pytest.mark.parametrize("squared, normalize", list(itertools.product([False, True], repeat=2)))
def test_equals_brute_force(squared, normalize):
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 3])  # class 3 has no positive: its anchor is left out
    embeddings = rng.normal(size=(8, 5)).astype("float32")
    loss = BatchHardTripletLoss(margin=0.3, squared=squared, normalize=normalize)
    got = keras.ops.convert_to_numpy(loss(labels, embeddings))
    np.testing.assert_allclose(
        got, brute_force(labels, embeddings.astype("float64"), 0.3, squared, normalize), rtol=1e-4
    )


def test_gradients_are_finite_with_duplicate_embeddings():
    embeddings = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], "float32")  # exact duplicates
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, kernel_initializer="identity")])
    grads = gradients(model, embeddings, np.array([0, 1, 0, 1]), loss=BatchHardTripletLoss(normalize=False))
    assert all(np.isfinite(keras.ops.convert_to_numpy(g)).all() for g in grads)


def test_zero_when_classes_are_far_apart():
    embeddings = np.array([[0, 0], [0, 0.1], [10, 10], [10, 10.1]], "float32")
    loss = BatchHardTripletLoss(margin=1.0, normalize=False)
    assert float(keras.ops.convert_to_numpy(loss([0, 0, 1, 1], embeddings))) == 0.0


def test_serializable():
    loss = BatchHardTripletLoss(margin=0.2, squared=True, normalize=False)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, BatchHardTripletLoss) and (again.margin, again.squared, again.normalize) == (
        0.2,
        True,
        False,
    )
