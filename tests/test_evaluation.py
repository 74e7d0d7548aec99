"""Challenge scoring: hand-computed cases, scikit-learn where the definitions coincide, a real ISIC
2017 submission against its published scores, and the reading rules of the challenges' files.
(`tests/test_official_scoring.py` holds the official package's own test vectors.)"""

import cv2
import numpy as np
import pandas as pd
import pytest
from harness import shared_folder
from sklearn import metrics

from dermnet.evaluation import SubmissionError, attribute_scores, classification_scores, score


def test_binary_scores_by_hand():
    truth = [0, 0, 1, 1, 0]
    confidence = [0.1, 0.6, 0.7, 0.4, 0.2]
    scores = score("isic2016", truth, confidence)
    # Predicted positive: rows 1 and 2. Positives 2 and 3: one found; negatives 0, 1, 4: two right.
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["sensitivity"] == pytest.approx(1 / 2) and scores["specificity"] == pytest.approx(2 / 3)
    assert scores["ppv"] == pytest.approx(1 / 2) and scores["npv"] == pytest.approx(2 / 3)
    # Ranking 0.7(+) 0.6(-) 0.4(+) 0.2(-) 0.1(-): of the 6 positive-negative pairs, 5 are ordered right.
    assert scores["auc"] == pytest.approx(5 / 6)
    # Precision at each positive: 1/1 at rank 1, 2/3 at rank 3; their mean; ISIC 2016 ranked by it.
    assert scores["ap"] == scores["overall"] == pytest.approx((1 + 2 / 3) / 2)
    assert scores["auc_malignant"] == scores["auc"] and "balanced_accuracy" not in scores


def test_binary_scores_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 200)
    confidence = np.clip(truth * 0.3 + rng.random(200) * 0.7, 0, 1)
    scores = score("isic2020", truth, confidence)
    assert scores["auc"] == scores["overall"] == pytest.approx(metrics.roc_auc_score(truth, confidence))
    assert scores["accuracy"] == pytest.approx(metrics.accuracy_score(truth, confidence > 0.5))
    assert scores["sensitivity"] == pytest.approx(metrics.recall_score(truth, confidence > 0.5))
    assert scores["dice"] == pytest.approx(metrics.f1_score(truth, confidence > 0.5))
    weights = rng.choice([0.0, 1.0, 2.0], 200)
    weighted = score("isic2020", truth, confidence, weights=weights)
    assert weighted["auc"] == pytest.approx(metrics.roc_auc_score(truth, confidence, sample_weight=weights))
    kept = np.repeat(np.arange(200), weights.astype(int))  # integer weights are repeated rows
    assert weighted["sensitivity"] == pytest.approx(metrics.recall_score(truth[kept], confidence[kept] > 0.5))


def test_isic2024_partial_auc_matches_the_rescaled_mcclish_form():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 300)
    confidence = np.clip(truth * 0.4 + rng.random(300) * 0.6, 0, 1)
    scores = score("isic2024", truth, confidence)
    # The competition's second form: scikit-learn's standardised partial AUC of the flipped problem,
    # mapped back from [0.5, 1] to [0.5 * 0.2², 0.2].
    scaled = metrics.roc_auc_score(1 - truth, 1 - confidence, max_fpr=0.2)
    assert (
        scores["partial_auc"]
        == scores["overall"]
        == pytest.approx(0.02 + (0.2 - 0.02) / 0.5 * (scaled - 0.5))
    )
    assert score("isic2024", truth, truth.astype(float))["partial_auc"] == pytest.approx(0.2)  # perfect


def test_multiclass_balanced_accuracy_of_the_challenge_example():
    # ISIC 2018 task 3's example: truth [MEL, NV, MEL, MEL], prediction [MEL, MEL, MEL, NV] → 1/3.
    mel, nv = 0, 1
    truth = [mel, nv, mel, mel]
    probabilities = np.eye(7)[[mel, mel, mel, nv]] * 0.8 + 0.2 / 7
    scores = score("isic2018_task3", truth, probabilities)
    # Recall of MEL is 2/3, of NV 0; the classes absent from the truth are not counted.
    assert scores["balanced_accuracy"] == scores["overall"] == pytest.approx(1 / 3)
    assert scores["multiclass_accuracy"] == pytest.approx(2 / 4)
    assert np.isnan(scores["auc_VASC"])  # undefined without a VASC image (the package raises here)
    assert scores["auc"] == pytest.approx(np.mean([scores["auc_MEL"], scores["auc_NV"]]))  # NaN left out


