"""Build dermnet's manifests from the official ISIC ground-truth files.

    python -m dermnet.data.manifests.build ../shared/reference/ground_truth

writes `isic2016.csv`, `isic2017.csv`, `ham10000.csv` and `isic2018_task3_test.csv` beside this
script in dermnet's schema (`image_id, label, split[, lesion_id]`; HAM10000's with its metadata:
`age_approx, sex, anatom_site_general, dx_type, dataset`). The labels are copied from the
challenge files; only HAM10000's train / validation / test split is dermnet's own (grouped by lesion,
stratified, seed 0), because the challenge gives HAM10000 as one training set.
"""

import sys
from pathlib import Path

import pandas as pd

from dermnet.data.layouts import ARCHIVE_NAMES
from dermnet.data.manifest import CSV_AS_TEXT
from dermnet.data.splits import split

HERE = Path(__file__).resolve().parent
ISIC2018_COLUMNS = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")


def isic2016(truth):
    train = pd.read_csv(
        truth / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv", header=None, names=["image_id", "label"]
    )
    test = pd.read_csv(
        truth / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv", header=None, names=["image_id", "malignant"]
    )
    test["label"] = test["malignant"].map({0: "benign", 1: "malignant"})  # 0.0 and 1.0 hash as 0 and 1
    return pd.concat([train.assign(split="train"), test[["image_id", "label"]].assign(split="test")])


def isic2017(truth):
    parts = []
    for split_name, file in (("train", "Training"), ("validation", "Validation"), ("test", "Test_v2")):
        part = pd.read_csv(truth / f"ISIC-2017_{file}_Part3_GroundTruth.csv")
        part["label"] = "nevus"  # neither melanoma nor seborrheic keratosis
        part.loc[part["seborrheic_keratosis"] == 1, "label"] = "seborrheic_keratosis"
        part.loc[part["melanoma"] == 1, "label"] = "melanoma"
        parts.append(part[["image_id", "label"]].assign(split=split_name))
    return pd.concat(parts)


def ham10000(truth):
    """HAM10000_metadata.csv, with its metadata named as the ISIC Archive names it (`ARCHIVE_NAMES`:
    `age` is `age_approx`, `localization` is `anatom_site_general`); `sex`, `dx_type` and `dataset`
    keep their names, and every value is as published."""
    meta = pd.read_csv(truth / "HAM10000_metadata.csv", **CSV_AS_TEXT)
    df = meta.rename(columns={"dx": "label", **ARCHIVE_NAMES})
    columns = [
        "image_id",
        "label",
        "split",
        "lesion_id",
        "age_approx",
        "sex",
        "anatom_site_general",
        "dx_type",
        "dataset",
    ]
    return split(df, {"train": 0.7, "validation": 0.15, "test": 0.15}, seed=0)[columns]


def isic2018_task3_test(truth):
    onehot = pd.read_csv(truth / "ISIC2018_Task3_Test_GroundTruth.csv")
    labels = onehot[list(ISIC2018_COLUMNS)].to_numpy().argmax(1)
    return pd.DataFrame(
        {"image_id": onehot["image"], "label": [ISIC2018_COLUMNS[i].lower() for i in labels], "split": "test"}
    )


def main(truth):
    for build in (isic2016, isic2017, ham10000, isic2018_task3_test):
        df = build(Path(truth)).sort_values(["split", "image_id"])
        df.to_csv(HERE / f"{build.__name__}.csv", index=False)
        print(
            f"{build.__name__}: {len(df)} rows; "
            + ", ".join(f"{s} {n}" for s, n in df["split"].value_counts().items())
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else HERE.parents[3] / "shared/reference/ground_truth")
