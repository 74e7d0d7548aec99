"""Figures for a paper or a report: ROC and precision-recall curves, a confusion matrix, a
reliability diagram, mask overlays, Grad-CAM heat maps, sweep curves and a forest plot of subgroups.
Each function writes one PNG and returns its path.

Figures are drawn on `matplotlib.figure.Figure` objects, which render to files on their own (Agg)
without pyplot: nothing here switches the plotting backend of the process, so importing or calling
it in a notebook leaves the notebook's own plots as they were."""

from pathlib import Path

import cv2
import numpy as np
from matplotlib import cm, colormaps
from matplotlib.figure import Figure
from sklearn import metrics


def roc_curves(truth, probabilities, class_names, path, reference=None):
    """One ROC curve per class (one-vs-rest; the positive class alone for two classes), AUC in the
    legend, every point kept. `reference`: optional `(false positive rate, true positive rate, label)`
    points, e.g. a paper's operating point."""
    figure, axis = _figure()
    drawn = [k for k, _ in _curve_classes(class_names) if 0 < np.mean(np.asarray(truth) == k) < 1]
    for k in drawn:
        metrics.RocCurveDisplay.from_predictions(
            np.asarray(truth) == k,
            probabilities[:, k],
            name=class_names[k],
            ax=axis,
            drop_intermediate=False,
            curve_kwargs={"lw": 2},
            plot_chance_level=k == drawn[-1],
            chance_level_kw={"color": "grey", "lw": 1},
        )
    for x, y, label in reference or ():
        axis.plot(x, y, "k*", markersize=12, label=label)
    return _save(
        figure,
        axis,
        path,
        "ROC curves",
        "false positive rate (1 - specificity)",
        "true positive rate (sensitivity)",
    )


def precision_recall_curves(truth, probabilities, class_names, path):
    """One precision-recall curve per class, average precision in the legend, and dotted in the same
    colour the class' prevalence: the precision of a random ranking."""
    figure, axis = _figure()
    for k, name in _curve_classes(class_names):
        positive = np.asarray(truth) == k
        if not positive.any():
            continue
        display = metrics.PrecisionRecallDisplay.from_predictions(
            positive, probabilities[:, k], name=name, ax=axis, curve_kwargs={"lw": 2}
        )
        colour = display.line_.get_color()
        axis.axhline(
            positive.mean(), ls=":", color=colour, lw=1.5, label=f"{name}: prevalence {positive.mean():.2f}"
        )
    return _save(figure, axis, path, "Precision-recall curves", "recall (sensitivity)", "precision")


def confusion_matrix(truth, probabilities, class_names, path):
    """Counts and each cell's share of its true class (row-normalised), shaded by the share.
    (`ConfusionMatrixDisplay` draws the matrix; its cells show one number, these show two.)"""
    predicted = np.asarray(probabilities).argmax(axis=1)
    counts = metrics.confusion_matrix(truth, predicted, labels=range(len(class_names)))
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = max(4.5, 0.7 * len(class_names) + 2.5)
    figure, axis = _subplots(figsize=(side, side))
    metrics.ConfusionMatrixDisplay(shares, display_labels=list(class_names)).plot(
        ax=axis,
        cmap="Blues",
        include_values=False,
        colorbar=False,
        xticks_rotation=45,
        im_kw={"vmin": 0, "vmax": 1},
    )
    for i, j in np.ndindex(counts.shape):
        axis.text(
            j,
            i,
            f"{counts[i, j]}\n{shares[i, j]:.0%}",
            ha="center",
            va="center",
            fontsize=9,
            color="white" if shares[i, j] > 0.5 else "black",
        )
    return _save(
        figure,
        axis,
        path,
        "Confusion matrix\n(count; share of the true class)",
        "predicted",
        "true",
        legend=False,
    )


def calibration_bins(truth, probabilities, bins=10):
    """The confidence of the predicted class in `bins` equal-width bins: each bin's `count`, mean
    `confidence` and `accuracy` (NaN where empty), and the expected calibration error `ece` (the
    bins' |accuracy - confidence| weighted by their share of images; Guo et al. 2017). Written here
    because `sklearn.calibration.calibration_curve` returns neither the counts nor the empty bins."""
    probabilities = np.asarray(probabilities)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(truth)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)  # bin b: [edge b, edge b+1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.bincount(which, confidence, bins) / count
        accuracy = np.bincount(which, correct, bins) / count
    ece = float(np.nansum(count / max(count.sum(), 1) * np.abs(accuracy - mean_confidence)))
    return {"edges": edges, "count": count, "confidence": mean_confidence, "accuracy": accuracy, "ece": ece}


