"""`dermnet evaluate`: a trained model's scores on a split, its figures and a Markdown report, for
classifiers and segmentors alike (the model's contract says which it is).

Example:
>>> df = dermnet.data.load_dataset("synthetic", "~/data/synthetic")
>>> model = dermnet.build("baseline_cnn", num_classes=3, input_shape=(64, 64, 3))
>>> scores = dermnet.evaluation.evaluate(model, df[df.split == "test"], "evaluation/")
>>> sorted(scores)[:3]
['accuracy', 'accuracy_keratosis', 'accuracy_melanoma']
"""

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from dermnet import plots
from dermnet._io import write_csv, write_json
from dermnet._progress import predict
from dermnet.data import build_cache, class_indices, class_names
from dermnet.data.manifest import mask_columns
from dermnet.evaluation.gradcam import explained_network, gradcam
from dermnet.evaluation.masks import mask_scores
from dermnet.evaluation.predict import masks_of
from dermnet.evaluation.scoring import challenge_scores, headline, per_category
from dermnet.evaluation.tta import tta_model
from dermnet.models import contract, prediction_size

def evaluate(model, df, out, size=None, challenge=None, tta_replicas=1, augmentation="menegola2017",
             heat_maps_per_class=2, batch_size=32, cache_dir=None, about=None, scored_classes=None):
    """Scores `model` on the images of `df` and writes its report to the folder `out`; returns the scores.

    A classifier's folder: `scores.json`, `predictions.csv`, `roc.png`, `precision_recall.png`,
    `confusion_matrix.png`, `reliability.png`, `gradcam.png` and `report.md`, which shows them. A
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
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    size = tuple(size or prediction_size(model))
    header = _header(model, df, size, about)
    if contract(model).predicts_masks:
        return _evaluate_masks(model, df, out, size, cache_dir, header)
    classes = list(class_names(df))
    cache = build_cache(df, size, cache_dir=cache_dir)
    images = np.asarray(cache.images[cache.index])
    truth = class_indices(cache.rows, classes)
    predictor = tta_model(model, tta_replicas, augmentation) if tta_replicas > 1 else model
    probabilities = np.asarray(predict(predictor, images, f"predicting {len(images)} images", batch_size), "float64")

    scores = challenge_scores(challenge, truth, probabilities, classes, scored=scored_classes)
    scores["expected_calibration_error"] = plots.calibration_bins(truth, probabilities)["ece"]
    write_json(out / "scores.json", scores)
    table = cache.rows[["image_id", "image", "label"]].assign(predicted=[classes[k] for k in probabilities.argmax(axis=1)])
    write_csv(out / "predictions.csv", table.join(_probability_columns(probabilities, classes, table.index)))

    figures = {
        "ROC curves": plots.roc_curves(truth, probabilities, classes, out / "roc.png"),
        "Precision-recall curves": plots.precision_recall_curves(truth, probabilities, classes,
                                                                 out / "precision_recall.png"),
        "Confusion matrix": plots.confusion_matrix(truth, probabilities, classes, out / "confusion_matrix.png"),
        "Reliability": plots.reliability_diagram(truth, probabilities, out / "reliability.png"),
    }
    chosen = np.concatenate([np.flatnonzero(truth == k)[:heat_maps_per_class] for k in range(len(classes))])
    if len(chosen):
        predicted = probabilities[chosen].argmax(axis=1)
        maps = gradcam(model, images[chosen], class_indices=predicted)
        titles = [f"{classes[truth[i]]} → {classes[k]}" for i, k in zip(chosen, predicted)]
        network, count = explained_network(model)
        shown = model.name if count == 1 else f"{network.name} (the first of {model.name}'s {count} networks)"
        figures["Grad-CAM"] = plots.heat_maps(images[chosen], maps, titles, out / "gradcam.png",
                                              title=f"Grad-CAM of {shown}: what raises the score of the class "
                                              f"{model.name} predicts\n(each image: true class → predicted class)")
    views = f"{tta_replicas} views" if tta_replicas > 1 else "none"
    header += [f"- scoring: {challenge + ' (official)' if challenge else 'dermnet classification scores'}; "
               f"expected calibration error over 10 confidence bins", f"- test-time augmentation: {views}"]
    _report(out / "report.md", model.name, header, scores, figures)
    return scores


def _evaluate_masks(model, df, out, size, cache_dir, header):
    cache = build_cache(df, size, cache_dir=cache_dir)
    probabilities = masks_of(model, cache)
    scores, table = mask_scores(df, probabilities, per_image=True)
    write_json(out / "scores.json", scores)
    write_csv(out / "masks.csv", table)
    first = table[table["mask"] == mask_columns(df)[0]]  # the lesion, or the first attribute
    figure = plots.mask_overlays(cache.images[cache.index], cache.masks[cache.index][..., 0],
                                 probabilities[..., 0] > 0.5, first["jaccard"].to_numpy(), out / "masks.png",
                                 names=list(first["image_id"]))
    task = "task 1" if mask_columns(df) == ["mask"] else "task 2, attributes"
    header += [f"- scoring: at each image's own size (ISIC 2018 {task}, official)"]
    _report(out / "report.md", model.name, header, scores, {"Masks": figure})
    return scores


def _header(model, df, size, about):
    """The report's first lines: what was scored, by what, when."""
    import keras

    import dermnet

    splits = ", ".join(sorted(df["split"].astype(str).unique())) if "split" in df else "(no split column)"
    lines = [f"- {name}: {value}" for name, value in (about or {}).items()]
    lines += [f"- model: {model.name}, predicting at {size[0]}×{size[1]}",
              f"- images: {len(df)} (split: {splits})",
              f"- written: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by dermnet {dermnet.__version__}, "
              f"Keras {keras.__version__} ({keras.config.backend()})"]
    return lines


def _score_tables(scores):
    """The headline scores, then a table of the per-category (or per-attribute) ones."""
    lines = ["| score | value |", "| --- | --- |"]
    lines += [f"| {name} | {value:.4f} |" for name, value in headline(scores).items()]
    table = per_category(scores)
    if len(table):
        lines += ["", "| category | " + " | ".join(table.columns) + " |", "| --- |" + " --- |" * len(table.columns)]
        lines += [f"| {name} | " + " | ".join(f"{value:.4f}" for value in row) + " |" for name, row in table.iterrows()]
    return lines


def _probability_columns(probabilities, classes, index):
    import pandas as pd

    return pd.DataFrame(probabilities, columns=[f"p_{name}" for name in classes], index=index)


def _report(path, model_name, header, scores, figures):
    lines = [f"# {model_name}: evaluation", ""]
    if scores.get("warning"):  # a model that learned nothing (dermnet.evaluation.collapse): said first
        lines += [f"> **Warning:** {scores['warning']}", ""]
    lines += [*header, "", *_score_tables(scores)]
    for title, figure in figures.items():
        lines += ["", f"## {title}", "", f"![{title}]({Path(figure).name})"]
    path.write_text("\n".join(lines) + "\n")
