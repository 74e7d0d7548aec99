"""Reading ground truths and submissions in the ISIC challenges' file formats, by the rules of the
challenges' own scoring package (isic-challenge-scoring 5.8.0), with each error naming the file.

Classification CSVs have a header whose id column is `image` or `lesion_id`; ids may end in `.jpg`
(dropped, in any case); a trailing delimiter on every row is fine. A submission must hold exactly
the truth's categories, one value in [0, 1] per cell, written as a decimal number ("1" and "0" are
refused, as the package refuses integer columns), each id once, every id of the truth and no other.
A truth's `score_weight` and `validation_weight` columns weigh its rows (1 where absent), and image
ISIC_0035068 weighs 0, as the package rules.

Beyond the package (marked "dermnet" below): the id columns of the formats published with each
challenge (`image_id`, `image_name`, `isic_id`), ISIC 2016's and 2017's headerless files (their
original format: the id, then the categories in the challenge's order), and DataFrames.

Mask folders: one truth file per image (`ISIC_nnnnnnn...`; task 2: `..._attribute_<name>...`), and
the one submitted file whose name holds the image's number (and the attribute's name); any image
format Pillow opens, single-channel, the truth's size; a pixel is lesion above 128.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

OFFICIAL_ID_COLUMNS = ("image", "lesion_id")
PUBLISHED_ID_COLUMNS = ("image_id", "image_name", "isic_id")  # dermnet: 2016-2017, 2020 and 2024 files
WEIGHT_COLUMNS = ("score_weight", "validation_weight")
UNSCORED_IMAGES = ("ISIC_0035068",)  # the package weighs it 0 wherever it appears
MASK_THRESHOLD = 128  # a mask file's pixel is lesion above it
IGNORED_TRUTH_FILES = ("ATTRIBUTION.txt", "LICENSE.txt")


class SubmissionError(ValueError):
    """A ground truth or submission that cannot be scored; the message names the file and the problem."""


def read_truth(source, categories, headerless_columns=(), labels=None):
    """A truth CSV (path or DataFrame) as `(ids, values [N, K] in the order of categories, score
    weights [N], validation weights [N])`.

    Args:
        categories: the category columns the challenge scores, in its order.
        headerless_columns: dermnet: the category columns of the challenge's headerless format.
        labels: dermnet: for a single-category headerless truth of text labels, `{label: value}`
            (ISIC 2016's `benign`/`malignant`).
    """
    table, where = _table(source, headerless_columns)
    if (
        labels is not None
        and len(categories) == 1
        and not pd.api.types.is_numeric_dtype(table[categories[0]])
    ):
        column = table[categories[0]].astype(str).str.strip()
        unknown = sorted(set(column) - set(labels))
        if unknown:
            raise SubmissionError(f"{where}: labels are {', '.join(labels)}; found {unknown[:5]}")
        table[categories[0]] = column.map(labels).astype("float64")
    extra = [c for c in table.columns if c not in (*categories, *WEIGHT_COLUMNS)]
    missing = [c for c in categories if c not in table.columns]
    if missing or extra:
        raise SubmissionError(
            f"{where}: the truth's columns are {', '.join(map(str, table.columns))}; this "
            f"challenge scores {', '.join(categories)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (not scored: {extra})" if extra else "")
        )
    values = _numbers(table[list(categories)], where)
    not_binary = ~np.isin(values, (0.0, 1.0))
    if not_binary.any():  # scikit-learn's own error would name neither the file nor the row
        row, k = np.argwhere(not_binary)[0]
        raise SubmissionError(
            f"{where}: the truth's values are 0 or 1; column {categories[k]} holds "
            f"{table[categories[k]].iloc[row]} in the row of {table.index[row]}"
            + (f" (and {not_binary.sum() - 1} more cells)" if not_binary.sum() > 1 else "")
        )
    _unique(table.index, where)
    weights = {
        name: (_numbers(table[[name]], where)[:, 0] if name in table.columns else np.ones(len(table)))
        for name in WEIGHT_COLUMNS
    }
    unscored = np.isin(table.index, UNSCORED_IMAGES)
    return (
        table.index.to_numpy(),
        values,
        np.where(unscored, 0.0, weights["score_weight"]),
        np.where(unscored, 0.0, weights["validation_weight"]),
    )


def read_predictions(source, categories, truth_ids, headerless_columns=()):
    """A submission CSV (path or DataFrame) as values `[N, K]` in the order of `truth_ids` and
    `categories`, checked by the package's rules (module docstring)."""
    table, where = _table(source, headerless_columns)
    table.index = table.index.str.replace(r"\.jpg$", "", case=False, regex=True)
    _unique(table.index, where)
    missing_columns = [c for c in categories if c not in table.columns]
    extra_columns = [c for c in table.columns if c not in categories]
    if missing_columns or extra_columns:
        raise SubmissionError(
            f"{where}: the columns must be exactly {', '.join(categories)}; "
            + "; ".join(
                text
                for text in (
                    f"missing {missing_columns}" if missing_columns else "",
                    f"extra {extra_columns}" if extra_columns else "",
                )
                if text
            )
        )
    table = table[list(categories)]
    empty = table.index[table.isna().any(axis=1)].tolist()
    if empty:
        raise SubmissionError(f"{where}: missing values for the images {empty[:10]}")
    not_decimal = [c for c in categories if table[c].dtype != np.float64]
    if not_decimal:
        raise SubmissionError(
            f"{where}: the columns {not_decimal} hold values that are not decimal numbers "
            "(write probabilities such as 1.0 or 0.25; the official scoring refuses integers)"
        )
    outside = table.index[((table < 0) | (table > 1)).any(axis=1)].tolist()
    if outside:
        raise SubmissionError(f"{where}: values outside [0, 1] for the images {outside[:10]}")
    missing = pd.Index(truth_ids).difference(table.index).tolist()
    extra = table.index.difference(pd.Index(truth_ids)).tolist()
    if missing or extra:
        raise SubmissionError(
            f"{where}: "
            + "; ".join(
                text
                for text in (
                    f"{len(missing)} images of the truth have no prediction, e.g. {missing[:5]}"
                    if missing
                    else "",
                    f"{len(extra)} predicted images are not in the truth, e.g. {extra[:5]}" if extra else "",
                )
                if text
            )
        )
    return table.loc[list(truth_ids)].to_numpy(dtype="float64")


def _table(source, headerless_columns):
    """The CSV as a DataFrame indexed by its id column (as text), and a name for it in errors."""
    if isinstance(source, pd.DataFrame):
        table, where = source.copy(), "the DataFrame"
        header = True
    else:
        where = str(source)
        try:
            # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark, which pandas drops, and so
            # the official scoring.
            first_line = Path(source).read_text(encoding="utf-8-sig").splitlines()[0]
        except IndexError:
            raise SubmissionError(f"{where}: the file is empty") from None
        except UnicodeDecodeError:
            raise SubmissionError(f"{where}: not UTF-8 text (a CSV file is expected)") from None
        except OSError as err:
            raise SubmissionError(f"{where}: cannot read it ({err.strerror or err})") from None
        cells = [cell.strip() for cell in first_line.split(",")]
        header = any(cell in (*OFFICIAL_ID_COLUMNS, *PUBLISHED_ID_COLUMNS) for cell in cells)
        text_ids = {name: str for name in (*OFFICIAL_ID_COLUMNS, *PUBLISHED_ID_COLUMNS)}
        try:
            table = pd.read_csv(
                source, header=0 if header else None, index_col=False, dtype=text_ids if header else {0: str}
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise SubmissionError(f"{where}: not a readable CSV ({err})") from None
    if not header:  # dermnet: a challenge's headerless format, its columns by their published order
        table = table.loc[
            :, ~(table.isna().all() & (table.columns > 0))
        ]  # a trailing delimiter's empty column
        if not headerless_columns or table.shape[1] != 1 + len(headerless_columns):
            expected = f"or the headerless id, {', '.join(headerless_columns)}" if headerless_columns else ""
            raise SubmissionError(
                f"{where}: no header naming the id column ({', '.join(OFFICIAL_ID_COLUMNS)}) "
                f"{expected}; found {table.shape[1]} columns without one"
            )
        table.columns = ["image", *headerless_columns]
    id_column = next((c for c in (*OFFICIAL_ID_COLUMNS, *PUBLISHED_ID_COLUMNS) if c in table.columns), None)
    if id_column is None:
        raise SubmissionError(
            f"{where}: no id column ({', '.join(OFFICIAL_ID_COLUMNS + PUBLISHED_ID_COLUMNS)}); "
            f"its columns are {', '.join(map(str, table.columns))}"
        )
    table[id_column] = table[id_column].astype(str).str.strip()
    return table.set_index(id_column), where


def _unique(ids, where):
    repeated = ids[ids.duplicated()].unique().tolist()
    if repeated:
        raise SubmissionError(f"{where}: image ids listed twice: {repeated[:5]}")


def _numbers(table, where):
    try:
        values = table.astype("float64").to_numpy()
    except (TypeError, ValueError) as err:
        raise SubmissionError(f"{where}: a value of {list(table.columns)} is not a number ({err})") from None
    if np.isnan(values).any():
        rows = table.index[np.isnan(values).any(axis=1)].tolist()
        raise SubmissionError(f"{where}: missing values for the images {rows[:10]}")
    return values


def read_mask_pairs(truth_folder, prediction_folder, attributes=False):
    """The masks of two folders, paired as the package pairs them (module docstring): a list of
    `(image_id, attribute or None, truth [H, W] bool, prediction [H, W] bool)`, in the truth's file order."""
    truth_folder, prediction_folder = Path(truth_folder), Path(prediction_folder)
    for folder in (truth_folder, prediction_folder):
        if not folder.is_dir():
            raise SubmissionError(f"{folder}: not a folder of masks")
    predictions = sorted(prediction_folder.iterdir())
    pairs = []
    for truth_file in sorted(truth_folder.iterdir()):
        if truth_file.name in IGNORED_TRUTH_FILES:
            continue
        image_id = re.search(r"ISIC_[0-9]{7}", truth_file.stem)
        if not image_id:
            raise SubmissionError(
                f"{truth_file}: not a ground truth mask (its name holds no ISIC_nnnnnnn id)"
            )
        attribute = re.search(r"attribute_([a-z_]+)", truth_file.stem)
        if attributes and not attribute:
            raise SubmissionError(f"{truth_file}: a task 2 truth is named ISIC_nnnnnnn_attribute_<name>")
        attribute = attribute.group(1) if attribute else None
        number = image_id.group(0).split("_")[1]
        matches = [p for p in predictions if number in p.stem and (attribute is None or attribute in p.stem)]
        if len(matches) != 1:
            raise SubmissionError(
                f"{prediction_folder}: {len(matches)} files match {truth_file.name} (expected one "
                f"whose name holds {number}{' and ' + attribute if attribute else ''})"
                + (f": {[p.name for p in matches][:5]}" if matches else "")
            )
        truth = read_mask_file(truth_file)
        prediction = read_mask_file(matches[0])
        if prediction.shape != truth.shape:
            raise SubmissionError(
                f"{matches[0]}: the mask is {prediction.shape[1]}×{prediction.shape[0]} pixels; "
                f"its truth {truth_file.name} is {truth.shape[1]}×{truth.shape[0]}"
            )
        pairs.append((image_id.group(0), attribute, truth > MASK_THRESHOLD, prediction > MASK_THRESHOLD))
    if not pairs:
        raise SubmissionError(f"{truth_folder}: no ground truth masks")
    return pairs


def read_mask_file(path):
    """A single-channel mask file as `uint8` `[H, W]`, as the package reads it (Pillow; a 1-bit
    image as 0/255)."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode == "1":
                image = image.convert("L")
            if image.mode != "L":
                raise SubmissionError(
                    f"{path}: the mask is not single-channel greyscale (its mode is {image.mode})"
                )
            return np.asarray(image)
    except (UnidentifiedImageError, OSError) as err:
        raise SubmissionError(f"{path}: not a readable image ({err})") from None
