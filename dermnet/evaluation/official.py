"""The ISIC challenges' metric definitions, as the challenges' own scoring package computes them
(ImageMarkup's isic-challenge-scoring 5.8.0), on plain arrays.

Written here rather than imported: that package needs Python 3.13, which dermnet does not (it runs on
3.10-3.12). `tools/compare_official_scoring.py` checks these functions against it on random cases;
`tests/test_official_scoring.py` holds its own tests' numbers.

The definitions, in short:
- A binary call is a value above 0.5 (probabilities) or above 128 (mask files of 0-255).
- Accuracy, sensitivity, specificity, Dice, PPV and NPV come from a confusion matrix of summed
  weights. Where one is undefined (no positive, no negative, no call) it scores 1.0, as the
  official package's "freebies" do; Jaccard and Dice score 1.0 when both masks are empty.
- AUC and average precision are scikit-learn's, with the truth's weights as sample weights.
- `auc_sens_80` is the raw area under the ROC curve from the point where sensitivity reaches 0.8
  on (no McClish correction); the ISIC 2024 metric (`partial_auc_above_tpr`) is the area between
  the curve and the 0.8 sensitivity line, at most 0.2.
- Balanced accuracy is the mean over the truth's categories of the weighted share of each
  category's images predicted as it; a row whose highest value is shared is "undecided" (wrong for
  a prediction, and left out for a truth).
- Macro averages skip undefined (NaN) values, as a pandas mean does.

dermnet goes beyond the package in three places, each marked where it happens: a metric the
package cannot compute (it raises on a category with no positive image) is NaN here; the ISIC
2017 `spec_at_sens_*` levels; and the ISIC 2024 partial AUC, which the package does not have.
"""

import warnings

import numpy as np
from sklearn import metrics

from dermnet.metrics import JACCARD_THRESHOLD

BINARY_METRICS = ("accuracy", "sensitivity", "specificity", "dice", "ppv", "npv")
CATEGORY_METRICS = (*BINARY_METRICS, "auc", "auc_sens_80", "ap")
MASK_METRICS = ("accuracy", "sensitivity", "specificity", "jaccard", "threshold_jaccard", "dice")
UNDECIDED = -1  # a row whose highest value is shared


def confusion(truth, predicted, weights=None):
    """`(TP, TN, FP, FN)`: the summed weights (1 each by default) of binary `truth` and `predicted`."""
    truth, predicted = np.ravel(truth).astype(bool), np.ravel(predicted).astype(bool)
    weights = np.ones(truth.shape) if weights is None else np.ravel(weights).astype("float64")
    return tuple(
        float(np.sum(weights[t & p]))
        for t, p in ((truth, predicted), (~truth, ~predicted), (~truth, predicted), (truth, ~predicted))
    )


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else 1.0  # undefined: the package's freebie


def binary_metrics(tp, tn, fp, fn):
    """Accuracy, sensitivity, specificity, Dice, PPV and NPV of a confusion matrix (module docstring)."""
    total = tp + tn + fp + fn
    return {
        "accuracy": (tp + tn) / total if total else float("nan"),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
    }


def jaccard(tp, fp, fn):
    return _ratio(tp, tp + fp + fn)


def mask_metrics(truth, predicted):
    """Task 1's per-image scores of two binary masks: `MASK_METRICS`."""
    tp, tn, fp, fn = confusion(truth, predicted)
    scores = binary_metrics(tp, tn, fp, fn)
    value = jaccard(tp, fp, fn)
    return {
        "accuracy": scores["accuracy"],
        "sensitivity": scores["sensitivity"],
        "specificity": scores["specificity"],
        "jaccard": value,
        "threshold_jaccard": value if value >= JACCARD_THRESHOLD else 0.0,
        "dice": scores["dice"],
    }


def _quietly(function, *args, **kwargs):
    # scikit-learn warns (and returns NaN) where a metric is undefined; the NaN is the answer here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(function(*args, **kwargs))


def auc(truth, confidence, weights=None):
    """The ROC AUC; NaN when the truth holds one class only."""
    return _quietly(metrics.roc_auc_score, truth, confidence, sample_weight=weights)


def average_precision(truth, confidence, weights=None):
    return _quietly(metrics.average_precision_score, truth, confidence, sample_weight=weights)


def roc_points(truth, confidence, weights=None, drop_intermediate=True):
    """`(fpr, tpr, thresholds)` of the ROC curve over the rows of nonzero weight; the first
    threshold is 1.0 (scikit-learn's infinity, as the package writes it). The package further thins
    a curve of over 100 points for display (Ramer-Douglas-Peucker); dermnet keeps every point."""
    truth, confidence = np.asarray(truth), np.asarray(confidence)
    weights = np.ones(len(truth)) if weights is None else np.asarray(weights, dtype="float64")
    kept = weights != 0
    sample_weight = None if (weights[kept] == 1.0).all() else weights[kept]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fpr, tpr, thresholds = metrics.roc_curve(
            truth[kept], confidence[kept], sample_weight=sample_weight, drop_intermediate=drop_intermediate
        )
    return fpr, tpr, np.nan_to_num(thresholds, posinf=1.0)


