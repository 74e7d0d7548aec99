"""Where a data set's images come from and under which terms, for a run's config and its card.

The ISIC Archive licenses each image on its own (`copyright_license`: CC-0, CC-BY or CC-BY-NC) and
asks for its `attribution`; an `isic image download` folder holds both per image in `metadata.csv`,
the attributions in `attribution.txt` and the licence texts in `licenses/`. ISIC 2024's metadata
carries the same two columns. Other data sets have one licence, their record's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from dermnet import datasets
from dermnet.data.layouts import _files, _read_csv
from dermnet.data.manifest import existing_folder


def provenance(source: pd.DataFrame | str | os.PathLike[str]) -> dict[str, Any]:
    """The licences and attributions of a data set's images, as plain JSON-ready data.

    Args:
        source: a loaded DataFrame (of the rows a run used: its counts are theirs), or the folder of
            an `isic image download` (whole: its `attribution.txt` and licence texts too).

    Returns:
        `{"dataset", "images", "licences": {licence: images}, "attributions": {attribution: images}}`,
        the counts most first (attributions as isic-cli orders them: Anonymous last); a folder adds
        `attribution_text` and `licence_texts` (`{licence: text}`). Without per-image
        `copyright_license`, `licences` is the data set record's one licence.

    Example:
    >>> dermnet.data.provenance(df[df.split == "train"])
    {'dataset': 'synthetic', 'images': 420, 'licences': {'Apache-2.0 (dermnet)': 420}}
    >>> dermnet.data.provenance("~/isic-download")["licences"]  # doctest: +SKIP
    {'CC-BY-NC': 812, 'CC-0': 240, 'CC-BY': 91}
    """
    folder = None
    if isinstance(source, pd.DataFrame):
        df = source
    else:
        folder = existing_folder(source)
        (metadata,) = _files(folder, "metadata.csv")
        df = _read_csv(metadata, ("isic_id", "attribution", "copyright_license"))
        df.attrs["dataset"] = "isic_archive"
    name = df.attrs.get("dataset")
    about: dict[str, Any] = {**({"dataset": name} if name else {}), "images": len(df)}
    if "copyright_license" in df:
        about["licences"] = _counts(df["copyright_license"].fillna("unknown"))
    elif name in datasets.DATASETS:
        about["licences"] = {datasets.DATASETS[name].licence: len(df)}
    if "attribution" in df:
        about["attributions"] = _counts(df["attribution"].fillna("Anonymous"), last="Anonymous")
    if folder is not None:
        download = Path(os.path.dirname(metadata))
        if (download / "attribution.txt").is_file():
            about["attribution_text"] = (download / "attribution.txt").read_text(encoding="utf-8")
        about["licence_texts"] = {
            path.stem: path.read_text(encoding="utf-8")
            for path in sorted((download / "licenses").glob("*.txt"))
        }
    return about


def _counts(column: pd.Series, last: str | None = None) -> dict[str, int]:
    counts = sorted(column.value_counts().items(), key=lambda item: (item[0] == last, -item[1], item[0]))
    return {str(value): int(n) for value, n in counts}
