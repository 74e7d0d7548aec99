"""The data layer: manifests, leak-free splits, a decode-once cache, batch streams, augmentation.

```
manifest ─validate─▶ DataFrame ─(once per size)─▶ uint8 cache ─▶ batches ─▶ augment (on device)
```

Example:
>>> from dermnet import data
>>> df = data.load_dataset("synthetic", "~/data/synthetic")  # ham10000 etc. after `dermnet data download`
>>> train = data.classification_dataset(df[df.split == "train"], 64, batch_size=32, augment="ray2020")
"""

from dermnet.data.augment import PRESETS as AUGMENTATION_PRESETS
from dermnet.data.augment import Augmentation, RandomAugment, augment
from dermnet.data.cache import ImageCache, build_cache, default_cache_dir
from dermnet.data.errors import DataError
from dermnet.data.images import read_image, read_mask, resize
from dermnet.data.load import load_dataset, load_splits
from dermnet.data.manifest import class_indices, class_names, from_csv, from_folders, validate
from dermnet.data.pipeline import (
    class_weights,
    classification_dataset,
    pair_dataset,
    segmentation_dataset,
    set_epoch,
    triplet_dataset,
)
from dermnet.data.provenance import provenance
from dermnet.data.splits import RAY2020_SPLIT, near_duplicate_pairs, perceptual_hashes, split
from dermnet.data.synthetic import CLASS_NAMES as SYNTHETIC_CLASSES
from dermnet.data.synthetic import synthetic, write_synthetic
from dermnet.data.triplets import alternating_triplet_dataset

__all__ = [
    "AUGMENTATION_PRESETS",
    "Augmentation",
    "DataError",
    "ImageCache",
    "RAY2020_SPLIT",
    "RandomAugment",
    "SYNTHETIC_CLASSES",
    "alternating_triplet_dataset",
    "augment",
    "build_cache",
    "class_indices",
    "class_names",
    "class_weights",
    "classification_dataset",
    "default_cache_dir",
    "from_csv",
    "from_folders",
    "load_dataset",
    "load_splits",
    "near_duplicate_pairs",
    "pair_dataset",
    "perceptual_hashes",
    "provenance",
    "read_image",
    "read_mask",
    "resize",
    "segmentation_dataset",
    "set_epoch",
    "split",
    "synthetic",
    "triplet_dataset",
    "validate",
    "write_synthetic",
]
