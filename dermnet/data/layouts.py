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

Images are read at their published paths: in the folders the archives publish them in, with the
published extension, so that converted copies, thumbnails and `__MACOSX/` beside them change nothing.

Metadata: every column a data set publishes beside its labels (age, sex, site, diagnosis details,
attribution, licence, ...) is kept, as text, in the ISIC Archive's vocabulary (`ARCHIVE_NAMES`:
HAM10000's `age` is `age_approx` and its `localization` is `anatom_site_general`, as is ISIC 2020's
`anatom_site_general_challenge`); values stay as published. The cache and the streams read only
the image, mask and label columns; evaluation and `dermnet.data.provenance` find the rest.
"""

import filecmp
import os
import warnings
from importlib import resources

import numpy as np
import pandas as pd

from dermnet import datasets
from dermnet.data.errors import DataError, first_rows
from dermnet.data.images import hdf5_member
from dermnet.data.manifest import CSV_AS_TEXT, IMAGE_EXTENSIONS, find_images
from dermnet.data.splits import merge_groups

_HAM10000_COLUMNS = tuple(name.upper() for name in datasets.HAM10000_CLASSES)
_ISIC2019_COLUMNS = tuple(name.upper() for name in datasets.ISIC2019_CLASSES)
# The published metadata columns that the ISIC Archive (and its `isic-metadata` schema) names otherwise.
ARCHIVE_NAMES = {
    "age": "age_approx",
    "localization": "anatom_site_general",
    "anatom_site_general_challenge": "anatom_site_general",
}


def isic2018_task3(root):
    """ISIC 2018 task 3, complete: `ISIC2018_Task3_{Training,Validation,Test}_GroundTruth.csv`
    (`image` and one-hot `MEL, NV, BCC, AKIEC, BKL, DF, VASC`) and the images of
    `ISIC2018_Task3_*_Input/`; the official splits. Training images carry HAM10000's `lesion_id`
    and metadata (`age_approx, sex, anatom_site_general, dx_type, dataset`), from dermnet's HAM10000
    manifest, built from the official `HAM10000_metadata.csv`."""
    found = _files(root, *(f"ISIC2018_Task3_{s}_GroundTruth.csv" for s in ("Training", "Validation", "Test")))
    parts = []
    for split, name in zip(("train", "validation", "test"), found):
        table = _read_csv(name, ("image", *_HAM10000_COLUMNS))
        parts.append(
            pd.DataFrame(
                {
                    "image_id": table["image"],
                    "label": _one_hot_labels(table, _HAM10000_COLUMNS, name),
                    "split": split,
                }
            )
        )
    df = pd.concat(parts, ignore_index=True)
    with resources.files("dermnet.data.manifests").joinpath("ham10000.csv").open() as manifest:
        ham10000 = pd.read_csv(manifest, **CSV_AS_TEXT).set_index("image_id").drop(columns=["label", "split"])
    df = df.join(ham10000, on="image_id")
    unknown = df[(df.split == "train") & df.lesion_id.isna()]
    if len(unknown):
        raise DataError(
            f"{found[0]}: training images that are not in HAM10000 (no lesion_id to group them by): "
            f"{first_rows(unknown.image_id)}"
        )
    inputs = tuple(f"ISIC2018_Task3_{s}_Input" for s in ("Training", "Validation", "Test"))
    df["image"] = find_images(df["image_id"], root, (".jpg",), inputs)
    return df


def isic2019(root):
    """ISIC 2019: `ISIC_2019_Training_GroundTruth.csv` (`image` and one-hot `MEL, NV, BCC, AK, BKL,
    DF, VASC, SCC, UNK`), `ISIC_2019_Training_Metadata.csv` (`image, age_approx, anatom_site_general,
    lesion_id, sex`; lesion_id the grouping where given) and the images of `ISIC_2019_Training_Input/`.
    Where `ISIC_2019_Test_GroundTruth.csv` is there too, its images (`ISIC_2019_Test_Input/`) are the
    test split, with `ISIC_2019_Test_Metadata.csv` where it is there."""
    truth, metadata = _files(root, "ISIC_2019_Training_GroundTruth.csv", "ISIC_2019_Training_Metadata.csv")
    test_truth, test_metadata = _files(
        root, "ISIC_2019_Test_GroundTruth.csv", "ISIC_2019_Test_Metadata.csv", required=False
    )
    parts = []
    for split, name in (("train", truth), ("test", test_truth)):
        if name is not None:
            table = _read_csv(name, ("image", *_ISIC2019_COLUMNS))
            parts.append(
                pd.DataFrame(
                    {
                        "image_id": table["image"],
                        "label": _one_hot_labels(table, _ISIC2019_COLUMNS, name),
                        "split": split,
                    }
                )
            )
    df = pd.concat(parts, ignore_index=True)
    tables = [_read_csv(metadata, ("image", "lesion_id"))]
    if test_truth is not None and test_metadata is not None:
        tables.append(_read_csv(test_metadata, ("image",)))
    metadata = pd.concat(tables, ignore_index=True).rename(columns=ARCHIVE_NAMES).set_index("image")
    df = df.join(metadata, on="image_id")
    inputs = ("ISIC_2019_Training_Input", "ISIC_2019_Test_Input")
    df["image"] = find_images(df["image_id"], root, (".jpg",), inputs)
    return df


def isic2020(root):
    """ISIC 2020: `ISIC_2020_Training_GroundTruth_v2.csv` (or the first `..._GroundTruth.csv`):
    `image_name, patient_id, lesion_id (v2), benign_malignant, target, ...`; the published
    duplicates `ISIC_2020_Training_Duplicates.csv` (`image_name_1, image_name_2`), grouped; the
    images of `ISIC_2020_Training_JPEG.zip`, `<image_name>.jpg` in its `train/` folder (or in a
    folder of the archive's name). No published test truth: `load_dataset` splits by patient."""
    (truth,) = _files(root, "ISIC_2020_Training_GroundTruth_v2.csv", required=False)
    if truth is None:
        (truth,) = _files(root, "ISIC_2020_Training_GroundTruth.csv")
    (duplicates,) = _files(root, "ISIC_2020_Training_Duplicates.csv")
    table = _read_csv(truth, ("image_name", "patient_id", "benign_malignant", "target"))
    label = table["benign_malignant"].str.strip().str.lower()
    inconsistent = table[(label == "malignant") != (table["target"].str.strip() == "1")]
    if len(inconsistent):
        raise DataError(
            f"{truth}: benign_malignant and target disagree in rows {first_rows(inconsistent.image_name)}"
        )
    df = _with_metadata(
        pd.DataFrame({"image_id": table["image_name"], "label": label, "split": "train"}), table, "image_name"
    )
    pairs = _read_csv(duplicates, ("image_name_1", "image_name_2"))
    df["duplicate_of"] = _duplicate_sets(
        df["image_id"], zip(pairs.image_name_1, pairs.image_name_2), duplicates
    )
    df["image"] = find_images(df["image_id"], root, (".jpg",), ("train", "ISIC_2020_Training_JPEG"))
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
        raise DataError(
            f"{metadata}: target values other than 0 and 1 in rows "
            f"{first_rows(table.isic_id[~target.isin(['0', '1'])])}"
        )
    label = np.where(target == "1", "malignant", "benign")
    df = _with_metadata(
        pd.DataFrame({"image_id": table["isic_id"], "label": label, "split": "train"}), table, "isic_id"
    )
    (archive,) = _files(root, "train-image.hdf5", required=False)
    if archive is None:
        df["image"] = find_images(df["image_id"], root, (".jpg",))
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
    folders = _ph2_folders(root)
    df = pd.DataFrame({"image_id": names, "label": labels, "split": "train"})
    # A name without its IMDnnn folder has no image (validate names it); the others, their published paths.
    df["image"] = [
        os.path.join(folders[n], f"{n}_Dermoscopic_Image", f"{n}.bmp") if n in folders else None
        for n in names
    ]
    df["mask"] = [
        os.path.join(folders[n], f"{n}_lesion", f"{n}_lesion.bmp") if n in folders else None for n in names
    ]
    return df


def isic_archive(root, label=None):
    """A folder written by `isic image download` (isic-cli, the ISIC Archive's client), as it is:
    `metadata.csv` (`isic_id, attribution, copyright_license`, then the Archive's clinical and
    acquisition fields, sorted: `age_approx, anatom_site_general, diagnosis_1` ... `diagnosis_5,
    lesion_id, patient_id, sex`, ...; empty where unknown), the images `<isic_id>.jpg` beside it,
    `attribution.txt` and `licenses/` (`dermnet.data.provenance` reads them). Every column is kept.

    The label is the column named by `label` (e.g. `diagnosis_1`: Benign, Malignant, Indeterminate;
    `diagnosis_3` for finer classes): a name that is no column, or the start of several, is an error
    listing the columns and their values. Images whose label is empty are left out with a warning,
    never guessed, and listed in `df.attrs["unlabelled"]`. No published split: `load_dataset` splits
    it, grouped by `patient_id` and `lesion_id`.
    """
    (metadata,) = _files(root, "metadata.csv")
    table = _read_csv(metadata, ("isic_id", "attribution", "copyright_license"))
    column = _label_column(table, label, metadata)
    empty = table[column].isna()
    if empty.any():
        warnings.warn(
            f"{metadata}: {empty.sum()} images with an empty {column} are left out: "
            f"{first_rows(table.isic_id[empty])}",
            stacklevel=3,
        )
    df = pd.DataFrame({"image_id": table["isic_id"], "label": table[column], "split": "train"})
    df = _with_metadata(df, table, "isic_id")[~empty.to_numpy()].reset_index(drop=True)
    df["image"] = _images_beside(df["image_id"], os.path.dirname(metadata))
    df.attrs.update(source=metadata, unlabelled=table.isic_id[empty].tolist())
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
            raise DataError(
                f"{file}: rows of {meta} already in the {twice.iloc[0]} split: {first_rows(twice.index)}"
            )
        split.iloc[rows.astype(int)] = name
    if split.isna().any():
        raise DataError(f"{meta}: rows in none of the split files: {first_rows(split.index[split.isna()])}")
    unknown = sorted(set(table.diagnosis) - set(DERM7PT_DIAGNOSES))
    if unknown:
        raise DataError(f"{meta}: diagnoses dermnet does not know how to group: {', '.join(unknown)}")
    images = os.path.join(os.path.dirname(os.path.dirname(meta)), "images")
    return pd.DataFrame(
        {
            "image_id": table["derm"].map(lambda p: os.path.splitext(p)[0].replace("/", "_")),
            "image": [os.path.join(images, p) for p in table["derm"]],
            "label": table["diagnosis"].map(DERM7PT_DIAGNOSES),
            "split": split,
            "lesion_id": "case_" + table["case_num"],
            "diagnosis": table["diagnosis"],
        }
    )


# Kawahara et al. 2019 (derm7pt's `dataset.py`): the diagnoses grouped into 5 classes.
DERM7PT_DIAGNOSES = {
    "basal cell carcinoma": "basal_cell_carcinoma",
    **{
        name: "nevus"
        for name in (
            "nevus",
            "blue nevus",
            "clark nevus",
            "combined nevus",
            "congenital nevus",
            "dermal nevus",
            "recurrent nevus",
            "reed or spitz nevus",
        )
    },
    **{
        name: "melanoma"
        for name in (
            "melanoma",
            "melanoma (in situ)",
            "melanoma (less than 0.76 mm)",
            "melanoma (0.76 to 1.5 mm)",
            "melanoma (more than 1.5 mm)",
            "melanoma metastasis",
        )
    },
    "seborrheic keratosis": "seborrheic_keratosis",
    **{
        name: "miscellaneous"
        for name in ("dermatofibroma", "lentigo", "melanosis", "miscellaneous", "vascular lesion")
    },
}

READERS = {
    "isic2018_task3": isic2018_task3,
    "isic2019": isic2019,
    "isic2020": isic2020,
    "isic2024": isic2024,
    "ph2": ph2,
    "derm7pt": derm7pt,
    "isic_archive": isic_archive,
}


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
            raise DataError(
                f"{root}: no {name} under this folder: it comes with the data set's files (see "
                "`dermnet data download --help` and the README's data-set table)"
            )
        if any(not filecmp.cmp(places[0], other, shallow=False) for other in places[1:]):
            raise DataError(
                f"{root}: {name} is there twice with other contents: {', '.join(places)}; keep one"
            )
        paths.append(places[0] if places else None)
    return paths


def _read_csv(path, columns):
    """A CSV file as strings, with the `columns` it must have (named in the error if not)."""
    try:
        table = pd.read_csv(path, skipinitialspace=True, **CSV_AS_TEXT)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the table ({err})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(table.columns)})")
    return table


