"""`dermnet train` on each public data set's layout, and `dermnet evaluate --dataset` of a model on a
data set it was not trained on (dermnet/evaluation/cross_dataset.py)."""

import json

import layouts
import numpy as np
import pandas as pd
import pytest

from dermnet import cli, data, datasets
from dermnet.data.layouts import READERS
from dermnet.evaluation import cross_dataset

# What each data set's run must score: its challenge's ranking score, or dermnet's per-class AUCs.
_SCORED = {
    "isic2018_task3": "balanced_accuracy",
    "isic2019": "balanced_accuracy",
    "isic2020": "auc",
    "isic2024": "partial_auc",
    "ph2": "auc_melanoma",
    "derm7pt": "auc_melanoma",
}


def _train(name, root, out):
    layouts.write(name, root)
    assert (
        cli.main(
            [
                "--debug",
                "train",
                "baseline_cnn",
                "--dataset",
                name,
                "--root",
                str(root),
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return json.loads((out / "scores.json").read_text())


@pytest.mark.slow
# isic_archive trains once `dermnet train` passes --label (layouts.LOAD_OPTIONS) to load_splits.
# The data sets of their own readers (dermnet/data/layouts.py); the manifest and mask layouts give the
# frames every other training test trains on.
@pytest.mark.parametrize(
    "name", sorted(n for n in layouts.WRITERS if n != "isic_archive" and datasets.get(n).layout in READERS)
)
def test_dermnet_train_runs_on_each_data_set_and_scores_it_by_its_challenge(name, tmp_path, monkeypatch):
    monkeypatch.setenv("DERMNET_CACHE", str(tmp_path / "cache"))
    scores = _train(name, tmp_path / "data", tmp_path / "run")
    assert _SCORED[name] in scores and "overall" in scores or name in ("ph2", "derm7pt")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["classes"] == list(data.load_dataset(name, tmp_path / "data").attrs["classes"])


@pytest.fixture(scope="module")
def isic2020_run(tmp_path_factory):
    """A baseline CNN trained for an epoch on the ISIC 2020 layout: benign vs malignant."""
    root = tmp_path_factory.mktemp("cross")
    _train("isic2020", root / "isic2020", root / "run")
    return root


def test_evaluate_on_ph2_maps_its_labels_and_says_so(isic2020_run, tmp_path):
    layouts.write("ph2", tmp_path / "ph2")
    out = tmp_path / "report"
    assert (
        cli.main(
            [
                "--debug",
                "evaluate",
                str(isic2020_run / "run"),
                "--dataset",
                "ph2",
                "--root",
                str(tmp_path / "ph2"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    scores = json.loads((out / "scores.json").read_text())
    assert {"auc_malignant", "auc_benign", "balanced_accuracy"} <= set(scores)
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 20 and set(predictions.label) == {"benign", "malignant"}
    melanoma = predictions.image_id.isin([f"IMD{i:03d}" for i in range(18, 22)])
    assert (predictions.label[melanoma] == "malignant").all() and (
        predictions.label[~melanoma] == "benign"
    ).all()
    report = (out / "report.md").read_text()
    assert (
        "cross-data-set evaluation: trained on isic2020, scored on every image of ph2; its labels as the "
        "model's classes: atypical_nevus → benign, common_nevus → benign, melanoma → malignant"
    ) in report


def test_evaluate_on_isic2024_uses_its_challenge_when_the_model_answers_it(isic2020_run, tmp_path):
    layouts.write("isic2024", tmp_path / "isic2024")
    out = tmp_path / "report"
    assert (
        cli.main(
            [
                "evaluate",
                str(isic2020_run / "run"),
                "--dataset",
                "isic2024",
                "--root",
                str(tmp_path / "isic2024"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    scores = json.loads((out / "scores.json").read_text())
    assert np.isfinite(scores["partial_auc"]) and scores["overall"] == scores["partial_auc"]
    assert "isic2024 (official)" in (out / "report.md").read_text()


def test_explicit_classes_leave_the_rest_out_and_wrong_names_are_refused(isic2020_run, tmp_path, capsys):
    layouts.write("ph2", tmp_path / "ph2")
    common = [
        "evaluate",
        str(isic2020_run / "run"),
        "--dataset",
        "ph2",
        "--root",
        str(tmp_path / "ph2"),
        "--out",
    ]
    assert (
        cli.main([*common, str(tmp_path / "a"), "--classes", "melanoma=malignant,common_nevus=benign"]) == 0
    )
    assert len(pd.read_csv(tmp_path / "a" / "predictions.csv")) == 12
    assert (
        "left out, answering no class of the model: 8 atypical_nevus"
        in (tmp_path / "a" / "report.md").read_text()
    )
    assert cli.main([*common, str(tmp_path / "b"), "--classes", "melanoma=mel"]) == 1
    assert "the model has no class mel (its classes: benign, malignant)" in capsys.readouterr().err
    assert cli.main([*common, str(tmp_path / "c"), "--classes", "melanom=malignant"]) == 1
    assert "ph2 has no label melanom" in capsys.readouterr().err


def test_the_default_mapping_takes_the_first_class_the_model_has():
    assert cross_dataset.class_mapping(
        "derm7pt", ["melanoma", "nevus", "miscellaneous", "seborrheic_keratosis"], ["MEL", "NV", "BKL"]
    ) == {"melanoma": "MEL", "nevus": "NV", "seborrheic_keratosis": "BKL"}
    with pytest.raises(ValueError, match="none of ph2's labels .* give the mapping, --classes"):
        cross_dataset.class_mapping("ph2", ["melanoma", "common_nevus"], ["cat", "dog"])


def test_images_the_model_trained_on_are_left_out_by_isic_id():
    df = pd.DataFrame({"image_id": ["ISIC_0000001_downsampled", "ISIC_0000002", "ISIC_0000003", "IMG_1"]})
    kept, seen = cross_dataset.unseen(df, ["ISIC_0000001", "ISIC_0000003_downsampled", "IMG_1"])
    assert kept.image_id.tolist() == ["ISIC_0000002", "IMG_1"] and seen == 2


def test_a_segmentor_is_scored_on_ph2s_masks(tmp_path, monkeypatch):
    from harness import write_dataset

    monkeypatch.setenv("DERMNET_CACHE", str(tmp_path / "cache"))
    manifest = write_dataset(tmp_path / "data", n=20, masks=True)
    table = pd.read_csv(manifest)
    table.loc[table.index % 5 == 0, "split"] = "test"
    table.to_csv(manifest, index=False)
    out = tmp_path / "run"
    assert (
        cli.main(
            [
                "train",
                "unet",
                "--dataset",
                str(manifest),
                "--recipe",
                "menegola2017",
                "--epochs",
                "1",
                "--image-size",
                "32",
                "--batch-size",
                "4",
                "--weights",
                "none",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    layouts.write("ph2", tmp_path / "ph2")
    assert cli.main(["evaluate", str(out), "--dataset", "ph2", "--root", str(tmp_path / "ph2")]) == 0
    scores = json.loads((out / "evaluation" / "scores.json").read_text())
    assert scores["overall"] == scores["threshold_jaccard"]
    assert len(pd.read_csv(out / "evaluation" / "masks.csv")) == 20
    assert "scored on every image of ph2" in (out / "evaluation" / "report.md").read_text()
