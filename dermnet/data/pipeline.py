"""Batches from the uint8 cache: plain, class-balanced, SDL pairs, P×K triplet batches, image+mask.

Each function builds (or reuses) the cache, then streams batches of uint8 pixels that only need a
memory copy. With the TensorFlow backend they return a `tf.data.Dataset` (batches gathered in
parallel, prefetched, AUTOTUNE); with another Keras backend, or without TensorFlow, the same
batches come as a `keras.utils.PyDataset`, which `fit()` consumes on every backend.

A dataset is one epoch; iterating it again (as `fit()` does each epoch) gives a new order. The
order and augmentation of epoch e follow from `(seed, e)`, so a run is reproducible; `set_epoch`
says which epoch the next pass draws (how a resumed run picks up the data where it stopped).

In a multi-host run every process draws the same global batches and gathers only its share of each
(`dermnet._processes.batch_share`): the job's devices together see the batches of one process.
"""

import itertools
import math

import keras
import numpy as np

from dermnet._processes import batch_share
from dermnet.data.cache import build_cache
from dermnet.data.manifest import class_indices, class_names
from dermnet.data.metadata import encode_metadata


def classification_dataset(
    df,
    image_size,
    batch_size,
    augment=None,
    shuffle=True,
    cache_dir=None,
    *,
    seed=0,
    class_balanced=False,
    one_hot=False,
    classes=None,
    resize_mode="stretch",
    on_error="raise",
    metadata=False,
):
    """`(images, labels)` batches: images uint8 `[B, H, W, 3]`, labels int64 `[B]` (or one-hot float32).

    Args:
        df: a validated DataFrame; `df.attrs["classes"]` (or `classes`) gives the label order.
        image_size: an int or `(height, width)`; images are cached at this size.
        augment: None, a preset name (`dermnet.data.augment.PRESETS`) or an `Augmentation`,
            applied to whole batches. For augmentation on the accelerator, put
            `dermnet.data.RandomAugment` in front of the model instead.
        shuffle: a new order every epoch (training); False keeps the manifest order and every image.
        class_balanced: draw every class equally often (an epoch keeps its length).
        resize_mode, on_error: see `dermnet.data.build_cache`.
        metadata: batches of `({"image": images, "metadata": float32 [B, F]}, labels)` for a model with a
            metadata input, the rows encoded by `dermnet.data.metadata.encode_metadata`.
    """
    cache = build_cache(df, image_size, resize_mode, cache_dir=cache_dir, on_error=on_error)
    labels = class_indices(cache.rows, classes)
    num_classes = len(class_names(df, classes))
    sampler = _Batches(labels, batch_size, shuffle, class_balanced, seed)
    encoded = encode_metadata(cache.rows) if metadata else None  # once: it reads each file's size

    def gather(rows):
        y = labels[rows]
        images = cache.images[cache.index[rows]]
        x = images if encoded is None else {"image": images, "metadata": encoded[rows]}
        return x, np.eye(num_classes, dtype="float32")[y] if one_hot else y

    return _stream(sampler, gather, augment)


def segmentation_dataset(
    df,
    image_size,
    batch_size,
    augment=None,
    shuffle=True,
    cache_dir=None,
    *,
    seed=0,
    resize_mode="stretch",
    on_error="raise",
):
    """`(images, masks)` batches: uint8 `[B, H, W, 3]` and uint8 {0, 1} `[B, H, W, C]` (C mask columns).

    Augmentation moves each mask with its image (same geometric transform, no colour change).
    """
    cache = build_cache(df, image_size, resize_mode, cache_dir=cache_dir, on_error=on_error)
    if cache.masks is None:
        raise ValueError("segmentation_dataset needs mask columns ('mask' or 'mask_<name>') in the manifest")
    sampler = _Batches(np.zeros(len(cache), "int64"), batch_size, shuffle, False, seed)

    def gather(rows):
        rows = cache.index[rows]
        return cache.images[rows], cache.masks[rows]

    return _stream(sampler, gather, augment, masks=True)


