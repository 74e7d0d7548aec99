"""Each paper's published figures, transcribed from the paper texts, each with its source: the file of
`../shared/papers` it was read from and the table or section that prints it (Menegola et al.'s Part 3
figures come from the authors' GitHub README instead, and Ha, Liu and Liu's from their arXiv abstract).

The figures are typed in exactly as printed, in the paper's own units; where a table prints
percentages, the figure is stored as a fraction and its source says so. A figure the text does not
give unambiguously (a row the extraction lost, cells that run together) is None, printed as
`NOT_TRANSCRIBED` ("not transcribed"), and its source says why: a figure from memory would be worse
than none. Pure data: this module imports only the standard library (`dermnet.reproduce` sets these
figures beside dermnet's).

Example:
>>> from dermnet._papers import PAPERS
>>> PAPERS["zhang2018"].slots()["Table 1", "SDL, augmentation", "AUC"].value
0.8179
"""

from dataclasses import dataclass

NOT_TRANSCRIBED = "not transcribed"


@dataclass(frozen=True)
class Figure:
    """One published figure: where it sits (table, row, metric), its value and where it was read."""

    table: str
    row: str
    metric: str
    value: object  # a float, a range as text ("0.780–0.783"), or None: not transcribed
    source: str


@dataclass(frozen=True)
class Paper:
    citation: str
    figures: tuple

    def slots(self):
        return {(f.table, f.row, f.metric): f for f in self.figures}


def _slots(table, rows, metrics, source, values=None):
    """Figures for every (row, metric) of a table; `values[(row, metric)]` where transcribed.
    `source` is a string, or `{row: string}` where the rows' sources differ."""
    values = values or {}
    return tuple(
        Figure(
            table, row, metric, values.get((row, metric)), source[row] if isinstance(source, dict) else source
        )
        for row in rows
        for metric in metrics
    )


def _table(printed, metrics):
    """`{(row, metric): value}` from `printed = {row: the row's cells in the order of metrics}`."""
    return {(row, metric): value for row, cells in printed.items() for metric, value in zip(metrics, cells)}


_TEXTS = "../shared/papers"  # the paper texts (plain text extracted from the PDFs)

_ZHANG = (
    "Zhang et al., Skin lesion classification in dermoscopy images using synergic deep learning, MICCAI 2018"
)
_RAY = (
    "Ray, Gupta, Al, Skin lesion classification with deep convolutional neural network, "
    "JMIR Dermatol 2020;3(1):e18438"
)
_XUE = "Xue et al., ISIC 2018 challenge report (SegAN, multitask attribute network, triplet loss)"
_MENEGOLA = "Menegola et al., RECOD Titans at ISIC Challenge 2017, arXiv:1703.04819"
_RECOD_PART3 = (
    "github.com/learningtitans/isbi2017-part3, README (the authors' results on the official test set)"
)

# Zhang et al. 2018: two extractions of one paper, whose tables agree cell for cell.
_ZHANG_TEXTS = (
    f"{_TEXTS}/001_60a88edfdb06c2e9.txt (checked against {_TEXTS}/000_509b09bd00dda96b.txt, "
    "which prints the same cells)"
)
_ZHANG_METRICS = ["AP", "Acc", "AUC"]
_ZHANG_TABLE1 = {  # Table 1: "Methods, DA" rows; DA N is "no augmentation", Y "augmentation"
    "ResNet-50, no augmentation": (0.6102, 0.8496, 0.7742),
    "ResNet-50², no augmentation": (0.6115, 0.8443, 0.7826),
    "SDL, no augmentation": (0.6536, 0.8522, 0.8139),
    "ResNet-50, augmentation": (0.6224, 0.8522, 0.7829),
    "ResNet-50², augmentation": (0.6308, 0.8549, 0.7968),
    "SDL, augmentation": (0.6644, 0.8575, 0.8179),
}
_ZHANG_TABLE2 = {  # Table 2: SDL and the top five leaderboard rows ("CUMED [4]" in the paper)
    "SDL": (0.664, 0.858, 0.818),
    "CUMED": (0.637, 0.855, 0.804),
    "GTDL": (0.619, 0.813, 0.802),
    "BF-TB": (0.598, 0.834, 0.826),
    "ThrunLab": (0.563, 0.786, 0.796),
    "Jordan Yap": (0.559, 0.844, 0.775),
}

