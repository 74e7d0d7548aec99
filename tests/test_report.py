"""`dermnet evaluate`: scores, predictions, every figure (each PNG opens) and the report."""

import json
import shutil

import cv2
import keras
import numpy as np
import pandas as pd
import pytest
from harness import write_dataset

import dermnet
from dermnet import cli, data, plots
from dermnet.evaluation import evaluate, gradcam

FIGURES = ["roc.png", "precision_recall.png", "confusion_matrix.png", "reliability.png", "gradcam.png"]


def opens(path):
    image = cv2.imread(str(path))
    return image is not None and min(image.shape[:2]) > 200


@pytest.fixture
def model():
    keras.utils.set_random_seed(0)
    return dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3))


@pytest.mark.portable
def test_evaluate_writes_scores_figures_and_report(tmp_path, model):
    df = data.from_csv(write_dataset(tmp_path / "data", n=18, num_classes=3, lesions_per_image=2))
    scores = evaluate(
        model, df, tmp_path / "eval", heat_maps_per_class=1, cache_dir=tmp_path / "cache", n_resamples=40
    )
    assert scores == json.loads((tmp_path / "eval" / "scores.json").read_text())
    assert {"accuracy", "balanced_accuracy", "auc", "expected_calibration_error"} <= set(scores)
    # An interval beside every score, the lesions (two images each) drawn whole.
    assert set(scores["intervals"]) == {name for name, value in scores.items() if isinstance(value, float)}
    method = scores["interval_method"]
    assert [method[k] for k in ("resampled", "groups", "images", "n_resamples")] == ["lesions", 9, 18, 40]
    assert scores["scoring"] == {"challenge": None, "scored_classes": None}
    predictions = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert len(predictions) == 18  # the columns of `dermnet predict`, with the true label and the lesion
    assert list(predictions) == [
        "image_id",
        "image",
        "label",
        "lesion_id",
        "predicted",
        "p_class_0",
        "p_class_1",
        "p_class_2",
    ]
    report = (tmp_path / "eval" / "report.md").read_text()
    for figure in FIGURES:
        assert opens(tmp_path / "eval" / figure), figure
        assert f"({figure})" in report
    low, high = scores["intervals"]["auc"]
    assert f"| auc | {scores['auc']:.4f} | {low:.4f} to {high:.4f} |" in report
    low, high = scores["intervals"]["auc_class_1"]
    assert f" {scores['auc_class_1']:.4f} ({low:.4f} to {high:.4f}) |" in report
    assert "- 95 % intervals: percentile bootstrap, 40 draws of the 9 lesions of the 18 images (seed 0" in (
        report
    )


def test_evaluate_with_a_temperature_scores_the_calibrated_probabilities(tmp_path, model):
    df = data.from_csv(write_dataset(tmp_path / "data", n=12, num_classes=3))
    plain = evaluate(
        model, df, tmp_path / "plain", heat_maps_per_class=0, cache_dir=tmp_path / "cache", n_resamples=0
    )
    scores = evaluate(
        model,
        df,
        tmp_path / "eval",
        heat_maps_per_class=0,
        cache_dir=tmp_path / "cache",
        temperature=0.25,
        n_resamples=0,
    )
    assert scores["calibration"] == {
        "temperature": 0.25,
        "fitted_on": "validation split",
        "expected_calibration_error_before": plain["expected_calibration_error"],
    }
    assert scores["expected_calibration_error"] != plain["expected_calibration_error"]
    assert "intervals" not in scores and scores["multiclass_accuracy"] == plain["multiclass_accuracy"]
    one, two = (cv2.imread(str(tmp_path / folder / "reliability.png")) for folder in ("plain", "eval"))
    assert two.shape[1] > 1.9 * one.shape[1]  # before and after, side by side
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "- calibration: temperature scaling (T = 0.250, fitted on the validation split)" in report
    assert "- 95 % intervals: none" in report