def _with_metadata(df, table, id_column):
    """`df` (a row per row of the published `table`) and then every other column of `table`, named
    in the ISIC Archive's vocabulary (`ARCHIVE_NAMES`, where that name is not taken)."""
    names = {old: new for old, new in ARCHIVE_NAMES.items() if new not in table.columns}
    taken = [id_column, *(c for c in table.columns if c in df.columns)]
    rest = table.drop(columns=taken).rename(columns=names)
    return pd.concat([df.reset_index(drop=True), rest.reset_index(drop=True)], axis=1)


def _label_column(table, label, path):
    """The column of `table` named `label`; else an error listing the columns and their values."""

    def described(columns):
        return "; ".join(f"{c} ({_values(table[c])})" for c in columns)

    if label in table.columns:
        if table[label].isna().all():
            raise DataError(
                f"{path}: column {label} is empty in every row; the columns are "
                f"{described(table.columns[1:])}"
            )
        return label
    if label is None:
        raise DataError(
            f"{path}: name the label column (label=..., --label); the columns are "
            f"{described(table.columns[1:])}"
        )
    starting = [c for c in table.columns if c.startswith(str(label))]
    if len(starting) > 1:
        raise DataError(f"{path}: {label!r} is ambiguous: {described(starting)}; name one of them")
    raise DataError(f"{path}: no column {label!r}; the columns are {described(table.columns[1:])}")


