"""Scores with the ISIC challenges' own definitions (as in their scoring code, ImageMarkup's
isic-challenge-scoring), for arrays or for files in the challenges' submission formats.

`score(challenge, truth, predictions)`:

- `"isic2016"` (part 3, melanoma vs benign): `average_precision` of the malignant confidence (the
  ranking metric), `accuracy`, `sensitivity` and `specificity` with a confidence above 0.5 called
  malignant, and `auc`. Files: truth `image_id, 0|1` or `image_id, benign|malignant`, predictions
  `image_id, confidence`, both without a header.
- `"isic2017"` (part 3): for `melanoma` and `seborrheic_keratosis` each, the binary scores plus
  `spec_at_sens_82`, `_89` and `_95` (the specificity of the first ROC point whose sensitivity
  reaches the level), keys `<metric>_<class>`, and `<metric>_mean` over the two (`auc_mean` ranked
  the challenge). Files: `image_id, melanoma, seborrheic_keratosis`, with or without a header.
- `"isic2018_task3"`: `balanced_accuracy` (the ranking metric: mean recall over the classes present
  in the truth; a row whose highest probability is shared is wrong), `accuracy`, `auc` (the mean of
  the per-class `auc_<class>`). Files: a header `image, MEL, NV, BCC, AKIEC, BKL, DF, VASC`, one-hot truth.
- `"isic2018_task1"`: per image, the Jaccard index TP / (TP + FP + FN) (1 when both masks are
  empty), set to 0 below 0.65; `thresholded_jaccard` is its mean (the ranking metric), with
  `jaccard` and `dice` means. Masks: sequences of 2-d arrays or folders of PNGs matched by image
  id; integer masks are lesion above 128 (0/255 files), float masks at 0.5 (probabilities), bool
  and {0, 1} masks as they are.

Predictions are matched to the truth by image id; a missing, extra or repeated id is an error
that names it. `binary_scores`, `multiclass_scores` and `jaccard_scores` take plain arrays.
"""

import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from sklearn import metrics

from dermnet.metrics import JACCARD_THRESHOLD

ISIC2017_CLASSES = ("melanoma", "seborrheic_keratosis")
ISIC2018_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
SENSITIVITY_LEVELS = (0.82, 0.89, 0.95)


def binary_scores(truth, confidence, threshold=0.5, sensitivity_levels=()):
    """Scores of the positive class' `confidence` [N] against 0/1 `truth` [N]; a confidence above
    `threshold` is a positive call (the challenges' `> 0.5`)."""
    truth, confidence = _checked(truth, confidence, 1)
    if not np.isin(truth, (0, 1)).all():
        raise ValueError(f"binary truth must be 0 or 1; got the values {sorted(set(truth.tolist()))[:10]}")
    predicted, positive = confidence > threshold, truth == 1
    both = 0 < positive.sum() < len(truth)
    scores = {
        "average_precision": float(metrics.average_precision_score(truth, confidence)) if positive.any()
        else float("nan"),
        "accuracy": float(np.mean(predicted == positive)),
        "sensitivity": float(predicted[positive].mean()) if positive.any() else float("nan"),
        "specificity": float((~predicted[~positive]).mean()) if (~positive).any() else float("nan"),
        "auc": float(metrics.roc_auc_score(truth, confidence)) if both else float("nan"),
    }
    if sensitivity_levels:
        false_positive_rate, true_positive_rate, _ = metrics.roc_curve(truth, confidence)
        for level in sensitivity_levels:
            reached = np.flatnonzero(true_positive_rate >= level)
            specificity = 1 - false_positive_rate[reached[0]] if len(reached) else 0.0
            scores[f"spec_at_sens_{round(level * 100)}"] = float(specificity) if both else float("nan")
    return scores


def multiclass_scores(truth, probabilities, class_names=None):
    """Scores of `probabilities` [N, K] against class indices `truth` [N]: accuracy, balanced
    accuracy (a shared highest probability counts wrong), `auc` (the mean over classes) and `auc_<class>`."""
    truth, probabilities = _checked(truth, probabilities, 2)
    class_names = class_names or [str(k) for k in range(probabilities.shape[1])]
    highest = probabilities == probabilities.max(axis=1, keepdims=True)
    predicted = np.where(highest.sum(axis=1) == 1, probabilities.argmax(axis=1), -1)  # -1: undecided
    present = np.unique(truth)
    scores = {
        "accuracy": float(np.mean(predicted == truth)),
        "balanced_accuracy": float(np.mean([np.mean(predicted[truth == k] == k) for k in present])),
    }
    aucs = {f"auc_{class_names[k]}": float(metrics.roc_auc_score(truth == k, probabilities[:, k]))
            for k in present if (truth != k).any()}
    return {**scores, "auc": float(np.mean(list(aucs.values()))) if aucs else float("nan"), **aucs}


def classification_scores(truth, probabilities, class_names=None):
    """`binary_scores` of the second column for two classes, else `multiclass_scores`."""
    probabilities = np.asarray(probabilities, dtype="float64")
    if probabilities.ndim == 2 and probabilities.shape[1] == 2:
        return binary_scores(truth, probabilities[:, 1])
    return multiclass_scores(truth, probabilities, class_names)