def auc_above_sensitivity(truth, confidence, weights=None, sensitivity=0.8):
    """The area under the ROC curve from the point where the true-positive rate reaches
    `sensitivity` to the end, with that point interpolated; NaN without positives or negatives
    (where the official package raises)."""
    if not 0 < sensitivity <= 1:
        raise ValueError(f"sensitivity must be in (0, 1]; got {sensitivity}")
    fpr, tpr, _ = roc_points(truth, confidence, weights, drop_intermediate=False)
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        return float("nan")
    start = int(np.searchsorted(tpr, sensitivity, side="left"))  # the first point at or above the level
    fpr_at_level = np.interp(sensitivity, tpr[start - 1 : start + 1], fpr[start - 1 : start + 1])
    return float(metrics.auc(np.insert(fpr[start:], 0, fpr_at_level), np.insert(tpr[start:], 0, sensitivity)))


def partial_auc_above_tpr(truth, confidence, weights=None, min_tpr=0.8):
    """ISIC 2024's ranking metric (SLICE-3D, on Kaggle): the area of the ROC region above the
    true-positive rate `min_tpr`, between 0 and 1 - `min_tpr`. Computed as the challenge's metric
    does: the labels and scores flipped, the area under that curve up to a false-positive rate of
    1 - `min_tpr`, the last point interpolated."""
    truth, confidence = np.asarray(truth, dtype="float64"), np.asarray(confidence, dtype="float64")
    max_fpr = 1 - min_tpr
    fpr, tpr, _ = roc_points(1 - truth, 1 - confidence, weights)
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        return float("nan")
    stop = int(np.searchsorted(fpr, max_fpr, side="right"))
    tpr_at_stop = np.interp(max_fpr, fpr[stop - 1 : stop + 1], tpr[stop - 1 : stop + 1])
    return float(metrics.auc(np.append(fpr[:stop], max_fpr), np.append(tpr[:stop], tpr_at_stop)))


def specificity_at_sensitivity(truth, confidence, level):
    """ISIC 2017's `spec_at_sens_*` (a dermnet addition: the official package does not compute it):
    the specificity of the first ROC point whose sensitivity reaches `level`; NaN with one class."""
    fpr, tpr, _ = roc_points(truth, confidence)
    reached = np.flatnonzero(tpr >= level)
    if np.isnan(tpr).any() or np.isnan(fpr).any():
        return float("nan")
    return float(1 - fpr[reached[0]]) if len(reached) else 0.0


def category_metrics(truth, confidence, weights=None):
    """One category's `CATEGORY_METRICS`: its truth values `[N]` (0/1 or probabilities, positive
    above 0.5) against the predicted confidence `[N]`."""
    truth, confidence = np.asarray(truth, dtype="float64"), np.asarray(confidence, dtype="float64")
    scores = binary_metrics(*confusion(truth > 0.5, confidence > 0.5, weights))
    return {
        **scores,
        "auc": auc(truth, confidence, weights),
        "auc_sens_80": auc_above_sensitivity(truth, confidence, weights, 0.8),
        "ap": average_precision(truth, confidence, weights),
    }


def labels(values):
    """The column of each row's highest value `[N]`; `UNDECIDED` where it is shared."""
    values = np.asarray(values, dtype="float64")
    highest = values == values.max(axis=1, keepdims=True)
    return np.where(highest.sum(axis=1) == 1, values.argmax(axis=1), UNDECIDED)


def balanced_accuracy(truth, predictions, weights=None):
    """The balanced multiclass accuracy of `[N, K]` truth and predictions (module docstring); a
    category absent from the truth gives NaN (the package's 0/0), left out of the mean."""
    truth_labels, predicted_labels = labels(truth), labels(predictions)
    weights = np.ones(len(truth_labels)) if weights is None else np.asarray(weights, dtype="float64")
    recalls = []
    for k in range(np.shape(truth)[1]):
        of_k = truth_labels == k
        total = weights[of_k].sum()
        recalls.append(weights[of_k & (predicted_labels == k)].sum() / total if total else float("nan"))
    return float(np.nanmean(recalls)) if not np.isnan(recalls).all() else float("nan")


def macro_average(values):
    """The mean of the defined values (a pandas mean); NaN if none is."""
    values = np.asarray(values, dtype="float64")
    return float(np.nanmean(values)) if (~np.isnan(values)).any() else float("nan")
