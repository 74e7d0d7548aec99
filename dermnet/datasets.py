"""The data sets dermnet knows: one record each, read by loading, downloading, training and scoring.

A record says what the data set is for (`task`), its classes in the order of a model's outputs, how
its files are laid out under the folder it was extracted into (`layout`), the archives to fetch, and
which ISIC challenge's official scoring fits it. Adding a data set is adding a record here (and, for
the "manifest" layout, its `dermnet/data/manifests/<name>.csv`).

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
ATTRIBUTES = ("globules", "milia_like_cyst", "negative_network", "pigment_network", "streaks")  # ISIC 2018 task 2
LAYOUTS = ("manifest", "masks", "attributes", "synthetic")


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
              official ground truth), images `<image_id>.<ext>` anywhere under the folder;
            - "masks": images `ISIC_nnnnnnn.jpg` beside `ISIC_nnnnnnn_segmentation.png` masks, the
              split read from folder names (`...Validation...`, `...Test...`, else train);
            - "attributes": the same with one `ISIC_nnnnnnn_attribute_<name>.png` per attribute;
            - "synthetic": drawn into the folder on first use (`dermnet.data.write_synthetic`).
        classes: class names in the order of a model's outputs (attributes: the mask names).
        archives: the files `dermnet data download` fetches and extracts.
        challenge: the ISIC challenge whose official scoring fits it (`dermnet.evaluation.score`),
            or None.
        description: one line.
    """

    name: str
    task: str
    layout: str
    classes: tuple = ()
    archives: tuple = ()
    challenge: Optional[str] = None
    description: str = ""

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"{self.name}: layout {self.layout!r} is not one of {LAYOUTS}")


def _isic(path, size=None, md5=None):
    return Archive(f"https://isic-challenge-data.s3.amazonaws.com/{path}", path.split("/")[-1], size, md5)


# The official ISIC challenge files. Known sizes and md5 checksums, once measured from the official
# files, go in _isic(path, size, md5); until then a download is checked against its Content-Length only.
_SPLITS_2017 = ("Training", "Validation", "Test_v2")
_ISIC2017_IMAGES = tuple(_isic(f"2017/ISIC-2017_{split}_Data.zip") for split in _SPLITS_2017)
_ISIC2018_TASK12_IMAGES = _isic("2018/ISIC2018_Task1-2_Training_Input.zip")

DATASETS = {d.name: d for d in (
    Dataset("isic2016", "classification", "manifest", ("benign", "malignant"),
            (_isic("2016/ISBI2016_ISIC_Part3_Training_Data.zip"), _isic("2016/ISBI2016_ISIC_Part3_Test_Data.zip")),
            "isic2016", "ISIC 2016 part 3: 900 train / 379 test"),
    Dataset("isic2017", "classification", "manifest", ("melanoma", "seborrheic_keratosis", "nevus"),
            _ISIC2017_IMAGES, "isic2017", "ISIC 2017 part 3: 2000 train / 150 validation / 600 test"),
    Dataset("ham10000", "classification", "manifest", HAM10000_CLASSES,
            (_isic("2018/ISIC2018_Task3_Training_Input.zip"),), "isic2018_task3",
            "HAM10000 = ISIC 2018 task 3 training: 10,015 images of 7,470 lesions, split by lesion"),
    Dataset("isic2018_task3_test", "classification", "manifest", HAM10000_CLASSES,
            (_isic("2018/ISIC2018_Task3_Test_Input.zip"),), "isic2018_task3", "ISIC 2018 task 3 test: 1,512 images"),
    Dataset("isic2017_task1", "segmentation", "masks", (),
            _ISIC2017_IMAGES + tuple(_isic(f"2017/ISIC-2017_{split}_Part1_GroundTruth.zip") for split in _SPLITS_2017),
            None, "ISIC 2017 part 1 lesion masks"),
    Dataset("isic2018_task1", "segmentation", "masks", (),
            (_ISIC2018_TASK12_IMAGES, _isic("2018/ISIC2018_Task1_Training_GroundTruth.zip")),
            "isic2018_task1", "ISIC 2018 task 1 lesion masks"),
    Dataset("isic2018_task2", "attributes", "attributes", ATTRIBUTES,
            (_ISIC2018_TASK12_IMAGES, _isic("2018/ISIC2018_Task2_Training_GroundTruth_v3.zip")),
            None, "ISIC 2018 task 2 attribute masks"),
    Dataset("synthetic", "classification", "synthetic", ("nevus", "melanoma", "keratosis"),
            description="dermnet's procedural dermoscopy-like images with masks (600 at 128 px), written on first use"),
)}


def get(name):
    """The record of the data set `name`; an unknown name raises `ValueError` naming the closest ones."""
    if name not in DATASETS:
        close = difflib.get_close_matches(str(name), DATASETS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown data set {name!r}.{hint} Known: {', '.join(DATASETS)}.")
    return DATASETS[name]


def challenge_of(dataset):
    """The challenge that scores `dataset` (a name, or a manifest CSV: None)."""
    return DATASETS[dataset].challenge if dataset in DATASETS else None