def pair_dataset(
    df,
    image_size,
    batch_size,
    n=2,
    augment=None,
    cache_dir=None,
    *,
    seed=0,
    same_class_share=0.5,
    classes=None,
    resize_mode="stretch",
    on_error="raise",
):
    """Samples of `n` images for synergic deep learning (Zhang et al. 2018).

    Yields `(images, {"labels": int64 [B, n], "synergic": float32 [B, n(n-1)/2]})` where `images` is a
    tuple of `n` uint8 batches and `synergic[:, k]` is 1 when the k-th pair of
    `itertools.combinations(range(n), 2)` shares a class. Between 45 and 55 % of the pairs of every
    batch share a class (exactly `same_class_share` of the samples when n = 2), so the synergic
    network sees both answers equally often whatever the class imbalance. `same_class_share=None`
    draws every position from its own shuffle of the data instead: n independent streams, for
    components trained apart (the ResNet-50² baseline).
    """
    cache = build_cache(df, image_size, resize_mode, cache_dir=cache_dir, on_error=on_error)
    labels = class_indices(cache.rows, classes)
    sampler = _Pairs(labels, batch_size, n, same_class_share, seed)
    pairs = list(itertools.combinations(range(n), 2))

    def gather(rows):  # rows: [B, n]
        y = labels[rows]
        same = np.stack([y[:, i] == y[:, j] for i, j in pairs], axis=1).astype("float32")
        return tuple(cache.images[cache.index[rows[:, k]]] for k in range(n)), {"labels": y, "synergic": same}

    return _stream(sampler, gather, augment)


def triplet_dataset(
    df,
    image_size,
    classes_per_batch,
    images_per_class,
    augment=None,
    cache_dir=None,
    *,
    seed=0,
    classes=None,
    resize_mode="stretch",
    on_error="raise",
):
    """P×K batches for batch-hard triplet mining (Xue et al. 2018): `classes_per_batch` classes drawn
    uniformly (so minority classes are oversampled), `images_per_class` images of each (with
    replacement when a class has fewer). Yields `(images, labels)` like `classification_dataset`."""
    cache = build_cache(df, image_size, resize_mode, cache_dir=cache_dir, on_error=on_error)
    labels = class_indices(cache.rows, classes)
    sampler = _ClassBlocks(labels, classes_per_batch, images_per_class, seed)
    return _stream(sampler, lambda rows: (cache.images[cache.index[rows]], labels[rows]), augment)


def class_weights(df, classes=None):
    """{class index: weight} inversely proportional to class frequency (mean weight over images 1),
    for `fit(class_weight=...)`."""
    labels = class_indices(df, classes)
    counts = np.bincount(labels, minlength=len(class_names(df, classes)))
    return {i: len(labels) / (len(counts) * c) for i, c in enumerate(counts) if c}


# Samplers: each epoch, a list of index arrays (one per batch), reproducible from (seed, epoch).


class _Batches:
    def __init__(self, labels, batch_size, shuffle, class_balanced, seed):
        self.labels, self.batch_size, self.shuffle, self.balanced, self.seed = (
            labels,
            batch_size,
            shuffle,
            class_balanced,
            seed,
        )

    def epoch(self, epoch):
        n = len(self.labels)
        rng = np.random.default_rng([self.seed, epoch])
        if self.balanced:
            counts = np.bincount(self.labels)
            order = rng.choice(n, n, p=1 / counts[self.labels] / np.count_nonzero(counts))
        else:
            order = rng.permutation(n) if self.shuffle else np.arange(n)
        return _in_batches(order, self.batch_size, drop_last=self.shuffle)


def _in_batches(order, batch_size, drop_last):
    """Consecutive batches; in training a short last batch would be a noisy step (and a new XLA shape)."""
    stop = len(order) - len(order) % batch_size if drop_last and len(order) >= batch_size else len(order)
    return [order[i : i + batch_size] for i in range(0, stop, batch_size)]