@pytest.mark.portable
def test_gradcam_of_a_linear_head_is_the_class_activation_map():
    # Global average pooling → Dense → softmax over two classes: the gradient of p_c is
    # p_c (1 - p_c) (w_c - w_other) / (h w) per channel, so Grad-CAM is relu(Σ_k (w_c - w_other)_k A_k),
    # normalised: the class activation map of Zhou et al. 2016.
    keras.utils.set_random_seed(1)
    model = dermnet.build("baseline_cnn", num_classes=2, input_shape=(32, 32, 3), head="linear")
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    features = keras.ops.convert_to_numpy(
        model.get_layer("baseline_cnn_backbone")(model.get_layer("preprocess")(images))
    )
    kernel = keras.ops.convert_to_numpy(model.get_layer("logits").kernel)
    # the two classes' maps are each other's negative parts: one of them is not all zero
    assert np.abs(features @ (kernel[:, 0] - kernel[:, 1])).max() > 0
    for c in (0, 1):
        expected = np.maximum(features @ (kernel[:, c] - kernel[:, 1 - c]), 0)
        expected /= np.maximum(expected.max(axis=(1, 2), keepdims=True), 1e-12)
        np.testing.assert_allclose(gradcam(model, images, class_indices=[c] * 3), expected, atol=1e-4)


def test_mask_overlays_show_best_median_worst(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    masks = np.zeros((5, 64, 64), np.uint8)
    masks[:, 16:48, 16:48] = 1
    path = plots.mask_overlays(images, masks, masks, [0.9, 0.5, 0.7, 0.2, 1.0], tmp_path / "masks.png")
    assert opens(path)


def test_evaluate_command_on_a_train_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DERMNET_CACHE", str(tmp_path / "cache"))
    manifest = write_dataset(tmp_path / "data", n=24, num_classes=2, test_from=16)
    run = tmp_path / "run"
    monkeypatch.chdir(tmp_path)  # the manifest given relative to the training's folder
    assert (
        cli.main(
            [
                "train",
                "baseline_cnn",
                "--dataset",
                "data/manifest.csv",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    monkeypatch.chdir(run)  # evaluated from elsewhere, without --dataset: the run's own data set
    assert cli.main(["evaluate", str(run), "--tta", "2"]) == 0
    assert "ap" in json.loads((run / "evaluation" / "scores.json").read_text())
    assert all(opens(run / "evaluation" / figure) for figure in FIGURES)
    capsys.readouterr()
    assert cli.main(["evaluate", str(run)]) == 1  # an earlier report is replaced only when the user says so
    assert "evaluation exists: give --overwrite" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "report.md").write_text("my notes")
    assert cli.main(["evaluate", str(run), "--out", str(tmp_path / "mine")]) == 1
    assert (tmp_path / "mine" / "report.md").read_text() == "my notes"
    assert cli.main(["evaluate", str(run), "--overwrite"]) == 0
    assert cli.main(["evaluate", str(tmp_path / "nothing"), "--dataset", str(manifest)]) == 1
    assert "no such model file" in capsys.readouterr().err
    (tmp_path / "alone").mkdir()
    shutil.copy(run / "model.keras", tmp_path / "alone" / "model.keras")
    assert cli.main(["evaluate", str(tmp_path / "alone" / "model.keras")]) == 1
    assert "no run config says which data set" in capsys.readouterr().err
    three = write_dataset(tmp_path / "three", n=24, num_classes=3)
    pd.read_csv(three).assign(split=["train"] * 16 + ["test"] * 8).to_csv(three, index=False)
    assert (
        cli.main(["evaluate", str(run), "--dataset", str(three), "--out", "three"]) == 0
    )  # another data set
    assert "left out, answering no class of the model: 8 class_2" in (run / "three" / "report.md").read_text()
    assert (
        cli.main(
            ["evaluate", str(run), "--dataset", str(three), "--classes", "class_2=class_9", "--out", "nine"]
        )
        == 1
    )
    assert "the model has no class class_9 (its classes: class_0, class_1)" in capsys.readouterr().err
