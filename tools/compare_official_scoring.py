"""Compares `dermnet.evaluation.score` with the ISIC challenges' own scoring package on random
cases and on the real ground truths of `../shared/reference`, metric by metric.

The package (isic-challenge-scoring) needs Python >= 3.13 and numpy < 2.5, so it runs in a virtual
environment of its own, in a subprocess; dermnet runs here. Make that environment once:

    python3.13 -m venv /tmp/isic-venv
    /tmp/isic-venv/bin/pip install "isic-challenge-scoring==5.8.0" "numpy<2.5"

then run, from the repository root:

    python tools/compare_official_scoring.py --official-python /tmp/isic-venv/bin/python [--cases 300]

Every case is written as the package reads it (CSV files with an `image` header, folders of PNG
masks) and scored by both. Values must agree to 1e-12 (NaN with NaN); a case the package refuses
must be refused by dermnet too. Prints a summary; exits 1 on any difference.
"""

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dermnet.evaluation import SubmissionError, score
from dermnet.evaluation.scoring import CHALLENGES

REPOSITORY = Path(__file__).resolve().parents[1]
REFERENCE = REPOSITORY.parent / "shared" / "reference"
# The target metric the package is run with for each classification challenge.
PACKAGE_METRIC = {
    "isic2016": "ap",
    "isic2017": "auc",
    "isic2018_task3": "balanced_accuracy",
    "isic2019": "balanced_accuracy",
    "isic2020": "auc",
    "isic2024": "auc",
}

OFFICIAL_SCRIPT = r"""
import json, sys, warnings
from pathlib import Path
warnings.simplefilter("ignore")
from isic_challenge_scoring import task2
from isic_challenge_scoring.classification import ClassificationMetric, ClassificationScore
from isic_challenge_scoring.segmentation import SegmentationScore

def plain(value):
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return None if value != value else float(value)

results = {}
for case in json.loads(Path(sys.argv[1]).read_text()):
    try:
        if case["kind"] == "classification":
            s = ClassificationScore.from_file(Path(case["truth"]), Path(case["predictions"]),
                                              ClassificationMetric(case["metric"]))
            d = s.to_dict(rocs=False)
            out = {"overall": d["overall"], "validation": d["validation"], "per_category": d["per_category"],
                   "macro_average": d["macro_average"], "aggregate": d["aggregate"]}
        elif case["kind"] == "segmentation":
            s = SegmentationScore.from_dir(Path(case["truth"]), Path(case["predictions"]))
            out = {"overall": s.overall, "validation": s.validation, "macro_average": s.macro_average.to_dict()}
        else:
            out = task2.score(Path(case["truth"]), Path(case["predictions"]))
        results[case["name"]] = {"scores": plain(out)}
    except Exception as error:
        results[case["name"]] = {"error": f"{type(error).__name__}: {error}"}
print(json.dumps(results))
"""


def flat_official(kind, official, categories):
    """The package's nested answer under dermnet's flat keys."""
    if kind == "segmentation":
        return {
            "overall": official["overall"],
            "validation": official["validation"],
            **official["macro_average"],
        }
    if kind == "attributes":
        flat = {
            "overall": official["overall"],
            "jaccard": official["micro_average"]["jaccard"],
            "dice": official["micro_average"]["dice"],
        }
        for attribute, values in official.items():
            if attribute not in ("overall", "micro_average"):
                flat.update({f"jaccard_{attribute}": values["jaccard"], f"dice_{attribute}": values["dice"]})
        return flat
    flat = {"overall": official["overall"], "validation": official["validation"], **official["macro_average"]}
    if len(categories) > 1:
        flat.update(official["aggregate"])
    for metric, values in official["per_category"].items():  # a DataFrame's dict: {metric: {category: value}}
        flat.update({f"{metric}_{category}": value for category, value in values.items()})
    return flat


