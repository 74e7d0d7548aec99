"""The ISIC challenges' official scores, identical to the challenges' own scoring package
(isic-challenge-scoring 5.8.0) for files in the challenges' formats, arrays and DataFrames.

`score(challenge, truth, predictions)` returns a flat dict of floats:

- `overall` (the figure the challenge ranked by) and `validation` (the same with the truth's
  validation weights), as the package returns them.
- Classification: for each scored category `<metric>_<category>` and, unsuffixed, their mean over
  the categories (the package's `per_category` and `macro_average`), for the metrics accuracy,
  sensitivity, specificity, dice, ppv, npv (binary calls above 0.5), auc, auc_sens_80 and ap;
  `balanced_accuracy` where there are several categories (the package's `aggregate`).
  dermnet adds `multiclass_accuracy` (the share of images whose highest prediction is their class)
  for single-label challenges, ISIC 2017's `spec_at_sens_{82,89,95}` and ISIC 2024's `partial_auc`.
- ISIC 2018 task 1: the means over images of accuracy, sensitivity, specificity, jaccard,
  threshold_jaccard (a Jaccard below 0.65 scores 0) and dice.
- ISIC 2018 task 2: `jaccard` and `dice` of the confusion matrices summed over every image and
  attribute (each image's normalised by its pixel count), and `jaccard_<attribute>`,
  `dice_<attribute>` of each attribute's sum.

| challenge | scores | ranked by (`overall`) |
| --- | --- | --- |
| isic2016 | malignant vs benign | ap |
| isic2017 | melanoma; seborrheic keratosis | auc (the mean of the two) |
| isic2018_task1 | lesion masks | threshold_jaccard |
| isic2018_task2 | attribute masks | jaccard (summed over images) |
| isic2018_task3 | 7 diagnoses | balanced_accuracy |
| isic2019 | 8 diagnoses and UNK | balanced_accuracy |
| isic2020 | melanoma vs rest (`target`) | auc |
| isic2024 | malignant vs rest (`target`) | partial_auc (above 80 % sensitivity, at most 0.2) |

Inputs: for classification, a truth and a submission CSV (`dermnet.evaluation.submissions`), or
DataFrames in that format, or arrays: truth `[N]` class indices or `[N, K]` values and predictions
`[N, K]` in the challenge's category order (`[N]` where it scores one category); `weights=` and
`validation_weights=` weigh array rows. For masks, two folders, or sequences of 2-d masks (task 2:
a dict of them per attribute); an array mask is lesion where True (bool), above 0.5 (floats), 1
(integers of 0 and 1 only), or above 128 (other integers, as 0-255 files).

`challenge_scores` scores a model's outputs, matched to the challenge's categories by class name;
`classification_scores` scores a data set no challenge scores, over the model's own classes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from dermnet.datasets import ATTRIBUTES
from dermnet.evaluation import official
from dermnet.evaluation.collapse import collapse_warning
from dermnet.evaluation.intervals import RESAMPLES, SEED, bootstrap_intervals
from dermnet.evaluation.submissions import (
    MASK_THRESHOLD,
    SubmissionError,
    read_mask_pairs,
    read_predictions,
    read_truth,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    import pandas as pd
    from numpy.typing import ArrayLike

    _Masks: TypeAlias = "str | os.PathLike[str] | Sequence[ArrayLike]"  # a folder, or 2-d masks
    _PerImage: TypeAlias = "tuple[dict[str, float], list[dict[str, Any]]]"  # (scores, a row per image)

SENSITIVITY_LEVELS = (0.82, 0.89, 0.95)  # ISIC 2017's specificity-at-sensitivity levels


@dataclasses.dataclass(frozen=True)
class Challenge:
    """An ISIC challenge's scoring.

    Attributes:
        task: "classification", "segmentation" or "attributes".
        categories: the columns scored, in the challenge's order (attributes: their names).
        ranking: the score it ranked by, returned as `overall`.
        headerless: dermnet: the challenge published a headerless format (id, then `categories`).
        single_label: each image has one category (balanced and multiclass accuracy apply).
        model_classes: per category, the model class names that answer it (lower case).
    """

    name: str
    task: str
    categories: tuple = ()
    ranking: str = ""
    headerless: bool = False
    single_label: bool = False
    model_classes: tuple = ()

    def classes_for(self, category: str) -> tuple[str, ...]:
        return dict(self.model_classes).get(category, (category.lower(),))


CHALLENGES = {
    c.name: c
    for c in (
        Challenge(
            "isic2016",
            "classification",
            ("malignant",),
            "ap",
            headerless=True,
            model_classes=(("malignant", ("malignant", "melanoma")),),
        ),  # its malignant lesions are melanomas
        Challenge("isic2017", "classification", ("melanoma", "seborrheic_keratosis"), "auc", headerless=True),
        Challenge("isic2018_task1", "segmentation", ranking="threshold_jaccard"),
        Challenge("isic2018_task2", "attributes", ATTRIBUTES, "jaccard"),
        Challenge(
            "isic2018_task3",
            "classification",
            ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"),
            "balanced_accuracy",
            single_label=True,
        ),
        Challenge(
            "isic2019",
            "classification",
            ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"),
            "balanced_accuracy",
            single_label=True,
        ),
        Challenge(
            "isic2020",
            "classification",
            ("target",),
            "auc",
            model_classes=(("target", ("melanoma", "mel", "malignant")),),
        ),
        Challenge(
            "isic2024",
            "classification",
            ("target",),
            "partial_auc",
            model_classes=(("target", ("malignant", "melanoma", "mel")),),
        ),
    )
}
ISIC2016_LABELS = {"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "benign": 0.0, "malignant": 1.0}


def get_challenge(name: str) -> Challenge:
    if name not in CHALLENGES:
        raise ValueError(f"Unknown challenge {name!r}; expected one of {', '.join(CHALLENGES)}")
    return CHALLENGES[name]


def score(
    challenge: str,
    truth: Any,
    predictions: Any,
    weights: ArrayLike | None = None,
    validation_weights: ArrayLike | None = None,
    intervals: bool | int = False,
    groups: ArrayLike | None = None,
) -> dict[str, Any]:
    """The official scores of `challenge` (module docstring).

    With `intervals` (True, or a number of resamples: `RESAMPLES` for True), the scores also hold
    `intervals` (`{score: [low, high]}`, 95 %) and `interval_method`, by a seeded percentile
    bootstrap over the images, or over `groups` (one per image or truth row: lesion or patient
    ids) drawn whole (`dermnet.evaluation.intervals.bootstrap_intervals`); classification and
    ISIC 2018 task 1 only.

    Raises:
        SubmissionError: (a `ValueError`) a file, DataFrame or array that the official scoring
            would refuse, naming it and the problem.
    """
    challenge = get_challenge(challenge)
    if challenge.task == "segmentation":
        scores, rows = segmentation_scores(truth, predictions, per_image=True)
        return _with_intervals(
            scores,
            intervals,
            groups,
            np.zeros(len(rows), "int64"),
            lambda taken: _mask_means([rows[i] for i in taken]),
        )
    if challenge.task == "attributes":
        if intervals:
            raise ValueError(
                "intervals= is for classification and ISIC 2018 task 1: task 2's scores sum "
                "confusion matrices over images"
            )
        return attribute_scores(truth, predictions)
    if _is_table(truth):
        if weights is not None or validation_weights is not None:
            raise SubmissionError(
                "a truth file or DataFrame carries its weights in its score_weight and "
                "validation_weight columns; weights= is for arrays"
            )
        headerless = challenge.categories if challenge.headerless else ()
        ids, truth, weights, validation_weights = read_truth(
            truth, challenge.categories, headerless, ISIC2016_LABELS if challenge.name == "isic2016" else None
        )
        predictions = read_predictions(predictions, challenge.categories, ids, headerless)
    else:
        truth, predictions = _arrays(challenge.categories, truth, predictions)
    scores = _classification(challenge, truth, predictions, weights, validation_weights)
    weights = np.ones(len(truth)) if weights is None else np.asarray(weights, dtype="float64")
    validation_weights = weights if validation_weights is None else np.asarray(validation_weights, "float64")
    return _with_intervals(
        scores,
        intervals,
        groups,
        truth,
        lambda taken: _classification(
            challenge, truth[taken], predictions[taken], weights[taken], validation_weights[taken]
        ),
    )


def _with_intervals(
    scores: dict[str, Any],
    intervals: bool | int,
    groups: Any,
    labels: Any,
    scores_of: Callable[[np.ndarray], dict[str, Any]],
) -> dict[str, Any]:
    """`scores` with the bootstrap intervals of `scores_of` (`score`'s `intervals`), or as they are."""
    if not intervals:
        return scores
    if groups is not None and len(groups) != len(labels):
        raise ValueError(f"groups= gives one group per image: {len(labels)} images, {len(groups)} groups")
    return {
        **scores,
        **bootstrap_intervals(
            scores_of,
            labels,
            groups,
            RESAMPLES if intervals is True else int(intervals),
            unit=None if groups is None else "groups",
        ),
    }


def _classification(
    challenge: Challenge,
    truth: np.ndarray,
    predictions: np.ndarray,
    weights: ArrayLike | None = None,
    validation_weights: ArrayLike | None = None,
) -> dict[str, Any]:
    rows = len(truth)
    weights = np.ones(rows) if weights is None else np.asarray(weights, dtype="float64")
    validation_weights = (
        weights if validation_weights is None else np.asarray(validation_weights, dtype="float64")
    )
    if weights.shape != (rows,) or validation_weights.shape != (rows,):
        raise SubmissionError(
            f"weights are one per image ({rows}); got {weights.shape} and {validation_weights.shape}"
        )
    categories = challenge.categories
    scores = _category_scores(categories, truth, predictions, weights)
    if challenge.name == "isic2017":  # dermnet: the 2017 challenge's own specificity levels
        for level in SENSITIVITY_LEVELS:
            key = f"spec_at_sens_{round(level * 100)}"
            per = {
                c: official.specificity_at_sensitivity(truth[:, k] > 0.5, predictions[:, k], level)
                for k, c in enumerate(categories)
            }
            scores.update(
                {f"{key}_{c}": v for c, v in per.items()}, **{key: official.macro_average(list(per.values()))}
            )
    ranking = challenge.ranking
    if ranking == "balanced_accuracy":
        overall, validation = (
            official.balanced_accuracy(truth, predictions, w) for w in (weights, validation_weights)
        )
    elif ranking == "partial_auc":  # dermnet: ISIC 2024's metric, which the package does not compute
        overall, validation = (
            official.partial_auc_above_tpr(truth[:, 0], predictions[:, 0], w)
            for w in (weights, validation_weights)
        )
        scores["partial_auc"] = overall
    else:
        metric = {"ap": official.average_precision, "auc": official.auc}[ranking]
        overall = scores[ranking]
        validation = official.macro_average(
            [metric(truth[:, k], predictions[:, k], validation_weights) for k in range(len(categories))]
        )
    if challenge.single_label:
        scores["multiclass_accuracy"] = _multiclass_accuracy(truth, predictions, weights)
    return {"overall": overall, "validation": validation, **scores}


def _category_scores(
    categories: Sequence[str],
    truth: np.ndarray,
    predictions: np.ndarray,
    weights: np.ndarray,
    scored: Collection[str] | None = None,
) -> dict[str, float]:
    """Per category (those of `scored`, default all) and their means; balanced accuracy over all."""
    scored = [c for c in categories if scored is None or c in scored]
    per = {
        c: official.category_metrics(truth[:, k], predictions[:, k], weights)
        for k, c in enumerate(categories)
        if c in scored
    }
    scores = {m: official.macro_average([per[c][m] for c in scored]) for m in official.CATEGORY_METRICS}
    if len(categories) > 1:
        scores["balanced_accuracy"] = official.balanced_accuracy(truth, predictions, weights)
    return {**scores, **{f"{m}_{c}": per[c][m] for c in scored for m in official.CATEGORY_METRICS}}


def _multiclass_accuracy(truth: np.ndarray, predictions: np.ndarray, weights: np.ndarray) -> float:
    """dermnet: the weighted share of images whose single highest prediction is their class."""
    truth_labels = official.labels(truth)
    right = (official.labels(predictions) == truth_labels) & (truth_labels != official.UNDECIDED)
    return float(weights[right].sum() / weights.sum()) if weights.sum() else float("nan")


def classification_scores(
    truth: ArrayLike,
    probabilities: ArrayLike,
    class_names: Sequence[str] | None = None,
    weights: ArrayLike | None = None,
    scored: Collection[str] | None = None,
) -> dict[str, float]:
    """The official per-category scores, their means, `balanced_accuracy` and
    `multiclass_accuracy` of `probabilities` `[N, K]` (one column per name of `class_names`;
    "0", "1", ... by default) against class indices `truth` `[N]`: dermnet's scores for a data set
    no challenge scores. `scored`: the class names to give per-category scores (and their means)
    for, default all; a cross-data-set evaluation scores the classes its labels map onto."""
    class_names = tuple(str(name) for name in (class_names or range(np.shape(probabilities)[-1])))
    truth, probabilities = _arrays(class_names, truth, probabilities)
    weights = np.ones(len(truth)) if weights is None else np.asarray(weights, dtype="float64")
    scores = _category_scores(class_names, truth, probabilities, weights, scored)
    return {**scores, "multiclass_accuracy": _multiclass_accuracy(truth, probabilities, weights)}


def challenge_scores(
    challenge: str | None,
    truth: ArrayLike,
    probabilities: ArrayLike,
    class_names: Sequence[str],
    scored: Collection[str] | None = None,
    intervals: bool | int = False,
    groups: ArrayLike | None = None,
) -> dict[str, Any]:
    """A model's scores: the official ones of `challenge`, or `classification_scores` (of the
    classes `scored`) where `challenge` is None (a data set no challenge scores); with `intervals`
    and `groups`, their bootstrap intervals too, as `score` gives them.

    The model's output columns are matched to the challenge's categories by their names
    (`class_names`, the model's output order, without regard to case), never by position: ISIC 2016
    scores the `malignant` column, ISIC 2017 `melanoma` and `seborrheic_keratosis` (each against
    the rest), ISIC 2018 task 3 and 2019 all their classes, ISIC 2020 and 2024 the melanoma or
    malignant one.

    Args:
        truth: class indices `[N]` into `class_names`.
        probabilities: `[N, K]`, one column per name of `class_names`.

    Raises:
        ValueError: a category the challenge scores has no class among `class_names`, or a
            single-label challenge's classes are not exactly the model's.
    """
    if intervals:
        labels, scores_given = np.asarray(truth), np.asarray(probabilities)
        return _with_intervals(
            challenge_scores(challenge, labels, scores_given, class_names, scored),
            intervals,
            groups,
            labels,
            lambda taken: challenge_scores(
                challenge, labels[taken], scores_given[taken], class_names, scored
            ),
        )
    if challenge is None:
        scores = classification_scores(truth, probabilities, class_names, scored=scored)
        return _flag_collapse(scores, probabilities)
    challenge = get_challenge(challenge)
    if challenge.task != "classification":
        raise ValueError(f"{challenge.name} scores masks, not a classifier's probabilities")
    columns = _challenge_columns(challenge, class_names)
    if columns is None:
        raise ValueError(
            f"{challenge.name} scores the categories {', '.join(challenge.categories)}; the model's "
            f"classes are {', '.join(map(str, class_names))}"
        )
    truth, probabilities = np.asarray(truth, dtype="int64"), np.asarray(probabilities, dtype="float64")
    one_hot = np.stack([truth == k for k in columns], axis=1).astype("float64")
    return _flag_collapse(_classification(challenge, one_hot, probabilities[:, columns]), probabilities)


def _flag_collapse(scores: dict[str, Any], probabilities: ArrayLike) -> dict[str, Any]:
    """`scores` with a `"warning"` where every image got the same probabilities (`collapse_warning`):
    scores of a model that learned nothing are not a result."""
    warning = collapse_warning(probabilities)
    return scores if warning is None else {**scores, "warning": warning}


def model_scores(
    challenge: str | None,
    truth: ArrayLike,
    probabilities: ArrayLike,
    class_names: Sequence[str],
    scored: Collection[str] | None = None,
    groups: ArrayLike | None = None,
    unit: str | None = None,
    n_resamples: int = RESAMPLES,
    seed: int = SEED,
    progress: bool = False,
) -> dict[str, Any]:
    """A classifier's scores as `dermnet evaluate` writes them: `challenge_scores`, the
    `expected_calibration_error`, and the bootstrap `intervals` of all of them with their
    `interval_method` (`dermnet.evaluation.intervals.bootstrap_intervals`).

    Args:
        challenge: an ISIC challenge, or None for `classification_scores` (of the classes `scored`).
        truth: `[N]` class indices into `class_names`.
        probabilities: `[N, K]`, one column per name of `class_names`.
        groups: `[N]` each image's group, resampled whole (`intervals.resampling_groups`); None: images.
        unit: what a group is ("lesions", "patients"), as `interval_method` records it.
        n_resamples: bootstrap draws; 0 for no intervals.
        seed: of the draws.
        progress: show a progress bar over the draws.

    Returns:
        `{score: value, ..., "intervals": {score: [low, high]}, "interval_method": {...}}`.
    """
    from dermnet.evaluation.calibration import expected_calibration_error

    truth, probabilities = np.asarray(truth, dtype="int64"), np.asarray(probabilities, dtype="float64")

    def scores_of(taken: np.ndarray) -> dict[str, Any]:
        return {
            **challenge_scores(challenge, truth[taken], probabilities[taken], class_names, scored=scored),
            "expected_calibration_error": expected_calibration_error(truth[taken], probabilities[taken]),
        }

    scores = scores_of(np.arange(len(truth)))
    if n_resamples:
        scores.update(
            bootstrap_intervals(scores_of, truth, groups, n_resamples, seed, unit=unit, progress=progress)
        )
    return scores


def answers(challenge: str, class_names: Sequence[str]) -> bool:
    """Whether a classifier of `class_names` answers every category that `challenge` scores."""
    challenge = get_challenge(challenge)
    return challenge.task == "classification" and _challenge_columns(challenge, class_names) is not None


def _challenge_columns(challenge: Challenge, class_names: Sequence[str]) -> list[int] | None:
    """The model's column of each category of the challenge, matched by name; None if one has none,
    or if a single-label challenge's categories are not exactly the model's classes."""
    lowered = [str(name).lower() for name in class_names]
    columns: list[Any] = [
        next((lowered.index(n) for n in challenge.classes_for(c) if n in lowered), None)
        for c in challenge.categories
    ]
    if None in columns or (challenge.single_label and len(lowered) != len(columns)):
        return None
    return columns


@overload
def segmentation_scores(
    truth: _Masks, predictions: _Masks, names: Sequence[str] | None = None, per_image: Literal[False] = False
) -> dict[str, float]: ...
@overload
def segmentation_scores(
    truth: _Masks, predictions: _Masks, names: Sequence[str] | None = None, *, per_image: Literal[True]
) -> _PerImage: ...
def segmentation_scores(
    truth: _Masks, predictions: _Masks, names: Sequence[str] | None = None, per_image: bool = False
) -> dict[str, float] | _PerImage:
    """ISIC 2018 task 1's scores (module docstring) of two mask folders or two sequences of 2-d
    masks; with `per_image`, `(scores, rows)`, a dict of `MASK_METRICS` per image in `rows`."""
    if _is_folder(truth):
        pairs = [(image_id, t, p) for image_id, _, t, p in read_mask_pairs(truth, predictions)]
    else:
        pairs = _mask_arrays(truth, predictions, names)
    rows = [{"image_id": image_id, **official.mask_metrics(t, p)} for image_id, t, p in pairs]
    scores = _mask_means(rows)
    return (scores, rows) if per_image else scores


def _mask_means(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Task 1's scores of per-image `rows` (`official.mask_metrics` each): their means."""
    scores = {m: float(np.mean([row[m] for row in rows])) for m in official.MASK_METRICS}
    return {"overall": scores["threshold_jaccard"], "validation": scores["threshold_jaccard"], **scores}


def attribute_scores(
    truth: str | os.PathLike[str] | Mapping[str, Sequence[ArrayLike]],
    predictions: str | os.PathLike[str] | Mapping[str, Sequence[ArrayLike]],
    names: Sequence[str] | None = None,
) -> dict[str, float]:
    """ISIC 2018 task 2's scores (module docstring) of two folders of attribute masks, or two
    dicts `{attribute: [2-d masks]}` with the same images in the same order."""
    if _is_folder(truth):
        pairs = [
            (attribute, t, p) for _, attribute, t, p in read_mask_pairs(truth, predictions, attributes=True)
        ]
    else:
        if not isinstance(truth, dict) or not isinstance(predictions, dict) or set(truth) != set(predictions):
            raise SubmissionError(
                "attribute masks are two folders, or two dicts {attribute: masks} with the same "
                f"attributes; got {type(truth).__name__} and {type(predictions).__name__}"
            )
        pairs = [
            (attribute, t, p)
            for attribute in truth
            for _, t, p in _mask_arrays(truth[attribute], predictions[attribute], names)
        ]
    # Each image's confusion matrix as shares of its pixels, so that large images do not weigh more.
    shares: dict[str, list[np.ndarray]] = {}
    for attribute, t, p in pairs:
        counts = np.array(official.confusion(t, p))
        shares.setdefault(attribute, []).append(counts / counts.sum())
    summed = {attribute: np.sum(values, axis=0) for attribute, values in sorted(shares.items())}
    total = np.sum(list(summed.values()), axis=0)
    scores = {
        "jaccard": official.jaccard(total[0], total[2], total[3]),
        "dice": official.binary_metrics(*total)["dice"],
    }
    for attribute, (tp, tn, fp, fn) in summed.items():
        scores[f"jaccard_{attribute}"] = official.jaccard(tp, fp, fn)
        scores[f"dice_{attribute}"] = official.binary_metrics(tp, tn, fp, fn)["dice"]
    return {"overall": scores["jaccard"], "validation": scores["jaccard"], **scores}


HEADLINE = (
    "overall",
    "validation",
    "balanced_accuracy",
    "multiclass_accuracy",
    "partial_auc",
    "expected_calibration_error",
    *official.CATEGORY_METRICS,
    *official.MASK_METRICS,
    *(f"spec_at_sens_{round(level * 100)}" for level in SENSITIVITY_LEVELS),
)


def headline(scores: Mapping[str, Any]) -> dict[str, Any]:
    """The scores that are not per category or per attribute: `overall`, the means and the aggregates."""
    return {
        key: value
        for key, value in scores.items()
        if key in HEADLINE
        or key.startswith("image_mean_")
        and key[len("image_mean_") :] in official.MASK_METRICS
    }


def per_category(scores: Mapping[str, Any]) -> pd.DataFrame:
    """The per-category (or per-attribute) scores as a DataFrame: a row per category, a column per
    metric (`auc_MEL` is row MEL, column auc)."""
    import pandas as pd

    metrics = sorted(
        {key for key in HEADLINE if key not in ("overall", "validation")} | {"jaccard", "dice"},
        key=len,
        reverse=True,
    )  # the longest first: auc_sens_80_MEL is not auc of "sens_80_MEL"
    rows: dict[str, dict[str, Any]] = {}
    for key, value in scores.items():
        if key in HEADLINE or key.startswith("image_mean_"):
            continue
        metric = next((m for m in metrics if key.startswith(m + "_")), None)
        if metric:
            rows.setdefault(key[len(metric) + 1 :], {})[metric] = value
    return pd.DataFrame.from_dict(rows, orient="index")


def _is_table(source: object) -> bool:
    import pandas as pd

    return isinstance(source, (str, pd.DataFrame)) or hasattr(source, "__fspath__")


def _is_folder(source: object) -> bool:
    return isinstance(source, str) or hasattr(source, "__fspath__")


def _arrays(
    categories: Sequence[str], truth: ArrayLike, predictions: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Array truth (class indices `[N]` or values `[N, K]`) and predictions (`[N, K]`, or `[N]`
    for one category) as float `[N, K]` each, checked."""
    truth, predictions = np.asarray(truth), np.asarray(predictions, dtype="float64")
    k = len(categories)
    if predictions.ndim == 1 and k == 1:
        predictions = predictions[:, None]
    if truth.ndim == 1 and k == 1:
        truth = truth[:, None]
    elif truth.ndim == 1:
        if (
            not np.issubdtype(truth.dtype, np.integer)
            or truth.min(initial=0) < 0
            or truth.max(initial=0) >= k
        ):
            raise SubmissionError(f"truth class indices are integers in 0..{k - 1} ({', '.join(categories)})")
        truth = np.eye(k)[truth]
    truth = truth.astype("float64")
    if predictions.shape != truth.shape or predictions.ndim != 2 or predictions.shape[1] != k:
        hint = (
            " (pass the malignant confidence alone, or use challenge_scores with class names)"
            if k == 1
            else ""
        )
        raise SubmissionError(
            f"expected truth and predictions of {k} column(s) ({', '.join(categories)}) with one "
            f"row per image; got shapes {truth.shape} and {predictions.shape}{hint}"
        )
    if not len(truth):
        raise SubmissionError("nothing to score: the truth is empty")
    if not np.isfinite(predictions).all() or not np.isfinite(truth).all():
        raise SubmissionError("truth or predictions hold NaN or infinite values")
    outside = np.flatnonzero(((predictions < 0) | (predictions > 1)).any(axis=1))
    if len(outside):
        raise SubmissionError(f"predictions outside [0, 1] in the rows {outside[:10].tolist()}")
    return truth, predictions


def _mask_arrays(
    truth: Any, predictions: Any, names: Sequence[str] | None
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    if len(truth) != len(predictions) or not len(truth):
        raise SubmissionError(
            f"expected as many predicted masks as true ones, at least one; got "
            f"{len(predictions)} and {len(truth)}"
        )
    names = names or [f"mask {i}" for i in range(len(truth))]
    pairs = []
    for name, t, p in zip(names, truth, predictions):
        t, p = _binary_mask(t, name), _binary_mask(p, name)
        if t.shape != p.shape:
            raise SubmissionError(f"{name}: the predicted mask is {p.shape}, the true one {t.shape}")
        pairs.append((name, t, p))
    return pairs


def _binary_mask(mask: ArrayLike, name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise SubmissionError(f"{name}: a mask is 2-d (height, width); got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.floating):
        return mask > 0.5
    if np.isin(mask, (0, 1)).all():  # dermnet's own label masks
        return mask == 1
    return mask > MASK_THRESHOLD