# Ray et al. 2020: the extraction kept only some rows of Tables 1-3, and a row's cells run together
# ("Custom model77.4876.540.64667111"). Tables 2-3 print percentages: stored here as fractions.
_RAY_TEXT = f"{_TEXTS}/002_50a5aec838cbc30a.txt"
_RAY_TABLE1 = {
    "Melanocytic nevi": 6705,
    "Benign keratosis": 1099,
    "Basal cell carcinoma": 514,
    "Actinic keratoses": 325,
    "Vascular lesions": 142,
}
_RAY_METRICS = ["validation accuracy", "test accuracy", "test loss"]
# The paper fine-tuned all layers of InceptionV3 and DenseNet-201 only (its introduction says so):
# VGG16 and Inception-ResNet-v2 have a top-layers row and no all-layers one.
_RAY_ROWS = [
    "baseline CNN",
    "VGG16, top layers",
    "Inception-ResNet-v2, top layers",
    "InceptionV3, top layers",
    "InceptionV3, all layers",
    "DenseNet-201, top layers",
    "DenseNet-201, all layers",
    "InceptionV3 + DenseNet-201 ensemble",
]
_RAY_PERCENT = "validation and test accuracy printed as percentages, stored as fractions"
_RAY_TABLES = {"Table 2": "fine-tuning the top layers", "Table 3": "fine-tuning all layers"}


def _ray_source(table, why):
    return f"{_RAY}; {_RAY_TEXT}, {table} ({_RAY_TABLES[table]}; HAM10000), {why}"


def _ray_run_on(row, printed, read, rest):
    """The source of a Table 2 row whose test loss runs into its depth."""
    return _ray_source(
        "Table 2",
        (
            f"row '{row}', its cells printed run together as {printed}: read {read}, then {rest} holds the "
            "test loss and the next column, Depth (layers), with no break to show where the loss ends, so the "
            f"test loss is not transcribed; {_RAY_PERCENT}"
        ),
    )


_RAY_LOST = {
    2: "the extraction lost this row (it keeps the Custom model and Inception-ResNet V2 rows only): "
    "not transcribed",
    3: "the extraction lost this row (it keeps the ensemble row only): not transcribed",
}
_RAY_SOURCES = {
    "baseline CNN": _ray_run_on("Custom model", "77.4876.540.64667111", "77.48 | 76.54", "0.64667111"),
    "VGG16, top layers": _ray_source("Table 2", _RAY_LOST[2]),
    "Inception-ResNet-v2, top layers": _ray_run_on(
        "Inception-ResNet V2", "80.8282.530.6691784", "80.82 | 82.53", "0.6691784"
    ),
    "InceptionV3, top layers": _ray_source("Table 2", _RAY_LOST[2]),
    "InceptionV3, all layers": _ray_source("Table 3", _RAY_LOST[3]),
    "DenseNet-201, top layers": _ray_source("Table 2", _RAY_LOST[2]),
    "DenseNet-201, all layers": _ray_source("Table 3", _RAY_LOST[3]),
    "InceptionV3 + DenseNet-201 ensemble": _ray_source(
        "Table 3",
        (
            "row 'Ensemble (Inceptionv3 and DenseNet-201)', its cells printed run together as 88.888.520.41156 "
            "(Table 3 has no Depth column): read 88.8 | 88.52 | 0.41156, as the results section gives the "
            "ensemble's validation and test accuracy as 88.8 % and 88.5 %, and the only other split that agrees "
            "with those, 88.5 | 20.41156, would make the loss unlike the other loss cells (0.6...); "
            f"{_RAY_PERCENT}"
        ),
    ),
}
_RAY_VALUES = {
    ("baseline CNN", "validation accuracy"): 0.7748,
    ("baseline CNN", "test accuracy"): 0.7654,
    ("Inception-ResNet-v2, top layers", "validation accuracy"): 0.8082,
    ("Inception-ResNet-v2, top layers", "test accuracy"): 0.8253,
    ("InceptionV3 + DenseNet-201 ensemble", "validation accuracy"): 0.888,
    ("InceptionV3 + DenseNet-201 ensemble", "test accuracy"): 0.8852,
    ("InceptionV3 + DenseNet-201 ensemble", "test loss"): 0.41156,
}

