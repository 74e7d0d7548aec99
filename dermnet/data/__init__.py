"""The data layer: manifests, leak-free splits, a decode-once cache, batch streams, augmentation.

```
manifest ─validate─▶ DataFrame ─(once per size)─▶ uint8 cache ─▶ batches ─▶ augment (on device)
```

Example:
>>> from dermnet import data
>>> df = data.load_dataset("ham10000", "~/data/isic2018")  # after `dermnet data download ham10000`
>>> train = data.classification_dataset(df[df.split == "train"], 224, batch_size=32, augment="ray2020")
"""

from dermnet.data.augment import PRESETS as AUGMENTATION_PRESETS, Augmentation, RandomAugment, augment
from dermnet.data.cache import ImageCache, build_cache, default_cache_dir
from dermnet.data.errors import DataError
from dermnet.data.images import read_image, read_mask, resize
from dermnet.data.manifest import (DATASETS, class_indices, class_names, from_csv, from_folders,
                                   load_dataset, validate)
from dermnet.data.pipeline import (class_weights, classification_dataset, pair_dataset,
                                   segmentation_dataset, set_epoch, triplet_dataset)
from dermnet.data.splits import near_duplicate_pairs, perceptual_hashes, split
from dermnet.data.synthetic import CLASS_NAMES as SYNTHETIC_CLASSES, synthetic, write_synthetic

__all__ = [
    "AUGMENTATION_PRESETS", "Augmentation", "DATASETS", "DataError", "ImageCache", "RandomAugment",
    "SYNTHETIC_CLASSES", "augment", "build_cache", "class_indices", "class_names", "class_weights",
    "classification_dataset", "default_cache_dir", "from_csv", "from_folders", "load_dataset",
    "near_duplicate_pairs", "pair_dataset", "perceptual_hashes", "read_image", "read_mask", "resize",
    "segmentation_dataset", "set_epoch", "split", "synthetic", "triplet_dataset", "validate", "write_synthetic",
]
