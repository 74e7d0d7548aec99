"""What the notebooks in `notebooks/` share: each paper's published figures (the only figures typed in
by hand, each with its source), the final table that sets dermnet's measured figures beside them, and
the data of a notebook's two modes.

A published figure that could not be read from the paper itself when it was transcribed is `None`,
and prints as "not transcribed": a figure from memory would be worse than none.

Example:
>>> measured = [("Part 1", "average of the 4 models", "Jaccard", 0.781)]
>>> table = dermnet.reproduce.comparison("menegola2017", measured, mode="full")
"""

import datetime
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np
import pandas as pd

from dermnet import data
from dermnet.datasets import ATTRIBUTES

NOT_TRANSCRIBED = "not transcribed"


@dataclass(frozen=True)
class Figure:
    """One published figure: where it sits (table, row, metric), its value and where it was read."""

    table: str
    row: str
    metric: str
    value: object  # a float, a range as text ("0.780–0.783"), or None: not transcribed
    source: str


@dataclass(frozen=True)
class Paper:
    citation: str
    figures: tuple

    def slots(self):
        return {(f.table, f.row, f.metric): f for f in self.figures}


def _slots(table, rows, metrics, source, values=None):
    """Figures for every (row, metric) of a table; `values[(row, metric)]` where transcribed."""
    values = values or {}
    return tuple(Figure(table, row, metric, values.get((row, metric)), source) for row in rows for metric in metrics)


_ZHANG = "Zhang et al., Skin lesion classification in dermoscopy images using synergic deep learning, MICCAI 2018"
_RAY = ("Ray, Gupta, Al, Skin lesion classification with deep convolutional neural network, "
        "JMIR Dermatol 2020;3(1):e18438")
_XUE = "Xue et al., ISIC 2018 challenge report (SegAN, multitask attribute network, triplet loss)"
_MENEGOLA = "Menegola et al., RECOD Titans at ISIC Challenge 2017, arXiv:1703.04819"
_RECOD_PART3 = "github.com/learningtitans/isbi2017-part3, README (the authors' results on the official test set)"

PAPERS = {
    "zhang2018": Paper(_ZHANG, (
        *_slots("Table 1", [f"{model}, {augmentation}" for augmentation in ("no augmentation", "augmentation")
                            for model in ("ResNet-50", "ResNet-50²", "SDL")],
                ["AP", "Acc", "AUC"], f"{_ZHANG}, Table 1 (ISIC 2016 test)"),
        *_slots("Table 2", ["SDL", "CUMED", "GTDL", "BF-TB", "ThrunLab", "Jordan Yap"], ["AP", "Acc", "AUC"],
                f"{_ZHANG}, Table 2 (ISIC 2016 test; the other rows are the challenge leaderboard's)"),
    )),
    "ray2020": Paper(_RAY, (
        *_slots("Tables 2-3", ["baseline CNN"] + [f"{model}, {layers}" for model in
                                                  ("VGG16", "Inception-ResNet-v2", "InceptionV3", "DenseNet-201")
                                                  for layers in ("top layers", "all layers")]
                + ["InceptionV3 + DenseNet-201 ensemble"],
                ["validation accuracy", "test accuracy", "test loss"], f"{_RAY}, Tables 2 and 3 (HAM10000)"),
    )),
    "xue2018": Paper(_XUE, (
        *_slots("Table 1", ["DeepLab v3+", "SegAN", "SegAN ensemble"], ["thresholded Jaccard"],
                f"{_XUE}, Table 1 (task 1)"),
        *_slots("Table 2", ["one network per attribute", "multitask network"], ["Jaccard"],
                f"{_XUE}, Table 2 (task 2)"),
        *_slots("Table 3", ["cross-entropy", "cross-entropy + triplet (nearest class mean)"], ["balanced accuracy"],
                f"{_XUE}, Table 3 (task 3)"),
    )),
    "menegola2017": Paper(_MENEGOLA, (
        *_slots("Part 1", ["VGG16 U-net", "U-net, 8192-unit bottleneck", "BN U-net"], ["Jaccard"],
                f"{_MENEGOLA} (no per-model figure in its abstract)"),
        Figure("Part 1", "each of the 4 final models", "Jaccard", "0.780–0.783",
               f"{_MENEGOLA}, abstract (official validation set)"),
        Figure("Part 1", "average of the 4 models", "Jaccard", 0.793,
               f"{_MENEGOLA}, abstract (official validation set)"),
        Figure("Part 3", "TTA + SVM stacking", "melanoma AUC", 0.874, _RECOD_PART3),
        Figure("Part 3", "TTA + SVM stacking", "seborrheic keratosis AUC", 0.943, _RECOD_PART3),
        Figure("Part 3", "TTA + SVM stacking", "mean AUC", 0.908, _RECOD_PART3),
    )),
}


