"""Readers of the data sets' own published files: each turns a folder, as its archives extract, into
the manifest rows of `dermnet.data.manifest` (validated by the caller, `load_dataset`).

Each reader is named after a `layout` of `dermnet.datasets` and reads the official ground truth
and metadata at load time, so that a data set is read as its publisher wrote it. Files are found
anywhere under the folder (archives nest them differently); a file the data set needs and that is
not there, or is there twice with other contents, is a `DataError` naming it. Labels are read from
columns by name, never by position.

Grouping columns, which `dermnet.data.split` keeps whole within a split and `validate` checks:
`lesion_id` (images of one lesion), `patient_id` (every lesion of one patient) and `duplicate_of`
(published duplicate images: every image of a duplicate set names the same one).
"""

import filecmp
import os
from importlib import resources

import numpy as np
import pandas as pd

from dermnet import datasets
from dermnet.data.errors import DataError, first_rows
from dermnet.data.images import hdf5_member
from dermnet.data.manifest import find_images
from dermnet.data.splits import merge_groups

_HAM10000_COLUMNS = tuple(name.upper() for name in datasets.HAM10000_CLASSES)
_ISIC2019_COLUMNS = tuple(name.upper() for name in datasets.ISIC2019_CLASSES)


def isic2018_task3(root):
    """ISIC 2018 task 3, complete: `ISIC2018_Task3_{Training,Validation,Test}_GroundTruth.csv`
    (`image` and one-hot `MEL, NV, BCC, AKIEC, BKL, DF, VASC`) and the images of
    `ISIC2018_Task3_*_Input/`; the official splits. Training images carry HAM10000's `lesion_id`
    (from dermnet's HAM10000 manifest, built from the official `HAM10000_metadata.csv`)."""
    found = _files(root, *(f"ISIC2018_Task3_{s}_GroundTruth.csv" for s in ("Training", "Validation", "Test")))
    parts = []
    for split, name in zip(("train", "validation", "test"), found):
        table = _read_csv(name, ("image", *_HAM10000_COLUMNS))
        parts.append(pd.DataFrame({"image_id": table["image"], "label": _one_hot_labels(table, _HAM10000_COLUMNS, name),
                                   "split": split}))
    df = pd.concat(parts, ignore_index=True)
    with resources.files("dermnet.data.manifests").joinpath("ham10000.csv").open() as manifest:
        lesions = pd.read_csv(manifest, dtype=str).set_index("image_id")["lesion_id"]
    df["lesion_id"] = df["image_id"].map(lesions)
    unknown = df[(df.split == "train") & df.lesion_id.isna()]
    if len(unknown):
        raise DataError(f"{found[0]}: training images that are not in HAM10000 (no lesion_id to group them by): "
                        f"{first_rows(unknown.image_id)}")
    df["image"] = find_images(df["image_id"], root)
    return df


def isic2019(root):
    """ISIC 2019: `ISIC_2019_Training_GroundTruth.csv` (`image` and one-hot `MEL, NV, BCC, AK, BKL,
    DF, VASC, SCC, UNK`), `ISIC_2019_Training_Metadata.csv` (`image, ..., lesion_id`, the grouping
    where given) and the images of `ISIC_2019_Training_Input/`. Where `ISIC_2019_Test_GroundTruth.csv`
    is there too, its images are the test split (their input folder must be there as well)."""
    truth, metadata = _files(root, "ISIC_2019_Training_GroundTruth.csv", "ISIC_2019_Training_Metadata.csv")
    (test_truth,) = _files(root, "ISIC_2019_Test_GroundTruth.csv", required=False)
    parts = []
    for split, name in (("train", truth), ("test", test_truth)):
        if name is not None:
            table = _read_csv(name, ("image", *_ISIC2019_COLUMNS))
            parts.append(pd.DataFrame({"image_id": table["image"],
                                       "label": _one_hot_labels(table, _ISIC2019_COLUMNS, name), "split": split}))
    df = pd.concat(parts, ignore_index=True)
    lesions = _read_csv(metadata, ("image", "lesion_id")).set_index("image")["lesion_id"]
    df["lesion_id"] = df["image_id"].map(lesions)
    df["image"] = find_images(df["image_id"], root)
    return df