def write_classification(folder, name, categories, truth, predictions, ids, weights=None, shuffle=None):
    truth_table = pd.DataFrame(truth, columns=categories).assign(image=ids)[["image", *categories]]
    if weights is not None:
        truth_table["score_weight"], truth_table["validation_weight"] = weights
    # Sorted by id, as the published truths are: the package sorts the rows but not the weights, so
    # on a truth in another order it weighs each image with another image's weight.
    truth_table = truth_table.sort_values("image")
    prediction_table = pd.DataFrame(predictions, columns=categories).assign(image=ids)[["image", *categories]]
    if shuffle is not None:
        prediction_table = prediction_table.iloc[shuffle]
    truth_path, prediction_path = folder / f"{name}_truth.csv", folder / f"{name}_predictions.csv"
    truth_table.to_csv(truth_path, index=False, float_format="%.17g")
    prediction_table.to_csv(prediction_path, index=False, float_format="%.17g")
    return truth_path, prediction_path


def random_classification(rng, folder, index):
    challenge = CHALLENGES[
        ["isic2016", "isic2017", "isic2018_task3", "isic2019", "isic2020", "isic2024"][index % 6]
    ]
    categories = list(challenge.categories)
    k, n = len(categories), int(rng.integers(4, 80))
    if challenge.single_label:
        # Now and then a class is absent (the package raises there; dermnet gives NaN).
        present = rng.choice(k, size=k if rng.random() < 0.8 else int(rng.integers(1, k)), replace=False)
        truth = np.eye(k)[np.concatenate([present, rng.choice(present, n)])]
    else:
        truth = (rng.random((n, k)) < rng.uniform(0.05, 0.6)).astype(float)
        if k == 2:  # ISIC 2017: melanoma and keratosis exclude each other
            truth[truth[:, 0] == 1, 1] = 0
    n = len(truth)
    style = rng.integers(0, 3)
    if style == 0:  # ties: a coarse grid, 0.5 included
        predictions = rng.integers(0, 11, (n, k)) / 10
    elif style == 1:  # informative
        predictions = np.clip(truth * rng.uniform(0, 0.6) + rng.random((n, k)) * 0.7, 0, 1)
    else:
        predictions = rng.random((n, k))
    ids = [f"ISIC_{1000000 + i:07d}" for i in rng.permutation(n)]
    if rng.random() < 0.2:
        ids[0] = "ISIC_0035068"  # the image the package weighs 0
    weights = None
    if rng.random() < 0.4:
        weights = (
            rng.choice([0.0, 1.0, 0.5, 2.0], n, p=[0.15, 0.6, 0.15, 0.1]),
            rng.choice([0.0, 1.0], n, p=[0.3, 0.7]),
        )
    shuffle = rng.permutation(n) if rng.random() < 0.5 else None
    name = f"random_{index:04d}_{challenge.name}"
    truth_path, prediction_path = write_classification(
        folder, name, categories, truth, predictions, ids, weights, shuffle
    )
    return {
        "name": name,
        "kind": "classification",
        "challenge": challenge.name,
        "categories": categories,
        "truth": str(truth_path),
        "predictions": str(prediction_path),
        "metric": PACKAGE_METRIC[challenge.name],
    }


def random_masks(rng, folder, index, attributes):
    name = f"random_{index:04d}_{'task2' if attributes else 'task1'}"
    truth_folder, prediction_folder = folder / name / "truth", folder / name / "predictions"
    truth_folder.mkdir(parents=True)
    prediction_folder.mkdir(parents=True)
    names = list(CHALLENGES["isic2018_task2"].categories) if attributes else [None]
    for image in range(int(rng.integers(1, 6))):
        height, width = int(rng.integers(4, 40)), int(rng.integers(4, 40))
        number = f"{int(rng.integers(0, 10**7)):07d}"
        for attribute in names:
            values = [0, 127, 128, 129, 255]
            truth = rng.choice([0, 255], (height, width)) * (rng.random() < 0.8)  # some empty
            prediction = rng.choice(values, (height, width)) if rng.random() < 0.7 else truth
            stem = f"ISIC_{number}" + (f"_attribute_{attribute}" if attribute else "_segmentation")
            Image.fromarray(truth.astype(np.uint8), "L").save(truth_folder / f"{stem}.png")
            Image.fromarray(prediction.astype(np.uint8), "L").save(
                prediction_folder / f"{stem}_prediction.png"
            )
    return {
        "name": name,
        "kind": "attributes" if attributes else "segmentation",
        "challenge": "isic2018_task2" if attributes else "isic2018_task1",
        "categories": [],
        "truth": str(truth_folder),
        "predictions": str(prediction_folder),
    }


