"""Xue et al.'s triplet sampling (ISIC 2018, task 3): training alternates a cross-entropy batch of
plain images with a batch of triplets, and the triplets are drawn anew every few epochs from the
model's own embeddings.

A triplet is an anchor from a minority class, a positive of the anchor's class, and a negative of the
majority class: the one whose embedding lies nearest the anchor's (the hardest negative, by squared
Euclidean distance as the paper's eq. 3, between the L2-normalised embeddings that the loss compares).
Every image of a minority class is an anchor once per drawing; its positive is drawn at random.

Both kinds of batch hold `batch_size` rows, so one graph trains on both. `y` is
`{"labels", "role", "triplet"}`, int64 `[B]` each: `role` is `PLAIN` for a cross-entropy image,
`ANCHOR`, `POSITIVE` or `NEGATIVE` for a triplet's image, `UNUSED` for the rows a triplet batch has
left over (B mod 3); `triplet` numbers the triplets of a batch (-1 elsewhere). The model's loss
(`dermnet.losses.sampled_triplet_loss`) matches rows by these, not by position.

Example:
>>> stream = alternating_triplet_dataset(train_df, 32, batch_size=12)
>>> embeddings = np.random.default_rng(0).random((len(stream.cache), 8))  # the model's, in training
>>> stream.triplet_sampler.redraw(embeddings, epoch=0)  # as dermnet.training's TripletDrawing does
>>> images, y = next(iter(stream))  # a cross-entropy batch; the next one holds 4 triplets
>>> sorted(y)
['labels', 'role', 'triplet']
"""

import numpy as np

from dermnet.data.cache import build_cache
from dermnet.data.manifest import class_indices
from dermnet.data.pipeline import _in_batches, _stream

PLAIN, UNUSED, ANCHOR, POSITIVE, NEGATIVE = -1, -2, 0, 1, 2


def minor_major_triplets(labels, rng, embeddings=None, chunk=1024):
    """`[T, 3]` row indices (anchor, positive, negative): every image outside the majority class is an
    anchor, with a random other image of its class (itself when it is its class's only image) and the
    majority-class image nearest to it; a random one where `embeddings` is None (before any drawing)."""
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    if np.count_nonzero(counts) < 2:
        raise ValueError("triplet sampling needs a majority class and at least one other class")
    major = counts.argmax()  # a tie goes to the lower class index
    anchors, majors = np.flatnonzero(labels != major), np.flatnonzero(labels == major)
    positives = np.empty_like(anchors)
    for c in np.unique(labels[anchors]):
        members = np.flatnonzero(labels == c)
        at = np.flatnonzero(labels[anchors] == c)
        if len(members) == 1:
            positives[at] = members
            continue
        # an offset of 1 to len-1 places along the class: never the anchor itself
        where = np.searchsorted(members, anchors[at])
        positives[at] = members[(where + rng.integers(1, len(members), len(at))) % len(members)]
    if embeddings is None:
        negatives = rng.choice(majors, len(anchors))
    else:
        embeddings = np.asarray(embeddings, "float32")
        # On the unit sphere, where the loss (dermnet.losses.sampled_triplet_loss) measures: the nearest
        # raw embedding can be far from the anchor there, and then its triplet teaches nothing.
        embeddings = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-6)
        major_embeddings = embeddings[majors]
        major_norms = np.sum(major_embeddings**2, axis=1)
        negatives = np.empty_like(anchors)
        for start in range(0, len(anchors), chunk):  # [chunk, majors] distances at a time
            block = embeddings[anchors[start : start + chunk]]
            squared = major_norms[None, :] - 2.0 * block @ major_embeddings.T  # + |a|², the same for every n
            negatives[start : start + chunk] = majors[np.argmin(squared, axis=1)]
    return np.stack([anchors, positives, negatives], axis=1)


class AlternatingTriplets:
    """Each epoch: the plain batches of a shuffle of every image (full batches only), each followed
    by a batch of `batch_size // 3` triplets, taken in a new order each epoch from the current drawing."""

    def __init__(self, labels, batch_size, seed):
        self.labels, self.seed = np.asarray(labels), seed
        self.batch_size = min(int(batch_size), len(self.labels))
        if self.batch_size < 3:
            raise ValueError(
                f"triplet batches need at least 3 rows; batch_size={batch_size}, {len(self.labels)} images"
            )
        self.triplets = minor_major_triplets(self.labels, np.random.default_rng([seed, 0]))
        self.drawn_at = None  # the epoch of the last drawing from embeddings

    def redraw(self, embeddings, epoch):
        """The triplets of the epochs from `epoch` on, from `embeddings` `[N, D]` of every image in row order."""
        if len(embeddings) != len(self.labels):
            raise ValueError(f"{len(embeddings)} embeddings for {len(self.labels)} training images")
        self.triplets = minor_major_triplets(
            self.labels, np.random.default_rng([self.seed, epoch]), embeddings
        )
        self.drawn_at = epoch

    def epoch(self, epoch):
        rng = np.random.default_rng([self.seed, epoch])
        size = self.batch_size
        per_batch, unused = size // 3, size % 3
        plain = _in_batches(rng.permutation(len(self.labels)), size, drop_last=True)
        order = np.resize(rng.permutation(len(self.triplets)), len(plain) * per_batch)  # cycles if too few
        batches = []
        for number, rows in enumerate(plain):
            triplets = self.triplets[order[number * per_batch : (number + 1) * per_batch]]  # [T, 3]
            batches.append(np.stack([rows, np.full(size, PLAIN), np.full(size, -1)], axis=1))
            batches.append(
                np.stack(
                    [
                        np.concatenate([triplets.reshape(-1), np.repeat(triplets[0, 0], unused)]),
                        np.concatenate(
                            [np.tile([ANCHOR, POSITIVE, NEGATIVE], per_batch), np.full(unused, UNUSED)]
                        ),
                        np.concatenate([np.repeat(np.arange(per_batch), 3), np.full(unused, -1)]),
                    ],
                    axis=1,
                )
            )
        return batches


def alternating_triplet_dataset(
    df,
    image_size,
    batch_size,
    augment=None,
    cache_dir=None,
    *,
    seed=0,
    classes=None,
    resize_mode="stretch",
    on_error="raise",
):
    """Xue et al.'s training batches (module docstring): `(images, {"labels", "role", "triplet"})`.
    `stream.triplet_sampler` draws the triplets anew from embeddings (`redraw`); `stream.cache` holds
    the images in the sampler's row order."""
    cache = build_cache(df, image_size, resize_mode, cache_dir=cache_dir, on_error=on_error)
    labels = class_indices(cache.rows, classes)
    sampler = AlternatingTriplets(labels, batch_size, seed)

    def gather(rows):  # rows: [B, 3] of (row, role, triplet)
        index = rows[:, 0]
        return cache.images[cache.index[index]], {
            "labels": labels[index],
            "role": rows[:, 1],
            "triplet": rows[:, 2],
        }

    stream = _stream(sampler, gather, augment)
    stream.triplet_sampler, stream.cache = sampler, cache
    return stream
