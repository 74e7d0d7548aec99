"""Classification scores: hand-computed cases and scikit-learn where the definitions coincide."""

import numpy as np
import pytest
from sklearn import metrics

from dermnet.evaluation import binary_scores, classification_scores, multiclass_scores


def test_binary_scores_by_hand():
    truth = [0, 0, 1, 1, 0]
    confidence = [0.1, 0.6, 0.7, 0.4, 0.2]
    scores = binary_scores(truth, confidence)
    # Predicted positive: rows 1 and 2. Positives 2 and 3: one found; negatives 0, 1, 4: two right.
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["sensitivity"] == pytest.approx(1 / 2) and scores["specificity"] == pytest.approx(2 / 3)
    # Ranking 0.7(+) 0.6(-) 0.4(+) 0.2(-) 0.1(-): of the 6 positive-negative pairs, 5 are ordered right.
    assert scores["auc"] == pytest.approx(5 / 6)
    # Precision at each positive: 1/1 at rank 1, 2/3 at rank 3; their mean.
    assert scores["average_precision"] == pytest.approx((1 + 2 / 3) / 2)


def test_binary_scores_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 200)
    confidence = np.clip(truth * 0.3 + rng.random(200) * 0.7, 0, 1)
    scores = binary_scores(truth, confidence)
    assert scores["auc"] == pytest.approx(metrics.roc_auc_score(truth, confidence))
    assert scores["accuracy"] == pytest.approx(metrics.accuracy_score(truth, confidence >= 0.5))
    assert scores["sensitivity"] == pytest.approx(metrics.recall_score(truth, confidence >= 0.5))


def test_multiclass_balanced_accuracy_of_the_challenge_example():
    # ISIC 2018 task 3's example: truth [MEL, NV, MEL, MEL], prediction [MEL, MEL, MEL, NV] → 1/3.
    mel, nv = 0, 1
    truth = [mel, nv, mel, mel]
    probabilities = np.eye(3)[[mel, mel, mel, nv]] * 0.8 + 0.2 / 3
    scores = multiclass_scores(truth, probabilities)
    # Recall of MEL is 2/3, of NV 0; the third class is absent from the truth and not counted.
    assert scores["balanced_accuracy"] == pytest.approx(1 / 3)
    assert scores["accuracy"] == pytest.approx(2 / 4)


def test_two_columns_score_as_binary():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert classification_scores([0, 1, 1], probabilities) == binary_scores([0, 1, 1], probabilities[:, 1])


@pytest.mark.parametrize("truth, predictions, message", [
    ([0, 1], [0.5], "shapes"),
    ([], np.zeros(0), "empty"),
    ([0, 2], [0.1, 0.9], "0 or 1"),
    ([0, 1], [np.nan, 0.5], "NaN"),
])
def test_binary_bad_input(truth, predictions, message):
    with pytest.raises(ValueError, match=message):
        binary_scores(truth, predictions)


def test_multiclass_truth_outside_the_columns():
    with pytest.raises(ValueError, match="outside 0..2"):
        multiclass_scores([0, 3], np.full((2, 3), 1 / 3))