def reliability_diagram(truth, probabilities, path, bins=10, calibrated=None, temperature=None):
    """Accuracy against confidence of the predicted class (`calibration_bins`): a bar per bin with
    its image count above it, the expected calibration error in the title. With `calibrated` (the
    probabilities after temperature scaling by `temperature`), two panels: before and after."""
    panels = [(probabilities, "Reliability")]
    if calibrated is not None:
        after = f"after temperature scaling (T = {temperature:.2f})" if temperature else "after calibration"
        panels = [(probabilities, "Reliability before calibration"), (calibrated, f"Reliability {after}")]
    figure, axes = _subplots(1, len(panels), figsize=(6 * len(panels), 5.5), squeeze=False)
    for axis, (values, title) in zip(axes[0], panels):
        table = calibration_bins(truth, values, bins)
        filled = table["count"] > 0
        lows, accuracy, count = table["edges"][:-1][filled], table["accuracy"][filled], table["count"][filled]
        axis.bar(
            lows,
            accuracy,
            width=1 / bins,
            align="edge",
            color="tab:blue",
            edgecolor="white",
            label="accuracy of the bin's images (their count above)",
        )
        for low, height, n in zip(lows, accuracy, count):
            axis.text(
                low + 0.5 / bins, min(height, 0.93) + 0.01, str(n), ha="center", va="bottom", fontsize=8
            )
        axis.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect calibration")
        title += "\n" if calibrated is not None else " "  # two panels: narrower titles
        _label(
            axis,
            f"{title}(ECE {table['ece']:.3f}, {bins} bins)",
            "confidence of the predicted class",
            "accuracy",
        )
    return _write(figure, path)