def test_a_confidence_of_exactly_one_half_is_negative():
    # The challenges call a category when its value is above 0.5.
    assert score("isic2016", [1, 0], [0.5, 0.2])["sensitivity"] == 0.0


def test_undefined_rates_score_one_as_the_package_does():
    scores = score("isic2016", [0, 0, 0], [0.1, 0.2, 0.3])  # no malignant image, no positive call
    assert scores["sensitivity"] == scores["ppv"] == scores["dice"] == 1.0
    assert np.isnan(scores["auc"]) and np.isnan(scores["auc_sens_80"])


def test_specificity_at_a_sensitivity_by_hand():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
    confidence = [0.9, 0.8, 0.4, 0.2, 0.7, 0.6, 0.3, 0.1, 0.05]
    scores = score(
        "isic2017", np.stack([truth, 1 - truth], axis=1), np.stack([confidence, confidence], axis=1)
    )
    # Lowering the threshold: 0.9, 0.8 reach sensitivity 0.5 with no false positive; 0.4 reaches
    # 0.75 after 0.7 and 0.6; 0.2 reaches 1.0 (≥ 0.82, 0.89, 0.95) after 0.3 as well (3 of 5 negatives).
    assert scores["spec_at_sens_82_melanoma"] == scores["spec_at_sens_95_melanoma"] == pytest.approx(2 / 5)


