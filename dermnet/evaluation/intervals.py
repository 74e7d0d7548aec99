"""95 % confidence intervals of scores by bootstrap, grouped where images are not independent, and
DeLong's variance of the ROC AUC and paired test of two AUCs.

A bootstrap draws the test set's images again with replacement, `n_resamples` times (seeded), scores
each draw with the same official functions as the point values, and reports the 2.5th and 97.5th
percentiles of each score (the percentile method; Efron & Tibshirani 1993, ch. 13). Images of one
lesion, or of one patient, are not independent (HAM10000 has 10,015 images of 7,470 lesions):
resampling them one by one would give intervals too narrow, so a data set's groups are drawn whole
(`resampling_groups`). A draw in which a class of the test set is absent is skipped (its AUC and
balanced accuracy are undefined) and the skips are counted.

Example:
>>> truth, confidence = np.array([0, 0, 1, 1, 0, 1]), np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
>>> auc, covariance = delong(truth, confidence)
>>> round(float(auc[0]), 3)
0.889
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike

CONFIDENCE = 0.95
SEED = 0


def _resamples_setting(default: int = 1000) -> int:
    """The draws of every bootstrap whose caller names none: `$DERMNET_RESAMPLES`, else 1000 (a 95 %
    interval's ends move by about 0.005 between seeds at 1000; fewer are faster and coarser)."""
    value = os.environ.get("DERMNET_RESAMPLES", str(default))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"DERMNET_RESAMPLES={value!r}: the bootstrap's draws, a whole number of at least 1")
    return int(value)


RESAMPLES = _resamples_setting()
METHOD = "percentile bootstrap"


def resampling_groups(df: pd.DataFrame) -> tuple[np.ndarray | None, str]:
    """What the images of a manifest `df` are resampled by: `(groups, unit)`.

    The groups are `dermnet.data.splits.groups_of`'s (a lesion's images, joined by patient and by
    published duplicates), the unit "patients" where `df` has `patient_id` values, else "lesions"
    where it has `lesion_id`, else "images" (groups None: each image alone).

    Args:
        df: a manifest or `predictions.csv` table with `image_id` and maybe `lesion_id`, `patient_id`.

    Returns:
        `(groups [N] or None, unit)`.
    """
    from dermnet.data.splits import groups_of

    has = {column: column in df and df[column].notna().any() for column in ("patient_id", "lesion_id")}
    if not any(has.values()) and not ("duplicate_of" in df and df["duplicate_of"].notna().any()):
        return None, "images"
    unit = "patients" if has["patient_id"] else "lesions" if has["lesion_id"] else "duplicate sets"
    return np.asarray(groups_of(df.reset_index(drop=True))), unit