def comparison(paper, measured, mode):
    """The closing table of a notebook: a row per published figure of `paper` (`PAPERS`), dermnet's
    beside it, then the mode, the machine and the date.

    Args:
        measured: (table, row, metric, value) tuples; each must name a figure of the paper (a typo
            must not drop a row silently). Figures the notebook did not measure show "—".
        mode: "smoke" or "full": the notebook's MODE.
    """
    slots = PAPERS[paper].slots()
    ours = {}
    for table, row, metric, value in measured:
        if (table, row, metric) not in slots:
            raise KeyError(f"{paper} publishes no figure ({table!r}, {row!r}, {metric!r}); "
                           f"its figures: {sorted(slots)}")
        ours[table, row, metric] = round(float(value), 4)
    stamp = run_stamp(mode)
    return pd.DataFrame([{"table": f.table, "row": f.row, "metric": f.metric,
                          "paper": NOT_TRANSCRIBED if f.value is None else f.value,
                          "dermnet": ours.get(key, "—"), **stamp} for key, f in slots.items()])


def run_stamp(mode):
    """{"mode", "machine", "date"} of this run; the notebooks print it first and last."""
    if mode not in ("smoke", "full"):
        raise ValueError(f"MODE must be 'smoke' or 'full', not {mode!r}")
    return {"mode": mode, "machine": machine(), "date": datetime.date.today().isoformat()}


def machine():
    """The CPU, its cores and the accelerators Keras' backend sees, in words."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    accelerators = [str(d) for d in keras.distribution.list_devices() if not str(d).lower().startswith("cpu")]
    return (f"{cpu}, {len(os.sched_getaffinity(0))} cores, "
            f"{', '.join(accelerators) if accelerators else 'no GPU'}, Keras {keras.__version__} "
            f"({keras.config.backend()})")


def smoke_classification(n=120, num_classes=3, image_size=64, seed=0):
    """(train, validation, test) of a small synthetic set, drawn once into the dermnet cache."""
    root = data.default_cache_dir() / f"synthetic-{n}-{num_classes}-{image_size}-{seed}"
    return _by_split(data.write_synthetic(root, n=n, image_size=image_size, num_classes=num_classes, seed=seed))


def isic2016_archive(root):
    """(train, test) of the ISIC 2016 part 3 images found in an ISIC Archive folder with a
    `metadata.csv` (`isic2016_split`, `benign_malignant`), such as `../shared/data/isic-archive-557`."""
    root = Path(root)
    meta = pd.read_csv(root / "metadata.csv").dropna(subset=["isic2016_split"])
    manifest = meta.assign(label=meta.benign_malignant, split=meta.isic2016_split,
                           image=[str(root / "images" / f"{i}.jpg") for i in meta.image_id])
    df = data.validate(manifest[["image_id", "label", "split", "image"]], classes=["benign", "malignant"])
    return df[df.split == "train"], df[df.split == "test"]


def smoke_attributes(n=60, image_size=64, seed=0):
    """(train, validation, test) with a `mask_<attribute>` column per ISIC 2018 task 2 attribute, for
    smoke runs only: stand-ins made from the synthetic lesion masks. Attribute k is drawn (the whole
    lesion) on the images of class k mod 3 and empty elsewhere, so presence follows the class and the
    masks follow the lesion. They exercise the task 2 code path; they are not dermoscopic attributes."""
    root = data.default_cache_dir() / f"synthetic-attributes-{n}-{image_size}-{seed}"
    df = data.write_synthetic(root / "synthetic", n=n, image_size=image_size, num_classes=3, seed=seed)
    labels = data.class_indices(df)
    (root / "attributes").mkdir(exist_ok=True)
    for k, attribute in enumerate(ATTRIBUTES):
        paths = []
        for image_id, mask_path, label in zip(df.image_id, df["mask"], labels):
            path = root / "attributes" / f"{image_id}_attribute_{attribute}.png"
            if not path.exists():
                mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
                cv2.imwrite(str(path), mask if label == k % 3 else np.zeros_like(mask))
            paths.append(str(path))
        df[f"mask_{attribute}"] = paths
    return _by_split(data.validate(df.drop(columns=["mask", "label"])))


def _by_split(df):
    return tuple(df[df.split == split] for split in ("train", "validation", "test"))
