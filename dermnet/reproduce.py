"""What the notebooks in `notebooks/` share: each paper's published figures (`PAPERS`, the only figures
typed in by hand, each with its source: they live in `dermnet._papers`), the final table that sets
dermnet's measured figures beside them, and the data of a notebook's two modes.

A published figure that the paper text does not give unambiguously is `None`, and prints as "not
transcribed" (its source says why): a figure from memory would be worse than none.

Example:
>>> measured = [("Part 1", "average of the 4 models", "Jaccard", 0.781)]
>>> table = dermnet.reproduce.comparison("menegola2017", measured, mode="full")
"""

import dataclasses
import datetime
import os
import platform
from pathlib import Path

import cv2
import keras
import numpy as np
import pandas as pd

from dermnet import data, recipes
from dermnet._papers import NOT_TRANSCRIBED, PAPERS, Figure, Paper  # noqa: F401 (Figure, Paper: re-exported)
from dermnet.datasets import ATTRIBUTES

SMOKE_NOTE = "smoke run on synthetic data and random weights: not comparable to the paper"


def comparison(paper, measured, mode):
    """The closing table of a notebook: a row per published figure of `paper` (`PAPERS`), dermnet's
    beside it and the figure its predictions reach by chance (`chance`), then the mode, the machine
    and the date.

    Args:
        measured: (table, row, metric, value) or (table, row, metric, value, chance) tuples; each
            must name a figure of the paper (a typo must not drop a row silently). Figures the
            notebook did not measure show "—".
        mode: "smoke" or "full": the notebook's MODE.

    "beats chance" is "yes" where dermnet's figure is better than its chance figure (`chance`: the
    best of its shuffles; lower, for a loss), "no" where it is not, "—" where either is missing.
    In smoke mode the table opens with a "note" column saying, in every row, `SMOKE_NOTE`.
    """
    slots = PAPERS[paper].slots()
    ours = {}
    for table, row, metric, value, *at_chance in measured:
        if (table, row, metric) not in slots:
            raise KeyError(
                f"{paper} publishes no figure ({table!r}, {row!r}, {metric!r}); its figures: {sorted(slots)}"
            )
        ours[table, row, metric] = round(float(value), 4), round(float(at_chance[0]), 4) if at_chance else "—"
    stamp = run_stamp(mode)
    # A smoke run's figure can land near the paper's by chance: each row says what it is (issue 42).
    note = {"note": SMOKE_NOTE} if mode == "smoke" else {}
    rows = []
    for key, f in slots.items():
        value, at_chance = ours.get(key, ("—", "—"))
        beats = (
            "—"
            if "—" in (value, at_chance)
            else ("yes" if (value < at_chance if "loss" in f.metric else value > at_chance) else "no")
        )
        rows.append(
            {
                **note,
                "table": f.table,
                "row": f.row,
                "metric": f.metric,
                "paper": NOT_TRANSCRIBED if f.value is None else f.value,
                "dermnet": value,
                "chance": at_chance,
                "beats chance": beats,
                **stamp,
            }
        )
    return pd.DataFrame(rows)


def chance(scores_of, predictions, draws=20, seed=0):
    """The best figure `scores_of(predictions)` reaches by chance: the predictions shuffled across the
    images `draws` times, each image scored on another's prediction, and the best of those figures kept
    (the highest; the lowest for a loss, a dict key with "loss" in it). A shuffle keeps what the model
    predicts overall (its class balance, its mask sizes) and breaks only the tie to the image. A figure
    better than every shuffle is a permutation test passed at p < 1 / (draws + 1) (0.048 at 20 draws):
    the model learned something of each image. `scores_of` returns a number (higher is better) or a
    dict of them (then a dict of the best figures; entries that are not numbers are dropped).

    Example:
    >>> truth = np.arange(100) % 2
    >>> accuracy = lambda p: float(np.mean(p.argmax(1) == truth))
    >>> accuracy(np.eye(2)[truth]), chance(accuracy, np.eye(2)[truth])  # perfect predictions, then shuffled
    (1.0, 0.62)
    """
    rng = np.random.default_rng(seed)
    predictions = np.asarray(predictions)
    figures = [scores_of(predictions[rng.permutation(len(predictions))]) for _ in range(draws)]
    if isinstance(figures[0], dict):
        return {
            k: float((min if "loss" in k else max)(f[k] for f in figures))
            for k, v in figures[0].items()
            if isinstance(v, (int, float, np.number))
        }
    return float(max(figures))