# Xue et al. 2018: each table is one metric row with a column per method; the rows here are those columns.
_XUE_TEXT = f"{_TEXTS}/003_9874cf07242249f9.txt"
_XUE_TABLE1 = {"Deeplab V3+": 0.77, "VGG+Adversarial": 0.80, "VGG+Adversarial+Ensemble": 0.81}
_XUE_TABLE2 = {"VGG": 0.37, "VGG+Multitask training": 0.43}
_XUE_TABLE3 = {"CE loss only": 0.88, "Triplet sampling & CE loss": 0.92}

# Menegola et al. 2017, Part 1: Section I-D gives each model's official validation score (the challenge's
# validation leaderboard, Section I-B); the text does not name the metric.
_MENEGOLA_TEXT = f"{_TEXTS}/004_a77e6fc3a1dc0e9c.txt"
_MENEGOLA_PART1 = (
    f"{_MENEGOLA}; {_MENEGOLA_TEXT}, Section I-D (Experiments): official validation score "
    "(ISIC 2017 Part 1 validation leaderboard; the text calls it a score and names no metric)"
)
_MENEGOLA_PART1_ROWS = {
    "VGG16 U-net": (0.753, "the first, VGG-16-based model"),
    "U-net, 8192-unit bottleneck": (
        0.783,
        "the best individual network (8192 neurons, 0.5 dropout, 220 epochs)",
    ),
    "BN U-net": (0.774, "the one without the fully-connected layer, with batch normalisation (220 epochs)"),
}

# Ha, Liu and Liu 2020 (SIIM-ISIC 2020, 1st place): not in ../shared/papers. Their figures are the abstract's,
# as the arXiv listing prints it; the code's README (github.com/haqishen/SIIM-ISIC-Melanoma-Classification-
# 1st-Place-Solution, HEAD 8250ca4) links the leaderboard and prints no figure.
_HA = (
    "Ha, Liu, Liu, Identifying Melanoma Images using EfficientNet Ensemble: Winning Solution to the "
    "SIIM-ISIC Melanoma Classification Challenge, arXiv:2010.05351"
)
_HA_ABSTRACT = (
    f"{_HA}, abstract: 'The winning submission scored 0.9600 AUC on cross validation and "
    "0.9490 AUC on private leaderboard' (the ensemble of the README's 18 models, 4 of them with "
    "metadata; melanoma AUC, ISIC 2020's score)"
)
_HA_SINGLE = (
    f"{_HA}: the per-model figures of the paper's body were not read (its text is not in "
    f"{_TEXTS}, and the copies found gave its abstract only); the repository's README prints none"
)
HA2020_META_ROW = "EfficientNet-B3 + metadata, 512 px (9c_meta_b3_768_512_ext_18ep)"

