"""`dermnet predict`: a trained model on image files, folders or a list of them, one row per image.

Each image is decoded by `dermnet.data.read_image` and stretched to the model's size by
`dermnet.serving.resize_bicubic`, as the exported SavedModel does it, so a file gets the
probabilities the served model gives it; the training cache resizes with the same kernel (OpenCV's
bicubic) and rounds to uint8, a difference of at most one grey level.

The model may be an ONNX or LiteRT export (`dermnet export --format onnx|litert`: its folder or its
`.onnx` / `.tflite` file), run in its own runtime on the same pixels, its size and names read from its
`dermnet.json` (`dermnet.portable.load`): a user checks an export by predicting with both.

Example:
>>> table = dermnet.inference.predict_images(classifier, ["new/"], size=(32, 32), classes=["benign", "malignant"])
>>> table.columns.tolist()
['image_id', 'image', 'predicted', 'p_benign', 'p_malignant']
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import keras
import numpy as np
import pandas as pd

from dermnet._io import read_csv
from dermnet._progress import progress
from dermnet.data import DataError, read_image
from dermnet.data.errors import first_rows
from dermnet.data.manifest import IMAGE_EXTENSIONS
from dermnet.evaluation.postprocess import postprocess_mask
from dermnet.evaluation.tta import tta_model
from dermnet.models import contract, inference_model
from dermnet.portable import Exported, is_exported, load
from dermnet.serving import resize_bicubic, resize_masks


def image_paths(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Image files from `inputs`: files, folders (searched recursively, sorted) and CSV files with an
    `image` column (paths relative to the CSV's folder)."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        elif item.suffix.lower() == ".csv":
            table = read_csv(item, dtype=str)  # a predictions.csv dermnet wrote: its paths unescaped
            if "image" not in table.columns:
                raise DataError(
                    f"{item}: a list of images needs an 'image' column; it has {list(table.columns)}"
                )
            empty = [
                row + 2 for row in np.flatnonzero(table["image"].isna())
            ]  # line numbers, after the header
            if empty:
                raise DataError(f"{item}: no image path on lines {first_rows(empty)}")
            paths += [item.parent / p for p in table["image"]]
        elif item.is_file():
            paths.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {', '.join(map(str, inputs))}")
    # A name that is not UTF-8 (Python keeps its bytes as surrogates) cannot be written into the
    # predictions' CSV: refused before the work, named, rather than failing after it.
    odd = [p for p in paths if _not_utf8(str(p))]
    if odd:
        raise DataError(
            f"{len(odd)} image file name(s) are not valid UTF-8 text, e.g. {ascii(str(odd[0]))}: "
            "rename them, or give the other files"
        )
    return paths


def _not_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def predict_images(
    model: keras.Model | Exported | str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    size: Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
    tta_replicas: int = 1,
    batch_size: int = 16,
    masks_dir: str | os.PathLike[str] | None = None,
    postprocess: bool = False,
) -> pd.DataFrame:
    """One row per image of `inputs` (`image_paths`): its `image_id` (the file name without its
    extension) and `image` (its path), then what the model predicts.

    A classifier's rows hold the `predicted` class and `p_<class>` columns, as `dermnet evaluate`'s
    predictions.csv without the true label (`classes`: the names in
    output order, default class_0, class_1, ...); with `tta_replicas` > 1 the probabilities are
    pooled over augmented views (`dermnet.evaluation.tta_model`). A segmentor's rows hold the share
    of the image predicted as each mask (`lesion_share`, or `<attribute>_share`); with `masks_dir`,
    each mask is written there as `<image name>_<mask>.png` (0 / 255) at the image's own size,
    cleaned by `postprocess_mask` when `postprocess`.

    Args:
        model: a dermnet Keras model, or an ONNX or LiteRT export (its folder, its file, or an `Exported`).
        size: `(height, width)` the model takes (images are resized to it); an export's by default.
        classes: names in output order; an export's by default.
    """
    if not isinstance(model, (Exported, keras.Model)) and is_exported(model):
        model = load(model)
    if isinstance(model, Exported):
        if tta_replicas > 1:
            raise ValueError(
                "test-time augmentation runs on the Keras model: predict with the run, not its export"
            )
        segmentor, predictor = model.task != "classification", model
        size, classes = size or model.size, classes or model.classes
    else:
        segmentor = contract(model).predicts_masks
        if segmentor and tta_replicas > 1:
            raise ValueError("test-time augmentation is for classifiers (a mask would need the inverse warp)")
        network = inference_model(model)
        predictor = tta_model(network, tta_replicas) if tta_replicas > 1 else network
    if size is None:  # (the ignore: mypy cannot tell that a path was loaded as an Exported above)
        raise ValueError(f"{model.name}: give the size it predicts at")  # type: ignore[union-attr]
    paths, staged = image_paths(inputs), None
    if masks_dir is not None:
        masks_dir = Path(masks_dir)
        stems = pd.Series([p.stem for p in paths])
        if stems.duplicated().any():
            raise DataError(
                f"images of one name would write one mask file: {first_rows(stems[stems.duplicated()])}"
            )
        masks_dir.mkdir(parents=True, exist_ok=True)
        # Masks are written here first and moved in at the end: a bad file in a later batch leaves
        # the folder as it was.
        staged = Path(tempfile.mkdtemp(prefix=".partial-masks-", dir=masks_dir))
    try:
        rows = _predict(predictor, paths, size, classes, batch_size, segmentor, staged, postprocess)
        # (The ignores: mypy cannot tell that `staged` is set only where `masks_dir` is.)
        if staged is not None:
            clashing = [masks_dir / f.name for f in staged.iterdir() if (masks_dir / f.name).exists()]  # type: ignore[operator]
            if clashing:
                raise FileExistsError(
                    f"{masks_dir} already holds masks of these names: {first_rows(clashing)}; "
                    "give another folder, or remove them"
                )
            for file in sorted(staged.iterdir()):
                file.replace(masks_dir / file.name)  # type: ignore[operator]
    finally:
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
    return pd.DataFrame(rows)


def _predict(
    predictor: keras.Model | Exported,
    paths: Sequence[Path],
    size: Sequence[int],
    classes: Sequence[str] | None,
    batch_size: int,
    segmentor: bool,
    masks_dir: Path | None,
    postprocess: bool,
) -> list[dict[str, Any]]:
    rows = []
    with progress(len(paths), f"predicting {len(paths)} images") as bar:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            originals = [read_image(p) for p in chunk]  # a bad file raises a DataError that names it
            outputs = predictor.predict(
                np.stack([resize_bicubic(image, size) for image in originals]), verbose=0
            )
            if segmentor:
                rows += _mask_rows(chunk, originals, outputs, classes, masks_dir, postprocess)
            else:  # (the ignore: a classifier's output is one array, never the attribute network's dict)
                rows += _class_rows(chunk, outputs, classes)  # type: ignore[arg-type]
            bar.update(len(chunk))
    return rows


def _class_rows(
    paths: Sequence[Path], probabilities: np.ndarray, classes: Sequence[str] | None
) -> list[dict[str, Any]]:
    """The columns of `dermnet evaluate`'s predictions.csv, less the true label."""
    names = classes or [f"class_{k}" for k in range(probabilities.shape[-1])]
    return [
        {
            "image_id": path.stem,
            "image": str(path),
            "predicted": names[int(np.argmax(row))],
            **{f"p_{name}": float(value) for name, value in zip(names, row)},
        }
        for path, row in zip(paths, probabilities)
    ]