def isic2020(root):
    """ISIC 2020: `ISIC_2020_Training_GroundTruth_v2.csv` (or the first `..._GroundTruth.csv`):
    `image_name, patient_id, lesion_id (v2), benign_malignant, target, ...`; the published
    duplicates `ISIC_2020_Training_Duplicates.csv` (`image_name_1, image_name_2`), grouped; the
    images of `ISIC_2020_Training_JPEG/`. No published test truth: `load_dataset` splits by patient."""
    (truth,) = _files(root, "ISIC_2020_Training_GroundTruth_v2.csv", required=False)
    if truth is None:
        (truth,) = _files(root, "ISIC_2020_Training_GroundTruth.csv")
    (duplicates,) = _files(root, "ISIC_2020_Training_Duplicates.csv")
    table = _read_csv(truth, ("image_name", "patient_id", "benign_malignant", "target"))
    label = table["benign_malignant"].str.strip().str.lower()
    inconsistent = table[(label == "malignant") != (table["target"].str.strip() == "1")]
    if len(inconsistent):
        raise DataError(f"{truth}: benign_malignant and target disagree in rows {first_rows(inconsistent.image_name)}")
    df = pd.DataFrame({"image_id": table["image_name"], "label": label, "split": "train",
                       "patient_id": table["patient_id"], "lesion_id": table.get("lesion_id")})
    pairs = _read_csv(duplicates, ("image_name_1", "image_name_2"))
    df["duplicate_of"] = _duplicate_sets(df["image_id"], zip(pairs.image_name_1, pairs.image_name_2), duplicates)
    df["image"] = find_images(df["image_id"], root)
    return df


def isic2024(root):
    """ISIC 2024 (SLICE-3D): `train-metadata.csv` (`isic_id, target, patient_id, lesion_id, ...`)
    and the JPEGs inside `train-image.hdf5` (one entry per `isic_id`, read in place: never
    extracted), or, without it, image files named by `isic_id` under the folder. No published test
    truth: `load_dataset` splits by patient."""
    (metadata,) = _files(root, "train-metadata.csv")
    table = _read_csv(metadata, ("isic_id", "target", "patient_id"))
    target = table["target"].str.strip()
    if not target.isin(["0", "1"]).all():
        raise DataError(f"{metadata}: target values other than 0 and 1 in rows "
                        f"{first_rows(table.isic_id[~target.isin(['0', '1'])])}")
    df = pd.DataFrame({"image_id": table["isic_id"], "label": np.where(target == "1", "malignant", "benign"),
                       "split": "train", "patient_id": table["patient_id"], "lesion_id": table.get("lesion_id")})
    (archive,) = _files(root, "train-image.hdf5", required=False)
    if archive is None:
        df["image"] = find_images(df["image_id"], root)
    else:  # `validate` checks that every entry is there
        df["image"] = [hdf5_member(archive, image_id) for image_id in df["image_id"]]
    return df


def ph2(root):
    """PH2: `PH2_dataset.txt` (the official `||`-delimited table, or a tab-separated one) with `Name`
    and the clinical diagnosis, either as `Clinical Diagnosis` 0 / 1 / 2 or as an X under `Common
    Nevus`, `Atypical Nevus` or `Melanoma`; the images `IMDnnn_Dermoscopic_Image/IMDnnn.bmp` and
    their lesion masks `IMDnnn_lesion/IMDnnn_lesion.bmp`. No published split: `load_dataset` splits
    it; `dermnet evaluate --dataset ph2` scores every image."""
    (table_file,) = _files(root, "PH2_dataset.txt")
    names, labels = _ph2_labels(table_file)
    df = pd.DataFrame({"image_id": names, "label": labels, "split": "train"})
    df["image"] = find_images(df["image_id"], root)
    df["mask"] = find_images([f"{name}_lesion" for name in names], root)
    return df


