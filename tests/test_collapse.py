"""A model that learned nothing (the same prediction for every image) is said so, not scored silently."""

import json

import numpy as np
import pytest
from harness import write_dataset

import dermnet
from dermnet import data, evaluation
from dermnet.evaluation.scoring import headline

pytestmark = pytest.mark.portable

CLASSES = ["melanoma", "nevus", "seborrheic_keratosis"]


def probabilities(n=30, constant=True, seed=0):
    rng = np.random.default_rng(seed)
    varying = rng.dirichlet(np.ones(3), n)
    return np.tile([0.19, 0.67, 0.14], (n, 1)) if constant else varying


@pytest.mark.parametrize("challenge", [None, "isic2017"])
def test_the_same_probabilities_for_every_image_are_flagged(challenge):
    truth = np.arange(30) % 3
    scores = evaluation.challenge_scores(challenge, truth, probabilities(), CLASSES)
    assert "learned nothing: every one of the 30 images gets the same prediction" in scores["warning"]
    assert "learning rate" in scores["warning"]
    # float32 noise of a constant output is still constant
    noisy = probabilities() * (1 + 1e-7 * np.random.default_rng(1).standard_normal((30, 3)))
    assert "warning" in evaluation.challenge_scores(challenge, truth, noisy, CLASSES)
    varying = evaluation.challenge_scores(challenge, truth, probabilities(constant=False), CLASSES)
    assert "warning" not in varying
    assert set(headline(scores)) == set(headline(varying))  # headline's callers see what they saw


def test_the_same_mask_for_every_image_is_flagged(tmp_path):
    df = data.from_csv(write_dataset(tmp_path / "data", n=6, masks=True))
    constant = np.zeros((6, 16, 16, 1), np.float32)
    assert "every one of the 6 images gets the same mask" in evaluation.mask_scores(df, constant)["warning"]
    varying = np.random.default_rng(0).random((6, 16, 16, 1)).astype(np.float32)
    assert "warning" not in evaluation.mask_scores(df, varying)


def constant_classifier():
    """baseline_cnn whose last layer ignores its input: softmax of its bias for every image."""
    model = dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3), weights=None)
    last = model.get_layer("logits")
    last.kernel.assign(np.zeros(last.kernel.shape, "float32"))
    last.bias.assign(np.array([0.3, 1.5, -0.2], "float32"))
    return model


def test_evaluate_says_so_at_the_top_of_its_report_and_in_its_scores(tmp_path):
    df = data.from_csv(write_dataset(tmp_path / "data", n=12))
    scores = evaluation.evaluate(
        constant_classifier(),
        df,
        tmp_path / "evaluation",
        cache_dir=tmp_path / "cache",
        n_resamples=0,
        heat_maps_per_class=0,
    )
    assert "the same prediction" in scores["warning"]
    assert json.loads((tmp_path / "evaluation" / "scores.json").read_text())["warning"] == scores["warning"]
    report = (tmp_path / "evaluation" / "report.md").read_text().splitlines()
    assert report[2] == f"> **Warning:** {scores['warning']}"


def test_a_model_that_varies_is_not_flagged(tmp_path):
    df = data.from_csv(write_dataset(tmp_path / "data", n=12))
    model = dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3), weights=None)
    scores = evaluation.evaluate(
        model, df, tmp_path / "evaluation", cache_dir=tmp_path / "cache", n_resamples=0, heat_maps_per_class=0
    )
    assert "warning" not in scores
    assert "Warning" not in (tmp_path / "evaluation" / "report.md").read_text()


def test_a_loss_that_does_not_move_is_said_in_the_log(capsys):
    from dermnet.training.callbacks import NotLearning

    callback = NotLearning()
    for epoch, loss in enumerate([1.0986, 1.0986, 1.0987]):
        callback.on_epoch_end(epoch, {"loss": loss, "accuracy": 0.58})
    assert "the training loss has not moved over 3 epochs" in capsys.readouterr().out
    callback = NotLearning()
    for epoch, (loss, accuracy) in enumerate([(1.09, 0.40), (0.95, 0.52), (0.80, 0.61)]):
        callback.on_epoch_end(epoch, {"loss": loss, "accuracy": accuracy})
    assert capsys.readouterr().out == ""