def _mask_rows(
    paths: Sequence[Path],
    originals: Sequence[np.ndarray],
    outputs: np.ndarray | dict[str, np.ndarray],
    classes: Sequence[str] | None,
    masks_dir: Path | None,
    postprocess: bool,
) -> list[dict[str, Any]]:
    rows = []
    masks = np.asarray(outputs["masks"] if isinstance(outputs, dict) else outputs, "float32")
    names = classes or (["lesion"] if masks.shape[-1] == 1 else [f"mask_{k}" for k in range(masks.shape[-1])])
    for path, image, probabilities in zip(paths, originals, masks):
        row: dict[str, Any] = {"image_id": path.stem, "image": str(path)}
        probabilities = np.asarray(resize_masks(probabilities[None], image.shape[:2])[0])
        for name, probability in zip(names, np.moveaxis(probabilities, -1, 0)):
            mask = postprocess_mask(probability) if postprocess else (probability > 0.5).astype(np.uint8)
            row[f"{name}_share"] = float(mask.mean())
            written = masks_dir / f"{path.stem}_{name}.png" if masks_dir is not None else None
            if written is not None and not cv2.imwrite(str(written), mask * 255):
                raise OSError(f"{written}: cannot write the mask (a full disk?)")
        rows.append(row)
    return rows