def derm7pt(root):
    """Derm7pt: `meta/meta.csv` (`case_num, diagnosis, ..., clinic, derm`), its published split
    `meta/{train,valid,test}_indexes.csv` (row positions in meta.csv, column `indexes`) and the
    dermoscopic images `images/<derm>`. Labels are the 5 diagnosis groups of Kawahara et al. 2019
    (`DERM7PT_DIAGNOSES`); the raw diagnosis stays in `diagnosis`."""
    meta, *indexes = _files(root, "meta.csv", "train_indexes.csv", "valid_indexes.csv", "test_indexes.csv")
    table = _read_csv(meta, ("case_num", "diagnosis", "derm"))
    split = pd.Series(pd.NA, index=table.index, dtype=object)
    for name, file in zip(("train", "validation", "test"), indexes):
        rows = pd.to_numeric(_read_csv(file, ("indexes",))["indexes"], errors="coerce")
        if rows.isna().any() or not rows.between(0, len(table) - 1).all():
            raise DataError(f"{file}: indexes that are not row positions 0..{len(table) - 1} of {meta}")
        twice = split.iloc[rows.astype(int)].dropna()
        if len(twice):
            raise DataError(f"{file}: rows of {meta} already in the {twice.iloc[0]} split: {first_rows(twice.index)}")
        split.iloc[rows.astype(int)] = name
    if split.isna().any():
        raise DataError(f"{meta}: rows in none of the split files: {first_rows(split.index[split.isna()])}")
    unknown = sorted(set(table.diagnosis) - set(DERM7PT_DIAGNOSES))
    if unknown:
        raise DataError(f"{meta}: diagnoses dermnet does not know how to group: {', '.join(unknown)}")
    images = os.path.join(os.path.dirname(os.path.dirname(meta)), "images")
    return pd.DataFrame({"image_id": table["derm"].map(lambda p: os.path.splitext(p)[0].replace("/", "_")),
                         "image": [os.path.join(images, p) for p in table["derm"]],
                         "label": table["diagnosis"].map(DERM7PT_DIAGNOSES), "split": split,
                         "lesion_id": "case_" + table["case_num"], "diagnosis": table["diagnosis"]})


# Kawahara et al. 2019 (derm7pt's `dataset.py`): the diagnoses grouped into 5 classes.
DERM7PT_DIAGNOSES = {
    "basal cell carcinoma": "basal_cell_carcinoma",
    **{name: "nevus" for name in ("nevus", "blue nevus", "clark nevus", "combined nevus", "congenital nevus",
                                  "dermal nevus", "recurrent nevus", "reed or spitz nevus")},
    **{name: "melanoma" for name in ("melanoma", "melanoma (in situ)", "melanoma (less than 0.76 mm)",
                                     "melanoma (0.76 to 1.5 mm)", "melanoma (more than 1.5 mm)",
                                     "melanoma metastasis")},
    "seborrheic keratosis": "seborrheic_keratosis",
    **{name: "miscellaneous" for name in ("dermatofibroma", "lentigo", "melanosis", "miscellaneous",
                                          "vascular lesion")},
}

READERS = {"isic2018_task3": isic2018_task3, "isic2019": isic2019, "isic2020": isic2020, "isic2024": isic2024,
           "ph2": ph2, "derm7pt": derm7pt}


def _files(root, *names, required=True):
    """The path of each file called `names[i]` under `root` (None where there is none and it is not
    `required`); one walk of the tree. The same name twice with other contents is an error."""
    found = {name: [] for name in names}
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name != "__MACOSX"]
        for name in set(files) & set(names):
            found[name].append(os.path.join(folder, name))
    paths = []
    for name, places in found.items():
        if not places and required:
            raise DataError(f"{root}: no {name} under this folder: it comes with the data set's files (see "
                            "`dermnet data download --help` and the README's data-set table)")
        if any(not filecmp.cmp(places[0], other, shallow=False) for other in places[1:]):
            raise DataError(f"{root}: {name} is there twice with other contents: {', '.join(places)}; keep one")
        paths.append(places[0] if places else None)
    return paths


