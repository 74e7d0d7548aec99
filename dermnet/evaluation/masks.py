"""Scores of predicted masks against a manifest's mask files: ISIC 2018 task 1's, at each image's own size."""

import cv2
import pandas as pd

from dermnet.data import read_mask
from dermnet.data.manifest import mask_columns
from dermnet.evaluation.scoring import jaccard_scores


def mask_names(df):
    """The names of a manifest's masks: ["lesion"], or its attributes (`mask_<attribute>` columns)."""
    return [c[len("mask_"):] if c != "mask" else "lesion" for c in mask_columns(df)]


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
