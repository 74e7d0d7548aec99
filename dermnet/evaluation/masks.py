"""Scores of predicted masks against a manifest's mask files, at each image's own size: ISIC 2018
task 1's for lesion masks, task 2's for attribute masks."""

import cv2
import pandas as pd

from dermnet.data import read_mask
from dermnet.data.manifest import mask_columns
from dermnet.evaluation.collapse import collapse_warning
from dermnet.evaluation.official import MASK_METRICS
from dermnet.evaluation.scoring import attribute_scores, segmentation_scores


def mask_names(df):
    """The names of a manifest's masks: ["lesion"], or its attributes (`mask_<attribute>` columns)."""
    return [c[len("mask_") :] if c != "mask" else "lesion" for c in mask_columns(df)]


def mask_scores(df, probabilities, per_image=False):
    """The official scores of predicted mask probabilities `[len(df), h, w, masks]`
    (`predict_masks`) against `df`'s mask files, each prediction resized to its true mask's own size
    and thresholded at 0.5.

    A lesion mask (`mask` column) gets ISIC 2018 task 1's `segmentation_scores`. Attribute masks
    (`mask_<attribute>` columns) get task 2's `attribute_scores` (Jaccard and Dice of the confusion
    matrices summed over images), plus, under their own names, the means over images and attributes
    of each image's scores: `image_mean_<metric>` (and `image_mean_<metric>_<attribute>`).

    Where every image gets the same mask, the scores hold a `"warning"` saying so
    (`dermnet.evaluation.collapse`). With `per_image`, returns `(scores, table)`: the table has one
    row per image and mask column (image_id, mask, then task 1's per-image metrics)."""
    columns, names = mask_columns(df), mask_names(df)
    truths, predictions, rows = {}, {}, []
    for k, (column, name) in enumerate(zip(columns, names)):
        truths[name] = [read_mask(path) for path in df[column]]
        predictions[name] = [
            cv2.resize(probability, truth.shape[::-1], interpolation=cv2.INTER_LINEAR) > 0.5
            for truth, probability in zip(truths[name], probabilities[..., k])
        ]
        scores, per = segmentation_scores(
            truths[name], predictions[name], names=list(df[column]), per_image=True
        )
        rows += [
            {**row, "image_id": str(image_id), "mask": column} for image_id, row in zip(df["image_id"], per)
        ]
    table = pd.DataFrame(rows)[["image_id", "mask", *MASK_METRICS]]
    if columns != ["mask"]:  # attributes: task 2's scores, and the means of the per-image ones
        scores = attribute_scores(truths, predictions, names=[str(image_id) for image_id in df["image_id"]])
        means = table.groupby("mask", sort=False)[list(MASK_METRICS)].mean()
        scores.update({f"image_mean_{metric}": float(means[metric].mean()) for metric in MASK_METRICS})
        scores.update(
            {
                f"image_mean_{metric}_{name}": float(means.loc[column, metric])
                for column, name in zip(columns, names)
                for metric in MASK_METRICS
            }
        )
    warning = collapse_warning(probabilities, masks=True)
    if warning:  # the scores of a model that learned nothing are not a result
        scores["warning"] = warning
    return (scores, table) if per_image else scores
