"""`dermnet evaluate`: a trained model's scores on a split, its figures and a Markdown report, for
classifiers and segmentors alike (the model's contract says which it is).

Example:
>>> df = dermnet.data.load_dataset("synthetic", "~/data/synthetic")
>>> model = dermnet.build("baseline_cnn", num_classes=3, input_shape=(64, 64, 3))
>>> scores = dermnet.evaluation.evaluate(model, df[df.split == "test"], "evaluation/")
>>> sorted(scores)[:3]
['accuracy', 'accuracy_keratosis', 'accuracy_melanoma']
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dermnet import plots
from dermnet._io import write_csv, write_json
from dermnet._progress import predict
from dermnet.data import build_cache, class_indices, class_names
from dermnet.data.manifest import mask_columns
from dermnet.data.splits import GROUP_COLUMNS
from dermnet.evaluation import subgroups
from dermnet.evaluation.calibration import apply_temperature, expected_calibration_error
from dermnet.evaluation.gradcam import explained_network, gradcam
from dermnet.evaluation.intervals import RESAMPLES, bootstrap_intervals, resampling_groups
from dermnet.evaluation.masks import mask_scores
from dermnet.evaluation.predict import masks_of
from dermnet.evaluation.scoring import _mask_means, headline, model_scores, per_category
from dermnet.evaluation.tta import tta_model
from dermnet.models import contract, prediction_size

if TYPE_CHECKING:
    import keras
    import pandas as pd


def evaluate(
    model: keras.Model,
    df: pd.DataFrame,
    out: str | os.PathLike[str],
    size: Sequence[int] | None = None,
    challenge: str | None = None,
    tta_replicas: int = 1,
    augmentation: str = "menegola2017",
    heat_maps_per_class: int = 2,
    batch_size: int = 32,
    cache_dir: str | os.PathLike[str] | None = None,
    about: Mapping[str, Any] | None = None,
    scored_classes: Collection[str] | None = None,
    temperature: float | None = None,
    n_resamples: int = RESAMPLES,
) -> dict[str, Any]:
    """Scores `model` on the images of `df` and writes its report to the folder `out`; returns the scores.

    A classifier's folder: `scores.json`, `predictions.csv`, `roc.png`, `precision_recall.png`,
    `confusion_matrix.png`, `reliability.png`, `gradcam.png` and `report.md`, which shows them; where
    the rows of `df` have metadata (sex, age, site, skin type, source), the scores by subgroup too
    (`scores.json`'s `subgroups`, `subgroups.png` and tables: `dermnet.evaluation.subgroups`). A
    segmentor's: `scores.json` (ISIC 2018 task 1's, at each image's own size), `masks.csv` (per image
    Jaccard and Dice), `masks.png` (the best, median and worst images, true and predicted outlines)
    and `report.md`.

    Args:
        model: a trained dermnet model.
        df: a validated manifest; its class order is the model's.
        size: `(height, width)` to predict at; the model's input size if None (a model that takes
            any size needs it: `dermnet.models.prediction_size(model, recipe)`).
        challenge: classifiers: an ISIC challenge ("isic2016", ..., "isic2024") for its official
            scores (`dermnet.evaluation.challenge_scores`); None for `classification_scores`.
        tta_replicas: classifiers: views per image (`dermnet.evaluation.tta_model`); 1 for none.
        heat_maps_per_class: Grad-CAM images per class (the first ones of the manifest).
        about: what `report.md` says the scores are of, beside the model, the split(s) of `df`, the
            date and the versions: e.g. `{"data set": "isic2016", "model file": "runs/x/model.keras"}`.
        scored_classes: classifiers without a challenge: the classes to give per-category scores for
            (default all; `dermnet.evaluation.cross_dataset` scores those its labels map onto).
        temperature: classifiers: a temperature fitted on the validation split
            (`dermnet.evaluation.calibration.fit_temperature`): the scores, predictions and figures are
            of the calibrated probabilities, `reliability.png` shows them before and after, and
            `scores.json` records `calibration` (the temperature, the ECE before).
        n_resamples: bootstrap draws of the 95 % intervals beside each score (`intervals` and
            `interval_method` in `scores.json`; images of one lesion or patient drawn together); 0
            for none. ISIC 2018 task 2's summed scores get none. Subgroups get at most
            `subgroups.RESAMPLES` each.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    size = tuple(size or prediction_size(model))
    header = _header(model, df, size, about)
    if contract(model).predicts_masks:
        return _evaluate_masks(model, df, out, size, cache_dir, header, n_resamples)
    classes = list(class_names(df))
    cache = build_cache(df, size, cache_dir=cache_dir)
    images = np.asarray(cache.images[cache.index])
    truth = class_indices(cache.rows, classes)
    predictor = tta_model(model, tta_replicas, augmentation) if tta_replicas > 1 else model
    probabilities = np.asarray(
        predict(predictor, images, f"predicting {len(images)} images", batch_size), "float64"
    )

    uncalibrated = probabilities
    if temperature is not None:
        probabilities = apply_temperature(probabilities, temperature)
    groups, unit = resampling_groups(cache.rows)
    scores = model_scores(
        challenge,
        truth,
        probabilities,
        classes,
        scored_classes,
        groups,
        unit,
        n_resamples=n_resamples,
        progress=True,
    )
    # What scored them, so that `compare` scores two evaluations alike.
    scores["scoring"] = {
        "challenge": challenge,
        "scored_classes": list(scored_classes) if scored_classes else None,
    }
    subgroup_resamples = min(n_resamples, subgroups.RESAMPLES)
    by_subgroup = subgroups.subgroup_scores(
        cache.rows,
        truth,
        probabilities,
        classes,
        challenge,
        scored_classes,
        subgroup_resamples,
        progress=True,
    )
    if by_subgroup:
        scores["subgroups"] = by_subgroup
    if temperature is not None:
        before = expected_calibration_error(truth, uncalibrated)
        scores["calibration"] = {
            "temperature": float(temperature),
            "fitted_on": "validation split",
            "expected_calibration_error_before": before,
        }
    write_json(out / "scores.json", scores)
    # The grouping columns go along, so that `compare` resamples lesions as these intervals did.
    columns = ["image_id", "image", "label", *(c for c in GROUP_COLUMNS if c in cache.rows)]
    table = cache.rows[columns].assign(predicted=[classes[k] for k in probabilities.argmax(axis=1)])
    write_csv(out / "predictions.csv", table.join(_probability_columns(probabilities, classes, table.index)))

    figures = {
        "ROC curves": plots.roc_curves(truth, probabilities, classes, out / "roc.png"),
        "Precision-recall curves": plots.precision_recall_curves(
            truth, probabilities, classes, out / "precision_recall.png"
        ),
        "Confusion matrix": plots.confusion_matrix(
            truth, probabilities, classes, out / "confusion_matrix.png"
        ),
        "Reliability": plots.reliability_diagram(
            truth,
            uncalibrated,
            out / "reliability.png",
            calibrated=(None if temperature is None else probabilities),
            temperature=temperature,
        ),
    }
    chosen = np.concatenate([np.flatnonzero(truth == k)[:heat_maps_per_class] for k in range(len(classes))])
    if len(chosen):
        predicted = probabilities[chosen].argmax(axis=1)
        maps = gradcam(model, images[chosen], class_indices=predicted)
        titles = [f"{classes[truth[i]]} → {classes[k]}" for i, k in zip(chosen, predicted)]
        network, count = explained_network(model)
        shown = model.name if count == 1 else f"{network.name} (the first of {model.name}'s {count} networks)"
        figures["Grad-CAM"] = plots.heat_maps(
            images[chosen],
            maps,
            titles,
            out / "gradcam.png",
            title=f"Grad-CAM of {shown}: what raises the score of the class "
            f"{model.name} predicts\n(each image: true class → predicted class)",
        )
    sections: list[str] = []
    if by_subgroup:
        primary = subgroups.primary_score(challenge)
        whole = (scores[primary], *scores.get("intervals", {}).get(primary, (None, None)))
        figure = plots.subgroup_forest(
            subgroups.forest_rows(by_subgroup, primary), primary, out / "subgroups.png", reference=whole
        )
        sections = subgroups.report_section(by_subgroup, primary, figure.name, subgroup_resamples)
    views = f"{tta_replicas} views" if tta_replicas > 1 else "none"
    header += [
        f"- scoring: {challenge + ' (official)' if challenge else 'dermnet classification scores'}; "
        f"expected calibration error over 10 confidence bins",
        f"- test-time augmentation: {views}",
        *_calibration_line(scores),
        *_interval_line(scores),
    ]
    _report(out / "report.md", model.name, header, scores, figures, sections)
    return scores


