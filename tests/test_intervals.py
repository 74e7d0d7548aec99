"""Bootstrap intervals (grouped, seeded, skipping draws without a class) and DeLong's AUC variance."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dermnet.evaluation import official, score
from dermnet.evaluation.intervals import (
    bootstrap_intervals,
    delong,
    delong_interval,
    delong_test,
    resampling_groups,
)
from dermnet.evaluation.scoring import challenge_scores, headline, per_category


def binary_case(n, seed=0, separation=1.2):
    """`n` images, about a third positive, confidences of a model with an AUC near 0.8."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) < 0.35).astype(int)
    return truth, 1 / (1 + np.exp(-(rng.normal(0, 1, n) + separation * truth)))


def rank_auc(truth, confidence):
    """The AUC by midranks (as `delong`, checked equal to scikit-learn's below): fast for 1,000 draws."""
    ranks = stats.rankdata(confidence)
    positives = truth.sum()
    negatives = len(truth) - positives
    return (ranks[truth == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)


def direct_delong(truth, *confidences):
    """DeLong's components from every positive-negative pair, O(n1 n0): the definition itself."""
    positives, negatives = truth == 1, truth == 0
    pairs = [(c[positives][:, None], c[negatives][None]) for c in confidences]
    kernels = [(x > y) + 0.5 * (x == y) for x, y in pairs]
    v10 = np.array([k.mean(axis=1) for k in kernels])
    v01 = np.array([k.mean(axis=0) for k in kernels])
    return v10.mean(axis=1), np.cov(v10) / positives.sum() + np.cov(v01) / negatives.sum()


def test_delong_equals_the_direct_computation_with_ties():
    truth, a = binary_case(150)
    b = np.round(a + np.random.default_rng(1).normal(0, 0.2, len(a)), 1)  # rounded: many ties
    aucs, covariance = delong(truth, np.round(a, 1), b)
    expected_aucs, expected_covariance = direct_delong(truth, np.round(a, 1), b)
    np.testing.assert_allclose(aucs, expected_aucs, rtol=1e-12)
    np.testing.assert_allclose(aucs[0], official.auc(truth, np.round(a, 1)), rtol=1e-12)
    assert rank_auc(truth, b) == pytest.approx(official.auc(truth, b), rel=1e-12)
    np.testing.assert_allclose(covariance, expected_covariance, rtol=1e-10)
    test = delong_test(truth, np.round(a, 1), b)
    variance = expected_covariance[0, 0] + expected_covariance[1, 1] - 2 * expected_covariance[0, 1]
    assert test["z"] == pytest.approx((expected_aucs[0] - expected_aucs[1]) / np.sqrt(variance), rel=1e-9)


def test_delong_test_of_one_column_as_a_matrix_and_of_a_model_with_itself():
    truth, a = binary_case(120)
    b = a**2 + np.random.default_rng(2).normal(0, 0.05, len(a))
    assert delong_test(truth[:, None], a[:, None], b[:, None]) == pytest.approx(delong_test(truth, a, b))
    same = delong_test(truth, a, a)
    assert same["difference"] == 0 and same["z"] == 0 and same["p"] == 1
    with pytest.raises(ValueError, match="two positives and two negatives; got 1"):
        delong(np.array([1, 0, 0, 0]), np.array([0.9, 0.1, 0.2, 0.3]))


def test_the_bootstrap_auc_interval_agrees_with_delong_on_a_few_hundred_images():
    truth, confidence = binary_case(400)
    result = bootstrap_intervals(lambda rows: {"auc": rank_auc(truth[rows], confidence[rows])}, truth)
    auc, low, high = delong_interval(truth, confidence)
    assert 0.7 < auc < 0.9 and high - low > 0.05  # a real-sized interval, not a degenerate one
    np.testing.assert_allclose(result["intervals"]["auc"], [low, high], atol=0.01)


def test_images_of_one_lesion_are_drawn_together():
    # 200 lesions, each imaged three times with the same prediction: the information of 200 images.
    truth, confidence = binary_case(200, seed=3)
    truth3, confidence3, lesions = np.repeat(truth, 3), np.repeat(confidence, 3), np.repeat(np.arange(200), 3)

    def auc(rows):
        return {"auc": rank_auc(truth3[rows], confidence3[rows])}

    grouped = bootstrap_intervals(auc, truth3, groups=lesions, unit="lesions", n_resamples=1000)
    by_image = bootstrap_intervals(auc, truth3, n_resamples=1000)
    _, low, high = delong_interval(truth, confidence)  # of the 200 lesions
    np.testing.assert_allclose(grouped["intervals"]["auc"], [low, high], atol=0.01)
    width = np.diff(grouped["intervals"]["auc"])[0]
    assert np.diff(by_image["intervals"]["auc"])[0] < 0.7 * width  # about 1/√3: too narrow
    assert grouped["interval_method"] | {"skipped": 0} == {
        "method": "percentile bootstrap",
        "confidence": 0.95,
        "n_resamples": 1000,
        "skipped": 0,
        "skipped_why": "a class of the test set absent from the draw",
        "seed": 0,
        "resampled": "lesions",
        "groups": 200,
        "images": 600,
    }


def test_draws_without_a_class_are_skipped_counted_and_seeded():
    truth = np.zeros(40, int)
    truth[[3, 17]] = 1  # two positives: about 1 draw in 7 has none
    confidence = np.linspace(0, 1, 40)
    kept = []

    def scores_of(rows):
        kept.append(truth[rows].any() and not truth[rows].all())
        return {"auc": rank_auc(truth[rows], confidence[rows]), "label": "not a score"}

    result = bootstrap_intervals(scores_of, truth, n_resamples=300, seed=5)
    skipped = result["interval_method"]["skipped"]
    assert all(kept) and len(kept) == 300 - skipped and 20 < skipped < 80
    assert list(result["intervals"]) == ["auc"]  # only numbers have intervals
    assert bootstrap_intervals(scores_of, truth, n_resamples=300, seed=5)["intervals"] == result["intervals"]
    assert bootstrap_intervals(scores_of, truth, n_resamples=300, seed=6)["intervals"] != result["intervals"]


def test_score_gives_an_interval_beside_every_score_and_keeps_its_values():
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 3, 300)
    predictions = rng.dirichlet(np.ones(3), 300)
    predictions[np.arange(300), truth] += 0.5
    predictions = predictions[:, [0, 2]] / predictions.sum(axis=1, keepdims=True)  # melanoma, keratosis
    one_hot = np.stack([truth == 0, truth == 2], axis=1).astype(float)
    plain = score("isic2017", one_hot, predictions)
    scores = score("isic2017", one_hot, predictions, intervals=100, groups=np.arange(300) // 2)
    assert {k: v for k, v in scores.items() if k in plain} == plain and headline(scores) == headline(plain)
    pd.testing.assert_frame_equal(per_category(scores), per_category(plain))
    assert set(scores["intervals"]) == set(plain)
    assert scores["interval_method"]["groups"] == 150 and scores["interval_method"]["n_resamples"] == 100
    for name in ("overall", "auc", "auc_melanoma", "spec_at_sens_82"):
        low, high = scores["intervals"][name]
        assert low < plain[name] < high, name
    with pytest.raises(ValueError, match="one group per image: 300 images, 3 groups"):
        score("isic2017", one_hot, predictions, intervals=True, groups=[1, 2, 3])


def test_segmentation_scores_have_intervals_too():
    rng = np.random.default_rng(0)
    truth = [rng.random((8, 8)) > 0.5 for _ in range(30)]
    predicted = [t ^ (rng.random((8, 8)) > 0.8) for t in truth]
    scores = score("isic2018_task1", truth, predicted, intervals=100)
    low, high = scores["intervals"]["jaccard"]
    assert low < scores["jaccard"] < high and scores["interval_method"]["images"] == 30


def test_resampling_groups_by_patient_then_lesion_then_image():
    df = pd.DataFrame(
        {
            "image_id": list("abcd"),
            "lesion_id": ["L1", "L1", "L2", "L3"],
            "patient_id": ["P1", "P2", "P2", None],
        }
    )
    groups, unit = resampling_groups(df)
    assert unit == "patients" and len(set(groups)) == 2  # L1 and L2 joined by P2; L3 alone
    groups, unit = resampling_groups(df.drop(columns="patient_id"))
    assert unit == "lesions" and len(set(groups)) == 3
    assert resampling_groups(df[["image_id"]]) == (None, "images")


def test_delong_test_of_a_mean_over_categories_agrees_with_the_paired_bootstrap():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 400)
    one_hot = np.eye(3)[truth] > 0.5

    def model(strength, seed):
        logits = np.random.default_rng(seed).normal(0, 1, (400, 3))
        logits[np.arange(400), truth] += strength
        return logits

    a, b = model(1.5, 1), model(1.2, 2)
    test = delong_test(one_hot, a, b)
    assert test["auc_a"] == pytest.approx(np.mean([official.auc(one_hot[:, k], a[:, k]) for k in range(3)]))

    def difference(rows):
        truth_of = one_hot[rows]
        return {
            "auc": np.mean(
                [
                    rank_auc(truth_of[:, k], a[rows, k]) - rank_auc(truth_of[:, k], b[rows, k])
                    for k in range(3)
                ]
            )
        }

    half = 1.96 * test["difference"] / test["z"]
    bootstrap = bootstrap_intervals(difference, truth)["intervals"]["auc"]
    np.testing.assert_allclose(bootstrap, [test["difference"] - half, test["difference"] + half], atol=0.01)


def test_a_warning_of_the_scores_is_given_once_not_once_per_draw():
    truth = np.arange(30) % 3
    constant = np.tile([0.2, 0.7, 0.1], (30, 1))  # a collapsed model: dermnet.evaluation.collapse warns
    with pytest.warns(UserWarning) as caught:
        scores = challenge_scores(None, truth, constant, list("abc"), intervals=50, groups=np.arange(30) // 2)
    assert len(caught) == 1 and "warning" in scores and "warning" not in scores["intervals"]
