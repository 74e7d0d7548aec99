"""Scores of predicted class probabilities against the truth.

`binary_scores` are ISIC 2016 part 3's: average precision of the positive (malignant) class'
confidence, the challenge's ranking metric, then accuracy, sensitivity and specificity at a 0.5
threshold and ROC AUC. `multiclass_scores` give accuracy, balanced accuracy (ISIC 2018 task 3's
ranking metric: mean recall over the classes present in the truth) and the macro mean of one-vs-rest
AUCs.
"""

import numpy as np
from sklearn import metrics


def binary_scores(truth, confidence, threshold=0.5):
    """Scores of the positive class' `confidence` [N] against 0/1 `truth` [N]."""
    truth, confidence = _checked(truth, confidence, 1)
    if not np.isin(truth, (0, 1)).all():
        raise ValueError(f"binary truth must be 0 or 1; got the values {sorted(set(truth.tolist()))[:10]}")
    predicted = confidence >= threshold
    positive = truth == 1
    both_classes = 0 < positive.sum() < len(truth)
    return {
        "average_precision": float(metrics.average_precision_score(truth, confidence)) if positive.any()
        else float("nan"),
        "accuracy": float(np.mean(predicted == positive)),
        "sensitivity": float(predicted[positive].mean()) if positive.any() else float("nan"),
        "specificity": float((~predicted[~positive]).mean()) if (~positive).any() else float("nan"),
        "auc": float(metrics.roc_auc_score(truth, confidence)) if both_classes else float("nan"),
    }


def multiclass_scores(truth, probabilities):
    """Scores of `probabilities` [N, K] against class indices `truth` [N]."""
    truth, probabilities = _checked(truth, probabilities, 2)
    predicted = probabilities.argmax(axis=1)
    present = np.unique(truth)
    aucs = [metrics.roc_auc_score(truth == k, probabilities[:, k]) for k in present if (truth != k).any()]
    return {
        "accuracy": float(np.mean(predicted == truth)),
        "balanced_accuracy": float(np.mean([np.mean(predicted[truth == k] == k) for k in present])),
        "auc": float(np.mean(aucs)) if aucs else float("nan"),
    }


def classification_scores(truth, probabilities):
    """`binary_scores` of the second column for two classes, else `multiclass_scores`."""
    probabilities = np.asarray(probabilities, dtype="float64")
    if probabilities.ndim == 2 and probabilities.shape[1] == 2:
        return binary_scores(truth, probabilities[:, 1])
    return multiclass_scores(truth, probabilities)


def _checked(truth, predictions, ndim):
    truth, predictions = np.asarray(truth), np.asarray(predictions, dtype="float64")
    if predictions.ndim != ndim or truth.shape != predictions.shape[:1]:
        raise ValueError(f"expected truth [N] and predictions of {ndim} dimension(s) with N rows; got shapes "
                         f"{truth.shape} and {predictions.shape}")
    if not len(truth):
        raise ValueError("nothing to score: the truth is empty")
    if not np.isfinite(predictions).all():
        raise ValueError("predictions hold NaN or infinite values")
    if ndim == 2 and (truth.min() < 0 or truth.max() >= predictions.shape[1]):
        raise ValueError(f"truth holds class indices outside 0..{predictions.shape[1] - 1}")
    return truth.astype("int64"), predictions
