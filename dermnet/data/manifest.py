"""Datasets as validated DataFrames: the known challenge datasets, a user's CSV, or a folder tree.

Every loader returns one row per image with the columns

- `image_id`, `image` (absolute path), `split` (`train`, `validation` or `test`),
- `label` (class name) for classification; where known, the grouping columns `lesion_id`,
  `patient_id` and `duplicate_of` (`dermnet.data.splits.GROUP_COLUMNS`),
- `mask` (segmentation) or `mask_<attribute>` (ISIC 2018 task 2) paths where there are masks,

and `df.attrs["classes"]`: the class names in the order of the model's outputs.
Validation raises `DataError` naming the problem and the first offending rows.
"""

from __future__ import annotations

import filecmp
import os
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dermnet.data.errors import DataError, first_rows
from dermnet.data.images import hdf5_parts, image_exists, read_header

if TYPE_CHECKING:
    import numpy as np

SPLITS = ("train", "validation", "test")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# pandas' read_csv options that read every cell as the text it is: pandas would otherwise read a class
# named NA, None, null or nan (and 14 more words) as a missing value. Only an empty cell is missing.
CSV_AS_TEXT: dict[str, Any] = {"dtype": str, "keep_default_na": False, "na_values": [""]}


def from_csv(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    classes: Sequence[str] | None = None,
    on_error: str = "raise",
) -> pd.DataFrame:
    """A user's manifest: columns `image_id` and `label` (classification) plus optional `split`
    (default `train`), `lesion_id`, `image` and `mask*` paths relative to `root` (default: the CSV's
    folder). Without an `image` column, images are found under `root` by id (any subfolder).

    Args:
        classes: the class names in output order (default: the labels, sorted).
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, **CSV_AS_TEXT)
    except (OSError, ValueError) as err:  # pandas' parser and empty-file errors are ValueErrors
        raise DataError(f"{path}: cannot read the manifest ({err})") from None
    if "image_id" not in df:
        raise DataError(f"{path}: the manifest has no image_id column (columns: {', '.join(df.columns)})")
    root = existing_folder(root if root is not None else path.parent)
    if "image" not in df:
        df["image"] = find_images(df["image_id"], root)
    for column in ["image", *mask_columns(df)]:  # an empty cell stays empty: validate() reports it
        df[column] = [str(root / p) if isinstance(p, str) else p for p in df[column]]
    df.attrs["source"] = str(path)
    return validate(df, classes=classes, on_error=on_error)


def from_folders(root: str | os.PathLike[str], on_error: str = "raise") -> pd.DataFrame:
    """Images in class folders: `root/<class>/*.jpg`, or `root/<split>/<class>/*.jpg` with splits
    `train`, `validation` (or `val`) and `test`. Classes are the folder names, sorted."""
    root = existing_folder(root)
    rows = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
        parts = path.relative_to(root).parts
        if len(parts) == 2:
            rows.append(("train", parts[0], path))
        elif len(parts) == 3 and parts[0] in ("train", "validation", "val", "test"):
            rows.append(("validation" if parts[0] == "val" else parts[0], parts[1], path))
        else:
            raise DataError(
                f"{path}: from_folders expects root/<class>/image or "
                "root/<train|validation|test>/<class>/image"
            )
    if not rows:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_EXTENSIONS)}) in class folders")
    df = pd.DataFrame(
        {
            "image_id": [str(p.relative_to(root).with_suffix("")) for _, _, p in rows],
            "label": [label for _, label, _ in rows],
            "split": [s for s, _, _ in rows],
            "image": [str(p) for _, _, p in rows],
        }
    )
    return validate(df, on_error=on_error)


def validate(df: pd.DataFrame, classes: Sequence[str] | None = None, on_error: str = "raise") -> pd.DataFrame:
    """Check a manifest DataFrame and return it (a copy, with `attrs["classes"]` set).

    Raises `DataError` for duplicate ids, an id, a `lesion_id`, a `patient_id` or a set of duplicate
    images in two splits, unknown splits or
    labels, missing image or mask files, and masks of another size than their image. With
    `on_error="skip"`, rows with missing or mismatched files are dropped with a warning instead.
    """
    check_on_error(on_error)
    df = df.reset_index(drop=True).copy()
    where = df.attrs.get("source") or df.attrs.get("dataset") or "manifest"
    if "split" not in df:
        df["split"] = "train"
    _check_ids(df, where)
    _check_leaks(df, where)
    if "label" in df:
        unlabelled = df.index[df["label"].isna()]
        if len(unlabelled):
            raise DataError(f"{where}: rows without a label: {first_rows(df.loc[unlabelled, 'image_id'])}")
        _check_label_spelling(df, where)
        known = tuple(classes) if classes is not None else tuple(sorted(df["label"].unique()))
        try:
            class_indices(df, known)
        except DataError as err:
            raise DataError(f"{where}: {err}") from None
        df.attrs["classes"] = known
    elif classes is not None:
        df.attrs["classes"] = tuple(classes)
    bad = _file_problems(df)
    if bad:
        if on_error == "raise":
            raise DataError(f"{where}: {len(bad)} rows with file problems: {first_rows(bad.values(), 3)}")
        warnings.warn(
            f"{where}: skipped {len(bad)} rows with file problems: {first_rows(bad.values())}", stacklevel=2
        )
        df = df.drop(index=list(bad)).reset_index(drop=True)
        df.attrs["skipped"] = list(bad.values())
    return df


def check_on_error(on_error: str) -> None:
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")


def class_names(df: pd.DataFrame, classes: Sequence[str] | None = None) -> tuple[str, ...]:
    """The class names in output order: `classes` if given, else those `validate` stored in `df.attrs`."""
    if classes is not None:
        return tuple(classes)
    if "classes" not in df.attrs:
        if "label" not in df.columns:
            where = df.attrs.get("source") or df.attrs.get("dataset") or "the manifest"
            raise DataError(
                f"{where}: no label column, and a classifier learns from labels (columns: "
                f"{', '.join(map(str, df.columns))}); add one, or train a segmentor on its masks"
            )
        raise ValueError(
            "This DataFrame has no class list: load it with dermnet.data (load_dataset, "
            "from_csv, from_folders, validate) or pass classes=[...] in output order."
        )
    return df.attrs["classes"]


def class_indices(df: pd.DataFrame, classes: Sequence[str] | None = None) -> np.ndarray:
    """Integer labels (positions in `class_names(df, classes)`) of a manifest DataFrame."""
    names = class_names(df, classes)
    unknown = ~df["label"].isin(names)
    if unknown.any():
        raise DataError(
            f"unknown labels {sorted(df.loc[unknown, 'label'].unique())} (classes: "
            f"{', '.join(names)}) in rows {first_rows(df.loc[unknown, 'image_id'])}"
        )
    return df["label"].map({name: i for i, name in enumerate(names)}).to_numpy("int64")


def _check_ids(df: pd.DataFrame, where: str) -> None:
    unknown_splits = ~df["split"].isin(SPLITS)
    if unknown_splits.any():
        raise DataError(
            f"{where}: unknown split values {sorted(df.loc[unknown_splits, 'split'].astype(str).unique())}"
            f" (expected {', '.join(SPLITS)}) in rows {first_rows(df.loc[unknown_splits, 'image_id'])}"
        )
    repeated = df[df["image_id"].duplicated(keep=False)]
    if len(repeated):
        in_two = repeated.groupby("image_id")["split"].nunique() > 1
        problem = "ids in two splits (a leak)" if in_two.any() else "duplicate image ids"
        ids = in_two.index[in_two] if in_two.any() else repeated["image_id"].unique()
        raise DataError(f"{where}: {problem}: {first_rows(ids)}")


def _check_label_spelling(df: pd.DataFrame, where: str) -> None:
    """Labels that differ only by case or surrounding spaces ("Benign", "benign ") are one class
    misspelt or two classes: an error, since either guess could be wrong."""
    spellings = df["label"].groupby(df["label"].str.strip().str.casefold()).unique()
    clashing = [sorted(names) for names in spellings if len(names) > 1]
    if clashing:
        raise DataError(
            f"{where}: labels that differ only by case or spaces: "
            f"{'; '.join(', '.join(map(repr, names)) for names in clashing)}: spell each class one way"
        )


def _check_leaks(df: pd.DataFrame, where: str) -> None:
    """No lesion, patient or set of duplicate images in two splits (`dermnet.data.splits.GROUP_COLUMNS`)."""
    for column, what in (("lesion_id", "lesions"), ("patient_id", "patients")):
        if column in df:
            splits_per_group = df.dropna(subset=[column]).groupby(column)["split"].nunique()
            leaking = splits_per_group.index[splits_per_group > 1]
            if len(leaking):
                raise DataError(
                    f"{where}: {what} with images in two splits (a leak; use dermnet.data.split): "
                    f"{first_rows(leaking)}"
                )
    if "duplicate_of" in df:
        split_of = df.set_index("image_id")["split"]
        named = df.dropna(subset=["duplicate_of"])
        leaking = named[named["duplicate_of"].map(split_of).fillna(named["split"]) != named["split"]]
        if len(leaking):
            raise DataError(
                f"{where}: duplicate images in two splits (a leak; use dermnet.data.split): "
                f"{first_rows(leaking.image_id + ' duplicates ' + leaking.duplicate_of)}"
            )


def _file_problems(df: pd.DataFrame) -> dict[int, str]:
    """{row: 'file: problem'} for missing images and masks, and masks of another size."""
    problems = {}
    masks = mask_columns(df)
    for row in df.itertuples():
        image = getattr(row, "image")
        if not isinstance(image, str):  # an empty cell, or an id that `find_images` found no file for
            problems[row.Index] = (
                f"{row.image_id}: no image file (an empty image cell, or no file of this id "
                "under the data set's folder)"
            )
            continue
        if not image_exists(image):  # a file, or a key in an HDF5 file (dermnet.data.images.hdf5_member)
            problems[row.Index] = f"{row.image_id}: " + (
                f"image file not found ({image})"
                if hdf5_parts(image) is None
                else f"no such HDF5 file, or no such key in it ({image})"
            )
            continue
        for column in masks:
            mask = getattr(row, column)
            if not isinstance(mask, str):
                continue
            if hdf5_parts(mask) is not None:
                problems[row.Index] = f"{mask}: masks are read from image files, not from inside an HDF5 file"
                continue
            if not os.path.isfile(mask):
                problems[row.Index] = f"{mask}: mask file not found"
                continue
            (mask_size, _), (image_size, orientation) = read_header(mask), read_header(image)
            if orientation != 1:
                problems[row.Index] = (
                    f"{image}: EXIF orientation {orientation} (viewers show it turned or "
                    f"flipped); dermnet reads pixels as stored and cannot tell which way its "
                    f"mask {mask} was drawn: remove the tag (exiftool -Orientation=1 -n), "
                    "or store the image turned as its mask is"
                )
            elif mask_size != image_size:
                problems[row.Index] = (
                    f"{mask}: mask of size {'×'.join(map(str, mask_size))}, "
                    f"its image {image} is {'×'.join(map(str, image_size))}"
                )
    return problems


def mask_columns(df: pd.DataFrame) -> list[str]:
    """The mask columns: "mask" (the lesion) or one `mask_<attribute>` per attribute."""
    return [c for c in df.columns if c == "mask" or c.startswith("mask_")]


def existing_folder(root: str | os.PathLike[str]) -> Path:
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (download with `dermnet data download NAME --root {root}`)")
    return root


def _index_images(
    root: str | os.PathLike[str],
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    folders: Collection[str] | None = None,
) -> dict[str, str | None]:
    """{file stem: path} of every image under root (with one of `extensions`, in a folder named one of
    `folders` if given, in any case); stems found twice (with other contents) map to None. macOS's resource forks
    (`__MACOSX/`, `._name.jpg`) in zip archives are not images."""
    index: dict[str, str | None] = {}
    named = None if folders is None else {name.lower() for name in folders}  # Kaggle lower-cases some
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name != "__MACOSX"]
        if named is not None and os.path.basename(folder).lower() not in named:
            continue
        for name in files:
            stem, extension = os.path.splitext(name)
            if extension.lower() in extensions and not name.startswith("._"):
                path = os.path.join(folder, name)
                index[stem] = None if stem in index and not _same_file(index[stem], path) else path
    return index


def _same_file(first: str | None, second: str) -> bool:
    return first is not None and filecmp.cmp(first, second, shallow=False)


def find_images(
    ids: Sequence[str] | pd.Series,
    root: str | os.PathLike[str],
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    folders: Collection[str] | None = None,
) -> list[str | None]:
    """The path of each image id's file under `root` (None where there is none; `validate` reports it).

    A reader of a published layout narrows the search to its published files (`extensions`, and the
    names of the `folders` that hold them), so that converted copies and thumbnails beside them are
    not taken for a second image of the same id.
    """
    index = _index_images(root, extensions, folders)
    ambiguous = [i for i in ids if i in index and index[i] is None]
    if ambiguous:
        raise DataError(
            f"{root}: image ids that match two different files (give an image column, or "
            f"remove one): {first_rows(ambiguous)}"
        )
    return [index.get(i) for i in ids]  # a missing image is reported by validate()