def _evaluate_masks(
    model: keras.Model,
    df: pd.DataFrame,
    out: Path,
    size: tuple[int, ...],
    cache_dir: str | os.PathLike[str] | None,
    header: list[str],
    n_resamples: int,
) -> dict[str, Any]:
    cache = build_cache(df, size, cache_dir=cache_dir)
    probabilities = masks_of(model, cache)
    scores, table = mask_scores(df, probabilities, per_image=True)
    if mask_columns(df) == ["mask"] and n_resamples:  # task 1: means over images, resampled as any score
        rows = table.to_dict("records")
        groups, unit = resampling_groups(cache.rows)
        scores.update(
            bootstrap_intervals(
                lambda taken: _mask_means([rows[i] for i in taken]),
                np.zeros(len(rows)),
                groups,
                n_resamples,
                unit=unit,
                progress=True,
            )
        )
    write_json(out / "scores.json", scores)
    write_csv(out / "masks.csv", table)
    first = table[table["mask"] == mask_columns(df)[0]]  # the lesion, or the first attribute
    figure = plots.mask_overlays(
        cache.images[cache.index],
        cache.masks[cache.index][..., 0],  # type: ignore[index]  # a segmentor's manifest has masks: so has its cache
        probabilities[..., 0] > 0.5,
        first["jaccard"].to_numpy(),
        out / "masks.png",
        names=list(first["image_id"]),
    )
    task = "task 1" if mask_columns(df) == ["mask"] else "task 2, attributes"
    header += [f"- scoring: at each image's own size (ISIC 2018 {task}, official)", *_interval_line(scores)]
    _report(out / "report.md", model.name, header, scores, {"Masks": figure})
    return scores