def mask_overlays(images, truth_masks, predicted_masks, jaccards, path, names=None):
    """The best, median and worst images by Jaccard: the true outline in green, the predicted one
    in red."""
    order = np.argsort(jaccards)
    picks = [("worst", order[0]), ("median", order[len(order) // 2]), ("best", order[-1])]
    figure, axes = _subplots(1, 3, figsize=(12, 4.4))
    for axis, (label, i) in zip(axes, picks):
        image = np.ascontiguousarray(images[i][..., :3]).astype(np.uint8).copy()
        for mask, colour in ((truth_masks[i], (0, 200, 0)), (predicted_masks[i], (230, 0, 0))):
            contours, _ = cv2.findContours(
                np.asarray(mask > 0, np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
            )
            cv2.drawContours(image, contours, -1, colour, max(1, image.shape[0] // 150))
        axis.imshow(image)
        axis.set_title(
            f"{label}: Jaccard {jaccards[i]:.3f}" + (f"\n{names[i]}" if names else ""), fontsize=10
        )
        axis.axis("off")
    figure.suptitle("Masks: truth (green), prediction (red)")
    return _write(figure, path)


def heat_maps(
    images, maps, titles, path, columns=4, title="Grad-CAM: where the predicted class' score comes from"
):
    """Images with their heat maps (e.g. `dermnet.evaluation.gradcam`) blended over them, in a grid."""
    rows = int(np.ceil(len(images) / columns))
    figure, axes = _subplots(rows, columns, figsize=(3 * columns, 3.5 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, heat, label in zip(axes.flat, images, maps, titles):
        heat = cv2.resize(np.asarray(heat, np.float32), (image.shape[1], image.shape[0]))
        coloured = (colormaps["jet"](heat)[..., :3] * 255).astype(np.float32)
        axis.imshow((0.55 * image[..., :3] + 0.45 * coloured).astype(np.uint8))
        axis.set_title(label, fontsize=9)
    scale = figure.colorbar(cm.ScalarMappable(cmap=colormaps["jet"]), ax=axes, shrink=0.8, ticks=[0, 1])
    scale.set_label("heat, relative to the image's highest (each map scaled to [0, 1])")
    height, width = np.shape(maps)[1:3]
    figure.suptitle(
        f"{title}\n(maps of {height}×{width} cells, upsampled"
        + ("; one cell locates nothing: predict at a larger size" if height * width == 1 else "")
        + ")"
    )
    return _write(figure, path)


def sweep_curves(table, parameter, metrics, path, right=None, title=None):
    """`metrics` (columns of `table`) against a swept `parameter` column, e.g. Zhang et al.'s AP over
    the synergic weight λ (Fig. 4); `right`: a column drawn on its own right-hand axis, e.g. the
    relative training time over the number of components n (Fig. 5)."""
    figure, axis = _subplots(figsize=(6, 4.5))
    x = table[parameter].to_numpy()
    for metric in metrics:
        axis.plot(x, table[metric], "o-", lw=2, label=metric)
    axis.set_xticks(x)
    axis.grid(alpha=0.3)
    handles, labels = axis.get_legend_handles_labels()
    if right is not None:
        other = axis.twinx()
        other.plot(x, table[right], "s--", color="grey", lw=1.5, label=right)
        other.set_ylabel(right)
        more = other.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    axis.legend(handles, labels, loc="best", fontsize=9)
    axis.set_xlabel(parameter)
    axis.set_ylabel(", ".join(metrics))
    axis.set_title(title or f"{', '.join(metrics)} over {parameter}")
    return _write(figure, path)


def subgroup_forest(rows, score, path, reference=None):
    """A forest plot of `score` by subgroup: a dot and its 95 % interval per subgroup, under its
    column's heading; a subgroup too small for a score shows its words (`note`) instead.

    Args:
        rows: `dermnet.evaluation.subgroups.forest_rows`: dicts of `section`, `label`, `value`, `low`,
            `high` (None where there is none) and `note`.
        score: the score's name, on the x axis.
        path: the PNG to write.
        reference: `(value, low, high)` of the whole test set: a dashed line and a shaded band.
    """
    from matplotlib.transforms import blended_transform_factory

    sections = list(dict.fromkeys(row["section"] for row in rows))
    figure, axis = _subplots(figsize=(8, 1.4 + 0.3 * (len(rows) + len(sections))))
    beside = blended_transform_factory(axis.transAxes, axis.transData)  # x in the axes, y in the data
    ticks, labels, y = [], [], 0
    for section in sections:
        ticks.append(y)
        labels.append(section)
        for row in (row for row in rows if row["section"] == section):
            y += 1
            ticks.append(y)
            labels.append(row["label"])
            if row["value"] is None:
                axis.text(
                    0.5,
                    y,
                    row["note"] or "undefined",
                    transform=beside,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="grey",
                    style="italic",
                )
                continue
            low, high = (row["value"], row["value"]) if row["low"] is None else (row["low"], row["high"])
            axis.errorbar(
                row["value"],
                y,
                xerr=[[row["value"] - low], [high - row["value"]]],
                fmt="o",
                color="tab:blue",
                capsize=3,
            )
        y += 1.5
    value, low, high = reference or (None, None, None)
    if value is not None and np.isfinite(value):
        axis.axvline(value, ls="--", color="grey", lw=1, label=f"whole test set: {value:.3f}")
        if low is not None and np.isfinite([low, high]).all():
            axis.axvspan(low, high, color="grey", alpha=0.15, lw=0, label="its 95 % interval")
        axis.legend(loc="best", fontsize=8)
    axis.set_yticks(ticks, labels, fontsize=8)
    for label, text in zip(axis.get_yticklabels(), labels):
        label.set_fontweight("bold" if text in sections else "normal")
    axis.set_ylim(y - 0.5, -0.8)  # the first section on top
    axis.set_xlim(0, 0.2 if score == "partial_auc" else 1)
    axis.grid(axis="x", alpha=0.3)
    axis.set_xlabel(f"{score} (95 % interval)")
    axis.set_title(f"{score} by subgroup (images in brackets)")
    return _write(figure, path)


def _curve_classes(class_names):
    names = list(class_names)
    return [(1, names[1])] if len(names) == 2 else list(enumerate(names))


def _subplots(*grid, figsize, **options):
    figure = Figure(figsize=figsize, layout="constrained")  # titles and labels never overlap a panel
    return figure, figure.subplots(*grid, **options)


def _figure():
    figure, axis = _subplots(figsize=(6, 5.5))
    return figure, axis


def _save(figure, axis, path, title, xlabel, ylabel, legend=True):
    _label(axis, title, xlabel, ylabel, legend)
    return _write(figure, path)


def _label(axis, title, xlabel, ylabel, legend=True):
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    if legend:
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right" if "ROC" in title else "best", fontsize=9)


def _write(figure, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path