def bootstrap_intervals(
    scores_of: Callable[[np.ndarray], Mapping[str, Any]],
    labels: ArrayLike,
    groups: ArrayLike | None = None,
    n_resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    unit: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Percentile-bootstrap intervals of every score `scores_of` returns (module docstring).

    Args:
        scores_of: `scores_of(rows)` → `{name: float}`, the scores of the images at the positions
            `rows` (an int array, with repeats); called once per resample.
        labels: the truth, `[N]` class indices or `[N, K]` 0/1 columns: a draw in which a class (a
            column's positives or negatives) present among all `N` images is absent is skipped.
        groups: `[N]` each image's group (lesion, patient), drawn whole; None: images are drawn.
        n_resamples: draws (skipped ones included).
        seed: of the draws: the same seed, images and groups give the same intervals.
        confidence: the interval's coverage.
        unit: what a group is, as recorded ("lesions", "patients"); default "images" or "groups".
        progress: show a progress bar.

    Returns:
        `{"intervals": {name: [low, high]}, "interval_method": {...}}`: NaN bounds where a score is
        undefined in every kept draw; the method records the method, confidence, `n_resamples`,
        `skipped`, `seed`, what was resampled and how many of them (`groups`, `images`).
    """
    from dermnet._progress import progress as progress_bar

    labels = np.asarray(labels)
    n = len(labels)
    codes = np.arange(n) if groups is None else np.unique(np.asarray(groups, str), return_inverse=True)[1]
    count = int(codes.max()) + 1 if n else 0
    present = _classes_present(labels, np.arange(n))
    rng = np.random.default_rng(seed)
    draws, skipped = [], 0
    with progress_bar(n_resamples, "bootstrap intervals", unit="draw", enabled=progress) as bar:
        for _ in range(n_resamples):
            taken = np.bincount(rng.integers(0, count, count), minlength=count)
            rows = np.repeat(np.arange(n), taken[codes])  # each image as often as its group was drawn
            complete = not (present & ~_classes_present(labels, rows)).any()
            if complete:
                with warnings.catch_warnings():  # a draw's warnings (a collapsed model's) repeat the point's
                    warnings.simplefilter("ignore")
                    draws.append(scores_of(rows))
            skipped += not complete
            bar.update(1)
    names = [name for name, value in (draws[0] if draws else {}).items() if isinstance(value, (float, int))]
    table = np.array([[draw.get(name, np.nan) for name in names] for draw in draws], dtype="float64")
    with warnings.catch_warnings():  # a score undefined in every draw: its bounds are NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        percentiles = [50 * (1 - confidence), 50 * (1 + confidence)]
        bounds = np.nanpercentile(table, percentiles, axis=0) if draws else []
    method = {
        "method": METHOD,
        "confidence": confidence,
        "n_resamples": n_resamples,
        "skipped": skipped,
        "skipped_why": "a class of the test set absent from the draw",
        "seed": seed,
        "resampled": unit or ("images" if groups is None else "groups"),
        "groups": count,
        "images": n,
    }
    return {
        "intervals": {name: [float(low), float(high)] for name, low, high in zip(names, *bounds)},
        "interval_method": method,
    }


def _classes_present(labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Which classes the images `rows` hold: per class (or per column: positives, then negatives)."""
    if labels.ndim == 1:
        return np.bincount(labels[rows].astype("int64"), minlength=int(labels.max(initial=0)) + 1) > 0
    positive = labels[rows] > 0.5
    return np.concatenate([positive.any(axis=0), (~positive).any(axis=0)])


def delong(truth: ArrayLike, *confidences: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The ROC AUC of each of `confidences` and their covariance, by DeLong et al.'s method
    (Biometrics 44, 1988) computed with midranks in O(n log n) (Sun & Xu, IEEE Signal Processing
    Letters 21, 2014): each positive's share of negatives ranked below it (ties count a half), each
    negative's share of positives ranked above it; the AUC's variance is the variance of the first
    over the positives plus that of the second over the negatives, each divided by their count.

    Args:
        truth: `[N]` 0/1 (or bool): positives are 1.
        *confidences: one or more `[N]` confidences of the same images (two: a paired comparison).

    Returns:
        `(aucs [m], covariance [m, m])`.
    """
    aucs, positives, negatives = _placements(truth, confidences)
    covariance = (
        np.atleast_2d(np.cov(positives)) / positives.shape[1]
        + np.atleast_2d(np.cov(negatives)) / negatives.shape[1]
    )
    return aucs, covariance


def _placements(
    truth: ArrayLike, confidences: Sequence[ArrayLike]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DeLong's structural components (`delong`): `(aucs [m], of positives [m, n1], of negatives [m, n0])`."""
    truth = np.asarray(truth).astype(bool)
    scores = np.asarray(confidences, dtype="float64").reshape(len(confidences), -1)
    n1, n0 = int(truth.sum()), int((~truth).sum())
    if n1 < 2 or n0 < 2:
        raise ValueError(
            f"DeLong's variance needs at least two positives and two negatives; got {n1} and {n0}"
        )
    every = stats.rankdata(scores, axis=1)  # midranks: ties share the mean of their ranks
    among_positives = stats.rankdata(scores[:, truth], axis=1)
    among_negatives = stats.rankdata(scores[:, ~truth], axis=1)
    aucs = (every[:, truth].sum(axis=1) / n1 - (n1 + 1) / 2) / n0
    of_positives = (every[:, truth] - among_positives) / n0  # negatives below each positive
    of_negatives = 1 - (every[:, ~truth] - among_negatives) / n1  # positives above each negative
    return aucs, of_positives, of_negatives


def delong_interval(
    truth: ArrayLike, confidence: ArrayLike, level: float = CONFIDENCE
) -> tuple[float, float, float]:
    """The AUC and its DeLong interval `(auc, low, high)`: AUC ± z·SE, clipped to [0, 1]."""
    aucs, covariance = delong(truth, confidence)
    half = stats.norm.ppf(0.5 + level / 2) * np.sqrt(covariance[0, 0])
    return float(aucs[0]), float(max(aucs[0] - half, 0.0)), float(min(aucs[0] + half, 1.0))


def delong_test(truth: ArrayLike, confidences_a: ArrayLike, confidences_b: ArrayLike) -> dict[str, float]:
    """DeLong's paired test of two AUCs on the same images, for one category or the mean over several.

    Args:
        truth: `[N]` 0/1, or `[N, K]` 0/1 columns (one-vs-rest categories).
        confidences_a, confidences_b: `[N]`, or `[N, K]` in the order of `truth`'s columns.

    Returns:
        `{"auc_a", "auc_b", "difference", "z", "p"}`: the AUCs (the mean over the columns for
        `[N, K]`), A's minus B's, the z statistic and the two-sided p-value. For several columns the
        covariances between categories come from the same per-image components (each image's
        placement in its column's positives or negatives), a first-order estimate that is
        DeLong's exactly for one column.
    """
    truth = np.asarray(truth)
    a, b = np.asarray(confidences_a, dtype="float64"), np.asarray(confidences_b, dtype="float64")
    if truth.ndim == 1:
        truth, a, b = truth[:, None], a.reshape(-1, 1), b.reshape(-1, 1)
    n, columns = truth.shape
    influence, means = np.zeros((2, n)), np.zeros(2)
    for k in range(columns):
        positive = truth[:, k] > 0.5
        aucs, of_positives, of_negatives = _placements(positive, (a[:, k], b[:, k]))
        # Scaled so that the sum of squares over the images is DeLong's (co)variance.
        n1, n0 = of_positives.shape[1], of_negatives.shape[1]
        influence[:, positive] += (of_positives - aucs[:, None]) / np.sqrt(n1 * (n1 - 1)) / columns
        influence[:, ~positive] += (of_negatives - aucs[:, None]) / np.sqrt(n0 * (n0 - 1)) / columns
        means += aucs / columns
    variance = float(np.sum((influence[0] - influence[1]) ** 2))
    difference = float(means[0] - means[1])
    z = difference / np.sqrt(variance) if variance > 0 else 0.0  # none: both rank every pair alike
    return {
        "auc_a": float(means[0]),
        "auc_b": float(means[1]),
        "difference": difference,
        "z": float(z),
        "p": float(2 * stats.norm.sf(abs(z))),
    }
