"""The data sets dermnet knows: one record each, read by loading, downloading, training and scoring.

A record says what the data set is for (`task`), its classes in the order of a model's outputs, how
its files are laid out under the folder it was extracted into (`layout`), the archives to fetch, which
ISIC challenge's official scoring fits it, and how its labels answer another data set's model in a
cross-data-set evaluation (`mapping`). Adding a data set is adding a record here and, for the
"manifest" layout, its `dermnet/data/manifests/<name>.csv`, or else a reader of its published layout
in `dermnet/data/layouts.py`.

Example:
>>> from dermnet import datasets
>>> datasets.get("isic2017").classes
('melanoma', 'seborrheic_keratosis', 'nevus')
>>> datasets.get("ham10000").challenge
'isic2018_task3'
"""

import dataclasses
import difflib
from typing import Optional

HAM10000_CLASSES = ("mel", "nv", "bcc", "akiec", "bkl", "df", "vasc")  # the ISIC 2018 task 3 column order
ATTRIBUTES = (
    "globules",
    "milia_like_cyst",
    "negative_network",
    "pigment_network",
    "streaks",
)  # ISIC 2018 task 2
ISIC2019_CLASSES = ("mel", "nv", "bcc", "ak", "bkl", "df", "vasc", "scc", "unk")  # its ground truth's columns
DERM7PT_CLASSES = ("melanoma", "nevus", "basal_cell_carcinoma", "seborrheic_keratosis", "miscellaneous")
LAYOUTS = (
    "manifest",
    "masks",
    "attributes",
    "synthetic",
    "isic2018_task3",
    "isic2019",
    "isic2020",
    "isic2024",
    "ph2",
    "derm7pt",
    "isic_archive",
)


