"""Predictions that do not depend on the image: a model that learned nothing, said so.

A network whose units died or whose weights diverged in its first epochs (a learning rate too high
for its input size and data: Ray et al.'s Adam at 0.01 does this to baseline_cnn on ISIC 2017 at
96 px, where 1e-3 learns) gives every image the same output. Its scores look like a result (AUC
0.500, accuracy the majority share), so the scorers of a model's predictions (`challenge_scores`,
`mask_scores`) check for it and add a `"warning"` to the scores.
"""

import warnings

import numpy as np

# Spread across images, relative to the largest value, under which an output counts as the same for
# every image: float32 rounding makes one constant output differ by ~1e-7.
TOLERANCE = 1e-6

LIKELY_CAUSE = (
    "The likely cause: a learning rate too high for this image size and data (the network's "
    "units died or its weights diverged in the first epochs: try one 10 times lower), or too few "
    "epochs."
)


def collapse_warning(predictions, masks=False):
    """A plain sentence saying that the model gave every image the same prediction, with the likely
    cause; None where the predictions vary. Also issued as a `UserWarning`, so that it is in the log.

    Args:
        predictions: one per image: class probabilities `[N, K]`, or with `masks`, mask
            probabilities `[N, H, W, C]` (also flagged: the same thresholded mask for every image).
        masks: whether `predictions` are masks.

    Example:
    >>> collapse_warning(np.tile([0.2, 0.8], (5, 1)))[:77]
    'The model learned nothing: every one of the 5 images gets the same prediction'
    """
    try:
        predictions = np.asarray(predictions)
    except ValueError:  # masks of several sizes: not one model output
        return None
    n = len(predictions)
    if n < 2 or predictions.dtype == object:
        return None
    same = bool(np.all(np.ptp(predictions, axis=0) <= TOLERANCE * np.abs(predictions).max(axis=0)))
    if masks:
        if not same and any(not np.array_equal(predictions[0] > 0.5, p > 0.5) for p in predictions[1:]):
            return None
        empty = " (an empty one)" if not (predictions[0] > 0.5).any() else ""
        what, guess = f"mask{empty}{'' if same else ' after the threshold'}", "a constant mask"
    else:
        if not same:
            return None
        shown = ", ".join(f"{p:.3f}" for p in predictions[0][:10])
        shown += ", ..." if predictions.shape[-1] > 10 else ""
        what = f"prediction (probabilities {shown})"
        guess = "a constant guess (AUC 0.5, accuracy the share of the class it picks)"
    sentence = (
        f"The model learned nothing: every one of the {n} images gets the same {what}, so its scores "
        f"are those of {guess}. {LIKELY_CAUSE}"
    )
    warnings.warn(sentence, stacklevel=2)
    return sentence