# The classes each challenge scores, by name (matched without regard to case).
CHALLENGE_CLASSES = {"isic2016": ("malignant",), "isic2017": ISIC2017_CLASSES, "isic2018_task3": ISIC2018_CLASSES}


def challenge_scores(challenge, truth, probabilities, class_names):
    """A classifier's scores: the official ones of `challenge` ("isic2016", "isic2017",
    "isic2018_task3"), or `classification_scores` where `challenge` is None (a data set no challenge
    scores).

    The model's output columns are matched to the challenge's classes by their names
    (`class_names`, the model's output order), never by position: ISIC 2016 scores the
    `malignant` column, ISIC 2017 `melanoma` and `seborrheic_keratosis` (each against the rest),
    ISIC 2018 task 3 its seven classes in its own order.

    Args:
        truth: class indices `[N]` into `class_names`.
        probabilities: `[N, K]`, one column per name of `class_names`.

    Raises:
        ValueError: a class the challenge scores is not among `class_names`, or task 3's classes
            are not exactly its seven.
    """
    if challenge is None:
        return classification_scores(truth, probabilities, class_names)
    if challenge not in CHALLENGE_CLASSES:
        raise ValueError(f"Unknown challenge {challenge!r} for a classifier; expected one of "
                         f"{', '.join(CHALLENGE_CLASSES)}")
    lowered = [str(name).lower() for name in class_names]
    wanted = CHALLENGE_CLASSES[challenge]
    missing = [name for name in wanted if name.lower() not in lowered]
    if missing or (challenge == "isic2018_task3" and len(lowered) != len(wanted)):
        raise ValueError(f"{challenge} scores the classes {', '.join(wanted)}; the model's classes are "
                         f"{', '.join(map(str, class_names))}")
    columns = [lowered.index(name.lower()) for name in wanted]
    truth, probabilities = np.asarray(truth), np.asarray(probabilities, dtype="float64")
    if challenge == "isic2018_task3":  # class indices in the challenge's order
        order = np.argsort(columns)
        return score(challenge, order[truth], probabilities[:, columns])
    one_hot = np.stack([truth == k for k in columns], axis=1).astype("float64")
    if challenge == "isic2016":
        return score(challenge, one_hot[:, 0].astype("int64"), probabilities[:, columns[0]])
    return score(challenge, one_hot, probabilities[:, columns])


def jaccard_scores(truth_masks, predicted_masks, threshold=JACCARD_THRESHOLD, names=None):
    """ISIC 2018 task 1's means over images: `thresholded_jaccard`, `jaccard`, `dice`."""
    if len(truth_masks) != len(predicted_masks) or not len(truth_masks):
        raise ValueError(f"expected as many predicted masks as true ones, at least one; got "
                         f"{len(predicted_masks)} and {len(truth_masks)}")
    names = names or [f"mask {i}" for i in range(len(truth_masks))]
    jaccards, dices = [], []
    for name, truth, predicted in zip(names, truth_masks, predicted_masks):
        truth, predicted = _binary_mask(truth, name), _binary_mask(predicted, name)
        if truth.shape != predicted.shape:
            raise ValueError(f"{name}: the predicted mask is {predicted.shape}, the true one {truth.shape}")
        overlap, union, total = (truth & predicted).sum(), (truth | predicted).sum(), truth.sum() + predicted.sum()
        jaccards.append(overlap / union if union else 1.0)
        dices.append(2 * overlap / total if total else 1.0)
    jaccards = np.array(jaccards)
    return {"thresholded_jaccard": float(np.mean(np.where(jaccards >= threshold, jaccards, 0.0))),
            "jaccard": float(jaccards.mean()), "dice": float(np.mean(dices))}