PAPERS = {
    "zhang2018": Paper(
        _ZHANG,
        (
            *_slots(
                "Table 1",
                list(_ZHANG_TABLE1),
                _ZHANG_METRICS,
                f"{_ZHANG}; {_ZHANG_TEXTS}, Table 1 (ISIC 2016 test set; DA N / Y: without / with "
                "augmentation)",
                _table(_ZHANG_TABLE1, _ZHANG_METRICS),
            ),
            *_slots(
                "Table 2",
                list(_ZHANG_TABLE2),
                _ZHANG_METRICS,
                f"{_ZHANG}; {_ZHANG_TEXTS}, Table 2 (ISIC 2016 test set; the rows other than SDL are the "
                "challenge leaderboard's, ranked by AP)",
                _table(_ZHANG_TABLE2, _ZHANG_METRICS),
            ),
        ),
    ),
    "ray2020": Paper(
        _RAY,
        (
            *(
                Figure(
                    "Table 1",
                    row,
                    "number of images",
                    count,
                    f"{_RAY}; {_RAY_TEXT}, Table 1 (counts for each type of lesion in HAM10000); the extraction "
                    "keeps 5 rows of the 7 lesion types the paper classifies: the other 2 rows are missing",
                )
                for row, count in _RAY_TABLE1.items()
            ),
            *_slots("Tables 2-3", _RAY_ROWS, _RAY_METRICS, _RAY_SOURCES, _RAY_VALUES),
        ),
    ),
    "xue2018": Paper(
        _XUE,
        (
            *_slots(
                "Table 1",
                list(_XUE_TABLE1),
                ["thresholded Jaccard"],
                f"{_XUE}; {_XUE_TEXT}, Table 1 (task 1, ISIC 2018 validation set; metric row "
                "'Threshold Jaccard')",
                {(row, "thresholded Jaccard"): value for row, value in _XUE_TABLE1.items()},
            ),
            *_slots(
                "Table 2",
                list(_XUE_TABLE2),
                ["Jaccard"],
                f"{_XUE}; {_XUE_TEXT}, Table 2 (task 2, ISIC 2018 validation set)",
                {(row, "Jaccard"): value for row, value in _XUE_TABLE2.items()},
            ),
            *_slots(
                "Table 3",
                list(_XUE_TABLE3),
                ["balanced accuracy"],
                f"{_XUE}; {_XUE_TEXT}, Table 3 (task 3, ISIC 2018 validation set, a single model each; "
                "metric row 'Balanced Accuracy')",
                {(row, "balanced accuracy"): value for row, value in _XUE_TABLE3.items()},
            ),
        ),
    ),
    "menegola2017": Paper(
        _MENEGOLA,
        (
            *(
                Figure("Part 1", row, "Jaccard", value, f"{_MENEGOLA_PART1}, {which}")
                for row, (value, which) in _MENEGOLA_PART1_ROWS.items()
            ),
            Figure(
                "Part 1",
                "each of the 4 final models",
                "Jaccard",
                "0.780–0.783",
                f"{_MENEGOLA_PART1}, the four models of the final submission, individually (a range)",
            ),
            Figure(
                "Part 1",
                "average of the 4 models",
                "Jaccard",
                0.793,
                f"{_MENEGOLA_PART1}, the final submission: the four models' outputs averaged",
            ),
            Figure("Part 3", "TTA + SVM stacking", "melanoma AUC", 0.874, _RECOD_PART3),
            Figure("Part 3", "TTA + SVM stacking", "seborrheic keratosis AUC", 0.943, _RECOD_PART3),
            Figure("Part 3", "TTA + SVM stacking", "mean AUC", 0.908, _RECOD_PART3),
        ),
    ),
    "ha2020": Paper(
        _HA,
        (
            Figure("Abstract", "ensemble of 18 models", "CV AUC", 0.96, _HA_ABSTRACT),
            Figure("Abstract", "ensemble of 18 models", "private leaderboard AUC", 0.949, _HA_ABSTRACT),
            Figure("Single models", HA2020_META_ROW, "CV AUC", None, _HA_SINGLE),
            Figure("Single models", HA2020_META_ROW, "private leaderboard AUC", None, _HA_SINGLE),
        ),
    ),
}

