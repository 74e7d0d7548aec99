"""Scoring a classifier on a data set it was not trained on (`dermnet evaluate RUN --dataset ph2`).

The data set's labels are mapped onto the model's classes: by `--classes` (`melanoma=mel,...`), or
by the data set record's `mapping` (`dermnet.datasets.Dataset.mapping`: PH2's nevi answer a model's
`nevus`, `nv` or `benign` class, its melanomas `melanoma`, `mel` or `malignant`). Every image of the
data set is scored, except the images the model trained on (the same ISIC id, whatever the data set:
ISIC 2019 holds HAM10000 and ISIC 2017; ids of other namings tell nothing across data sets) and those
whose label answers no class of the model; the report says how many of each and which mapping was used.

Example:
>>> mapping = class_mapping("ph2", ["common_nevus", "atypical_nevus", "melanoma"], ["mel", "nv", "bkl"])
>>> mapping
{'atypical_nevus': 'nv', 'common_nevus': 'nv', 'melanoma': 'mel'}
"""

import re

from dermnet import datasets
from dermnet.data.errors import DataError
from dermnet.data.load import load_dataset, load_splits
from dermnet.data.manifest import from_csv
from dermnet.evaluation.scoring import answers


def prepare(dataset, root, model_classes, trained_on, trained_root=None, explicit=None, predicts_masks=False):
    """What to score a model trained on `trained_on` (at `trained_root`) with, on `dataset`:
    (its rows, the report's line on them, the challenge that scores them or None, the classes to
    score). Classifiers: labels mapped by `explicit` ({label: class}) or the record's mapping."""
    df = from_csv(dataset, root) if str(dataset).endswith(".csv") else load_dataset(dataset, root)
    try:
        trained, validation, _ = load_splits(trained_on, trained_root)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot tell which images the model trained on, to leave them out: {err}") from None
    seen_ids = list(trained["image_id"]) + ([] if validation is None else list(validation["image_id"]))
    df, seen = unseen(df, seen_ids)
    if df.empty:
        raise ValueError(
            f"every image of {dataset} ({seen}) is one the model trained or validated on: nothing "
            "is left to score"
        )
    if predicts_masks:
        return df, describe(trained_on, dataset, {}, {}, seen), None, None
    mapping = class_mapping(dataset, df["label"], model_classes, explicit)
    df, left_out = map_labels(df, mapping, model_classes)
    challenge = datasets.challenge_of(str(dataset))
    if challenge is not None and not answers(challenge, model_classes):
        challenge = None  # e.g. ISIC 2019's 9 classes from a HAM10000 model: dermnet's scores instead
    scored = [name for name in model_classes if name in mapping.values()]
    return df, describe(trained_on, dataset, mapping, left_out, seen), challenge, scored


def parse_classes(text):
    """`--classes`: "label=class,label=class" as {label: class}."""
    mapping = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        label, sep, name = (side.strip() for side in item.partition("="))
        if not sep or not label or not name:
            raise ValueError(f"--classes: {item!r} is not DATA_LABEL=MODEL_CLASS")
        if label in mapping:
            raise ValueError(f"--classes: {label} is mapped twice")
        mapping[label] = name
    if not mapping:
        raise ValueError("--classes: give DATA_LABEL=MODEL_CLASS pairs, e.g. melanoma=mel,common_nevus=nv")
    return mapping


def class_mapping(dataset, labels, model_classes, explicit=None):
    """{data label: model class} for the `labels` of `dataset` (a name or a manifest CSV) that the
    model answers: `explicit` ({label: class}) checked against both, or else the model's class of
    the label's own name (any case), or else the first of the record's names for it that the model
    has. Labels left out are not scored."""
    labels, model_classes = sorted(set(labels)), list(model_classes)
    if explicit is not None:
        unknown_labels = sorted(set(explicit) - set(labels))
        unknown_classes = sorted(set(explicit.values()) - set(model_classes))
        if unknown_labels or unknown_classes:
            raise ValueError(
                f"--classes: {dataset} has no label {', '.join(unknown_labels)} (its labels: "
                f"{', '.join(labels)})"
                if unknown_labels
                else f"--classes: the model has no class {', '.join(unknown_classes)} (its classes: "
                f"{', '.join(model_classes)})"
            )
        return dict(explicit)
    candidates = dict(datasets.DATASETS[dataset].mapping) if dataset in datasets.DATASETS else {}
    by_name = {str(name).lower(): name for name in model_classes}
    mapping = {}
    for label in labels:  # a class of the model's own name first, then the record's names for it
        names = (str(label).lower(), *candidates.get(label, ()))
        match = next((by_name[name] for name in names if name in by_name), None)
        if match is not None:
            mapping[label] = match
    if not mapping:
        raise ValueError(
            f"none of {dataset}'s labels ({', '.join(labels)}) answers a class of the model "
            f"({', '.join(model_classes)}): give the mapping, --classes LABEL=CLASS,..."
        )
    return mapping


def map_labels(df, mapping, model_classes):
    """(the rows of `df` whose label is mapped, with the model's class as label and the model's
    classes as class list; {label: count} of the rows left out)."""
    kept = df["label"].isin(list(mapping))
    left_out = df.loc[~kept, "label"].value_counts().to_dict()
    mapped = df[kept].assign(original_label=df.loc[kept, "label"], label=df.loc[kept, "label"].map(mapping))
    if mapped.empty:
        raise DataError(
            f"{df.attrs.get('dataset', 'the data set')}: no image has a label that the mapping "
            f"{mapping} answers"
        )
    mapped.attrs = {**df.attrs, "classes": tuple(model_classes)}
    return mapped, left_out


_ISIC_ID = re.compile(r"^ISIC_\d{7}")


def isic_id(image_id):
    """An ISIC image's id as the archive knows it (ISIC 2019 names some `ISIC_nnnnnnn_downsampled`),
    or None for an id of another naming, which tells nothing across data sets."""
    match = _ISIC_ID.match(str(image_id))
    return match[0] if match else None


def unseen(df, seen_ids):
    """(the rows of `df` whose image the model did not see, how many it did see): by ISIC id."""
    seen = {isic_id(i) for i in seen_ids} - {None}
    was_seen = df["image_id"].map(isic_id).isin(seen)
    return df[~was_seen], int(was_seen.sum())


def describe(trained_on, dataset, mapping, left_out, seen):
    """The report's line on what a cross-data-set evaluation scored."""
    line = f"trained on {trained_on}, scored on every image of {dataset}"
    if mapping:
        line += f"; its labels as the model's classes: {', '.join(f'{label} → {name}' for label, name in mapping.items())}"
    if left_out:
        line += "; left out, answering no class of the model: " + ", ".join(
            f"{count} {label}" for label, count in sorted(left_out.items())
        )
    if seen:
        line += f"; left out, as the model trained on them: {seen} images"
    return line
