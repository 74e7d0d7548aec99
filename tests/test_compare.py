"""Two models' predictions on the same test images: paired differences, DeLong's test, sentences, refusals."""

import json

import numpy as np
import pandas as pd
import pytest

from dermnet.evaluation.compare import compare, compare_evaluations
from dermnet.evaluation.intervals import delong_test
from dermnet.evaluation.scoring import model_scores

CLASSES = ["melanoma", "nevus", "seborrheic_keratosis"]


def predictions(strength, n=240, seed=0):
    """A predictions.csv table of `n` images (two per lesion): `strength` is how well it separates."""
    truth = np.arange(n) % 3
    logits = np.random.default_rng(seed).normal(0, 1, (n, 3))
    logits[np.arange(n), truth] += strength
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return pd.DataFrame(
        {
            "image_id": [f"ISIC_{i:07d}" for i in range(n)],
            "image": "x.jpg",
            "label": [CLASSES[k] for k in truth],
            "lesion_id": [f"L{i // 2}" for i in range(n)],
            "predicted": [CLASSES[k] for k in probabilities.argmax(axis=1)],
            **{f"p_{c}": probabilities[:, k] for k, c in enumerate(CLASSES)},
        }
    )


def test_a_better_model_is_clearly_better_and_the_differences_are_paired():
    a, b = predictions(2.5, seed=1), predictions(0.3, seed=2)
    shuffled = b.sample(frac=1, random_state=0)  # the same images in another order
    result = compare(a, shuffled, "isic2017", n_resamples=100, names=("sdl", "resnet50"))
    truth = np.arange(240) % 3
    scores_a, scores_b = (
        model_scores("isic2017", truth, t[[f"p_{c}" for c in CLASSES]].to_numpy(), CLASSES, n_resamples=0)
        for t in (a, b)
    )
    assert result["a"] == scores_a and result["b"] == scores_b
    assert result["difference"]["auc"] == pytest.approx(scores_a["auc"] - scores_b["auc"])
    low, high = result["intervals"]["auc"]
    assert 0 < low < result["difference"]["auc"] < high
    method = result["interval_method"]
    assert [method[k] for k in ("resampled", "groups", "images", "n_resamples")] == ["lesions", 120, 240, 100]
    melanoma = (truth == 0).astype(int)
    expected = delong_test(melanoma, a["p_melanoma"], b["p_melanoma"])
    assert result["delong"]["auc_melanoma"] == pytest.approx(expected)
    assert result["delong"]["auc"]["p"] < 0.001
    sentence = next(s for s in result["sentences"] if s.startswith("sdl's auc "))
    assert sentence.startswith(f"sdl's auc is higher by {result['difference']['auc']:.3f} (")
    assert f"95 % CI {low:.3f} to {high:.3f}: a clear difference; DeLong's test z = " in sentence
    assert not any("validation" in s for s in result["sentences"])
    assert result["sentences"][0].startswith("sdl's overall (auc) is higher")


def test_a_model_against_itself_differs_by_exactly_zero_in_every_draw():
    a = predictions(1.0)
    result = compare(a, a.copy(), None, n_resamples=50)
    assert set(result["intervals"]) == set(result["difference"]) and result["intervals"]["auc"] == [0.0, 0.0]
    assert all(value == 0 for value in result["difference"].values())
    assert "A's and B's auc are the same" in " ".join(result["sentences"])
    assert "not a clear difference" in result["sentences"][0]


def test_two_different_test_sets_are_refused():
    a = predictions(1.0)
    other = predictions(1.0)
    other.loc[:2, "image_id"] = ["ISIC_9000000", "ISIC_9000001", "ISIC_9000002"]
    with pytest.raises(
        ValueError,
        match=r"not scored on the same test images: 6 of 243 are in one "
        r"table only \(3 in A's alone, 3 in B's\), e.g. ISIC_0000000, "
        r"ISIC_0000001",
    ):
        compare(a, other, "isic2017")
    relabelled = predictions(1.0)
    relabelled.loc[5, "label"] = "nevus"
    with pytest.raises(ValueError, match="give 1 of the same images other true labels .*ISIC_0000005"):
        compare(a, relabelled, "isic2017")
    with pytest.raises(ValueError, match="without a challenge .* must be the same"):
        compare(a, a.rename(columns={"p_nevus": "p_naevus"}), None)


def test_two_evaluation_folders_are_compared_as_their_scores_say(tmp_path):
    for name, strength in (("sdl", 2.0), ("resnet50", 1.0)):
        folder = tmp_path / name / "evaluation"
        folder.mkdir(parents=True)
        predictions(strength, seed=len(name)).to_csv(folder / "predictions.csv", index=False)
        scoring = {"challenge": "isic2017", "scored_classes": None}
        (folder / "scores.json").write_text(json.dumps({"scoring": scoring}))
    result = compare_evaluations(
        tmp_path / "sdl" / "evaluation", tmp_path / "resnet50" / "evaluation", n_resamples=20, progress=False
    )
    assert result["sentences"][0].startswith("sdl's overall (auc) is higher")
    assert "spec_at_sens_82" in result["difference"]  # ISIC 2017's scores: the challenge was read
    (tmp_path / "resnet50" / "evaluation" / "scores.json").write_text(
        json.dumps({"scoring": {"challenge": None, "scored_classes": None}})
    )
    with pytest.raises(ValueError, match="scored by .*isic2017.* by .*None.*evaluate both the same way"):
        compare_evaluations(tmp_path / "sdl" / "evaluation", tmp_path / "resnet50" / "evaluation")
