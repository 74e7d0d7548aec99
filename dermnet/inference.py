"""`dermnet predict`: a trained model on image files, folders or a list of them, one row per image.

Each image is decoded by `dermnet.data.read_image` and stretched to the model's size by
`dermnet.serving.resize_bicubic`, as the exported SavedModel does it, so a file gets the
probabilities the served model gives it; the training cache resizes with the same kernel (OpenCV's
bicubic) and rounds to uint8, a difference of at most one grey level.

Example:
>>> table = dermnet.inference.predict_images(classifier, ["new/"], size=(32, 32), classes=["benign", "malignant"])
>>> table.columns.tolist()
['image', 'p_benign', 'p_malignant', 'predicted']
"""

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from dermnet.data import read_image
from dermnet.data.manifest import IMAGE_EXTENSIONS
from dermnet.evaluation.postprocess import postprocess_mask
from dermnet.evaluation.tta import tta_model
from dermnet.models import contract, inference_model
from dermnet.serving import resize_bicubic, resize_masks


def image_paths(inputs):
    """Image files from `inputs`: files, folders (searched recursively, sorted) and CSV files with an
    `image` column (paths relative to the CSV's folder)."""
    paths = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        elif item.suffix.lower() == ".csv":
            table = pd.read_csv(item, dtype=str)
            if "image" not in table.columns:
                raise ValueError(f"{item}: a list of images needs an 'image' column; it has {list(table.columns)}")
            paths += [item.parent / p for p in table["image"]]
        elif item.is_file():
            paths.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {', '.join(map(str, inputs))}")
    return paths


def predict_images(model, inputs, size, classes=None, tta_replicas=1, batch_size=16, masks_dir=None,
                   postprocess=False):
    """One row per image of `inputs` (`image_paths`).

    A classifier's rows hold `p_<class>` columns and the `predicted` class (`classes`: the names in
    output order, default class_0, class_1, ...); with `tta_replicas` > 1 the probabilities are
    pooled over augmented views (`dermnet.evaluation.tta_model`). A segmentor's rows hold the share
    of the image predicted as each mask (`lesion_share`, or `<attribute>_share`); with `masks_dir`,
    each mask is written there as `<image name>_<mask>.png` (0 / 255) at the image's own size,
    cleaned by `postprocess_mask` when `postprocess`.

    Args:
        size: `(height, width)` the model takes (images are resized to it).
    """
    segmentor = contract(model).predicts_masks
    if segmentor and tta_replicas > 1:
        raise ValueError("test-time augmentation is for classifiers (a mask would need the inverse warp)")
    network = inference_model(model)
    predictor = tta_model(network, tta_replicas) if tta_replicas > 1 else network
    paths, rows = image_paths(inputs), []
    if masks_dir is not None:
        Path(masks_dir).mkdir(parents=True, exist_ok=True)
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        originals = [read_image(p) for p in chunk]  # a bad file raises a DataError that names it
        outputs = predictor.predict(np.stack([resize_bicubic(image, size) for image in originals]), verbose=0)
        if not segmentor:
            names = classes or [f"class_{k}" for k in range(outputs.shape[-1])]
            rows += [{"image": str(p), **{f"p_{n}": float(v) for n, v in zip(names, probs)},
                      "predicted": names[int(np.argmax(probs))]} for p, probs in zip(chunk, outputs)]
            continue
        masks = np.asarray(outputs["masks"] if isinstance(outputs, dict) else outputs, "float32")
        names = classes or (["lesion"] if masks.shape[-1] == 1 else [f"mask_{k}" for k in range(masks.shape[-1])])
        for path, image, probabilities in zip(chunk, originals, masks):
            row = {"image": str(path)}
            probabilities = np.asarray(resize_masks(probabilities[None], image.shape[:2])[0])
            for name, probability in zip(names, np.moveaxis(probabilities, -1, 0)):
                mask = postprocess_mask(probability) if postprocess else (probability > 0.5).astype(np.uint8)
                row[f"{name}_share"] = float(mask.mean())
                if masks_dir is not None:
                    cv2.imwrite(str(Path(masks_dir) / f"{path.stem}_{name}.png"), mask * 255)
            rows.append(row)
    return pd.DataFrame(rows)