def smoke_recipe(recipe, learning_rate=1e-3, batchnorm_momentum=0.9):
    """`recipe` (a `Recipe` or its name) for a notebook's smoke mode: every phase keeps its freezing,
    and the recipe its stream, loss, augmentation and sizes, but trains with Adam at `learning_rate`,
    without a schedule or callbacks, and with batch-norm statistics that follow the last ten or so
    batches (`batchnorm_momentum`). A smoke run has a few hundred small steps, in which the papers'
    optimizers (SGD at 1e-4, say) move nothing a figure can see, and Keras' momentum of 0.99 leaves a
    third of each layer's initial moving statistics in place after 110 steps (0.99 ** 110): a model
    that has learned then predicts from statistics it never had (DeepLab v3+ in Xue's smoke Table 1:
    Jaccard 0.21 at 0.99, 0.56 at 0.9, the same weights). The same code path then shows that it learns
    (`chance`). Never for a figure beside a paper's."""
    recipe = recipes.get(recipe) if isinstance(recipe, str) else recipe

    def smoke(phases):
        return tuple(
            dataclasses.replace(
                phase,
                optimizer_name="Adam",
                learning_rate=learning_rate,
                optimizer_args={},
                schedule=None,
                callbacks=(),
            )
            for phase in phases
        )

    return dataclasses.replace(
        recipe.with_phases(smoke),
        name=f"{recipe.name}_smoke",
        batchnorm_momentum=batchnorm_momentum,
        notes=f"smoke mode: Adam at {learning_rate}, no schedule, batch-norm momentum "
        f"{batchnorm_momentum}. {recipe.notes}",
    )


def mode_recipe(recipe, mode):
    """The recipe a notebook trains by in `mode`: `recipe` (a `Recipe` or its name) as the paper wrote
    it in full mode, `smoke_recipe(recipe)` in smoke mode."""
    if _checked(mode) == "smoke":
        return smoke_recipe(recipe)
    return recipes.get(recipe) if isinstance(recipe, str) else recipe


def run_stamp(mode):
    """{"mode", "machine", "date"} of this run; the notebooks print it first and last."""
    return {"mode": _checked(mode), "machine": machine(), "date": datetime.date.today().isoformat()}


def _checked(mode):
    if mode not in ("smoke", "full"):
        raise ValueError(f"MODE must be 'smoke' or 'full', not {mode!r}")
    return mode


def machine():
    """The CPU, its cores and the accelerators Keras' backend sees, in words."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    accelerators = [str(d) for d in keras.distribution.list_devices() if not str(d).lower().startswith("cpu")]
    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores, "
        f"{', '.join(accelerators) if accelerators else 'no GPU'}, Keras {keras.__version__} "
        f"({keras.config.backend()})"
    )


def stacking_split(train_df, validation=0.2, seed=0):
    """RECOD's data for stacking (Menegola et al. 2017, Section II-H): their SVMs were trained on their
    internal validation set, a split of their own training data with every (near-)duplicate on one side
    (Section II-B), never on the official validation set. Returns `(train, validation)` of `train_df`:
    the classifiers train on the first, the SVMs are fitted on their predictions for the second.

    Args:
        train_df: the training images (ISIC 2017's official training set in full mode).
        validation: the share held out for the SVMs. The paper gives none: 0.2 is dermnet's (RECOD's
            part 1 held out 400 of 2,000).
        seed: the split's.
    """
    df = data.split(
        train_df, {"train": 1 - validation, "validation": validation}, seed=seed, near_duplicates=True
    )
    return df[df.split == "train"], df[df.split == "validation"]


def smoke_classification(n=120, num_classes=3, image_size=64, seed=0):
    """(train, validation, test) of a small synthetic set, drawn once into the dermnet cache."""
    root = data.default_cache_dir() / f"synthetic-{n}-{num_classes}-{image_size}-{seed}"
    return _by_split(
        data.write_synthetic(root, n=n, image_size=image_size, num_classes=num_classes, seed=seed)
    )


def isic2016_archive(root):
    """(train, test) of the ISIC 2016 part 3 images found in an ISIC Archive folder with a
    `metadata.csv` (`isic2016_split`, `benign_malignant`), such as `../shared/data/isic-archive-557`."""
    root = Path(root)
    meta = pd.read_csv(root / "metadata.csv").dropna(subset=["isic2016_split"])
    manifest = meta.assign(
        label=meta.benign_malignant,
        split=meta.isic2016_split,
        image=[str(root / "images" / f"{i}.jpg") for i in meta.image_id],
    )
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