class _Pairs:
    def __init__(self, labels, batch_size, n, same_class_share, seed):
        if n < 2:
            raise ValueError(f"pair_dataset needs n >= 2 images per sample, not {n}")
        if same_class_share is not None and len(np.unique(labels)) < 2:
            raise ValueError("pair_dataset needs at least two classes")
        self.labels, self.batch_size, self.n, self.share, self.seed = (
            labels,
            batch_size,
            n,
            same_class_share,
            seed,
        )
        self.by_class, self.classes = _members_by_class(labels)

    def epoch(self, epoch):
        rng = np.random.default_rng([self.seed, epoch])
        if self.share is None:  # n independent streams
            orders = np.stack([rng.permutation(len(self.labels)) for _ in range(self.n)], axis=1)
            return _in_batches(orders, self.batch_size, drop_last=True)
        order = rng.permutation(len(self.labels))
        return [self._batch(rng, anchors) for anchors in _in_batches(order, self.batch_size, drop_last=True)]

    def _batch(self, rng, anchors):
        """Anchors from the epoch order; partners of the anchor's class or another, redrawn until the
        batch's share of same-class pairs is within ±5 points of the target."""
        best, best_gap = None, math.inf
        for _ in range(100):
            same = rng.random((len(anchors), self.n - 1)) < self._p_same()
            if self.n == 2:  # exact: the first `share` of the (shuffled) samples
                same[:, 0] = rng.permutation(len(anchors)) < round(self.share * len(anchors))
            classes = self.labels[anchors][:, None].repeat(self.n, 1)
            for row, col in zip(*np.nonzero(~same)):
                others = [c for c in self.classes if c != classes[row, 0]]
                classes[row, col + 1] = rng.choice(others)
            gap = abs(_same_share(classes) - self.share)
            if gap < best_gap:
                best, best_gap = classes, gap
            if gap <= 0.05:
                break
        rows = np.array([[rng.choice(self.by_class[c]) for c in sample[1:]] for sample in best])
        return np.concatenate([anchors[:, None], rows.reshape(len(anchors), -1)], axis=1)

    def _p_same(self):
        # Partner i shares the anchor's class with probability p; pairs of partners then share a
        # class with probability about p². Solve share = (2(n-1)p + (n-1)(n-2)p²) / (n(n-1)).
        n, s = self.n, self.share
        if n == 2:
            return s
        a, b, c = (n - 2), 2, -s * n
        return (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)


def _members_by_class(labels):
    """(rows of each class index, the class indices that have rows)."""
    by_class = [np.flatnonzero(labels == c) for c in range(labels.max() + 1)]
    return by_class, [c for c, members in enumerate(by_class) if len(members)]


def _same_share(classes):
    pairs = itertools.combinations(range(classes.shape[1]), 2)
    return np.mean([classes[:, i] == classes[:, j] for i, j in pairs])


