"""Two models compared on the same test images: the difference of each score with its paired-bootstrap
95 % interval, DeLong's paired test for each AUC, and a sentence per headline score.

Paired: each bootstrap draw takes the same images (the same lesions or patients, where the tables
carry them) for both models, so the interval is that of the difference on one test set, narrower
than two separate intervals suggest when the models err on the same images.

Example:
>>> result = compare_evaluations("runs/a/evaluation", "runs/b/evaluation")  # doctest: +SKIP
>>> print("\\n".join(result["sentences"]))  # doctest: +SKIP
a's auc is higher by 0.021 (0.873 against 0.852), 95 % CI −0.004 to 0.046: not a clear difference; ...
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermnet._io import read_csv
from dermnet.evaluation.intervals import (
    CONFIDENCE,
    RESAMPLES,
    SEED,
    bootstrap_intervals,
    delong_test,
    resampling_groups,
)
from dermnet.evaluation.scoring import _challenge_columns, get_challenge, headline, model_scores


def compare(
    predictions_a: str | os.PathLike[str] | pd.DataFrame,
    predictions_b: str | os.PathLike[str] | pd.DataFrame,
    challenge: str | None = None,
    scored_classes: Collection[str] | None = None,
    groups: Any = None,
    n_resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    names: Sequence[str] = ("A", "B"),
    progress: bool = False,
) -> dict[str, Any]:
    """Compares two classifiers' predictions on the same test images (module docstring).

    Args:
        predictions_a, predictions_b: `dermnet evaluate`'s `predictions.csv` (a path or DataFrame):
            `image_id`, `label` (the true class), `p_<class>` columns, and the grouping columns
            (`lesion_id`, `patient_id`) where the data set has them.
        challenge: the ISIC challenge both were scored by (`scores.json`'s `scoring`), or None for
            dermnet's classification scores (then both models have the same classes).
        scored_classes: without a challenge: the classes given per-category scores (default all).
        groups: one group per row of `predictions_a`, drawn whole; None: `resampling_groups` of
            table A (patients, else lesions, else images).
        n_resamples: paired bootstrap draws.
        seed: of the draws.
        confidence: of the intervals.
        names: what the sentences call A and B.
        progress: show a progress bar over the draws.

    Returns:
        `{"a": scores, "b": scores, "difference": {score: A - B}, "intervals": {score: [low, high]}
        (of the difference), "interval_method": {...}, "delong": {"auc" and "auc_<category>":
        {"auc_a", "auc_b", "difference", "z", "p"}}, "sentences": [one per headline score]}`.

    Raises:
        ValueError: the tables hold other images (how many, and a few of them), other true labels
            for the same images, or (without a challenge) other classes.
    """
    a, b = (_read(table, name) for table, name in zip((predictions_a, predictions_b), names))
    b = _same_images(a, b, names)
    classes_a, classes_b = _classes(a), _classes(b)
    if challenge is None and classes_a != classes_b:
        raise ValueError(
            f"{names[0]} predicts the classes {classes_a}, {names[1]} {classes_b}: without a "
            "challenge the two are scored over their classes, which must be the same"
        )
    truth = np.array([classes_a.index(label) for label in a["label"]])
    probabilities_a = a[[f"p_{c}" for c in classes_a]].to_numpy("float64")
    # B's columns in B's own order: a challenge matches each table's classes to its categories by name.
    truth_b = np.array([classes_b.index(label) for label in a["label"]])
    probabilities_b = b[[f"p_{c}" for c in classes_b]].to_numpy("float64")
    unit = "groups"
    if groups is None:
        groups, unit = resampling_groups(a)
    elif len(groups) != len(a):
        raise ValueError(
            f"groups= gives one group per row of {names[0]}'s table: {len(a)} rows, {len(groups)} groups"
        )
    models = {"a": (truth, probabilities_a, classes_a), "b": (truth_b, probabilities_b, classes_b)}

    def scores(rows: np.ndarray, model: str = "a") -> dict[str, Any]:
        labels, probabilities, classes = models[model]
        return model_scores(
            challenge, labels[rows], probabilities[rows], classes, scored_classes, n_resamples=0
        )

    def difference(rows: np.ndarray) -> dict[str, float]:
        one, other = scores(rows), scores(rows, "b")
        return {
            k: v - other[k]
            for k, v in one.items()
            if isinstance(v, float) and isinstance(other.get(k), float)
        }

    every = np.arange(len(a))
    result: dict[str, Any] = {"a": scores(every), "b": scores(every, "b"), "difference": difference(every)}
    result.update(
        bootstrap_intervals(difference, truth, groups, n_resamples, seed, confidence, unit, progress)
    )
    result["interval_method"]["paired"] = "both models' scores on the same draw of the test images"
    result["delong"] = _delong(
        challenge, scored_classes, truth, (probabilities_a, classes_a), (probabilities_b, classes_b)
    )
    result["sentences"] = _sentences(result, names, challenge, confidence)
    return result


def compare_evaluations(
    folder_a: str | os.PathLike[str],
    folder_b: str | os.PathLike[str],
    n_resamples: int = RESAMPLES,
    seed: int = SEED,
    progress: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """`compare` of two `dermnet evaluate` folders: their `predictions.csv`, scored as their
    `scores.json` says (`scoring`: the challenge and scored classes, which must be the same); named
    after their run folders.

    Args:
        folder_a, folder_b: evaluation folders (`dermnet.runs.evaluation_folder` finds a run's).
        n_resamples, seed, progress, options: as `compare`'s (`challenge` and `scored_classes` for
            evaluations written before `scores.json` recorded them).

    Raises:
        ValueError: a folder without `predictions.csv`, or the two scored differently.
        FileNotFoundError: a folder that does not exist.
    """
    folders = [Path(folder) for folder in (folder_a, folder_b)]
    for folder in folders:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder")
        if not (folder / "predictions.csv").is_file():
            raise ValueError(f"{folder}: no predictions.csv: give a classifier's `dermnet evaluate` folder")
    scoring = [
        json.loads(p.read_text()).get("scoring") if (p := folder / "scores.json").is_file() else None
        for folder in folders
    ]
    if scoring[0] != scoring[1]:
        raise ValueError(
            f"{folders[0]} was scored by {scoring[0]}, {folders[1]} by {scoring[1]}: evaluate "
            "both the same way to compare them"
        )
    if scoring[0]:
        options = {
            "challenge": scoring[0]["challenge"],
            "scored_classes": scoring[0]["scored_classes"],
            **options,
        }
    names = [folder.parent.name if folder.name == "evaluation" else folder.name for folder in folders]
    options.setdefault("names", tuple(names) if names[0] != names[1] else ("A", "B"))
    # (The ignore: mypy cannot tell that the folders are two, nor what `options` holds.)
    return compare(
        *(folder / "predictions.csv" for folder in folders),  # type: ignore[misc, arg-type]
        n_resamples=n_resamples,
        seed=seed,
        progress=progress,
        **options,
    )


def _read(table: str | os.PathLike[str] | pd.DataFrame, name: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        table = read_csv(table, dtype={"image_id": str, "label": str})  # as written: formula escapes undone
    missing = {"image_id", "label"} - set(table)
    if missing or not _classes(table):
        lacking = ", ".join(sorted(missing)) or "p_<class>"
        raise ValueError(
            f"{name}'s predictions lack the column(s) {lacking}: give dermnet evaluate's predictions.csv"
        )
    if table["image_id"].duplicated().any():
        raise ValueError(
            f"{name}'s predictions name some images twice: "
            f"{', '.join(table['image_id'][table['image_id'].duplicated()].astype(str)[:5])}"
        )
    return table.reset_index(drop=True)


def _classes(table: pd.DataFrame) -> list[str]:
    return [column[2:] for column in table.columns if column.startswith("p_")]


def _same_images(a: pd.DataFrame, b: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Table B in table A's order; refused unless both hold the same images with the same labels."""
    ids_a, ids_b = set(a["image_id"].astype(str)), set(b["image_id"].astype(str))
    if ids_a != ids_b:
        only = sorted(ids_a ^ ids_b)
        raise ValueError(
            f"{names[0]} and {names[1]} were not scored on the same test images: {len(only)} "
            f"of {len(ids_a | ids_b)} are in one table only ({len(ids_a - ids_b)} in "
            f"{names[0]}'s alone, {len(ids_b - ids_a)} in {names[1]}'s), e.g. "
            f"{', '.join(only[:5])}"
        )
    b = b.set_index(b["image_id"].astype(str)).loc[a["image_id"].astype(str)].reset_index(drop=True)
    differ = a["label"].astype(str).to_numpy() != b["label"].astype(str).to_numpy()
    if differ.any():
        examples = ", ".join(a["image_id"][differ].astype(str)[:5])
        raise ValueError(
            f"{names[0]} and {names[1]} give {differ.sum()} of the same images other true "
            f"labels (not the same test set), e.g. {examples}"
        )
    return b


def _delong(
    challenge: str | None,
    scored_classes: Collection[str] | None,
    truth: np.ndarray,
    *models: tuple[np.ndarray, list[str]],
) -> dict[str, dict[str, float]]:
    """DeLong's paired test of each category's AUC, and of their mean (`auc`), as the scores define them."""
    if challenge is not None:
        challenge = get_challenge(challenge)
        categories = challenge.categories
        columns: list[Any] = [_challenge_columns(challenge, classes) for _, classes in models]
    else:
        classes = models[0][1]
        categories = [c for c in classes if scored_classes is None or c in scored_classes]
        columns = [[classes.index(c) for c in categories]] * 2
    one_hot = np.stack([truth == columns[0][k] for k in range(len(categories))], axis=1)
    # The macro AUC skips undefined categories (no positive or no negative), as the scores do.
    defined = [k for k in range(len(categories)) if 2 <= one_hot[:, k].sum() <= len(truth) - 2]
    tests = {
        f"auc_{categories[k]}": delong_test(
            one_hot[:, k], models[0][0][:, columns[0][k]], models[1][0][:, columns[1][k]]
        )
        for k in defined
    }
    if defined:
        tests["auc"] = delong_test(
            one_hot[:, defined],
            models[0][0][:, [columns[0][k] for k in defined]],
            models[1][0][:, [columns[1][k] for k in defined]],
        )
    return tests


def _sentences(
    result: dict[str, Any], names: Sequence[str], challenge: str | None, confidence: float
) -> list[str]:
    """A plain sentence per headline score: which is higher, by how much, the interval, whether clear."""
    ranking = get_challenge(challenge).ranking if challenge else None
    sentences = []
    for name in headline(result["difference"]):
        low, high = result["intervals"].get(name, (np.nan, np.nan))
        difference, a, b = result["difference"][name], result["a"][name], result["b"][name]
        if name == "validation" or not np.isfinite([difference, low, high]).all():
            continue  # validation: predictions.csv has no validation weights, so it is `overall` again
        shown = f"{name} ({ranking})" if name == "overall" else name
        shown += " (lower is better)" if name == "expected_calibration_error" else ""
        if difference == 0:
            text = f"{names[0]}'s and {names[1]}'s {shown} are the same ({a:.3f})"
        else:
            text = (
                f"{names[0]}'s {shown} is {'higher' if difference > 0 else 'lower'} by "
                f"{abs(difference):.3f} ({a:.3f} against {b:.3f})"
            )
        clear = "a clear difference" if low > 0 or high < 0 else "not a clear difference"
        text += f", {confidence * 100:g} % CI {_signed(low)} to {_signed(high)}: {clear}"
        is_auc = name == "auc" or name == "overall" and ranking == "auc"
        test = result["delong"].get("auc") if is_auc else None
        if test:
            text += f"; DeLong's test z = {_signed(test['z'], 2)}, p = {test['p']:.3g}"
        sentences.append(text)
    return sentences


def _signed(value: float, decimals: int = 3) -> str:
    return f"{value:.{decimals}f}".replace("-", "−")  # a minus sign, not a hyphen
