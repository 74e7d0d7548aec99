"""Segmentors on a split: predicted masks, ISIC 2018 task 1's scores at each image's own size, and
the `dermnet evaluate` report for them.

Example:
>>> scores = dermnet.evaluation.evaluate_masks(model, df[df.split == "test"], "eval/")
"""

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from dermnet import plots
from dermnet.data import build_cache, read_mask
from dermnet.data.manifest import mask_columns
from dermnet.evaluation.scoring import jaccard_scores


def mask_names(df):
    """The names of a manifest's masks: ["lesion"], or its attributes (`mask_<attribute>` columns)."""
    return [c[len("mask_"):] if c != "mask" else "lesion" for c in mask_columns(df)]


def predict_masks(model, df, size, batch_size=8, cache_dir=None):
    """Mask probabilities `[len(df), height, width, masks]` (float32) of `df`'s images resized to
    `size` (`(height, width)`), in its row order. An attribute network's masks are its "masks" output."""
    return _predict(model, build_cache(df, size, cache_dir=cache_dir), batch_size)


def _predict(model, cache, batch_size=8):
    outputs = model.predict(cache.images[cache.index], batch_size=batch_size, verbose=0)
    return np.asarray(outputs["masks"] if isinstance(outputs, dict) else outputs, "float32")


def mask_scores(df, probabilities, per_image=False):
    """`jaccard_scores` (thresholded Jaccard, Jaccard, Dice; ISIC 2018 task 1) of predicted mask
    probabilities `[len(df), h, w, masks]` (`predict_masks`) against `df`'s mask files, each
    prediction resized to its true mask's own size and thresholded at 0.5.

    With several mask columns (attributes) each gets its scores, suffixed `_<attribute>`, and the
    unsuffixed ones are their means. With `per_image`, returns `(scores, table)`: the table has one
    row per image and mask column (image_id, mask, jaccard, dice)."""
    columns, rows = mask_columns(df), []
    for k, column in enumerate(columns):
        for image_id, path, probability in zip(df["image_id"], df[column], probabilities[..., k]):
            truth = read_mask(path)
            predicted = cv2.resize(probability, truth.shape[::-1], interpolation=cv2.INTER_LINEAR) > 0.5
            rows.append({"image_id": image_id, "mask": column,
                         **jaccard_scores([truth], [predicted], names=[path])})
    table = pd.DataFrame(rows)
    # Per image, the thresholded Jaccard of one image is that image's term of the challenge's mean.
    by_column = table.groupby("mask", sort=False)[["thresholded_jaccard", "jaccard", "dice"]].mean()
    scores = {name: float(by_column[name].mean()) for name in by_column.columns}
    if len(columns) > 1:
        scores.update({f"{name}_{mask}": float(value) for mask, (_, values) in zip(mask_names(df), by_column.iterrows())
                       for name, value in values.items()})
    return (scores, table.drop(columns="thresholded_jaccard")) if per_image else scores


def evaluate_masks(model, df, out, size, cache_dir=None):
    """Scores a segmentor on `df` and writes to the folder `out`: `scores.json`, `masks.csv` (per
    image Jaccard and Dice), `masks.png` (the best, median and worst images by Jaccard, with the
    true and predicted outlines) and `report.md`. Returns the scores."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = build_cache(df, size, cache_dir=cache_dir)
    probabilities = _predict(model, cache)
    scores, table = mask_scores(df, probabilities, per_image=True)
    (out / "scores.json").write_text(json.dumps(scores, indent=2))
    table.to_csv(out / "masks.csv", index=False)
    first = table[table["mask"] == mask_columns(df)[0]]  # the lesion, or the first attribute
    figure = plots.mask_overlays(cache.images[cache.index], cache.masks[cache.index][..., 0],
                                 probabilities[..., 0] > 0.5, first["jaccard"].to_numpy(), out / "masks.png",
                                 names=list(first["image_id"]))
    summary = (f"{len(df)} images; masks predicted at {size[0]}×{size[1]}, scored at each image's own size "
               "(ISIC 2018 task 1).")
    lines = [f"# {model.name}: evaluation", "", summary, "", "| score | value |", "| --- | --- |"]
    lines += [f"| {name} | {value:.4f} |" for name, value in scores.items()]
    lines += ["", "## Masks", "", f"![Masks]({Path(figure).name})"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return scores
