"""Losses the papers need and Keras 3 lacks: the triplet loss on the triplets Xue et al. 2018 sample
(`sampled_triplet_loss`), the batch-hard triplet loss (after Hermans et al. 2017;
tensorflow-addons' `TripletHardLoss` no longer imports with Keras 3), and the
smoothed soft Dice and Jaccard losses of the segmentors, batch-global or per image (Menegola et al.
2017). `keras.losses.Dice` adds no smoothing (an empty truth with an empty prediction is a loss of
1, not 0) and pools the mask channels into one Dice.

Every loss's `call` returns one value per image `[B]`; Keras' reduction (by default the mean over
the batch) and sample weights then apply as for any other loss.
"""

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
    >>> loss = dermnet.losses.BatchHardTripletLoss(margin=0.3)
    >>> float(loss(np.array([0, 0, 1, 1]), np.array([[1., 0], [1, 0], [0, 1], [0, 1]])))  # well separated
    0.0
    """

    def __init__(self, margin=0.5, squared=False, normalize=True, name="batch_hard_triplet", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin, self.squared, self.normalize = float(margin), bool(squared), bool(normalize)

    def call(self, y_true, y_pred):
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        embeddings = _unit_length(y_pred) if self.normalize else ops.cast(y_pred, "float32")
        distances = pairwise_distances(embeddings, self.squared)
        same = ops.equal(labels[:, None], labels[None, :])
        not_self = ops.logical_not(ops.eye(ops.shape(labels)[0], dtype="bool"))
        positive_mask = ops.logical_and(same, not_self)
        hardest_positive = ops.max(ops.where(positive_mask, distances, 0.0), axis=1)
        # The nearest negative: distances to same-class rows lifted above every real distance.
        lifted = distances + ops.cast(same, "float32") * (ops.max(distances) + 1.0)
        hardest_negative = ops.min(lifted, axis=1)
        valid = ops.cast(
            ops.logical_and(ops.any(positive_mask, axis=1), ops.logical_not(ops.all(same, axis=1))), "float32"
        )
        losses = ops.relu(hardest_positive - hardest_negative + self.margin) * valid
        # One value for the batch: the mean over valid anchors (Keras' reduction then leaves it as is).
        return ops.sum(losses) / ops.maximum(ops.sum(valid), 1.0)

    def get_config(self):
        return {
            **super().get_config(),
            "margin": self.margin,
            "squared": self.squared,
            "normalize": self.normalize,
        }


def sampled_triplet_loss(embeddings, role, triplet, margin=0.2, squared=True, normalize=True):
    """Xue et al.'s eq. 4 on the triplets the data drew (`dermnet.data.triplets`):
    `max(d(a, p) + margin - d(a, n), 0)`, averaged over the anchors whose positive and negative are in
    the batch (0 for a batch without triplets).

    Rows find their triplet by `triplet` (its number in the batch) and `role` (0 anchor, 1 positive,
    2 negative, anything else no triplet), not by position: a batch split across replicas keeps every
    triplet whose three rows stay together. `squared`: squared Euclidean distances, as eq. 3;
    `normalize`: on the unit sphere first, as FaceNet (the paper's triplet reference) does.

    Example:
    >>> embeddings = np.array([[1., 0], [1, 0], [0, 1], [.6, .8]])  # a, p, n, a plain image
    >>> float(sampled_triplet_loss(embeddings, np.array([0, 1, 2, -1]), np.array([0, 0, 0, -1])))
    0.0
    """
    embeddings = _unit_length(embeddings) if normalize else ops.cast(embeddings, "float32")
    role, triplet = ops.cast(role, "int32"), ops.cast(triplet, "int32")
    distances = pairwise_distances(embeddings, squared)
    same_triplet = ops.equal(triplet[:, None], triplet[None, :])
    anchors = ops.equal(role, 0)

    def partner(kind):  # [B, B]: row j is the anchor i's positive (or negative)
        return ops.cast(
            ops.logical_and(ops.logical_and(same_triplet, anchors[:, None]), ops.equal(role, kind)[None, :]),
            "float32",
        )

    positive, negative = partner(1), partner(2)
    valid = ops.cast(anchors, "float32") * ops.max(positive, axis=1) * ops.max(negative, axis=1)
    hinge = ops.relu(ops.sum(distances * positive, axis=1) + margin - ops.sum(distances * negative, axis=1))
    return ops.sum(hinge * valid) / ops.maximum(ops.sum(valid), 1.0)


def _unit_length(embeddings):
    embeddings = ops.cast(embeddings, "float32")
    return embeddings / ops.sqrt(ops.maximum(ops.sum(embeddings**2, axis=1, keepdims=True), 1e-12))


def pairwise_distances(embeddings, squared=False):
    """Euclidean (or squared) distances `[B, B]` between the rows of `embeddings` `[B, D]`, with a
    finite gradient where two rows coincide (the square root's derivative is infinite at 0)."""
    norms = ops.sum(embeddings**2, axis=1)
    squares = ops.maximum(
        norms[:, None] - 2.0 * ops.matmul(embeddings, ops.transpose(embeddings)) + norms[None, :], 0.0
    )
    if squared:
        return squares
    zero = ops.cast(ops.less_equal(squares, 1e-16), "float32")
    return ops.sqrt(squares + zero * 1e-16) * (1.0 - zero)


@keras.saving.register_keras_serializable(package="dermnet")
class DiceLoss(keras.losses.Loss):
    """Soft Dice loss `1 - (2·Σ y·p + smooth) / (Σ y + Σ p + smooth)`, per mask channel, averaged
    over the channels.

    Args:
        per_image: False ("standard"): the sums run over the whole batch and all pixels, one Dice per
            channel. True (RECOD, Menegola et al. 2017): one Dice per image and channel, averaged.
        smooth: added to both sides of the ratio; it makes an empty truth with an empty prediction
            a perfect 0 and keeps the gradient finite.

    `y_true` `[B, H, W, C]` in {0, 1} (any dtype; `[B, H, W]` for one channel), `y_pred` `[B, H, W, C]`
    probabilities; computed in float32, also under a mixed precision policy. With `per_image=False`
    every image carries the batch's loss, so the default reduction gives that loss and a sample
    weight scales it by the weights' mean (it does not reweight the pixels).

    Example:
    >>> model.compile(optimizer="adam", loss=dermnet.losses.DiceLoss(per_image=True))
    """

    def __init__(self, per_image=False, smooth=1.0, name="dice_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.per_image, self.smooth = bool(per_image), float(smooth)

    def call(self, y_true, y_pred):
        overlap, truth, predicted = _soft_overlaps(y_true, y_pred, self.per_image)
        dice = (2.0 * overlap + self.smooth) / (truth + predicted + self.smooth)
        return _per_sample(1.0 - dice, y_pred)

    def get_config(self):
        return {**super().get_config(), "per_image": self.per_image, "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="dermnet")
class JaccardLoss(keras.losses.Loss):
    """Soft Jaccard (IoU) loss `1 - (Σ y·p + smooth) / (Σ y + Σ p - Σ y·p + smooth)`, with the
    conventions of `DiceLoss` (per channel, batch-global or per image, float32).

    Args:
        per_image: one Jaccard per image and channel (True) or per channel over the batch (False).
        smooth: added to both sides of the ratio (empty truth and prediction: loss 0).

    Example:
    >>> model.compile(optimizer="adam", loss=dermnet.losses.JaccardLoss())
    """

    def __init__(self, per_image=False, smooth=1.0, name="jaccard_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.per_image, self.smooth = bool(per_image), float(smooth)

    def call(self, y_true, y_pred):
        overlap, truth, predicted = _soft_overlaps(y_true, y_pred, self.per_image)
        jaccard = (overlap + self.smooth) / (truth + predicted - overlap + self.smooth)
        return _per_sample(1.0 - jaccard, y_pred)

    def get_config(self):
        return {**super().get_config(), "per_image": self.per_image, "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="dermnet")
class BCEDiceLoss(keras.losses.Loss):
    """Binary cross-entropy (the mean over an image's pixels and channels) + `dice_weight` ×
    `DiceLoss`: the cross-entropy gives every pixel a gradient from the start, the Dice term
    keeps a small lesion from being drowned by the background.

    Args:
        dice_weight: the weight of the Dice term.
        per_image: `DiceLoss`'s per-image (True) or batch-global (False) Dice.
        smooth: `DiceLoss`'s smoothing.

    Example:
    >>> model.compile(optimizer="adam", loss=dermnet.losses.BCEDiceLoss(dice_weight=0.5))
    """

    def __init__(self, dice_weight=1.0, per_image=False, smooth=1.0, name="bce_dice_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dice_weight = float(dice_weight)
        self.dice = DiceLoss(per_image=per_image, smooth=smooth)

    def call(self, y_true, y_pred):
        y_true, y_pred = _float32_same_rank(y_true, y_pred)
        # keras' binary_crossentropy averages over the last axis (channels); then over the pixels.
        cross_entropy = ops.mean(
            keras.losses.binary_crossentropy(y_true, y_pred), axis=tuple(range(1, len(y_pred.shape) - 1))
        )
        return cross_entropy + self.dice_weight * self.dice.call(y_true, y_pred)

    def get_config(self):
        return {
            **super().get_config(),
            "dice_weight": self.dice_weight,
            "per_image": self.dice.per_image,
            "smooth": self.dice.smooth,
        }


def _float32_same_rank(y_true, y_pred):
    """Both as float32 (exact sums under mixed precision, uint8 masks), `y_true` given the channel
    axis it may lack: `[B, H, W]` against `[B, H, W, 1]` would otherwise broadcast to `[B, H, W, W]`."""
    y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
    if len(y_true.shape) == len(y_pred.shape) - 1:
        y_true = ops.expand_dims(y_true, -1)
    return y_true, y_pred


def _soft_overlaps(y_true, y_pred, per_image):
    """`Σ y·p`, `Σ y`, `Σ p` per channel: `[B, C]` over each image's pixels (per_image), else `[C]`
    over the batch's. The Dice and Jaccard losses are ratios of these."""
    y_true, y_pred = _float32_same_rank(y_true, y_pred)
    axis = tuple(range(1 if per_image else 0, len(y_pred.shape) - 1))
    return ops.sum(y_true * y_pred, axis=axis), ops.sum(y_true, axis=axis), ops.sum(y_pred, axis=axis)


def _per_sample(losses, y_pred):
    """`[B]` from per-channel losses: `[B, C]` averaged over channels, or `[C]` (batch-global)
    averaged and given to every image, so that both variants reduce and weigh alike."""
    if len(losses.shape) == 2:
        return ops.mean(losses, axis=-1)
    return ops.broadcast_to(ops.mean(losses), ops.shape(y_pred)[:1])


def per_replica(loss):
    """`loss`, a mean over one replica's share of the batch, divided by the number of replicas under
    a tf.distribute strategy, as Keras divides its own losses: the replicas' gradients are summed,
    and a model's own `compute_loss` must give Keras a loss so scaled. Unchanged otherwise."""
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            return loss / replicas
    return loss
