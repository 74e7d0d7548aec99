"""The official scoring package's own test vectors (isic-challenge-scoring 5.8.0, tests/
test_metrics_binary.py and test_metrics_multiclass.py), run against dermnet's definitions; and, where a
Python with that package is named, the full comparison of `tools/compare_official_scoring.py`."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dermnet.evaluation import official

# The package's 4 × 4 truth (the top-left quarter) and its predictions.
TRUTH = np.zeros((4, 4), bool)
TRUTH[:2, :2] = True


def _mask(*cells):
    mask = np.zeros((4, 4), bool)
    for row, column in cells:
        mask[row, column] = True
    return mask


PREDICTIONS = {
    "empty": _mask(),
    "no_overlap": _mask((2, 2), (2, 3), (3, 2), (3, 3)),
    "quarter_overlap": _mask((1, 1), (1, 2), (2, 1), (2, 2)),
    "half_overlap": _mask((0, 1), (0, 2), (1, 1), (1, 2)),
    "half_filled": _mask((0, 1), (1, 1)),
    "three_quarter_filled": _mask((0, 1), (1, 0), (1, 1)),
    "truth": TRUTH,
    "one_extra": TRUTH | _mask((2, 2)),
    "filled": np.ones((4, 4), bool),
}
# The package's expected values, per prediction above, in its order.
EXPECTED = {
    "accuracy": [12 / 16, 8 / 16, 10 / 16, 12 / 16, 14 / 16, 15 / 16, 16 / 16, 15 / 16, 4 / 16],
    "sensitivity": [0 / 4, 0 / 4, 1 / 4, 2 / 4, 2 / 4, 3 / 4, 4 / 4, 4 / 4, 4 / 4],
    "specificity": [12 / 12, 8 / 12, 9 / 12, 10 / 12, 12 / 12, 12 / 12, 12 / 12, 11 / 12, 0 / 12],
    "jaccard": [0 / 4, 0 / 8, 1 / 7, 2 / 6, 2 / 4, 3 / 4, 4 / 4, 4 / 5, 4 / 16],
    "threshold_jaccard": [0.0, 0.0, 0.0, 0.0, 0.0, 3 / 4, 4 / 4, 4 / 5, 0.0],
    "dice": [
        2 * 0 / 4,
        2 * 0 / 8,
        2 * 1 / 8,
        2 * 2 / 8,
        2 * 2 / 6,
        2 * 3 / 7,
        2 * 4 / 8,
        2 * 4 / 9,
        2 * 4 / 20,
    ],
    "ppv": [1.0, 0 / 4, 1 / 4, 2 / 4, 2 / 2, 3 / 3, 4 / 4, 4 / 5, 4 / 16],
    "npv": [12 / 16, 8 / 12, 9 / 12, 10 / 12, 12 / 14, 12 / 13, 12 / 12, 11 / 11, 1.0],
}


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_binary_mask_metrics(metric):
    for (name, prediction), expected in zip(PREDICTIONS.items(), EXPECTED[metric]):
        tp, tn, fp, fn = official.confusion(TRUTH, prediction)
        if metric in ("ppv", "npv"):
            value = official.binary_metrics(tp, tn, fp, fn)[metric]
        else:
            value = official.mask_metrics(TRUTH, prediction)[metric]
        assert value == expected, name


def test_labels_mark_a_shared_highest_value_undecided():
    values = [
        [0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0] * 7,
        [0.2, 0.2, 0.2, 0.8, 0.2, 0.2, 0.2],
        [0.4] * 7,
        [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
    assert official.labels(values).tolist() == [1, official.UNDECIDED, 3, official.UNDECIDED, 0]


CATEGORIES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")


@pytest.mark.parametrize(
    "truth, predicted, expected",
    [
        (["MEL"], ["MEL"], 1.0),
        (["NV"], ["NV"], 1.0),
        (["NV"], ["MEL"], 0.0),
        (["MEL", "MEL"], ["MEL", "MEL"], 1.0),
        (["MEL", "NV"], ["MEL", "NV"], 1.0),
        (["MEL", "NV"], ["MEL", "MEL"], 0.5),
        (["MEL", "NV", "MEL"], ["MEL", "MEL", "MEL"], 0.5),
        (["MEL", "NV", "MEL", "MEL"], ["MEL", "MEL", "MEL", "MEL"], 0.5),
        (["MEL", "NV", "MEL", "MEL"], ["MEL", "MEL", "MEL", "NV"], 1 / 3),
        (["MEL", "NV", "MEL", "MEL"], ["NV", "MEL", "NV", "NV"], 0.0),
    ],
)
@pytest.mark.parametrize("with_a_weightless_wrong_row", [False, True])
def test_balanced_accuracy(truth, predicted, expected, with_a_weightless_wrong_row):
    weights = [1.0] * len(truth)
    if with_a_weightless_wrong_row:
        truth, predicted, weights = truth + ["MEL"], predicted + ["NV"], weights + [0.0]
    one_hot = np.eye(7)
    value = official.balanced_accuracy(
        one_hot[[CATEGORIES.index(c) for c in truth]],
        one_hot[[CATEGORIES.index(c) for c in predicted]],
        weights,
    )
    assert value == expected


@pytest.mark.parametrize(
    "truth, confidence, sensitivity, expected",
    [
        ([0.0, 0.0, 1.0, 1.0], [0.2, 0.4, 0.6, 0.8], 0.1, 1.0),
        ([0.0, 0.0, 1.0, 1.0], [0.2, 0.4, 0.6, 0.8], 1.0, 1.0),
        ([0.0, 0.0, 1.0, 1.0], [0.3, 0.7, 0.3, 0.7], 0.1, 0.495),
        ([0.0, 0.0, 1.0, 1.0], [0.3, 0.7, 0.3, 0.7], 1.0, 0.0),
        ([0.0, 0.0, 1.0, 1.0], [0.8, 0.6, 0.4, 0.2], 0.1, 0.0),
        ([0.0, 0.0, 1.0, 1.0], [0.8, 0.6, 0.4, 0.2], 1.0, 0.0),
    ],
)
@pytest.mark.parametrize("with_a_weightless_wrong_row", [False, True])
def test_auc_above_sensitivity(truth, confidence, sensitivity, expected, with_a_weightless_wrong_row):
    weights = [1.0] * len(truth)
    if with_a_weightless_wrong_row:
        truth, confidence, weights = truth + [1.0], confidence + [0.2], weights + [0.0]
    assert official.auc_above_sensitivity(truth, confidence, weights, sensitivity) == expected


@pytest.mark.parametrize(
    "truth, confidence, expected",
    [  # (fpr, tpr, threshold) per point
        (
            [0.0, 0.0, 1.0, 1.0],
            [0.1, 0.4, 0.35, 0.8],
            [(0.0, 0.0, 1.0), (0.0, 0.5, 0.8), (0.5, 0.5, 0.4), (0.5, 1.0, 0.35), (1.0, 1.0, 0.1)],
        ),
        (
            [0.0, 0.0, 1.0, 1.0],
            [0.2, 0.4, 0.6, 0.8],
            [(0.0, 0.0, 1.0), (0.0, 0.5, 0.8), (0.0, 1.0, 0.6), (1.0, 1.0, 0.2)],
        ),
        ([0.0, 0.0, 1.0, 1.0], [0.3, 0.7, 0.3, 0.7], [(0.0, 0.0, 1.0), (0.5, 0.5, 0.7), (1.0, 1.0, 0.3)]),
        (
            [0.0, 0.0, 1.0, 1.0],
            [0.8, 0.6, 0.4, 0.2],
            [(0.0, 0.0, 1.0), (0.5, 0.0, 0.8), (1.0, 0.0, 0.6), (1.0, 1.0, 0.2)],
        ),
    ],
)
@pytest.mark.parametrize("with_a_weightless_wrong_row", [False, True])
def test_roc_points(truth, confidence, expected, with_a_weightless_wrong_row):
    weights = [1.0] * len(truth)
    if with_a_weightless_wrong_row:
        truth, confidence, weights = truth + [1.0], confidence + [confidence[0]], weights + [0.0]
    points = list(zip(*official.roc_points(truth, confidence, weights)))
    assert [tuple(float(v) for v in point) for point in points] == expected


@pytest.mark.skipif(
    not os.environ.get("DERMNET_OFFICIAL_PYTHON"),
    reason="set DERMNET_OFFICIAL_PYTHON to a Python with isic-challenge-scoring installed",
)
def test_dermnet_agrees_with_the_official_package_on_random_cases():
    tool = Path(__file__).resolve().parents[1] / "tools" / "compare_official_scoring.py"
    run = subprocess.run(
        [
            sys.executable,
            str(tool),
            "--official-python",
            os.environ["DERMNET_OFFICIAL_PYTHON"],
            "--cases",
            "60",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 differ" in run.stdout
