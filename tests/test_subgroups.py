"""Scores by subgroup of the test set (`dermnet.evaluation.subgroups`, issue 38): age bands, unknown
values, too few positives or negatives said in words, groups resampled whole, the report's tables and
the forest plot, and `dermnet evaluate` on an ISIC Archive download."""

import json

import cv2
import keras
import layouts
import numpy as np
import pandas as pd
import pytest

import dermnet
from dermnet import data, plots
from dermnet.evaluation import evaluate, subgroups
from dermnet.evaluation.intervals import resampling_groups
from dermnet.evaluation.scoring import challenge_scores, headline, model_scores


def binary(n=40, seed=0):
    """`n` images of two classes (every 4th malignant), with sex and age, and fairly good probabilities."""
    rng = np.random.default_rng(seed)
    truth = (np.arange(n) % 4 == 0).astype("int64")
    malignant = np.clip(0.2 * truth + 0.3 + 0.5 * rng.random(n), 0, 1)
    rows = pd.DataFrame(
        {
            "image_id": [f"I{i}" for i in range(n)],
            "sex": ["female", "male"] * (n // 2),
            "age_approx": [str(25 + 10 * (i % 6)) for i in range(n)],
        }
    )
    return rows, truth, np.stack([1 - malignant, malignant], axis=1)


def by(table, column, value):
    return next(row for row in table if row["column"] == column and row["value"] == value)


def test_ages_fall_in_bands_and_empty_values_are_unknown():
    ages = [None, "", "0", "29", "30", "44.0", "45", "59", "60", "74", "75", "85", "n/a"]
    rows = pd.DataFrame({"age_approx": ages, "sex": ["female", None, "", "male", *["female"] * 9]})
    assert subgroups.subgroup_values(rows, "age_approx").tolist() == [
        "unknown",
        "unknown",
        "<30",
        "<30",
        "30–44",
        "30–44",
        "45–59",
        "45–59",
        "60–74",
        "60–74",
        "≥75",
        "≥75",
        "unknown",
    ]
    assert subgroups.subgroup_values(rows, "sex").tolist()[:4] == ["female", "unknown", "unknown", "male"]


def test_a_column_with_fewer_than_two_known_values_or_absent_gives_no_subgroups():
    rows, truth, probabilities = binary()
    rows["sex"] = ["female", ""] * 20  # one known value and unknown: nothing to compare
    rows["anatom_site_general"] = None
    table = subgroups.subgroup_scores(rows, truth, probabilities, ["benign", "malignant"], n_resamples=0)
    assert {row["column"] for row in table} == {"age_approx"}
    assert (
        subgroups.subgroup_scores(
            rows.drop(columns="age_approx"), truth, probabilities, ["benign", "malignant"], n_resamples=0
        )
        == []
    )


def test_the_smallest_of_many_values_are_pooled_so_that_the_cost_stays_bounded():
    rows, truth, probabilities = binary(60)
    rows["attribution"] = [f"clinic {i % 15:02d}" if i < 45 else "clinic 00" for i in range(60)]
    table = subgroups.subgroup_scores(rows, truth, probabilities, ["benign", "malignant"], n_resamples=0)
    values = [row["value"] for row in table if row["column"] == "attribution"]
    assert len(values) == subgroups.MAX_VALUES == 12 and values[0] == "clinic 00"
    assert values[-1] == "other (4 values)" and by(table, "attribution", values[-1])["images"] == 12


def test_each_subgroup_has_its_count_positives_and_headline_scores_with_intervals():
    rows, truth, probabilities = binary()
    table = subgroups.subgroup_scores(rows, truth, probabilities, ["benign", "malignant"], n_resamples=50)
    assert [row["value"] for row in table if row["column"] == "sex"] == ["female", "male"]
    assert [row["value"] for row in table if row["column"] == "age_approx"] == [
        "<30",
        "30–44",
        "45–59",
        "60–74",
        "≥75",
    ]
    female = by(table, "sex", "female")
    chosen = rows["sex"].to_numpy() == "female"
    assert female["images"] == 20 and female["positives"] == {"malignant": 10} and female["too_few"] is None
    expected = headline(challenge_scores(None, truth[chosen], probabilities[chosen], ["benign", "malignant"]))
    assert female["scores"]["auc"] == pytest.approx(expected["auc"])
    assert set(female["scores"]) == set(expected) | {"expected_calibration_error"}
    low, high = female["intervals"]["auc"]
    assert low <= female["scores"]["auc"] <= high and low < high
    json.dumps(table, allow_nan=False)  # goes into scores.json as it is


def test_too_few_positives_or_negatives_are_said_never_scored():
    rows, truth, probabilities = binary()
    table = subgroups.subgroup_scores(rows, truth, probabilities, ["benign", "malignant"], n_resamples=20)
    # Ages cycle with period 6 and malignant every 4th image: <30 holds images 0, 6, ..., 36 (4 malignant).
    young = by(table, "age_approx", "<30")
    assert young["positives"] == {"malignant": 4} and young["too_few"] == "too few positives (4)"
    assert young["scores"] is None and young["intervals"] is None
    truth = 1 - truth  # now 30 malignant of 40: the last 8 images hold 6 malignant, 2 benign
    rows["sex"] = ["female"] * 32 + ["male"] * 8
    male = by(
        subgroups.subgroup_scores(rows, truth, probabilities, ["benign", "malignant"], n_resamples=0),
        "sex",
        "male",
    )
    assert male["too_few"] == "too few negatives (2)" and male["scores"] is None


def test_several_classes_count_each_and_the_rarest_decides():
    rows, _, _ = binary(60)  # female: the even images
    truth = np.arange(60) // 2 % 2
    truth[[0, 2, 4]] = 2  # 3 of class c, all female
    probabilities = np.eye(4)[truth] * 0.5 + 0.5 / 4
    classes = ["a", "b", "c", "d"]  # none of d
    table = subgroups.subgroup_scores(rows, truth, probabilities, classes, n_resamples=0)
    female, male = by(table, "sex", "female"), by(table, "sex", "male")
    assert female["positives"] == {"a": 13, "b": 14, "c": 3, "d": 0}
    assert female["too_few"] == "too few positives (c: 3)" and male["too_few"] == "too few positives (c: 0)"
    # Only the classes scored count; one the whole test set lacks (d) decides nothing.
    table = subgroups.subgroup_scores(
        rows, truth, probabilities, classes, scored_classes=["a", "b", "d"], n_resamples=0
    )
    female = by(table, "sex", "female")
    assert female["positives"] == {"a": 13, "b": 14, "d": 0} and female["too_few"] is None
    assert female["scores"]["auc"] == pytest.approx(1.0)


def test_a_challenge_counts_the_categories_it_scores():
    rows, truth, probabilities = binary()
    table = subgroups.subgroup_scores(
        rows, truth, probabilities, ["benign", "malignant"], "isic2016", n_resamples=0
    )
    female = by(table, "sex", "female")
    assert female["positives"] == {"malignant": 10} and "ap" in female["scores"]
    assert subgroups.primary_score("isic2016") == "ap" and subgroups.primary_score(None) == "auc"
    assert subgroups.primary_score("isic2018_task3") == "balanced_accuracy"


def test_lesions_are_resampled_whole_within_a_subgroup():
    rows, truth, probabilities = binary()
    rows["lesion_id"] = [f"L{i // 4}" for i in range(40)]  # a lesion's 4 images: 2 female, 2 male
    table = subgroups.subgroup_scores(rows, truth, probabilities, ["benign", "malignant"], n_resamples=30)
    chosen = rows["sex"].to_numpy() == "female"
    groups, unit = resampling_groups(rows)
    grouped = model_scores(
        None,
        truth[chosen],
        probabilities[chosen],
        ["benign", "malignant"],
        groups=groups[chosen],
        unit=unit,
        n_resamples=30,
    )
    alone = model_scores(None, truth[chosen], probabilities[chosen], ["benign", "malignant"], n_resamples=30)
    assert by(table, "sex", "female")["intervals"]["auc"] == grouped["intervals"]["auc"]
    assert grouped["intervals"]["auc"] != alone["intervals"]["auc"]


def test_the_report_section_has_a_table_per_column_and_the_words_for_too_few():
    rows, truth, probabilities = binary()
    table = subgroups.subgroup_scores(rows, truth, probabilities, ["benign", "malignant"], n_resamples=20)
    lines = subgroups.report_section(table, "auc", "subgroups.png")
    text = "\n".join(lines)
    assert lines[0] == "## Subgroups"
    assert "| sex | images | positives (malignant) | auc (95 % interval) |" in text
    assert "| age band (age_approx) | images | positives (malignant) | auc (95 % interval) |" in text
    female = by(table, "sex", "female")
    low, high = female["intervals"]["auc"]
    assert f"| female | 20 | 10 | {female['scores']['auc']:.4f} ({low:.4f} to {high:.4f}) |" in text
    assert "| <30 | 7 | 4 | too few positives (4) |" in text
    assert "![Subgroups](subgroups.png)" in text
    assert subgroups.report_section([], "auc", "subgroups.png") == []


def test_the_forest_plot_draws_every_subgroup(tmp_path):
    rows, truth, probabilities = binary()
    table = subgroups.subgroup_scores(rows, truth, probabilities, ["benign", "malignant"], n_resamples=20)
    path = plots.subgroup_forest(
        subgroups.forest_rows(table, "auc"), "auc", tmp_path / "subgroups.png", reference=(0.7, 0.6, 0.8)
    )
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 300


@pytest.mark.portable
def test_evaluate_reports_an_isic_archive_download_by_sex_and_age_band(tmp_path):
    layouts.write("isic_archive", tmp_path / "download")
    df = data.load_dataset("isic_archive", tmp_path / "download", label="diagnosis_1")
    keras.utils.set_random_seed(0)
    model = dermnet.build("baseline_cnn", num_classes=2, input_shape=(32, 32, 3))
    scores = evaluate(
        model, df, tmp_path / "eval", heat_maps_per_class=0, cache_dir=tmp_path / "cache", n_resamples=20
    )
    assert scores == json.loads((tmp_path / "eval" / "scores.json").read_text())
    assert {row["column"] for row in scores["subgroups"]} == {
        "sex",
        "age_approx",
        "anatom_site_general",
        "attribution",
    }
    report = (tmp_path / "eval" / "report.md").read_text()
    section = report[report.index("## Subgroups") :]
    # 6 malignant images of 24: female and male hold 2 each, none enough for a score.
    assert "| sex | images | positives (Malignant) | auc (95 % interval) |" in section
    assert "| female | 8 | 2 | too few positives (2) |" in section
    assert "| unknown | 8 | 2 | too few positives (2) |" in section
    assert "| age band (age_approx) | images | positives (Malignant) | auc (95 % interval) |" in section
    assert "| 30–44 | 8 | 1 | too few positives (1) |" in section and "| unknown | 4 | 1 |" in section
    assert "![Subgroups](subgroups.png)" in section
    assert cv2.imread(str(tmp_path / "eval" / "subgroups.png")) is not None


def test_evaluate_without_metadata_says_nothing_of_subgroups(tmp_path):
    from harness import write_dataset

    df = data.from_csv(write_dataset(tmp_path / "data", n=8, num_classes=2))
    model = dermnet.build("baseline_cnn", num_classes=2, input_shape=(32, 32, 3))
    scores = evaluate(
        model, df, tmp_path / "eval", heat_maps_per_class=0, cache_dir=tmp_path / "cache", n_resamples=0
    )
    assert "subgroups" not in scores and "Subgroups" not in (tmp_path / "eval" / "report.md").read_text()
    assert not (tmp_path / "eval" / "subgroups.png").exists()
