"""Losses the papers need and Keras 3 lacks: batch-hard triplet loss (Xue et al. 2018, after
Hermans et al. 2017; tensorflow-addons' `TripletHardLoss` no longer imports with Keras 3)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dermnet")
class BatchHardTripletLoss(keras.losses.Loss):
    """For each anchor, its farthest same-class embedding and its nearest other-class one in the
    batch: `max(d(a, p) - d(a, n) + margin, 0)`, averaged over the anchors that have both (a class
    seen once in the batch has no positive). Use with P×K batches (`dermnet.data.triplet_dataset`).

    Args:
        margin: the distance gap asked between the hardest positive and the hardest negative.
        squared: squared Euclidean distances instead of Euclidean ones.
        normalize: L2-normalise the embeddings first (distances then lie in [0, 2]).

    `y_true` holds integer labels `[B]` (or `[B, 1]`), `y_pred` embeddings `[B, D]`.

    Example:
    >>> model.compile(optimizer="adam", loss={"embedding": dermnet.losses.BatchHardTripletLoss(margin=0.3)})
    """

    def __init__(self, margin=0.5, squared=False, normalize=True, name="batch_hard_triplet", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin, self.squared, self.normalize = float(margin), bool(squared), bool(normalize)

    def call(self, y_true, y_pred):
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        embeddings = ops.cast(y_pred, "float32")
        if self.normalize:
            embeddings = embeddings / ops.sqrt(ops.maximum(ops.sum(embeddings**2, axis=1, keepdims=True), 1e-12))
        distances = pairwise_distances(embeddings, self.squared)
        same = ops.equal(labels[:, None], labels[None, :])
        not_self = ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool"))
        positive_mask = ops.logical_and(same, not_self)
        hardest_positive = ops.max(ops.where(positive_mask, distances, 0.0), axis=1)
        # The nearest negative: distances to same-class rows lifted above every real distance.
        lifted = distances + ops.cast(same, "float32") * (ops.max(distances) + 1.0)
        hardest_negative = ops.min(lifted, axis=1)
        valid = ops.cast(ops.logical_and(ops.any(positive_mask, axis=1), ops.logical_not(ops.all(same, axis=1))),
                         "float32")
        losses = ops.relu(hardest_positive - hardest_negative + self.margin) * valid
        # One value for the batch: the mean over valid anchors (Keras' reduction then leaves it as is).
        return ops.sum(losses) / ops.maximum(ops.sum(valid), 1.0)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "squared": self.squared, "normalize": self.normalize}


def pairwise_distances(embeddings, squared=False):
    """Euclidean (or squared) distances `[B, B]` between the rows of `embeddings` `[B, D]`, with a
    finite gradient where two rows coincide (the square root's derivative is infinite at 0)."""
    norms = ops.sum(embeddings**2, axis=1)
    squares = ops.maximum(norms[:, None] - 2.0 * ops.matmul(embeddings, ops.transpose(embeddings)) + norms[None, :],
                          0.0)
    if squared:
        return squares
    zero = ops.cast(ops.less_equal(squares, 1e-16), "float32")
    return ops.sqrt(squares + zero * 1e-16) * (1.0 - zero)
