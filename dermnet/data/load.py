"""The known data sets (`dermnet.datasets`) as validated DataFrames, read in each one's layout.

Example:
>>> from dermnet import data
>>> df = data.load_dataset("synthetic", "~/data/synthetic")   # drawn on first use
>>> train, validation, test = data.load_splits("synthetic", "~/data/synthetic")
>>> sorted(set(train["split"]))
['train']
"""

from __future__ import annotations

import os
import re
from importlib import resources
from typing import cast

import pandas as pd

from dermnet import datasets
from dermnet.data.cache import default_cache_dir
from dermnet.data.errors import DataError, first_rows
from dermnet.data.layouts import READERS
from dermnet.data.manifest import (
    CSV_AS_TEXT,
    _index_images,
    existing_folder,
    find_images,
    from_csv,
    validate,
)
from dermnet.data.splits import split
from dermnet.data.synthetic import write_synthetic


def load_dataset(
    name: str, root: str | os.PathLike[str], on_error: str = "raise", label: str | None = None
) -> pd.DataFrame:
    """A known data set whose files lie anywhere under `root`, as a validated DataFrame, read in its
    record's layout (`dermnet.datasets.Dataset.layout`).

    A data set whose files give no held-out images (ISIC 2020 and 2024, PH2, ISIC 2019 without its
    test truth) is split here, the same way every time: `dermnet.data.split` with its defaults (70 /
    15 / 15, stratified, no lesion, patient or duplicate set in two splits, seed 0).

    Args:
        name: a name of `dermnet.datasets.DATASETS`; `"synthetic"` needs no download.
        root: the folder the archives were extracted into (`dermnet data download NAME --root`);
            `~` is expanded.
        on_error: `"raise"`, or `"skip"` to drop rows whose files are missing or mismatched (with a
            warning that lists them).
        label: `"isic_archive"` only: the column of the download's `metadata.csv` that holds the
            labels, e.g. `"diagnosis_1"` (`dermnet.data.layouts.isic_archive`).
    """
    dataset = datasets.get(name)
    if label is not None and dataset.layout != "isic_archive":
        raise ValueError(
            f"{name}: label= names the label column of an isic_archive download; {name}'s "
            "labels are the ones it publishes"
        )
    if dataset.layout == "synthetic":  # the embedded default: drawn into root the first time
        df = write_synthetic(root)
        df.attrs["dataset"] = name  # dermnet.data.provenance finds its record
        return df
    root = existing_folder(root)
    if dataset.layout == "manifest":
        with resources.files("dermnet.data.manifests").joinpath(f"{name}.csv").open() as manifest:
            df = pd.read_csv(manifest, **CSV_AS_TEXT)
        df["image"] = _published_images(df["image_id"], root, dataset)
    elif dataset.layout in READERS:
        df = READERS[dataset.layout](root, **({"label": label} if dataset.layout == "isic_archive" else {}))
        if df["split"].eq("train").all():
            df = split(df)
    else:
        df = _masks_from_folder(root, dataset)
    df.attrs["dataset"] = name
    return validate(df, classes=dataset.classes or None, on_error=on_error)


