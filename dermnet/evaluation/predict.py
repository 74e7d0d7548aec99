"""A model's predictions on the images of a manifest, in its row order, through the decode-once cache.

Example:
>>> df = dermnet.data.load_dataset("synthetic", "~/data/synthetic")
>>> model = dermnet.build("baseline_cnn", num_classes=3, input_shape=(64, 64, 3))
>>> predict_probabilities(model, df[df.split == "test"]).shape
(90, 3)
"""

import numpy as np

from dermnet._progress import predict
from dermnet.data import build_cache, classification_dataset
from dermnet.models import contract, prediction_size


def predict_probabilities(model, df, batch_size=32, cache_dir=None):
    """Class probabilities `[len(df), K]` of a classifier for the images of `df` (an SDL model
    averages its components', eq. 6; a model with a metadata input gets the rows' metadata too)."""
    stream = classification_dataset(
        df,
        prediction_size(model),
        batch_size,
        shuffle=False,
        cache_dir=cache_dir,
        metadata=contract(model).stream == "metadata",
    )
    return np.asarray(predict(model, stream, f"predicting {len(df)} images", batch_size, count=len(df)))


def predict_masks(model, df, size, batch_size=8, cache_dir=None):
    """Mask probabilities `[len(df), height, width, masks]` (float32) of a segmentor for `df`'s
    images resized to `size` (`(height, width)`). An attribute network's masks are its "masks" output."""
    return masks_of(model, build_cache(df, size, cache_dir=cache_dir), batch_size)


def masks_of(model, cache, batch_size=8):
    """Mask probabilities of a segmentor for the images of a built cache (`dermnet.data.build_cache`)."""
    outputs = predict(model, cache.images[cache.index], f"predicting {len(cache)} masks", batch_size)
    return np.asarray(outputs["masks"] if isinstance(outputs, dict) else outputs, "float32")