def _values(column, limit=8):
    """'Benign 18, Malignant 6, empty 2': a column's values by count, or how many there are."""
    counts = sorted(column.value_counts().items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{value} {n}" for value, n in counts[:limit])
    if len(counts) > limit:
        shown += f" and {len(counts) - limit} more values"
    empty = int(column.isna().sum())
    return ", ".join(text for text in (shown, f"empty {empty}" if empty else "") if text)


def _images_beside(ids, folder):
    """The image of each id in `folder`: `<id>.jpg` as isic-cli writes it (the extension of the
    Archive's URL, JPEG for its images), else the first there in `IMAGE_EXTENSIONS`' order; None if none."""
    files = {}
    for name in os.listdir(folder):
        stem, extension = os.path.splitext(name)
        if extension.lower() in IMAGE_EXTENSIONS:
            files.setdefault(stem, []).append(name)

    def first(names):
        return min(names, key=lambda name: IMAGE_EXTENSIONS.index(os.path.splitext(name)[1].lower()))

    return [os.path.join(folder, first(files[i])) if i in files else None for i in ids]


def _ph2_folders(root):
    """{IMDnnn: its folder}: each folder that holds its `IMDnnn_Dermoscopic_Image/`, as PH2 publishes it."""
    found = {}
    for folder, subfolders, _ in os.walk(root):
        subfolders[:] = [name for name in subfolders if name != "__MACOSX"]
        name = os.path.basename(folder)
        if f"{name}_Dermoscopic_Image" in subfolders:
            if name in found:
                raise DataError(f"{root}: {name} is there twice: {found[name]} and {folder}; keep one")
            found[name] = folder
    return found


def _one_hot_labels(table, columns, path):
    """The label (the lower-cased column name) of each row of one-hot `columns`; a row without
    exactly one 1 (and 0 elsewhere) is an error."""
    values = table[list(columns)].apply(pd.to_numeric, errors="coerce").to_numpy()
    bad = ~(np.isin(values, (0, 1)).all(axis=1) & (values == 1).sum(axis=1) == 1)
    if bad.any():
        raise DataError(
            f"{path}: rows that are not one-hot over {', '.join(columns)}: "
            f"{first_rows(table.iloc[np.flatnonzero(bad), 0])}"
        )
    return [columns[k].lower() for k in values.argmax(axis=1)]


def _duplicate_sets(ids, pairs, path):
    """`duplicate_of` of each id: within every set of duplicates joined by `pairs`, each image but
    the first (in `ids` order) names the first; NaN where an image has no duplicate."""
    position = {image_id: i for i, image_id in enumerate(ids)}
    pairs = list(pairs)
    unknown = [p for pair in pairs for p in pair if p not in position]
    if unknown:
        raise DataError(
            f"{path}: duplicates of images that are not in the ground truth: {first_rows(unknown)}"
        )
    sets = merge_groups(ids.to_numpy(object), [(position[a], position[b]) for a, b in pairs])
    first = ids.groupby(sets).transform("first")  # the set's first image, in ids' order
    return first.where(first != ids).to_numpy(object)


def _ph2_labels(path):
    """(names, labels) from PH2's table: '||'-delimited or tab-separated, with a header row that
    holds `Name`. A row whose diagnosis is missing or not one of the three is an error."""
    with open(path, encoding="utf-8", errors="replace") as file:
        lines = [line.rstrip("\n") for line in file if line.strip()]
    delimiter = "||" if any("||" in line for line in lines) else "\t"
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split(delimiter)]
        if delimiter == "||"
        else [cell.strip() for cell in line.split("\t")]
        for line in lines
    ]
    header = next((row for row in rows if "Name" in row), None)
    if header is None:
        raise DataError(f"{path}: no header row with a Name column")
    classes = ("common_nevus", "atypical_nevus", "melanoma")
    marks = [header.index(c) for c in ("Common Nevus", "Atypical Nevus", "Melanoma") if c in header]
    if "Clinical Diagnosis" not in header and len(marks) != 3:
        raise DataError(
            f"{path}: no Clinical Diagnosis column, nor Common Nevus, Atypical Nevus and Melanoma "
            f"columns (header: {' | '.join(header)})"
        )
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