class _ClassBlocks:
    def __init__(self, labels, classes_per_batch, images_per_class, seed):
        self.by_class, self.classes = _members_by_class(labels)
        if classes_per_batch > len(self.classes):
            raise ValueError(
                f"classes_per_batch={classes_per_batch} but the data has {len(self.classes)} classes"
            )
        self.p, self.k, self.seed, self.n = classes_per_batch, images_per_class, seed, len(labels)

    def epoch(self, epoch):
        rng = np.random.default_rng([self.seed, epoch])
        batches = []
        for _ in range(max(1, self.n // (self.p * self.k))):
            chosen = rng.choice(self.classes, self.p, replace=False)
            batches.append(
                np.concatenate(
                    [
                        rng.choice(self.by_class[c], self.k, replace=len(self.by_class[c]) < self.k)
                        for c in chosen
                    ]
                )
            )
        return batches


class _ProcessShare:
    """This process's rows of every batch of `sampler`; a batch with none for any process is left out."""

    def __init__(self, sampler, share):
        self.sampler, self.share = sampler, share

    def epoch(self, epoch):
        return [rows for rows in map(self.share, self.sampler.epoch(epoch)) if len(rows)]


def set_epoch(stream, epoch):
    """The next pass over `stream` (a dataset of this module) draws epoch `epoch`'s order and
    augmentation; later passes count on from there."""
    stream.epoch_clock.epoch = epoch


class _EpochClock:
    """Which epoch the next pass over a stream draws. Every pass advances it, including Keras'
    one-batch look at a dataset when a model is first compiled: hence `set_epoch`."""

    def __init__(self):
        self.epoch = 0

    def advance(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        return epoch


# Streaming: tf.data with the TensorFlow backend, a PyDataset otherwise.


def _stream(sampler, gather, augment, masks=False):
    share = batch_share()
    if share is not None:
        sampler = _ProcessShare(sampler, share)
    if augment is not None:
        from dermnet.data.augment import augment as apply_augment
        from dermnet.data.augment import get

        augmentation = get(augment)

        def augmented(x, y, seed):
            if masks:
                return apply_augment(x, y, augmentation, seed=seed)
            if isinstance(x, tuple):  # pairs: each image of a sample augmented on its own
                return tuple(
                    apply_augment(xi, None, augmentation, seed=seed + k) for k, xi in enumerate(x)
                ), y
            if isinstance(x, dict):  # image and metadata: the image alone is augmented
                return {**x, "image": apply_augment(x["image"], None, augmentation, seed=seed)}, y
            return apply_augment(x, None, augmentation, seed=seed), y

        augmented = _compiled(augmented)
    else:
        augmented = None
    if keras.config.backend() == "tensorflow" and _have_tensorflow():
        return _tf_dataset(sampler, gather, augmented)
    return _Stream(sampler, gather, augmented)


def _compiled(function):
    """XLA-compile the augmentation: about 7× faster on a CPU than running keras.ops one by one
    (inside tf.data too), and with JAX it runs on the accelerator."""
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    if keras.config.backend() == "jax":
        import jax

        return jax.jit(function)
    return function


def _have_tensorflow():
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def _seed(epoch, number):
    """A distinct augmentation seed for every batch of every epoch."""
    return epoch * 1_000_003 + number


def _tf_dataset(sampler, gather, augmented):
    import tensorflow as tf

    clock = _EpochClock()
    first_epoch = sampler.epoch(0)
    batch_size = len(first_epoch[0])
    example = gather(first_epoch[0])
    flat_example = tf.nest.flatten(example)

    def next_epoch(_):
        # Called once each time the dataset is iterated: a new epoch's rows, as one array.
        epoch = clock.advance()
        return np.concatenate(sampler.epoch(epoch)).astype("int64"), np.int64(epoch)

    def batches_of(rows, epoch):
        rows.set_shape((None, *first_epoch[0].shape[1:]))
        # Consecutive chunks of the epoch's rows are the sampler's batches (only the last may be short).
        return (
            tf.data.Dataset.from_tensor_slices(rows)
            .batch(batch_size)
            .enumerate()
            .map(lambda number, batch: (batch, _seed(epoch, number)))
        )

    def load(rows, seed):
        flat = tf.numpy_function(
            lambda r: tf.nest.flatten(gather(r)),
            [rows],
            [tf.as_dtype(a.dtype) for a in flat_example],
            stateful=False,
        )
        for tensor, a in zip(flat, flat_example):
            tensor.set_shape((None, *a.shape[1:]))
        xy = tf.nest.pack_sequence_as(example, flat)
        return xy if augmented is None else augmented(*xy, seed)

    # No Python generator: tf.data's from_generator halves the throughput of 224 px batches.
    dataset = (
        tf.data.Dataset.range(1)
        .map(lambda _: tf.numpy_function(next_epoch, [_], (tf.int64, tf.int64)))
        .flat_map(batches_of)
        .map(load, num_parallel_calls=tf.data.AUTOTUNE)
    )
    # Every epoch has the same number of batches: telling tf.data lets fit() show progress and
    # start each epoch on a fresh pass instead of running out of data.
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(first_epoch))).prefetch(
        tf.data.AUTOTUNE
    )
    dataset.epoch_clock = clock
    return dataset


class _Stream(keras.utils.PyDataset):
    """The same batches as the tf.data path, for backends without tf.data."""

    def __init__(self, sampler, gather, augmented):
        super().__init__()
        self.sampler, self.gather, self.augmented = sampler, gather, augmented
        self.epoch_clock = _EpochClock()
        self._epoch, self._batches = 0, sampler.epoch(0)  # before any pass: the first epoch's

    def __len__(self):
        return len(self._batches)

    def on_epoch_begin(self):  # Keras calls it before each pass
        self._epoch = self.epoch_clock.advance()
        self._batches = self.sampler.epoch(self._epoch)

    def __getitem__(self, number):
        x, y = self.gather(self._batches[number])
        if self.augmented is not None:
            x, y = self.augmented(x, y, _seed(self._epoch, number))
        return x, y