def real_cases(rng, folder):
    """The real ground truths of ../shared/reference, with RECOD Titans' ISIC 2017 submission where
    it exists and random predictions elsewhere, written in the package's format; dermnet reads the
    original files where they differ (headerless 2016, `image_id` 2017)."""
    truths = REFERENCE / "ground_truth"
    cases = []
    sources = [
        ("isic2016", f, None)
        for f in ("ISBI2016_ISIC_Part3_Test_GroundTruth.csv", "ISBI2016_ISIC_Part3_Training_GroundTruth.csv")
    ]
    sources += [
        ("isic2017", "ISIC-2017_Test_v2_Part3_GroundTruth.csv", "isbi2017-titans-testv2-rc36xtrm.txt"),
        ("isic2017", "ISIC-2017_Validation_Part3_GroundTruth.csv", "isbi2017-titans-val-rc36xtrm.txt"),
        ("isic2017", "ISIC-2017_Training_Part3_GroundTruth.csv", None),
        ("isic2018_task3", "ISIC2018_Task3_Test_GroundTruth.csv", None),
    ]
    for challenge, truth_name, submission in sources:
        categories = list(CHALLENGES[challenge].categories)
        if challenge == "isic2016":
            table = pd.read_csv(
                truths / truth_name, header=None, names=["image", "label"], dtype={"label": str}
            )
            truth = table["label"].isin(["1", "malignant"]).to_numpy(dtype=float)[:, None]
        else:
            table = pd.read_csv(truths / truth_name).rename(columns={"image_id": "image"})
            truth = table[categories].to_numpy()
        ids = table["image"].tolist()
        if submission:
            submitted = pd.read_csv(REFERENCE / "predictions" / submission, header=None, index_col=0)
            predictions = submitted.loc[ids].to_numpy()
        else:
            predictions = rng.random((len(ids), len(categories)))
        name = f"real_{truth_name.split('.')[0]}"
        truth_path, prediction_path = write_classification(folder, name, categories, truth, predictions, ids)
        dermnet_truth = truths / truth_name  # the published file itself
        dermnet_predictions = REFERENCE / "predictions" / submission if submission else prediction_path
        cases.append(
            {
                "name": name,
                "kind": "classification",
                "challenge": challenge,
                "categories": categories,
                "truth": str(truth_path),
                "predictions": str(prediction_path),
                "dermnet_truth": str(dermnet_truth),
                "dermnet_predictions": str(dermnet_predictions),
                "metric": PACKAGE_METRIC[challenge],
            }
        )
    return cases


