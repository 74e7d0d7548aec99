"""Patient and image metadata as a model input: Ha, Liu and Liu's encoding (SIIM-ISIC 2020, 1st place).

`encode_metadata(df)` turns the archive-vocabulary columns that the readers keep (`sex`, `age_approx`,
`anatom_site_general`, `patient_id`, and the image files themselves) into a float32 matrix
`[len(df), len(FEATURES)]`, in the order of `FEATURES`. It follows `get_meta_data` of the winners'
`dataset.py` (github.com/haqishen/SIIM-ISIC-Melanoma-Classification-1st-Place-Solution):

| feature | encoding | unknown |
| --- | --- | --- |
| `sex` | male 1, female 0 | -1 |
| `age_approx` | age / 90 | 0 |
| `n_images` | log(1 + images of the patient in `df`) | a row without `patient_id`: log(1 + 1) |
| `image_size` | log(bytes of the image file) | 0 |
| `site_<name>` | one-hot over `SITES`, and `site_nan` | `site_nan` = 1 |

The sites are fixed here, not read from the data (the winners took `pd.get_dummies` of their train and
test sites together, which gave these seven columns), so that every split encodes alike. The winners'
site column was ISIC 2020's `anatom_site_general_challenge` vocabulary, in which their ISIC 2019 CSVs
came too; dermnet maps the ISIC Archive's finer torso sites and HAM10000's `localization` values onto it
(`SITE_NAMES`: dermnet's mapping), and any other value to `site_nan`.

The image size is that of the file the rows name: the winners read Chris Deotte's resized JPEGs
(512-1024 px), dermnet the published files, so the feature's values differ from theirs (same rule).

The 9 training classes (`CLASSES`) are the winners' `target`: ISIC 2020 diagnoses and ISIC 2018-2019
labels mapped by `diagnosis_class`, in the sorted order their `diagnosis2idx` gives (melanoma is index 6).

Example:
>>> import pandas as pd
>>> rows = pd.DataFrame({"sex": ["male", None], "age_approx": ["45", ""], "patient_id": ["P1", "P1"],
...                      "anatom_site_general": ["posterior torso", "palms/soles"]})
>>> encode_metadata(rows)[:, :3].tolist()  # sex, age / 90, log(1 + 2 images of P1)
[[1.0, 0.5, 1.0986123085021973], [-1.0, 0.0, 1.0986123085021973]]
"""

import os

import numpy as np
import pandas as pd

SITES = ("head/neck", "lower extremity", "oral/genital", "palms/soles", "torso", "upper extremity")
FEATURES = ("sex", "age_approx", "n_images", "image_size", *(f"site_{s}" for s in SITES), "site_nan")

# Other vocabularies' sites onto ISIC 2020's (dermnet's mapping; the ISIC Archive's torso is split in three,
# HAM10000's `localization` names body parts). Values are compared in lower case.
SITE_NAMES = {
    **{site: site for site in SITES},
    **dict.fromkeys(
        ("anterior torso", "posterior torso", "lateral torso", "trunk", "back", "abdomen", "chest"), "torso"
    ),
    **dict.fromkeys(("head", "neck", "face", "scalp", "ear"), "head/neck"),
    **dict.fromkeys(("hand",), "upper extremity"),
    **dict.fromkeys(("foot",), "lower extremity"),
    **dict.fromkeys(("acral",), "palms/soles"),
    **dict.fromkeys(("genital", "oral"), "oral/genital"),
}

CLASSES = ("AK", "BCC", "BKL", "DF", "SCC", "VASC", "melanoma", "nevus", "unknown")
# The winners' `get_df`: ISIC 2020 diagnoses renamed, ISIC 2019 (which holds 2018's) labels as published
# but NV and MEL; dermnet adds HAM10000's names and lower case for the 2019 ones.
_DIAGNOSES = {
    "melanoma": "melanoma",
    "mel": "melanoma",
    "nevus": "nevus",
    "nv": "nevus",
    "seborrheic keratosis": "BKL",
    "lichenoid keratosis": "BKL",
    "solar lentigo": "BKL",
    "lentigo nos": "BKL",
    "bkl": "BKL",
    "cafe-au-lait macule": "unknown",
    "atypical melanocytic proliferation": "unknown",
    "unknown": "unknown",
    "unk": "unknown",
    "ak": "AK",
    "akiec": "AK",
    "bcc": "BCC",
    "df": "DF",
    "scc": "SCC",
    "vasc": "VASC",
}


def diagnosis_class(diagnosis):
    """The winners' class (`CLASSES`) of an ISIC 2020 `diagnosis` or an ISIC 2018/2019 label.

    Raises:
        ValueError: a diagnosis they did not train on.
    """
    name = _DIAGNOSES.get(str(diagnosis).strip().lower())
    if name is None:
        raise ValueError(
            f"diagnosis {diagnosis!r} is none of the SIIM-ISIC 2020 winners' classes "
            f"({', '.join(sorted(_DIAGNOSES))})"
        )
    return name


def _column(df, name):
    """`df[name]` as stripped text, missing values (and a missing column) as ''."""
    if name not in df:
        return pd.Series("", index=df.index)
    return df[name].fillna("").astype(str).str.strip()


def encode_metadata(df):
    """The float32 matrix `[len(df), len(FEATURES)]` of `df`'s rows (module docstring); a column that
    `df` lacks counts as unknown in every row, and an `image` path that is not a file has size 0."""
    sex = _column(df, "sex").str.lower().map({"male": 1.0, "female": 0.0}).fillna(-1.0).to_numpy()
    age = pd.to_numeric(_column(df, "age_approx"), errors="coerce").fillna(0.0).to_numpy() / 90
    patient = _column(df, "patient_id")
    # Images per patient in this table (the winners counted in their train table and their test table
    # apart); dermnet's splits keep a patient's images together, so a split counts them all.
    counts = patient.map(patient[patient != ""].value_counts()).fillna(1.0).to_numpy()
    paths = _column(df, "image")
    sizes = np.array([os.path.getsize(p) if p and os.path.isfile(p) else 0 for p in paths], dtype="float64")
    image_size = np.log(np.maximum(sizes, 1.0))  # log(1) = 0 for a file that is not there
    sites = _column(df, "anatom_site_general").str.lower().map(SITE_NAMES).fillna("nan")
    one_hot = np.stack([(sites == site).to_numpy() for site in (*SITES, "nan")], axis=1)
    return np.column_stack([sex, age, np.log1p(counts), image_size, one_hot]).astype("float32")
