"""Mask metrics for `model.compile(metrics=[...])`: the Dice coefficient, the Jaccard index and ISIC
2018 task 1's thresholded Jaccard of binarised predictions, per image and mask channel, averaged
over every image seen since the last `reset_state`.

They follow `dermnet.evaluation.segmentation_scores` (the challenge's scoring): an image whose true and
predicted masks are both empty scores 1, and the thresholded Jaccard zeroes a Jaccard below 0.65.
Unlike it, they score the masks at the model's input size, not at each image's own size.

Example:
>>> model.compile(optimizer="adam", loss=dermnet.losses.DiceLoss(),
...               metrics=[dermnet.metrics.DiceCoefficient(), dermnet.metrics.ThresholdedJaccard()])
"""

import keras
from keras import ops

# ISIC 2018 task 1: an image whose Jaccard index is below it scores 0 (`dermnet.evaluation.official`
# reads it from here, so that training's metric and the official score share one threshold).
JACCARD_THRESHOLD = 0.65


class _PerImageMean(keras.metrics.Metric):
    """The mean of `scores(y_true, y_pred)` `[B, C]` over all images and channels seen. The state
    is float32 whatever the policy: a bfloat16 running total would stop growing after a few
    hundred images (8 bits of mantissa)."""

    def __init__(self, threshold=0.5, name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.threshold = float(threshold)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="count")

    def scores(self, y_true, y_pred):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch: `y_true` `[B, H, W, C]` in {0, 1}, `y_pred` probabilities of that shape;
        `sample_weight` `[B]`, if given, weighs the images."""
        scores = self.scores(y_true, y_pred)
        weights = ops.ones_like(scores)
        if sample_weight is not None:
            weights = weights * ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
        self.total.assign_add(ops.sum(scores * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


@keras.saving.register_keras_serializable(package="dermnet")
class DiceCoefficient(_PerImageMean):
    """The mean Dice coefficient `2·|T ∩ P| / (|T| + |P|)` of the predictions binarised at
    `threshold`, per image and channel (1 where both masks are empty).

    Args:
        threshold: a pixel whose probability is above it is predicted lesion.

    Example:
    >>> model.compile(optimizer="adam", loss=dermnet.losses.DiceLoss(),
    ...               metrics=[dermnet.metrics.DiceCoefficient()])
    """

    def __init__(self, threshold=0.5, name="dice", dtype="float32"):
        super().__init__(threshold=threshold, name=name, dtype=dtype)

    def scores(self, y_true, y_pred):
        return _jaccard_and_dice(y_true, y_pred, self.threshold)[1]


@keras.saving.register_keras_serializable(package="dermnet")
class JaccardIndex(_PerImageMean):
    """The mean Jaccard index `|T ∩ P| / |T ∪ P|` of the predictions binarised at `threshold`, per
    image and channel (1 where both masks are empty).

    Args:
        threshold: a pixel whose probability is above it is predicted lesion.

    Example:
    >>> model.compile(optimizer="adam", loss=dermnet.losses.JaccardLoss(),
    ...               metrics=[dermnet.metrics.JaccardIndex()])
    """

    def __init__(self, threshold=0.5, name="jaccard", dtype="float32"):
        super().__init__(threshold=threshold, name=name, dtype=dtype)

    def scores(self, y_true, y_pred):
        return _jaccard_and_dice(y_true, y_pred, self.threshold)[0]


@keras.saving.register_keras_serializable(package="dermnet")
class ThresholdedJaccard(_PerImageMean):
    """ISIC 2018 task 1's ranking metric: the per-image Jaccard index, set to 0 where it is below
    `floor`, averaged. A mask that misses the lesion badly scores as nothing at all.

    Args:
        threshold: a pixel whose probability is above it is predicted lesion.
        floor: the Jaccard below which an image scores 0 (the challenge's 0.65).

    Example:
    >>> model.compile(optimizer="adam", loss=dermnet.losses.DiceLoss(),
    ...               metrics=[dermnet.metrics.ThresholdedJaccard()])
    """

    def __init__(self, threshold=0.5, floor=JACCARD_THRESHOLD, name="threshold_jaccard", dtype="float32"):
        super().__init__(threshold=threshold, name=name, dtype=dtype)
        self.floor = float(floor)

    def scores(self, y_true, y_pred):
        jaccard = _jaccard_and_dice(y_true, y_pred, self.threshold)[0]
        return ops.where(jaccard >= self.floor, jaccard, 0.0)

    def get_config(self):
        return {**super().get_config(), "floor": self.floor}


def _jaccard_and_dice(y_true, y_pred, threshold):
    """Jaccard and Dice `[B, C]` of each image and channel, the truth taken at 0.5 and the
    prediction at `threshold`; 1 and 1 where both masks are empty (as `segmentation_scores`)."""
    y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
    if len(y_true.shape) == len(y_pred.shape) - 1:  # [B, H, W] truth of a one-channel prediction
        y_true = ops.expand_dims(y_true, -1)
    truth = ops.cast(y_true > 0.5, "float32")
    predicted = ops.cast(y_pred > threshold, "float32")
    axis = tuple(range(1, len(y_pred.shape) - 1))  # the pixels of each image
    overlap = ops.sum(truth * predicted, axis=axis)
    total = ops.sum(truth, axis=axis) + ops.sum(predicted, axis=axis)
    union = total - overlap
    # Counts are whole numbers: max(·, 1) only guards the division where where() picks the 1.
    jaccard = ops.where(union > 0, overlap / ops.maximum(union, 1.0), 1.0)
    dice = ops.where(total > 0, 2.0 * overlap / ops.maximum(total, 1.0), 1.0)
    return jaccard, dice
