"""Nearest-class-mean prediction over embeddings (Xue et al. 2018, ISIC 2018 task 3)."""

import keras
import numpy as np


class NearestClassMean:
    """Draws `samples_per_class` training images per class and embeds them once; a new image gets
    the class whose samples lie nearest on average (the mean Euclidean distance to them, not the
    distance to their mean).

    Args:
        embedder: a Keras model (or any callable) mapping an image batch to embeddings `[B, D]`.
        samples_per_class: 100 in the paper; a class with fewer keeps all its images.
        seed: which samples are drawn.

    `predict` returns a softmax over the negated mean distances, so the scores rank like
    probabilities (the class is their argmax) and `dermnet.evaluation` scores them like any
    classifier's output.

    Example:
    >>> ncm = NearestClassMean(embedding_model).fit(train_images, train_labels)
    >>> ncm.predict(test_images).shape   # probabilities: a softmax of the negated mean distances
    (6, 3)
    """

    def __init__(self, embedder, samples_per_class=100, seed=0):
        self.embedder, self.samples_per_class, self.seed = embedder, int(samples_per_class), seed

    def fit(self, images, labels, num_classes=None):
        labels = np.asarray(labels).reshape(-1)
        num_classes = num_classes or int(labels.max()) + 1
        rng = np.random.default_rng(self.seed)
        self.class_samples = []
        for k in range(num_classes):
            members = np.flatnonzero(labels == k)
            if not len(members):
                raise ValueError(f"class {k} has no training image: nearest-class-mean needs every class")
            chosen = rng.choice(members, min(self.samples_per_class, len(members)), replace=False)
            self.class_samples.append(self._embed(images[np.sort(chosen)]))
        return self

    def mean_distances(self, images):
        """`[N, K]`: the mean Euclidean distance of each image's embedding to each class' samples."""
        if not hasattr(self, "class_samples"):
            raise ValueError("call fit() before predicting")
        embeddings = self._embed(images)
        return np.stack(
            [
                np.linalg.norm(embeddings[:, None] - samples[None], axis=-1).mean(axis=1)
                for samples in self.class_samples
            ],
            axis=1,
        )

    def predict(self, images):
        distances = self.mean_distances(images)
        scores = np.exp(-(distances - distances.min(axis=1, keepdims=True)))
        return scores / scores.sum(axis=1, keepdims=True)

    def _embed(self, images):
        if isinstance(self.embedder, keras.Model):
            return np.asarray(self.embedder.predict(images, verbose=0), dtype="float64")
        return np.asarray(keras.ops.convert_to_numpy(self.embedder(images)), dtype="float64")