def format_cases(folder):
    """Files that test the reading rules: each accepted by both with the same scores, or refused by both."""
    truth = "image,MEL,NV\nISIC_0000001,1.0,0.0\nISIC_0000002,0.0,1.0\nISIC_0000003,0.0,1.0\n"
    submissions = {
        "plain": "image,MEL,NV\nISIC_0000001,0.9,0.1\nISIC_0000002,0.2,0.8\nISIC_0000003,0.6,0.4\n",
        "jpg_ids": "image,MEL,NV\nISIC_0000001.jpg,0.9,0.1\nISIC_0000002.JPG,0.2,0.8\nISIC_0000003,0.6,0.4\n",
        "trailing_delimiter": "image,MEL,NV\nISIC_0000001,0.9,0.1,\nISIC_0000002,0.2,0.8,\nISIC_0000003,0.6,0.4,\n",
        "columns_reordered": "NV,image,MEL\n0.1,ISIC_0000001,0.9\n0.8,ISIC_0000002,0.2\n0.4,ISIC_0000003,0.6\n",
        "out_of_range": "image,MEL,NV\nISIC_0000001,1.2,0.1\nISIC_0000002,0.2,0.8\nISIC_0000003,0.6,0.4\n",
        "extra_column": "image,MEL,NV,BCC\nISIC_0000001,0.9,0.1,0.0\nISIC_0000002,0.2,0.8,0.0\n"
        "ISIC_0000003,0.6,0.4,0.0\n",
        "missing_column": "image,MEL\nISIC_0000001,0.9\nISIC_0000002,0.2\nISIC_0000003,0.6\n",
        "integers": "image,MEL,NV\nISIC_0000001,1,0\nISIC_0000002,0,1\nISIC_0000003,1,0\n",
        "missing_row": "image,MEL,NV\nISIC_0000001,0.9,0.1\nISIC_0000002,0.2,0.8\n",
        "extra_row": "image,MEL,NV\nISIC_0000001,0.9,0.1\nISIC_0000002,0.2,0.8\nISIC_0000003,0.6,0.4\n"
        "ISIC_0000004,0.6,0.4\n",
        "repeated_row": "image,MEL,NV\nISIC_0000001,0.9,0.1\nISIC_0000002,0.2,0.8\nISIC_0000002,0.2,0.8\n"
        "ISIC_0000003,0.6,0.4\n",
        "empty_cell": "image,MEL,NV\nISIC_0000001,0.9,\nISIC_0000002,0.2,0.8\nISIC_0000003,0.6,0.4\n",
        "no_header": "ISIC_0000001,0.9,0.1\nISIC_0000002,0.2,0.8\nISIC_0000003,0.6,0.4\n",
        "text_value": "image,MEL,NV\nISIC_0000001,high,0.1\nISIC_0000002,0.2,0.8\nISIC_0000003,0.6,0.4\n",
    }
    (folder / "format_truth.csv").write_text(truth)
    (folder / "format_truth_lesion.csv").write_text(truth.replace("image,", "lesion_id,"))
    cases = []
    for name, text in {
        **submissions,
        "lesion_id": submissions["plain"].replace("image,", "lesion_id,"),
    }.items():
        (folder / f"format_{name}.csv").write_text(text)
        truth_file = "format_truth_lesion.csv" if name == "lesion_id" else "format_truth.csv"
        cases.append(
            {
                "name": f"format_{name}",
                "kind": "classification",
                "challenge": "format",
                "categories": ["MEL", "NV"],
                "truth": str(folder / truth_file),
                "predictions": str(folder / f"format_{name}.csv"),
                "metric": "balanced_accuracy",
            }
        )
    masks = {
        "png": ("L", ".png"),
        "jpeg": ("L", ".jpg"),
        "one_bit": ("1", ".png"),
        "rgb": ("RGB", ".png"),
        "number_only": ("L", ".png"),
        "wrong_size": ("L", ".png"),
        "two_matches": ("L", ".png"),
    }
    rng = np.random.default_rng(1)
    truth_mask = (rng.random((20, 30)) < 0.4) * 255
    for name, (mode, suffix) in masks.items():
        truth_folder, prediction_folder = (
            folder / f"masks_{name}" / "truth",
            folder / f"masks_{name}" / "predictions",
        )
        truth_folder.mkdir(parents=True)
        prediction_folder.mkdir(parents=True)
        Image.fromarray(truth_mask.astype(np.uint8), "L").save(truth_folder / "ISIC_0000001_segmentation.png")
        predicted = np.roll(truth_mask, 2, axis=1).astype(np.uint8)
        if name == "wrong_size":
            predicted = predicted[:10]
        image = Image.fromarray(predicted, "L").convert(mode)
        image.save(
            prediction_folder / (("0000001" if name == "number_only" else "ISIC_0000001_prediction") + suffix)
        )
        if name == "two_matches":
            image.save(prediction_folder / "ISIC_0000001_copy.png")
        cases.append(
            {
                "name": f"masks_{name}",
                "kind": "segmentation",
                "challenge": "isic2018_task1",
                "categories": [],
                "truth": str(truth_folder),
                "predictions": str(prediction_folder),
            }
        )
    return cases


