"""Leak-free splits: stratified by label, grouped by lesion, patient and duplicate image.

Images of one lesion (HAM10000's `lesion_id`), the lesions of one patient (ISIC 2020's and 2024's
`patient_id`) and published duplicates (`duplicate_of`) must never straddle a split, or a test score
measures memory. RECOD (Menegola et al. 2017) also found many near-identical images across ISIC sets;
a perceptual hash finds them, and they are grouped like images of one lesion.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
import pandas as pd

from dermnet.data.images import read_image

DEFAULT_FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}
# Ray et al. 2020 (Methods): HAM10000's 10,015 images "split into 7210 training examples, 1803 validation
# examples, and 1002 test examples", per image: use with group_by="image" to reproduce it.
RAY2020_SPLIT = {"train": 7210, "validation": 1803, "test": 1002}
GROUP_COLUMNS = ("lesion_id", "patient_id", "duplicate_of")  # each names what its images share


def split(
    df: pd.DataFrame,
    fractions: Mapping[str, float] | None = None,
    seed: int = 0,
    near_duplicates: bool = False,
    max_distance: int = 4,
    group_by: str = "lesion",
) -> pd.DataFrame:
    """Assign a `split` column: stratified by `label`, grouped, reproducible from `seed`.

    Groups are placed largest first into the split that most lacks their labels, so every split
    gets close to its fraction of every class while a group stays whole.

    Args:
        df: a validated DataFrame (`load_dataset`, `from_csv`, `from_folders`).
        fractions: {split name: fraction}, default 70 / 15 / 15 train / validation / test; or
            {split name: image count}, counts that add up to `len(df)` (`RAY2020_SPLIT`). The counts
            are met to within a few images (each class is split in those proportions).
        seed: the order among groups of equal size; the same seed gives the same split.
        near_duplicates: also group images whose perceptual hashes differ in at most `max_distance`
            of 64 bits. The pairs found are in `result.attrs["near_duplicates"]` (a DataFrame).
        group_by: "lesion": images that share a `lesion_id` or a `patient_id`, or are published
            duplicates (`duplicate_of`), stay in one split (`groups`); or "image", to split image by
            image as some papers did (Ray et al. 2020), which lets images of one lesion fall in two
            splits: their test scores then measure memory.

    Example:
    >>> df = dermnet.data.split(dermnet.data.load_dataset("synthetic", "~/data/synthetic"), seed=0)
    >>> sorted(df.split.value_counts().items())
    [('test', 90), ('train', 420), ('validation', 90)]
    """
    fractions = dict(fractions or DEFAULT_FRACTIONS)
    if min(fractions.values()) < 0:
        raise ValueError(f"Split fractions must be non-negative, not {fractions}.")
    if all(isinstance(n, int) for n in fractions.values()):
        if sum(fractions.values()) != len(df):
            raise ValueError(
                f"Split counts {fractions} add up to {sum(fractions.values())}, not to the {len(df)} images."
            )
        fractions = {name: n / len(df) for name, n in fractions.items()}
    if abs(sum(fractions.values()) - 1) > 1e-6:
        raise ValueError(f"Split fractions must sum to 1, not {fractions}.")
    if group_by not in ("lesion", "image"):
        raise ValueError(f"group_by must be 'lesion' or 'image', not {group_by!r}.")
    df = df.copy()
    groups = groups_of(df) if group_by == "lesion" else df["image_id"].to_numpy(object)
    if near_duplicates:
        pairs = near_duplicate_pairs(df["image"].tolist(), max_distance)
        groups = merge_groups(groups, pairs)
        df.attrs["near_duplicates"] = pd.DataFrame(
            [(df["image_id"].iat[i], df["image_id"].iat[j], d) for i, j, d in pairs],
            columns=["image_id", "near_duplicate_of", "hash_distance"],
        )
    labels = df["label"].to_numpy() if "label" in df else np.zeros(len(df), int)
    classes = sorted(set(labels))
    counts = pd.crosstab(groups, labels).reindex(columns=classes, fill_value=0)
    names = list(fractions)
    target = np.outer([fractions[n] for n in names], counts.sum().to_numpy(float))
    assigned = np.zeros_like(target)
    order = np.random.default_rng(seed).permutation(len(counts))
    order = order[np.argsort(-counts.to_numpy().sum(1)[order], kind="stable")]
    choice = {}
    for g in order:
        need = counts.iloc[g].to_numpy()
        # The split whose squared shortfall against its targets drops the most by taking this group.
        gain = ((assigned - target) ** 2).sum(1) - ((assigned + need - target) ** 2).sum(1)
        best = int(np.argmax(gain))
        assigned[best] += need
        choice[counts.index[g]] = names[best]
    df["split"] = [choice[g] for g in groups]
    return df


def groups_of(df: pd.DataFrame) -> np.ndarray:
    """Each image's group: its `lesion_id` (else its `image_id`), joined with the groups of the
    images that share its `patient_id` or that its `duplicate_of` names, and so on transitively.
    (A lesion's label stays its group's name where nothing joins it: a data set with lesions alone,
    as HAM10000, splits as it always has.)"""
    ids = df["image_id"].to_numpy(object)
    groups = (df["lesion_id"].fillna(df["image_id"]) if "lesion_id" in df else df["image_id"]).to_numpy(
        object
    )
    pairs: list[tuple[Any, int]] = []  # (numpy or Python int, int)
    if "patient_id" in df:
        codes, _ = pd.factorize(df["patient_id"])  # -1: no patient given
        first = pd.Series(np.arange(len(df))).groupby(codes).transform("first").to_numpy()
        pairs += [(i, int(first[i])) for i in np.flatnonzero((codes >= 0) & (first != np.arange(len(df))))]
    if "duplicate_of" in df:  # an image left out of df (a skipped file) joins nothing
        position = {image_id: i for i, image_id in enumerate(ids)}
        pairs += [(i, position[other]) for i, other in enumerate(df["duplicate_of"]) if other in position]
    return merge_groups(groups, pairs) if pairs else groups


def perceptual_hashes(paths: Iterable[str | os.PathLike[str]], workers: int | None = None) -> np.ndarray:
    """64-bit DCT perceptual hashes (uint64) of image files (`read_image`, then 32×32 gray)."""
    with ThreadPoolExecutor(workers) as pool:
        return np.array(list(pool.map(_phash, paths)), dtype=np.uint64)


def near_duplicate_pairs(
    paths: Iterable[str | os.PathLike[str]], max_distance: int = 4, hashes: np.ndarray | None = None
) -> list[tuple[int, int, int]]:
    """[(i, j, distance)] for images whose hashes differ in at most `max_distance` bits, i < j."""
    hashes = perceptual_hashes(paths) if hashes is None else hashes
    pairs = []
    for start in range(0, len(hashes), 1024):  # blocks keep the distance matrix small
        block = hashes[start : start + 1024]
        distance = np.bitwise_count(block[:, None] ^ hashes[None, :])
        for i, j in zip(*np.nonzero(distance <= max_distance)):
            if start + i < j:
                pairs.append((int(start + i), int(j), int(distance[i, j])))
    return pairs


def _phash(path: str | os.PathLike[str]) -> int:
    gray = cv2.cvtColor(read_image(path), cv2.COLOR_RGB2GRAY)  # a bad file: a DataError naming it
    dct = cv2.dct(cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32))
    low = dct[:8, :8].flatten()
    bits = low > np.median(low[1:])  # the DC term would dominate the median
    return int(np.packbits(bits).view(">u8")[0])


def merge_groups(groups: Sequence[Any] | np.ndarray, pairs: Iterable[Sequence[Any]]) -> np.ndarray:
    """Union of the given groups with pairs of rows `(i, j, ...)` (union-find over group labels)."""
    parent = {g: g for g in groups}

    def root(g: Any) -> Any:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    for i, j, *_ in pairs:
        parent[root(groups[i])] = root(groups[j])
    return np.array([root(g) for g in groups], dtype=object)