def _header(
    model: keras.Model, df: pd.DataFrame, size: Sequence[int], about: Mapping[str, Any] | None
) -> list[str]:
    """The report's first lines: what was scored, by what, when."""
    import keras

    import dermnet

    splits = ", ".join(sorted(df["split"].astype(str).unique())) if "split" in df else "(no split column)"
    lines = [f"- {name}: {value}" for name, value in (about or {}).items()]
    lines += [
        f"- model: {model.name}, predicting at {size[0]}×{size[1]}",
        f"- images: {len(df)} (split: {splits})",
        f"- written: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by dermnet {dermnet.__version__}, "
        f"Keras {keras.__version__} ({keras.config.backend()})",
    ]
    return lines


def _score_tables(scores: Mapping[str, Any]) -> list[str]:
    """The headline scores with their 95 % intervals, then a table of the per-category (or
    per-attribute) ones, each with its interval in brackets."""
    intervals = scores.get("intervals", {})
    lines = ["| score | value | 95 % interval |", "| --- | --- | --- |"]
    lines += [
        f"| {name} | {value:.4f} | {_interval(intervals.get(name), '–')} |"
        for name, value in headline(scores).items()
    ]
    table = per_category(scores)
    if len(table):
        lines += [
            "",
            "| category | " + " | ".join(table.columns) + " |",
            "| --- |" + " --- |" * len(table.columns),
        ]
        for name, row in table.iterrows():
            cells = [
                f"{value:.4f}" + _interval(intervals.get(f"{metric}_{name}"), "", " ({})")
                for metric, value in row.items()
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _interval(bounds: Sequence[float] | None, missing: str, form: str = "{}") -> str:
    return missing if bounds is None else form.format(f"{bounds[0]:.4f} to {bounds[1]:.4f}")


def _interval_line(scores: Mapping[str, Any]) -> list[str]:
    """The report's line on how the intervals were drawn."""
    method = scores.get("interval_method")
    if not method:
        return ["- 95 % intervals: none"]
    skipped = f"; {method['skipped']} draws skipped ({method['skipped_why']})" if method["skipped"] else ""
    return [
        f"- 95 % intervals: {method['method']}, {method['n_resamples']} draws of the {method['groups']} "
        f"{method['resampled']} of the {method['images']} images (seed {method['seed']}){skipped}"
    ]


def _calibration_line(scores: Mapping[str, Any]) -> list[str]:
    calibration = scores.get("calibration")
    if not calibration:
        return []
    return [
        f"- calibration: temperature scaling (T = {calibration['temperature']:.3f}, fitted on the "
        f"{calibration['fitted_on']}): expected calibration error "
        f"{calibration['expected_calibration_error_before']:.4f} before, "
        f"{scores['expected_calibration_error']:.4f} after; the scores are of the calibrated ones"
    ]


def _probability_columns(probabilities: np.ndarray, classes: Sequence[str], index: pd.Index) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(probabilities, columns=[f"p_{name}" for name in classes], index=index)


def _report(
    path: Path,
    model_name: str,
    header: Sequence[str],
    scores: Mapping[str, Any],
    figures: Mapping[str, str | os.PathLike[str]],
    sections: Sequence[str] = (),
) -> None:
    lines = [f"# {model_name}: evaluation", ""]
    if scores.get("warning"):  # a model that learned nothing (dermnet.evaluation.collapse): said first
        lines += [f"> **Warning:** {scores['warning']}", ""]
    lines += [*header, "", *_score_tables(scores)]
    for title, figure in figures.items():
        lines += ["", f"## {title}", "", f"![{title}]({Path(figure).name})"]
    lines += ["", *sections] if sections else []
    path.write_text("\n".join(lines) + "\n")