@dataclasses.dataclass(frozen=True)
class Archive:
    """One file to fetch: where from, its name on disk, and its size and md5 where known."""

    url: str
    filename: str
    size: Optional[int] = None
    md5: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A known data set.

    Attributes:
        name: what `dermnet.data.load_dataset` and `dermnet train --dataset` take.
        task: "classification", "segmentation" or "attributes".
        layout: how its rows are found under the data folder:
            - "manifest": labels and splits from `dermnet/data/manifests/<name>.csv` (built from the
              official ground truth), images `<image_id>.jpg` in its published folders (`folders`);
            - "masks": images `ISIC_nnnnnnn.jpg` in its published image folders and their masks
              `ISIC_nnnnnnn_segmentation.png` in its published ground-truth folders (`folders`), the
              split read from folder names (`...Validation...`, `...Test...`, else train);
            - "attributes": the same with one `ISIC_nnnnnnn_attribute_<name>.png` per attribute;
            - "synthetic": drawn into the folder on first use (`dermnet.data.write_synthetic`);
            - any other: the data set's own published files, read at load time by the reader of that
              name in `dermnet/data/layouts.py` (its docstring gives the files it reads).
        classes: class names in the order of a model's outputs (attributes: the mask names).
        archives: the files `dermnet data download` fetches (and extracts, if they are archives).
        challenge: the ISIC challenge whose official scoring fits it (`dermnet.evaluation.score`),
            or None.
        description: one line.
        mapping: for a cross-data-set evaluation (`dermnet evaluate RUN --dataset NAME`), each of
            its labels with the class names, in order of preference, of another data set's model
            that answer it (`((label, (class, ...)), ...)`): the first that the model has is used.
            A label none of whose names the model has is left out of the scores, and the report
            says so.
        manual: where to get the files by hand, for a data set with no public archive to fetch.
        licence: the terms of the images and labels.
        shared_as: folders its images are also commonly shared in, beside those its archives extract to.
    """

    name: str
    task: str
    layout: str
    classes: tuple = ()
    archives: tuple = ()
    challenge: Optional[str] = None
    description: str = ""
    mapping: tuple = ()
    manual: str = ""
    licence: str = ""
    shared_as: tuple = ()

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"{self.name}: layout {self.layout!r} is not one of {LAYOUTS}")

    @property
    def folders(self) -> tuple:
        """The folders its files are published in: each zip archive extracts to a folder of its name
        (`ISIC-2017_Training_Data.zip` → `ISIC-2017_Training_Data/`), and `shared_as`."""
        zips = (a.filename[: -len(".zip")] for a in self.archives if a.filename.endswith(".zip"))
        return (*zips, *self.shared_as)


def _isic(path: str, size: int | None = None, md5: str | None = None) -> Archive:
    return Archive(f"https://isic-challenge-data.s3.amazonaws.com/{path}", path.split("/")[-1], size, md5)


# The model classes that answer a label in a cross-data-set evaluation, in order of preference.
_MELANOMA = ("melanoma", "mel", "malignant")
_NEVUS = ("nevus", "nv", "benign")
_KERATOSIS = ("seborrheic_keratosis", "keratosis", "bkl")
_BCC = ("bcc", "basal_cell_carcinoma")
_HAM10000_MAPPING = (
    ("mel", _MELANOMA),
    ("nv", _NEVUS),
    ("bcc", _BCC),
    ("akiec", ("akiec", "ak")),
    ("bkl", ("bkl", "seborrheic_keratosis", "keratosis")),
    ("df", ("df",)),
    ("vasc", ("vasc",)),
)
_MALIGNANT_MAPPING = (("benign", ("benign", "nevus", "nv")), ("malignant", _MELANOMA))
_ISIC_LICENCE = "CC BY-NC 4.0 (ISIC Archive)"
_HAM10000_LICENCE = "CC BY-NC-SA 4.0 (HAM10000, Tschandl et al. 2018)"

# The official ISIC challenge files. Known sizes and md5 checksums, once measured from the official
# files, go in _isic(path, size, md5); until then a download is checked against its Content-Length only.
_SPLITS_2017 = ("Training", "Validation", "Test_v2")
_ISIC2017_IMAGES = tuple(_isic(f"2017/ISIC-2017_{split}_Data.zip") for split in _SPLITS_2017)
_SPLITS_2018 = ("Training", "Validation", "Test")
_ISIC2018_TASK12_IMAGES = tuple(_isic(f"2018/ISIC2018_Task1-2_{split}_Input.zip") for split in _SPLITS_2018)

DATASETS = {
    d.name: d
    for d in (
        Dataset(
            "isic2016",
            "classification",
            "manifest",
            ("benign", "malignant"),
            (
                _isic("2016/ISBI2016_ISIC_Part3_Training_Data.zip"),
                _isic("2016/ISBI2016_ISIC_Part3_Test_Data.zip"),
            ),
            "isic2016",
            "ISIC 2016 part 3: 900 train / 379 test",
            _MALIGNANT_MAPPING,
            licence="CC0 (ISIC Archive)",
        ),
        Dataset(
            "isic2017",
            "classification",
            "manifest",
            ("melanoma", "seborrheic_keratosis", "nevus"),
            _ISIC2017_IMAGES,
            "isic2017",
            "ISIC 2017 part 3: 2000 train / 150 validation / 600 test",
            (("melanoma", _MELANOMA), ("seborrheic_keratosis", _KERATOSIS), ("nevus", _NEVUS)),
            licence="CC0 (ISIC Archive)",
        ),
        Dataset(
            "ham10000",
            "classification",
            "manifest",
            HAM10000_CLASSES,
            (_isic("2018/ISIC2018_Task3_Training_Input.zip"),),
            "isic2018_task3",
            "HAM10000 = ISIC 2018 task 3 training: 10,015 images of 7,470 lesions, split by lesion",
            _HAM10000_MAPPING,
            licence=_HAM10000_LICENCE,
            # Harvard Dataverse's two image archives (Kaggle's copy holds them twice, once lower-case).
            shared_as=("HAM10000_images_part_1", "HAM10000_images_part_2"),
        ),
        Dataset(
            "isic2018_task3",
            "classification",
            "isic2018_task3",
            HAM10000_CLASSES,
            tuple(
                _isic(f"2018/ISIC2018_Task3_{split}_{part}.zip")
                for split in _SPLITS_2018
                for part in ("Input", "GroundTruth")
            ),
            "isic2018_task3",
            "ISIC 2018 task 3, complete: 10,015 training images (HAM10000, by lesion) / 193 "
            "validation / 1,512 test",
            _HAM10000_MAPPING,
            licence=f"{_HAM10000_LICENCE}; the rest {_ISIC_LICENCE}",
        ),
        Dataset(
            "isic2018_task3_test",
            "classification",
            "manifest",
            HAM10000_CLASSES,
            (_isic("2018/ISIC2018_Task3_Test_Input.zip"),),
            "isic2018_task3",
            "ISIC 2018 task 3 test: 1,512 images",
            _HAM10000_MAPPING,
            licence=_ISIC_LICENCE,
        ),
        Dataset(
            "isic2017_task1",
            "segmentation",
            "masks",
            (),
            _ISIC2017_IMAGES
            + tuple(_isic(f"2017/ISIC-2017_{split}_Part1_GroundTruth.zip") for split in _SPLITS_2017),
            None,
            "ISIC 2017 part 1 lesion masks: 2000 train / 150 validation / 600 test",
            licence="CC0 (ISIC Archive)",
        ),
        Dataset(
            "isic2018_task1",
            "segmentation",
            "masks",
            (),
            _ISIC2018_TASK12_IMAGES
            + tuple(_isic(f"2018/ISIC2018_Task1_{split}_GroundTruth.zip") for split in _SPLITS_2018),
            "isic2018_task1",
            "ISIC 2018 task 1 lesion masks: 2,594 train / 100 validation / 1,000 test",
            licence=_ISIC_LICENCE,
        ),
        Dataset(
            "isic2018_task2",
            "attributes",
            "attributes",
            ATTRIBUTES,
            _ISIC2018_TASK12_IMAGES
            + tuple(
                _isic(f"2018/ISIC2018_Task2_{split}_GroundTruth{'_v3' * (split == 'Training')}.zip")
                for split in _SPLITS_2018
            ),
            "isic2018_task2",
            "ISIC 2018 task 2 attribute masks: 2,594 train / 100 validation / 1,000 test",
            licence=_ISIC_LICENCE,
        ),
        Dataset(
            "isic2019",
            "classification",
            "isic2019",
            ISIC2019_CLASSES,
            (
                _isic("2019/ISIC_2019_Training_Input.zip"),
                _isic("2019/ISIC_2019_Training_GroundTruth.csv"),
                _isic("2019/ISIC_2019_Training_Metadata.csv"),
            ),
            "isic2019",
            "ISIC 2019: 25,331 training images, 8 classes (UNK only in the test set), split by lesion",
            (
                *_HAM10000_MAPPING[:3],
                ("ak", ("ak", "akiec")),
                *_HAM10000_MAPPING[4:],
                ("scc", ("scc",)),
                ("unk", ("unk",)),
            ),
            licence=_ISIC_LICENCE,
        ),
        Dataset(
            "isic2020",
            "classification",
            "isic2020",
            ("benign", "malignant"),
            (
                _isic("2020/ISIC_2020_Training_JPEG.zip"),
                _isic("2020/ISIC_2020_Training_GroundTruth_v2.csv"),
                _isic("2020/ISIC_2020_Training_Duplicates.csv"),
            ),
            "isic2020",
            "ISIC 2020: 33,126 training images of 2,056 patients, melanoma vs rest, split by patient",
            _MALIGNANT_MAPPING,
            licence=_ISIC_LICENCE,
        ),
        Dataset(
            "isic2024",
            "classification",
            "isic2024",
            ("benign", "malignant"),
            (),
            "isic2024",
            "ISIC 2024 (SLICE-3D): ~401,000 lesion crops of 3D total-body photos, 393 malignant, split by patient",
            _MALIGNANT_MAPPING,
            manual="https://www.kaggle.com/competitions/isic-2024-challenge (sign in and accept its rules; "
            "train-image.hdf5 and train-metadata.csv, into --root)",
            licence="CC BY-NC 4.0 (ISIC Archive)",
        ),
        Dataset(
            "ph2",
            "classification",
            "ph2",
            ("common_nevus", "atypical_nevus", "melanoma"),
            (),
            None,
            "PH2 (Hospital Pedro Hispano): 200 images, 80 common nevi / 80 atypical nevi / 40 melanomas, with "
            "lesion masks; a test set for cross-data-set evaluation",
            (("common_nevus", _NEVUS), ("atypical_nevus", _NEVUS), ("melanoma", _MELANOMA)),
            manual="https://www.fc.up.pt/addi/ph2%20database.html (PH2Dataset.rar; extract it into --root)",
            licence="free for research, citing Mendonça et al. 2013",
        ),
        Dataset(
            "derm7pt",
            "classification",
            "derm7pt",
            DERM7PT_CLASSES,
            (),
            None,
            "Derm7pt (Kawahara et al. 2019): 1,011 cases, 7-point checklist, the published train / valid / test "
            "split; the dermoscopic image of each case",
            (
                ("melanoma", _MELANOMA),
                ("nevus", _NEVUS),
                ("basal_cell_carcinoma", _BCC),
                ("seborrheic_keratosis", _KERATOSIS),
                ("miscellaneous", ()),
            ),
            manual="https://derm.cs.sfu.ca (register; release_v0.zip, extract it into --root)",
            licence="non-commercial research, by the data set's own terms",
        ),
        Dataset(
            "isic_archive",
            "classification",
            "isic_archive",
            (),
            (),
            None,
            "an ISIC Archive download (isic-cli's `isic image download`): the classes are the values of the "
            "metadata column named by --label (e.g. diagnosis_1), split by patient and lesion",
            manual="https://github.com/ImageMarkup/isic-cli (pip install isic-cli; `isic image download "
            "--search QUERY FOLDER`; then --root FOLDER --label diagnosis_1)",
            licence="each image's own (copyright_license: CC-0, CC-BY or CC-BY-NC; dermnet.data.provenance)",
        ),
        Dataset(
            "synthetic",
            "classification",
            "synthetic",
            ("nevus", "melanoma", "keratosis"),
            description="dermnet's procedural dermoscopy-like images with masks (600 at 128 px), written on first use",
            mapping=(("nevus", _NEVUS), ("melanoma", _MELANOMA), ("keratosis", ("keratosis", *_KERATOSIS))),
            licence="Apache-2.0 (dermnet)",
        ),
    )
}


def get(name: str) -> Dataset:
    """The record of the data set `name`; an unknown name raises `ValueError` naming the closest ones."""
    if name not in DATASETS:
        close = difflib.get_close_matches(str(name), DATASETS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown data set {name!r}.{hint} Known: {', '.join(DATASETS)}.")
    return DATASETS[name]


def challenge_of(dataset: str) -> str | None:
    """The challenge that scores `dataset` (a name, or a manifest CSV: None)."""
    return DATASETS[dataset].challenge if dataset in DATASETS else None
