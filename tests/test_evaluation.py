"""Challenge scoring: hand-computed cases, scikit-learn where the definitions coincide, and a real
ISIC 2017 submission against its published scores."""

import cv2
import numpy as np
import pandas as pd
import pytest
from harness import shared_folder
from sklearn import metrics

from dermnet.evaluation import binary_scores, classification_scores, multiclass_scores, score


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


def test_a_confidence_of_exactly_one_half_is_benign():
    # The challenges call a lesion malignant when the confidence is above 0.5.
    assert binary_scores([1, 0], [0.5, 0.2])["sensitivity"] == 0.0


def test_specificity_at_a_sensitivity_by_hand():
    truth = [1, 1, 1, 1, 0, 0, 0, 0, 0]
    confidence = [0.9, 0.8, 0.4, 0.2, 0.7, 0.6, 0.3, 0.1, 0.05]
    scores = binary_scores(truth, confidence, sensitivity_levels=(0.5, 0.75, 1.0))
    # Lowering the threshold: 0.9, 0.8 reach sensitivity 0.5 with no false positive; 0.4 reaches
    # 0.75 after 0.7 and 0.6 (2 of 5 negatives); 0.2 reaches 1.0 after 0.3 as well (3 of 5).
    assert scores["spec_at_sens_50"] == 1.0
    assert scores["spec_at_sens_75"] == pytest.approx(3 / 5)
    assert scores["spec_at_sens_100"] == pytest.approx(2 / 5)