# What each paper trained and scored on, by task (the model cards' `training_data`), from the same texts.
TRAINING_DATA = {
    ("zhang2018", "classification"): "ISIC 2016 part 3, benign / malignant: 900 training and 379 test images "
    "(Zhang et al., Section 3)",
    ("ray2020", "classification"): "HAM10000, 7 classes: 10,015 images, split 7,210 / 1,803 / 1,002 for "
    "training, validation and test (Ray et al.)",
    ("xue2018", "segmentation"): "ISIC 2018 task 1: 2,594 training images with lesion masks, scored on the "
    "validation set (Xue et al.)",
    ("xue2018", "attributes"): "ISIC 2018 task 2: training images with 5 attribute masks, scored on the "
    "validation set (Xue et al.)",
    (
        "xue2018",
        "classification",
    ): "ISIC 2018 task 3, 7 classes: 10,015 images and 162 more from the Dermofit "
    "library, which dermnet cannot include (Xue et al.)",
    (
        "menegola2017",
        "segmentation",
    ): "ISIC 2017 part 1: 2,000 training images with lesion masks, scored on the "
    "official validation set (Menegola et al.)",
    (
        "menegola2017",
        "classification",
    ): "ISIC 2017 part 3, melanoma / keratosis / nevus: 2,000 training images "
    "and extra data of the authors' that dermnet does not have "
    "(Menegola et al.)",
    ("ha2020", "classification"): "the SIIM-ISIC 2020 training images and ISIC 2019's (which hold "
    "ISIC 2018's), 9 diagnoses, 5 folds (their code's dataset.py); scored by "
    "melanoma AUC on the 2020 test set's leaderboard (Ha, Liu and Liu)",
}

# The rows of PAPERS that are a registered dermnet model's (the model cards' `reported`), by model name.
MODEL_ROWS = {
    "sdl": ("zhang2018", [("Table 1", "SDL, no augmentation"), ("Table 1", "SDL, augmentation")]),
    "resnet50": (
        "zhang2018",
        [("Table 1", "ResNet-50, no augmentation"), ("Table 1", "ResNet-50, augmentation")],
    ),
    "resnet50x2": (
        "zhang2018",
        [("Table 1", "ResNet-50², no augmentation"), ("Table 1", "ResNet-50², augmentation")],
    ),
    "baseline_cnn": ("ray2020", [("Tables 2-3", "baseline CNN")]),
    "vgg16": ("ray2020", [("Tables 2-3", "VGG16, top layers")]),
    "inception_resnet_v2": ("ray2020", [("Tables 2-3", "Inception-ResNet-v2, top layers")]),
    "inception_v3": (
        "ray2020",
        [("Tables 2-3", "InceptionV3, top layers"), ("Tables 2-3", "InceptionV3, all layers")],
    ),
    "densenet201": (
        "ray2020",
        [("Tables 2-3", "DenseNet-201, top layers"), ("Tables 2-3", "DenseNet-201, all layers")],
    ),
    "ensemble": ("ray2020", [("Tables 2-3", "InceptionV3 + DenseNet-201 ensemble")]),
    "deeplabv3plus": ("xue2018", [("Table 1", "Deeplab V3+")]),
    "segan": ("xue2018", [("Table 1", "VGG+Adversarial")]),
    "attribute_net": ("xue2018", [("Table 2", "VGG+Multitask training")]),
    "triplet_resnet101": ("xue2018", [("Table 3", "Triplet sampling & CE loss")]),
    "unet_vgg16": ("menegola2017", [("Part 1", "VGG16 U-net")]),
    "unet_fc": ("menegola2017", [("Part 1", "U-net, 8192-unit bottleneck")]),
    "unet_bn": ("menegola2017", [("Part 1", "BN U-net")]),
    "ha2020_effnet": ("ha2020", [("Single models", HA2020_META_ROW)]),
}


def reported(model_name):
    """The published figures of a registered model's rows (`MODEL_ROWS`), every metric; () for none."""
    paper, rows = MODEL_ROWS.get(model_name, (None, ()))
    return tuple(f for f in PAPERS[paper].figures if (f.table, f.row) in rows) if paper else ()