def test_a_shared_highest_probability_is_wrong():
    probabilities = np.array([[0.5, 0.5, 0.0], [0.2, 0.7, 0.1], [0.4, 0.3, 0.3]])
    scores = classification_scores([0, 1, 0], probabilities, ("a", "b", "c"))
    assert scores["multiclass_accuracy"] == pytest.approx(2 / 3)  # row 0 is a tie, not class 0
    assert scores["balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)


@pytest.mark.parametrize(
    "truth, predictions, message",
    [
        ([0, 1], [0.5], "shapes"),
        ([], np.zeros(0), "empty"),
        ([0, 1], [np.nan, 0.5], "NaN"),
        ([0, 1], [1.2, 0.5], r"outside \[0, 1\] in the rows \[0\]"),
        ([0, 1], [[0.4, 0.6], [0.3, 0.7]], "malignant confidence alone"),
    ],
)
def test_bad_arrays(truth, predictions, message):
    with pytest.raises(SubmissionError, match=message):
        score("isic2016", truth, predictions)


def test_truth_outside_the_columns():
    with pytest.raises(SubmissionError, match=r"integers in 0..2"):
        classification_scores([0, 3], np.full((2, 3), 1 / 3), ("a", "b", "c"))


def test_isic2017_submission_scores_as_published():
    reference = shared_folder("reference")
    scores = score(
        "isic2017",
        reference / "ground_truth" / "ISIC-2017_Test_v2_Part3_GroundTruth.csv",
        reference / "predictions" / "isbi2017-titans-testv2-rc36xtrm.txt",
    )
    # RECOD Titans' published ISIC 2017 part 3 test AUCs: melanoma 0.874, seborrheic keratosis
    # 0.943, mean 0.908 (the challenge's ranking metric).
    assert round(scores["auc_melanoma"], 3) == 0.874
    assert round(scores["auc_seborrheic_keratosis"], 3) == 0.943
    assert round(scores["auc"], 3) == round(scores["overall"], 3) == 0.908
    truth = pd.read_csv(reference / "ground_truth" / "ISIC-2017_Test_v2_Part3_GroundTruth.csv")
    submitted = pd.read_csv(
        reference / "predictions" / "isbi2017-titans-testv2-rc36xtrm.txt", header=None, index_col=0
    ).loc[truth.image_id]
    assert scores["ap_melanoma"] == pytest.approx(
        metrics.average_precision_score(truth.melanoma, submitted[1])
    )
    assert (
        0
        < scores["spec_at_sens_95_melanoma"]
        < scores["spec_at_sens_89_melanoma"]
        < scores["spec_at_sens_82_melanoma"]
        < 1
    )


def write_csv(path, rows, header=None):
    pd.DataFrame(rows, columns=header).to_csv(path, index=False, header=header is not None)
    return path


def test_isic2016_files_in_every_published_format(tmp_path):
    ids = ["ISIC_0000003", "ISIC_0000012", "ISIC_0000013", "ISIC_0000014"]
    confidence = [0.4, 0.7, 0.2, 0.9]
    expected = score("isic2016", [0, 1, 0, 1], confidence)
    predictions = {  # the 2016 headerless format, in any row order, and today's headed one
        "headerless": write_csv(tmp_path / "p.csv", list(zip(ids[::-1], confidence[::-1]))),
        "headed": write_csv(tmp_path / "h.csv", list(zip(ids, confidence)), ["image", "malignant"]),
    }
    for labels in ([0, 1, 0, 1], ["benign", "malignant", "benign", "malignant"]):
        truth = write_csv(tmp_path / "t.csv", list(zip(ids, labels)))
        for path in predictions.values():
            assert score("isic2016", truth, path) == expected
    # A file with a benign and a malignant column is refused, never scored on the first one.
    both = write_csv(
        tmp_path / "b.csv",
        [[i, 1 - c, c] for i, c in zip(ids, confidence)],
        ["image_id", "benign", "malignant"],
    )
    with pytest.raises(
        SubmissionError, match=r"b.csv: the columns must be exactly malignant; extra \['benign'\]"
    ):
        score("isic2016", truth, both)
    headerless_three = write_csv(tmp_path / "b3.csv", [[i, 1 - c, c] for i, c in zip(ids, confidence)])
    with pytest.raises(SubmissionError, match="b3.csv: no header naming the id column"):
        score("isic2016", truth, headerless_three)


def test_the_official_reading_rules(tmp_path):
    challenge, truth = "isic2018_task3", tmp_path / "t.csv"
    truth.write_text(
        "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC\nISIC_0000001,1.0,0,0,0,0,0,0\nISIC_0000002,0,1.0,0,0,0,0,0\n"
    )
    plain = (
        "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC\nISIC_0000001,0.9,0.1,0.0,0.0,0.0,0.0,0.0\n"
        "ISIC_0000002,0.2,0.8,0.0,0.0,0.0,0.0,0.0\n"
    )
    variants = {  # accepted as the package accepts them
        "jpg": plain.replace("ISIC_0000001,", "ISIC_0000001.JPG,"),
        "trailing": plain.replace("\n", ",\n").replace("VASC,", "VASC"),
        "lesion_id": plain.replace("image,", "lesion_id,"),
    }
    (tmp_path / "plain.csv").write_text(plain)
    expected = score(challenge, truth, tmp_path / "plain.csv")
    for name, text in variants.items():
        (tmp_path / f"{name}.csv").write_text(text)
        np.testing.assert_equal(score(challenge, truth, tmp_path / f"{name}.csv"), expected, err_msg=name)
    refused = {  # refused as the package refuses them, each naming the file and the rows
        "integers": (
            plain.replace("0.9", "1")
            .replace("0.2", "0")
            .replace("0.8", "1")
            .replace("0.1", "0")
            .replace("0.0", "0"),
            r"columns \['MEL', 'NV', .*\] hold values that are not decimal",
        ),
        "outside": (plain.replace("0.9", "1.5"), r"outside \[0, 1\] for the images \['ISIC_0000001'\]"),
        "extra": (plain.replace("VASC\n", "VASC,UNK\n").replace("0.0\n", "0.0,0.0\n"), r"extra \['UNK'\]"),
        "empty": (plain.replace("0.9,", ","), r"missing values for the images \['ISIC_0000001'\]"),
    }
    for name, (text, message) in refused.items():
        (tmp_path / f"{name}.csv").write_text(text)
        with pytest.raises(SubmissionError, match=f"{name}.csv: .*{message}"):
            score(challenge, truth, tmp_path / f"{name}.csv")


def test_a_utf8_bom_is_read_as_pandas_reads_it_and_a_truth_that_is_not_0_or_1_is_named(tmp_path):
    """Excel's 'CSV UTF-8' starts with a BOM, which pandas and so the official scorer drop (issue 41)."""
    truth, plain = tmp_path / "t.csv", tmp_path / "p.csv"
    truth.write_text(
        "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC\nISIC_0000001,1.0,0,0,0,0,0,0\nISIC_0000002,0,1.0,0,0,0,0,0\n"
    )
    plain.write_text(
        "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC\nISIC_0000001,0.9,0.1,0.0,0.0,0.0,0.0,0.0\n"
        "ISIC_0000002,0.2,0.8,0.0,0.0,0.0,0.0,0.0\n"
    )
    expected = score("isic2018_task3", truth, plain)
    for path in (truth, plain):
        (tmp_path / f"bom_{path.name}").write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    np.testing.assert_equal(score("isic2018_task3", tmp_path / "bom_t.csv", tmp_path / "bom_p.csv"), expected)
    (tmp_path / "two.csv").write_text(truth.read_text().replace("ISIC_0000002,0,1.0", "ISIC_0000002,0,2.0"))
    with pytest.raises(
        SubmissionError,
        match=r"two.csv: the truth's values are 0 or 1; column NV holds 2.0 "
        r"in the row of ISIC_0000002",
    ):
        score("isic2018_task3", tmp_path / "two.csv", plain)


def test_truth_weights_and_the_unscored_image(tmp_path):
    header = "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC"
    rows = ["ISIC_0035068,1.0,0,0,0,0,0,0", "ISIC_0000002,0,1.0,0,0,0,0,0", "ISIC_0000003,1.0,0,0,0,0,0,0"]
    (tmp_path / "t.csv").write_text("\n".join([header, *rows]) + "\n")
    predicted = [
        "ISIC_0035068,0.0,1.0,0,0,0,0,0",
        "ISIC_0000002,0,1.0,0,0,0,0,0",
        "ISIC_0000003,1.0,0,0,0,0,0,0",
    ]
    (tmp_path / "p.csv").write_text(
        "\n".join([header, *predicted])
        .replace(",0,", ",0.0,")
        .replace(",0\n", ",0.0\n")
        .replace(",0,", ",0.0,")
        + "\n"
    )
    # ISIC_0035068 weighs 0, as the package rules: its wrong prediction does not count.
    assert score("isic2018_task3", tmp_path / "t.csv", tmp_path / "p.csv")["balanced_accuracy"] == 1.0
    weighted = [r + w for r, w in zip(rows, [",1.0,1.0", ",1.0,0.0", ",0.0,1.0"])]
    (tmp_path / "w.csv").write_text(
        "\n".join([header + ",score_weight,validation_weight", *weighted[::-1]]) + "\n"
    )
    scores = score("isic2018_task3", tmp_path / "w.csv", tmp_path / "p.csv")
    # Weights follow their image in any row order (the package applies them by position).
    assert scores["overall"] == 1.0  # the right NV image weighs 1, the right MEL one 0
    assert scores["validation"] == 1.0
    with pytest.raises(SubmissionError, match="weights= is for arrays"):  # never two sources of weights
        score("isic2018_task3", tmp_path / "w.csv", tmp_path / "p.csv", weights=[1.0, 1.0, 1.0])


def test_missing_extra_and_repeated_images_are_named(tmp_path):
    header = ["image_id", "melanoma", "seborrheic_keratosis"]
    truth = write_csv(tmp_path / "t.csv", [["ISIC_1", 1, 0], ["ISIC_2", 0, 1], ["ISIC_3", 0, 0]], header)
    short = write_csv(tmp_path / "short.csv", [["ISIC_1", 0.9, 0.1], ["ISIC_4", 0.2, 0.8]])
    with pytest.raises(
        SubmissionError,
        match=r"short.csv: 2 images of the truth have no prediction, e\.g\. "
        r"\['ISIC_2', 'ISIC_3'\]; 1 predicted images are not in the truth",
    ):
        score("isic2017", truth, short)
    twice = write_csv(tmp_path / "twice.csv", [["ISIC_1", 0.9, 0.1], ["ISIC_1", 0.2, 0.8]])
    with pytest.raises(SubmissionError, match=r"twice.csv: image ids listed twice: \['ISIC_1'\]"):
        score("isic2017", truth, twice)
    text = write_csv(
        tmp_path / "text.csv", [["ISIC_1", "high", 0.1], ["ISIC_2", 0.2, 0.8], ["ISIC_3", 0.0, 0.0]]
    )
    with pytest.raises(SubmissionError, match=r"text.csv: the columns \['melanoma'\] hold values"):
        score("isic2017", truth, text)


def test_isic2018_task3_files(tmp_path):
    header = ["image", "MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    one_hot = np.eye(7)[[0, 1, 0, 0]]
    truth = write_csv(tmp_path / "t.csv", [[f"ISIC_{i}", *row] for i, row in enumerate(one_hot)], header)
    predicted = np.eye(7)[[0, 0, 0, 1]] * 0.9 + 0.1 / 7
    predictions = write_csv(
        tmp_path / "p.csv", [[f"ISIC_{i}", *row] for i, row in enumerate(predicted)], header
    )
    scores = score("isic2018_task3", truth, predictions)
    assert scores["balanced_accuracy"] == pytest.approx(1 / 3)  # the challenge's example
    np.testing.assert_equal(scores, score("isic2018_task3", [0, 1, 0, 0], predicted))


def write_masks(folder, masks, suffix, extension=".png"):
    folder.mkdir()
    for i, mask in enumerate(masks):
        cv2.imwrite(str(folder / f"ISIC_000000{i}{suffix}{extension}"), mask)
    return folder


def test_isic2018_task1(tmp_path):
    truth = np.zeros((10, 10), np.uint8)
    truth[:, :5] = 255
    close = truth.copy()
    close[:, 5] = 255  # Jaccard 5/6 = 0.83: kept
    poor = np.zeros((10, 10), np.uint8)
    poor[:, :3] = 255  # Jaccard 3/5 = 0.6: below 0.65, scored 0
    empty = np.zeros((10, 10), np.uint8)
    scores = score("isic2018_task1", [truth, truth, empty], [close, poor, empty])
    assert scores["threshold_jaccard"] == scores["overall"] == pytest.approx((5 / 6 + 0 + 1) / 3)
    assert scores["jaccard"] == pytest.approx((5 / 6 + 3 / 5 + 1) / 3)
    assert scores["dice"] == pytest.approx((10 / 11 + 6 / 8 + 1) / 3)
    assert scores["sensitivity"] == pytest.approx((1 + 3 / 5 + 1) / 3)  # the empty truth: 1, as the package
    assert scores["specificity"] == pytest.approx((40 / 50 + 1 + 1) / 3)
    # bool, {0, 1} and probability arrays are the same masks
    assert (
        score("isic2018_task1", [truth > 0, truth // 255, empty], [m / 255.0 for m in (close, poor, empty)])
        == scores
    )
    truth_folder = write_masks(tmp_path / "truth", [truth, truth, empty], "_segmentation")
    assert (
        score("isic2018_task1", truth_folder, write_masks(tmp_path / "p", [close, poor, empty], "_x"))
        == scores
    )
    # A file of 0 and 1 is read as the package reads it: nothing above 128, no lesion.
    ones = score(
        "isic2018_task1", truth_folder, write_masks(tmp_path / "ones", [close // 255, poor // 255, empty], "")
    )
    assert ones["threshold_jaccard"] == pytest.approx(1 / 3)  # only the empty image scores
    # At 128 a pixel is background; at 129 lesion.
    edge = score(
        "isic2018_task1",
        truth_folder,
        write_masks(tmp_path / "e", [truth // 255 * 128, truth // 255 * 129, empty], ""),
    )
    assert edge["jaccard"] == pytest.approx((0 + 1 + 1) / 3)
    with pytest.raises(SubmissionError, match="mask 0: the predicted mask is"):
        score("isic2018_task1", [truth], [truth[:5]])
    small = write_masks(tmp_path / "small", [close[:5], poor, empty], "")
    with pytest.raises(
        SubmissionError,
        match=r"ISIC_0000000.png: the mask is 10×5 pixels; its truth "
        r"ISIC_0000000_segmentation.png is 10×10",
    ):
        score("isic2018_task1", truth_folder, small)
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    for i, mask in enumerate([close, poor, empty]):
        cv2.imwrite(str(rgb / f"ISIC_000000{i}.png"), np.dstack([mask] * 3))
    with pytest.raises(SubmissionError, match="ISIC_0000000.png: the mask is not single-channel"):
        score("isic2018_task1", truth_folder, rgb)


def test_isic2018_task2_sums_confusion_matrices_over_images(tmp_path):
    # Two images of one attribute: a perfect 2 × 2 mask, and an 8 × 8 one missing all of its single
    # lesion pixel. Per image Jaccard: 1 and 0 (mean 0.5). Summed shares of each image's pixels:
    # TP 1 + 0, FN 0 + 1/64, FP 0: Jaccard 1 / (1 + 1/64) = 64/65.
    big_truth = np.zeros((8, 8), np.uint8)
    big_truth[0, 0] = 255
    truth = {"globules": [np.full((2, 2), 255, np.uint8), big_truth]}
    predicted = {"globules": [np.full((2, 2), 255, np.uint8), np.zeros((8, 8), np.uint8)]}
    scores = attribute_scores(truth, predicted)
    assert scores["jaccard"] == scores["jaccard_globules"] == scores["overall"] == pytest.approx(64 / 65)
    assert scores["dice"] == pytest.approx(2 / (2 + 1 / 64))
    for folder, masks in (("truth", truth), ("pred", predicted)):
        (tmp_path / folder).mkdir()
        for i, mask in enumerate(masks["globules"]):
            cv2.imwrite(str(tmp_path / folder / f"ISIC_000000{i}_attribute_globules.png"), mask)
    assert score("isic2018_task2", tmp_path / "truth", tmp_path / "pred") == scores


def test_unknown_challenge():
    with pytest.raises(ValueError, match="Unknown challenge 'isic2021'"):
        score("isic2021", [0], [0.5])


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
    assert classification_scores(labels[200:], probabilities, "abc")["balanced_accuracy"] == 1.0


def test_challenge_scores_of_isic2017_pick_melanoma_and_keratosis_by_name():
    from dermnet.evaluation import challenge_scores

    classes = ("nevus", "seborrheic_keratosis", "melanoma")  # not the challenge's order
    truth = np.array([0, 1, 2, 2, 0, 1])
    probabilities = np.random.default_rng(0).dirichlet(np.ones(3), 6)
    scores = challenge_scores("isic2017", truth, probabilities, classes)
    assert scores["auc_melanoma"] == pytest.approx(metrics.roc_auc_score(truth == 2, probabilities[:, 2]))
    assert scores["auc_seborrheic_keratosis"] == pytest.approx(
        metrics.roc_auc_score(truth == 1, probabilities[:, 1])
    )
    generic = challenge_scores(None, truth, probabilities, classes)
    assert generic == classification_scores(truth, probabilities, classes)
    assert generic["auc_melanoma"] == scores["auc_melanoma"] and "overall" not in generic


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
    ours = challenge_scores(
        "isic2018_task3",
        np.argsort(order)[truth],
        probabilities[:, order],
        [official[k].lower() for k in order],
    )
    np.testing.assert_equal(ours, score("isic2018_task3", truth, probabilities))
    with pytest.raises(ValueError, match="MEL, NV"):
        challenge_scores("isic2018_task3", truth[:6] % 3, probabilities[:6, :3], ("mel", "nv", "bcc"))