def score(challenge, truth, predictions):
    """The official scores of `challenge` (module docstring); truth and predictions are arrays, or
    DataFrames / CSV paths (mask folders for task 1) in the challenge's format."""
    if challenge == "isic2016":
        if _is_table(truth):
            truth, predictions = _aligned(_read(truth, ("image_id", "label")),
                                          _read(predictions, ("image_id", "confidence")), ["label"], ["confidence"])
            truth = _malignant(truth[:, 0])
            predictions = predictions[:, 0]
        predictions = np.asarray(predictions, dtype="float64")
        return binary_scores(truth, predictions[:, 1] if predictions.ndim == 2 else predictions)
    if challenge == "isic2017":
        if _is_table(truth):
            columns = ("image_id", *ISIC2017_CLASSES)
            truth, predictions = _aligned(_read(truth, columns), _read(predictions, columns), ISIC2017_CLASSES,
                                          ISIC2017_CLASSES)
        truth, predictions = np.asarray(truth, dtype="float64"), np.asarray(predictions, dtype="float64")
        if truth.ndim != 2 or truth.shape[1] != 2 or predictions.shape != truth.shape:
            raise ValueError(f"isic2017 takes [N, 2] truth and predictions (melanoma, seborrheic keratosis); "
                             f"got {truth.shape} and {predictions.shape}")
        per_class = {name: binary_scores(truth[:, k] > 0.5, predictions[:, k], sensitivity_levels=SENSITIVITY_LEVELS)
                     for k, name in enumerate(ISIC2017_CLASSES)}
        scores = {f"{metric}_{name}": value for name, values in per_class.items() for metric, value in values.items()}
        return {**scores, **{f"{metric}_mean": np.mean([values[metric] for values in per_class.values()])
                             for metric in per_class["melanoma"]}}
    if challenge == "isic2018_task3":
        if _is_table(truth):
            columns = ("image", *ISIC2018_CLASSES)
            truth, predictions = _aligned(_read(truth, columns, header=True), _read(predictions, columns, header=True),
                                          ISIC2018_CLASSES, ISIC2018_CLASSES)
        truth = np.asarray(truth)
        if truth.ndim == 2:  # one-hot rows
            truth = truth.argmax(axis=1)
        return multiclass_scores(truth, predictions, list(ISIC2018_CLASSES))
    if challenge == "isic2018_task1":
        names = None
        if isinstance(truth, (str, Path)):
            names, truth, predictions = _mask_folders(Path(truth), Path(predictions))
        return jaccard_scores(truth, predictions, names=names)
    raise ValueError(f"Unknown challenge {challenge!r}; expected one of isic2016, isic2017, isic2018_task1, "
                     "isic2018_task3")


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


def _is_table(source):
    return isinstance(source, (str, Path, pd.DataFrame))


def _read(source, columns, header=None):
    """A challenge CSV (or DataFrame) with `columns`; header=None: a header if the first row has one."""
    if isinstance(source, pd.DataFrame):
        table, where = source, "the DataFrame"
    else:
        where = str(source)
        try:
            first = Path(source).read_text().splitlines()[0].split(",")
        except (OSError, IndexError) as err:
            raise ValueError(f"{where}: cannot read it ({err or 'empty file'})") from None
        if header is None:  # a header names the id column ("image_id"); a data row starts with an id
            header = first[0].strip() == columns[0]
        table = pd.read_csv(source, header=0 if header else None, dtype={0: str} if not header else None)
        if not header:
            table.columns = list(columns)[:table.shape[1]] + [f"extra_{i}" for i in range(table.shape[1] - len(columns))]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: missing columns {missing} (expected {', '.join(columns)}; found "
                         f"{', '.join(map(str, table.columns))})")
    table = table[list(columns)].set_index(columns[0])
    table.attrs["source"] = where
    return table


def _aligned(truth, predictions, truth_columns, prediction_columns):
    for table in (truth, predictions):
        repeated = table.index[table.index.duplicated()].unique().tolist()
        if repeated:
            raise ValueError(f"{table.attrs['source']}: image ids listed twice: {repeated[:5]}")
    missing = truth.index.difference(predictions.index).tolist()
    extra = predictions.index.difference(truth.index).tolist()
    if missing or extra:
        raise ValueError(f"{predictions.attrs['source']}: " + "; ".join(
            text for text in (f"{len(missing)} images of the truth have no prediction, e.g. {missing[:5]}" if missing
                              else "", f"{len(extra)} predicted images are not in the truth, e.g. {extra[:5]}"
                              if extra else "") if text))
    values = predictions.loc[truth.index, list(prediction_columns)]
    try:
        values = values.astype("float64")
    except ValueError as err:
        raise ValueError(f"{predictions.attrs['source']}: a prediction is not a number ({err})") from None
    return truth[list(truth_columns)].to_numpy(), values.to_numpy()


def _malignant(labels):
    names = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "benign": 0, "malignant": 1}
    try:
        return np.array([names[str(label).strip()] for label in labels])
    except KeyError as err:
        raise ValueError(f"isic2016 truth labels are 0/1 or benign/malignant; found {err}") from None


def _binary_mask(mask, name):
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{name}: a mask is 2-d (height, width); got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.floating):
        return mask >= 0.5
    return mask > (0 if mask.max(initial=0) <= 1 else 128)


def _mask_folders(truth_folder, prediction_folder):
    """Masks of the truth folder (`<id>_segmentation.png`), each with the prediction file naming its id."""
    truth_files = sorted(truth_folder.glob("*.png"))
    if not truth_files:
        raise ValueError(f"{truth_folder}: no PNG masks")
    predicted_files = sorted(prediction_folder.glob("*.png"))
    names, truths, predictions = [], [], []
    for path in truth_files:
        image_id = re.match(r"(ISIC_\d+|[^_]+)", path.stem).group(1)
        matches = [p for p in predicted_files if image_id in p.stem]
        if len(matches) != 1:
            raise ValueError(f"{prediction_folder}: {len(matches)} predicted masks for {image_id} (expected 1)")
        names.append(image_id)
        truths.append(_read_mask_file(path))
        predictions.append(_read_mask_file(matches[0]))
    return names, truths, predictions


def _read_mask_file(path):
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"{path}: not a readable image")
    return mask