def _read_csv(path, columns):
    """A CSV file as strings, with the `columns` it must have (named in the error if not)."""
    try:
        table = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the table ({err})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(table.columns)})")
    return table


def _one_hot_labels(table, columns, path):
    """The label (the lower-cased column name) of each row of one-hot `columns`; a row without
    exactly one 1 (and 0 elsewhere) is an error."""
    values = table[list(columns)].apply(pd.to_numeric, errors="coerce").to_numpy()
    bad = ~(np.isin(values, (0, 1)).all(axis=1) & (values == 1).sum(axis=1) == 1)
    if bad.any():
        raise DataError(f"{path}: rows that are not one-hot over {', '.join(columns)}: "
                        f"{first_rows(table.iloc[np.flatnonzero(bad), 0])}")
    return [columns[k].lower() for k in values.argmax(axis=1)]


def _duplicate_sets(ids, pairs, path):
    """`duplicate_of` of each id: within every set of duplicates joined by `pairs`, each image but
    the first (in `ids` order) names the first; NaN where an image has no duplicate."""
    position = {image_id: i for i, image_id in enumerate(ids)}
    pairs = list(pairs)
    unknown = [p for pair in pairs for p in pair if p not in position]
    if unknown:
        raise DataError(f"{path}: duplicates of images that are not in the ground truth: {first_rows(unknown)}")
    sets = merge_groups(ids.to_numpy(object), [(position[a], position[b]) for a, b in pairs])
    first = ids.groupby(sets).transform("first")  # the set's first image, in ids' order
    return first.where(first != ids).to_numpy(object)


def _ph2_labels(path):
    """(names, labels) from PH2's table: '||'-delimited or tab-separated, with a header row that
    holds `Name`. A row whose diagnosis is missing or not one of the three is an error."""
    with open(path, encoding="utf-8", errors="replace") as file:
        lines = [line.rstrip("\n") for line in file if line.strip()]
    delimiter = "||" if any("||" in line for line in lines) else "\t"
    rows = [[cell.strip() for cell in line.strip().strip("|").split(delimiter)] if delimiter == "||"
            else [cell.strip() for cell in line.split("\t")] for line in lines]
    header = next((row for row in rows if "Name" in row), None)
    if header is None:
        raise DataError(f"{path}: no header row with a Name column")
    classes = ("common_nevus", "atypical_nevus", "melanoma")
    marks = [header.index(c) for c in ("Common Nevus", "Atypical Nevus", "Melanoma") if c in header]
    if "Clinical Diagnosis" not in header and len(marks) != 3:
        raise DataError(f"{path}: no Clinical Diagnosis column, nor Common Nevus, Atypical Nevus and Melanoma "
                        f"columns (header: {' | '.join(header)})")
    name_at, names, labels, bad = header.index("Name"), [], [], []
    for row in rows:
        if len(row) <= name_at or not row[name_at].startswith("IMD"):
            continue  # the header, a legend or a note
        cells = row + [""] * (len(header) - len(row))
        if "Clinical Diagnosis" in header:
            code = cells[header.index("Clinical Diagnosis")]
            label = classes[int(code)] if code in ("0", "1", "2") else None
        else:
            marked = [classes[k] for k, at in enumerate(marks) if cells[at].upper() == "X"]
            label = marked[0] if len(marked) == 1 else None
        names.append(row[name_at])
        labels.append(label)
        if label is None:
            bad.append(row[name_at])
    if bad:
        raise DataError(f"{path}: rows without one clinical diagnosis (0, 1, 2 or one X): {first_rows(bad)}")
    if not names:
        raise DataError(f"{path}: no image rows (IMDnnn) in the table")
    return names, labels