def test_a_shared_highest_probability_is_wrong():
    probabilities = [[0.5, 0.5, 0.0], [0.2, 0.7, 0.1], [0.4, 0.3, 0.3]]
    scores = multiclass_scores([0, 1, 0], probabilities)
    assert scores["accuracy"] == pytest.approx(2 / 3)  # row 0 is a tie, not class 0
    assert scores["balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)


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


def test_isic2017_submission_scores_as_published():
    reference = shared_folder("reference")
    scores = score("isic2017", reference / "ground_truth" / "ISIC-2017_Test_v2_Part3_GroundTruth.csv",
                   reference / "predictions" / "isbi2017-titans-testv2-rc36xtrm.txt")
    # RECOD Titans' published ISIC 2017 part 3 test AUCs: melanoma 0.874, seborrheic keratosis
    # 0.943, mean 0.908 (the challenge's ranking metric).
    assert round(scores["auc_melanoma"], 3) == 0.874
    assert round(scores["auc_seborrheic_keratosis"], 3) == 0.943
    assert round(scores["auc_mean"], 3) == 0.908
    truth = pd.read_csv(reference / "ground_truth" / "ISIC-2017_Test_v2_Part3_GroundTruth.csv")
    submitted = pd.read_csv(reference / "predictions" / "isbi2017-titans-testv2-rc36xtrm.txt", header=None,
                            index_col=0).loc[truth.image_id]
    assert scores["average_precision_melanoma"] == pytest.approx(
        metrics.average_precision_score(truth.melanoma, submitted[1]))
    assert 0 < scores["spec_at_sens_95_melanoma"] < scores["spec_at_sens_89_melanoma"] < scores[
        "spec_at_sens_82_melanoma"] < 1


def write_csv(path, rows, header=None):
    pd.DataFrame(rows, columns=header).to_csv(path, index=False, header=header is not None)
    return path


def test_isic2016_files_in_either_truth_format(tmp_path):
    ids = ["ISIC_0000003", "ISIC_0000012", "ISIC_0000013", "ISIC_0000014"]
    predictions = write_csv(tmp_path / "p.csv", list(zip(ids[::-1], [0.9, 0.2, 0.7, 0.4])))  # any order
    expected = binary_scores([0, 1, 0, 1], [0.4, 0.7, 0.2, 0.9])
    for labels in ([0, 1, 0, 1], ["benign", "malignant", "benign", "malignant"]):
        truth = write_csv(tmp_path / "t.csv", list(zip(ids, labels)))
        assert score("isic2016", truth, predictions) == expected
    assert score("isic2016", [0, 1, 0, 1], [[0.6, 0.4], [0.3, 0.7], [0.8, 0.2], [0.1, 0.9]]) == expected


def test_missing_extra_and_repeated_images_are_named(tmp_path):
    header = ["image_id", "melanoma", "seborrheic_keratosis"]
    truth = write_csv(tmp_path / "t.csv", [["ISIC_1", 1, 0], ["ISIC_2", 0, 1], ["ISIC_3", 0, 0]], header)
    short = write_csv(tmp_path / "short.csv", [["ISIC_1", 0.9, 0.1], ["ISIC_4", 0.2, 0.8]])
    with pytest.raises(ValueError, match=r"short.csv: 2 images of the truth have no prediction, e\.g\. "
                                         r"\['ISIC_2', 'ISIC_3'\]; 1 predicted images are not in the truth"):
        score("isic2017", truth, short)
    twice = write_csv(tmp_path / "twice.csv", [["ISIC_1", 0.9, 0.1], ["ISIC_1", 0.2, 0.8]])
    with pytest.raises(ValueError, match=r"twice.csv: image ids listed twice: \['ISIC_1'\]"):
        score("isic2017", truth, twice)
    text = write_csv(tmp_path / "text.csv", [["ISIC_1", "high", 0.1], ["ISIC_2", 0.2, 0.8], ["ISIC_3", 0, 0]])
    with pytest.raises(ValueError, match="text.csv: a prediction is not a number"):
        score("isic2017", truth, text)


def test_isic2018_task3_files(tmp_path):
    header = ["image", "MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    one_hot = np.eye(7)[[0, 1, 0, 0]]
    truth = write_csv(tmp_path / "t.csv", [[f"ISIC_{i}", *row] for i, row in enumerate(one_hot)], header)
    predicted = np.eye(7)[[0, 0, 0, 1]] * 0.9 + 0.1 / 7
    predictions = write_csv(tmp_path / "p.csv", [[f"ISIC_{i}", *row] for i, row in enumerate(predicted)], header)
    scores = score("isic2018_task3", truth, predictions)
    assert scores["balanced_accuracy"] == pytest.approx(1 / 3)  # the challenge's example
    assert "auc_MEL" in scores and "auc_VASC" not in scores  # VASC is absent from the truth


def test_isic2018_task1_thresholded_jaccard(tmp_path):
    truth = np.zeros((10, 10), np.uint8)
    truth[:, :5] = 255
    close = truth.copy()
    close[:, 5] = 255  # Jaccard 5/6 = 0.83: kept
    poor = np.zeros((10, 10), np.uint8)
    poor[:, :3] = 255  # Jaccard 3/5 = 0.6: below 0.65, scored 0
    empty = np.zeros((10, 10), np.uint8)
    scores = score("isic2018_task1", [truth, truth, empty], [close, poor, empty])
    assert scores["thresholded_jaccard"] == pytest.approx((5 / 6 + 0 + 1) / 3)
    assert scores["jaccard"] == pytest.approx((5 / 6 + 3 / 5 + 1) / 3)
    assert scores["dice"] == pytest.approx((10 / 11 + 6 / 8 + 1) / 3)
    # {0, 1} masks, probabilities and 0/255 masks are the same masks
    as_probabilities = [m / 255.0 for m in (close, poor, empty)]
    assert score("isic2018_task1", [truth // 255, truth, empty], as_probabilities) == scores
    for folder, masks, suffix in (("truth", [truth, truth, empty], "_segmentation"),
                                  ("predicted", [close, poor, empty], "_prediction")):
        (tmp_path / folder).mkdir()
        for i, mask in enumerate(masks):
            cv2.imwrite(str(tmp_path / folder / f"ISIC_000000{i}{suffix}.png"), mask)
    assert score("isic2018_task1", tmp_path / "truth", tmp_path / "predicted") == scores
    with pytest.raises(ValueError, match="mask 0: the predicted mask is"):
        score("isic2018_task1", [truth], [truth[:5]])


def test_unknown_challenge():
    with pytest.raises(ValueError, match="Unknown challenge 'isic2019'"):
        score("isic2019", [0], [0.5])


def test_nearest_class_mean_is_exact_on_separated_embeddings():
    from dermnet.evaluation import NearestClassMean

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = rng.integers(0, 3, 300)
    points = centres[labels] + rng.normal(scale=0.5, size=(300, 2))
    ncm = NearestClassMean(lambda x: x, samples_per_class=100).fit(points[:200], labels[:200])
    assert [len(s) for s in ncm.class_samples] == [min(100, np.sum(labels[:200] == k)) for k in range(3)]
    probabilities = ncm.predict(points[200:])
    np.testing.assert_array_equal(probabilities.argmax(axis=1), labels[200:])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert score("isic2018_task3", labels[200:], probabilities)["balanced_accuracy"] == 1.0


def test_challenge_scores_of_isic2017_pick_melanoma_and_keratosis_by_name():
    from dermnet.evaluation import challenge_scores

    classes = ("nevus", "seborrheic_keratosis", "melanoma")  # not the challenge's order
    truth = np.array([0, 1, 2, 2, 0, 1])
    probabilities = np.random.default_rng(0).dirichlet(np.ones(3), 6)
    scores = challenge_scores("isic2017", truth, probabilities, classes)
    assert scores["auc_melanoma"] == pytest.approx(metrics.roc_auc_score(truth == 2, probabilities[:, 2]))
    assert scores["auc_seborrheic_keratosis"] == pytest.approx(metrics.roc_auc_score(truth == 1, probabilities[:, 1]))
    assert challenge_scores(None, truth, probabilities, classes) == multiclass_scores(truth, probabilities,
                                                                                     list(classes))


def test_challenge_scores_of_isic2016_and_2018_follow_the_class_names():
    from dermnet.evaluation import challenge_scores

    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 40)
    probabilities = rng.dirichlet(np.ones(2), 40)
    # malignant first: the malignant column is scored, whatever its position
    flipped = challenge_scores("isic2016", 1 - truth, probabilities[:, ::-1], ("malignant", "benign"))
    assert flipped == challenge_scores("isic2016", truth, probabilities, ("benign", "malignant"))
    assert flipped["auc"] == pytest.approx(metrics.roc_auc_score(truth, probabilities[:, 1]))

    official = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
    order = rng.permutation(7)  # a model whose outputs come in another order
    truth = rng.integers(0, 7, 70)
    probabilities = rng.dirichlet(np.ones(7), 70)
    ours = challenge_scores("isic2018_task3", np.argsort(order)[truth], probabilities[:, order],
                            [official[k].lower() for k in order])
    assert ours == score("isic2018_task3", truth, probabilities)
    with pytest.raises(ValueError, match="MEL, NV"):
        challenge_scores("isic2018_task3", truth[:6] % 3, probabilities[:6, :3], ("mel", "nv", "bcc"))