def load_splits(
    dataset: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, label: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """(train, validation, held-out) frames of a known data set or a manifest CSV (`from_csv`).

    Held-out is the "test" split, or "validation" when there is no test split (validation is then
    None, as it is when the data set has no validation split). "synthetic" without a `root` is
    drawn into the dermnet cache. `label`: the label column of an `"isic_archive"` download
    (`load_dataset`).
    """
    if str(dataset).endswith(".csv"):
        if label is not None:
            raise ValueError(
                f"{dataset}: label= is for an isic_archive download; a manifest's labels are its label column"
            )
        df = from_csv(dataset, root)
    else:
        if root is None and dataset == "synthetic":
            root = default_cache_dir() / "synthetic"
        if root is None:
            raise ValueError(
                f"{dataset}: give the data set's folder (--root), where "
                f"`dermnet data download {dataset} --root DIR` put it"
            )
        df = load_dataset(cast(str, dataset), root, label=label)  # a name (a path is a CSV)
    splits = {name: df[df.split == name] for name in ("train", "validation", "test")}
    if splits["test"].empty:
        splits["test"], splits["validation"] = splits["validation"], splits["test"]
    if splits["train"].empty or splits["test"].empty:
        raise ValueError(
            f"{dataset}: needs 'train' and 'test' (or 'validation') images; the splits are "
            f"{df.split.value_counts().to_dict()}"
        )
    return splits["train"], None if splits["validation"].empty else splits["validation"], splits["test"]


_ISIC_ID = re.compile(r"^ISIC_\d{7}$")
_MASK_NAME = re.compile(r"^(ISIC_\d{7})_(segmentation|attribute_(\w+))$")


def _published_images(
    ids: pd.Series, root: str | os.PathLike[str], dataset: datasets.Dataset
) -> list[str | None]:
    """Each id's `<id>.jpg` in the data set's published folders, where its archives put it; copies and
    thumbnails elsewhere (or in other formats) are not read."""
    found = find_images(ids, root, (".jpg",), dataset.folders)
    if not any(found):
        raise DataError(
            f"{root}: no {dataset.name} images (<image_id>.jpg) in the folders its archives extract to "
            f"({', '.join(dataset.folders)}) under this folder; `dermnet data download {dataset.name} "
            "--root` puts them there"
        )
    return found


def _masks_from_folder(root: str | os.PathLike[str], dataset: datasets.Dataset) -> pd.DataFrame:
    """ISIC images (`ISIC_nnnnnnn.jpg`) of the data set's published image folders and their masks
    (`ISIC_nnnnnnn_segmentation.png`, `..._attribute_<name>.png`) of its ground-truth folders: extra
    files elsewhere, or in other formats (a JPEG copy of a mask), are not read; the same file twice in
    those folders with other contents is an error naming it."""
    # The one walk of published folders (`find_images`' index): a stem found twice with other contents is None.
    found = {extension: _index_images(root, (extension,), dataset.folders) for extension in (".jpg", ".png")}
    doubled = sorted(
        stem
        for index in found.values()
        for stem, path in index.items()
        if path is None and (_ISIC_ID.match(stem) or _MASK_NAME.match(stem))
    )
    if doubled:
        raise DataError(
            f"{root}: files there twice with other contents (keep one of each): {first_rows(doubled)}"
        )
    images = {stem: path for stem, path in found[".jpg"].items() if path and _ISIC_ID.match(stem)}
    masks: dict[str, dict[str, str]] = {}
    for stem, path in found[".png"].items():
        if path and (match := _MASK_NAME.match(stem)):
            masks.setdefault(match[1], {})[f"mask_{match[3]}" if match[3] else "mask"] = path
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise DataError(
            f"{root}: masks without an image: {first_rows(masks[i][next(iter(masks[i]))] for i in orphans)}"
        )
    attributes = dataset.layout == "attributes"
    columns = [f"mask_{a}" for a in datasets.ATTRIBUTES] if attributes else ["mask"]
    unmasked = sorted(i for i in images if not all(c in masks.get(i, {}) for c in columns))
    if unmasked:
        raise DataError(f"{root}: images without their {', '.join(columns)} file(s): {first_rows(unmasked)}")
    ids = sorted(images)
    df = pd.DataFrame(
        {
            "image_id": ids,
            "image": [images[i] for i in ids],
            "split": [_split_from_path(os.path.relpath(images[i], root)) for i in ids],
        }
    )
    for column in columns:
        df[column] = [masks[i][column] for i in ids]
    if not len(df):
        raise DataError(
            f"{root}: no ISIC images (ISIC_nnnnnnn.jpg) with masks in the folders {dataset.name}'s archives "
            f"extract to ({', '.join(dataset.folders)}) under this folder"
        )
    return df


def _split_from_path(relative_path: str) -> str:
    folders = relative_path.lower().split(os.sep)[:-1]
    if any("valid" in f for f in folders):
        return "validation"
    return "test" if any("test" in f for f in folders) else "train"
