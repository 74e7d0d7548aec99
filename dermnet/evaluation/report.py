"""`dermnet evaluate`: a trained classifier's scores on a split, its figures and a Markdown report.

Example:
>>> scores = dermnet.evaluation.evaluate(model, df[df.split == "test"], "eval/", challenge="isic2016")
"""

import json
from pathlib import Path

import numpy as np

from dermnet import plots
from dermnet.data import build_cache, class_indices, class_names
from dermnet.evaluation.gradcam import gradcam
from dermnet.evaluation.scoring import classifier_scores
from dermnet.evaluation.tta import tta_model

def evaluate(model, df, out, challenge=None, tta_replicas=1, augmentation="menegola2017", heat_maps_per_class=2,
             batch_size=32, cache_dir=None):
    """Scores `model` on the images of `df` and writes, to the folder `out`: `scores.json`,
    `predictions.csv`, `roc.png`, `precision_recall.png`, `confusion_matrix.png`,
    `reliability.png`, `gradcam.png` and `report.md`, which shows them.

    Args:
        model: a trained classifier (image → probabilities).
        df: a validated manifest; its class order is the model's.
        challenge: "isic2016", "isic2017" or "isic2018_task3" for that challenge's official scores
            (`dermnet.evaluation.score`); None for `classification_scores`.
        tta_replicas: views per image (`dermnet.evaluation.tta_model`); 1 for none.
        heat_maps_per_class: Grad-CAM images per class (the first ones of the manifest).

    Returns:
        The scores.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    classes = list(class_names(df))
    cache = build_cache(df, model.input_shape[1:3], cache_dir=cache_dir)
    images = np.asarray(cache.images[cache.index])
    truth = class_indices(cache.rows, classes)
    predictor = tta_model(model, tta_replicas, augmentation) if tta_replicas > 1 else model
    probabilities = np.asarray(predictor.predict(images, batch_size=batch_size, verbose=0), dtype="float64")

    scores = classifier_scores(truth, probabilities, classes, challenge)
    (out / "scores.json").write_text(json.dumps(scores, indent=2))
    table = cache.rows[["image_id", "label"]].assign(predicted=[classes[k] for k in probabilities.argmax(axis=1)])
    table.join(_probability_columns(probabilities, classes, table.index)).to_csv(out / "predictions.csv", index=False)

    figures = {
        "ROC curves": plots.roc_curves(truth, probabilities, classes, out / "roc.png"),
        "Precision-recall curves": plots.precision_recall_curves(truth, probabilities, classes,
                                                                 out / "precision_recall.png"),
        "Confusion matrix": plots.confusion_matrix(truth, probabilities, classes, out / "confusion_matrix.png"),
        "Reliability": plots.reliability_diagram(truth, probabilities, out / "reliability.png"),
    }
    chosen = np.concatenate([np.flatnonzero(truth == k)[:heat_maps_per_class] for k in range(len(classes))])
    if len(chosen):
        maps = gradcam(model, images[chosen])
        titles = [f"{classes[truth[i]]} → {classes[probabilities[i].argmax()]}" for i in chosen]
        figures["Grad-CAM"] = plots.heat_maps(images[chosen], maps, titles, out / "gradcam.png")
    _report(out / "report.md", model.name, len(truth), challenge, tta_replicas, scores, figures)
    return scores


def _probability_columns(probabilities, classes, index):
    import pandas as pd

    return pd.DataFrame(probabilities, columns=[f"p_{name}" for name in classes], index=index)


def _report(path, model_name, count, challenge, tta_replicas, scores, figures):
    views = f"{tta_replicas} views" if tta_replicas > 1 else "none"
    summary = f"{count} images; scoring: {challenge or 'dermnet classification scores'}; test-time augmentation: {views}."
    lines = [f"# {model_name}: evaluation", "", summary, "", "| score | value |", "| --- | --- |"]
    lines += [f"| {name} | {value:.4f} |" for name, value in scores.items()]
    for title, figure in figures.items():
        lines += ["", f"## {title}", "", f"![{title}]({Path(figure).name})"]
    path.write_text("\n".join(lines) + "\n")