def same(a, b):
    if (
        a is None
        or b is None
        or (isinstance(a, float) and math.isnan(a))
        or (isinstance(b, float) and math.isnan(b))
    ):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return abs(a - b) <= 1e-12


def score_format_case(case):
    """A two-category case scored as the package scores any truth: the truth's columns are the categories."""
    from dermnet.evaluation.scoring import Challenge, _classification
    from dermnet.evaluation.submissions import read_predictions, read_truth

    challenge = Challenge("format", "classification", ("MEL", "NV"), "balanced_accuracy", single_label=True)
    ids, truth, weights, validation_weights = read_truth(case["truth"], challenge.categories)
    predictions = read_predictions(case["predictions"], challenge.categories, ids)
    return _classification(challenge, truth, predictions, weights, validation_weights)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--official-python", required=True, help="a Python with isic-challenge-scoring installed"
    )
    parser.add_argument(
        "--cases", type=int, default=300, help="random classification cases (masks: a fifth each)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        cases = [random_classification(rng, folder, i) for i in range(args.cases)]
        cases += [
            random_masks(rng, folder, i, attributes=i % 2 == 1) for i in range(2 * max(1, args.cases // 5))
        ]
        cases += format_cases(folder)
        if REFERENCE.is_dir():
            cases += real_cases(rng, folder)
        (folder / "cases.json").write_text(json.dumps(cases))
        version = subprocess.run(
            [
                args.official_python,
                "-c",
                "import importlib.metadata as m; print(m.version('isic-challenge-scoring'))",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        answer = subprocess.run(
            [args.official_python, "-c", OFFICIAL_SCRIPT, str(folder / "cases.json")],
            capture_output=True,
            text=True,
        )
        if answer.returncode:
            sys.exit(f"the official package failed:\n{answer.stderr}")
        official = json.loads(answer.stdout)
        compared, differences, refused_by_both, refused_official_only = 0, [], 0, []
        for case in cases:
            theirs = official[case["name"]]
            try:
                ours = (
                    score_format_case(case)
                    if case["challenge"] == "format"
                    else score(
                        case["challenge"],
                        case.get("dermnet_truth", case["truth"]),
                        case.get("dermnet_predictions", case["predictions"]),
                    )
                )
            except SubmissionError as error:
                ours = error
            if "error" in theirs:
                if isinstance(ours, Exception):
                    refused_by_both += 1
                else:
                    refused_official_only.append((case["name"], theirs["error"]))
                continue
            if isinstance(ours, Exception):
                differences.append((case["name"], "dermnet refused it", str(ours)))
                continue
            expected = flat_official(case["kind"], theirs["scores"], case["categories"])
            if case["challenge"] == "isic2024":  # the package has no ISIC 2024 metric: its per-category ones
                expected = {k: v for k, v in expected.items() if k not in ("overall", "validation")}
            for key, value in expected.items():
                compared += 1
                if key not in ours or not same(ours[key], value):
                    differences.append((case["name"], key, f"dermnet {ours.get(key)} official {value}"))
    kinds = pd.Series([c["kind"] for c in cases]).value_counts().to_dict()
    print(
        f"isic-challenge-scoring {version}: {len(cases)} cases {kinds}, {compared} values compared, "
        f"{len(differences)} differ; {refused_by_both} refused by both; "
        f"{len(refused_official_only)} refused by the package only (dermnet scores them, NaN where undefined)"
    )
    for name, error in refused_official_only[:5]:
        print(f"  package refused {name}: {error[:150]}")
    for difference in differences[:30]:
        print("  DIFFERS", *difference)
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
