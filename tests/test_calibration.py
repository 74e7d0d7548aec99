"""Temperature scaling, the expected calibration error and the reliability diagram before and after."""

import cv2
import numpy as np
import pytest
from scipy import special

from dermnet import plots
from dermnet.evaluation.calibration import apply_temperature, expected_calibration_error, fit_temperature


def overconfident(n, temperature, seed=0):
    """Labels drawn from softmax(logits), and a model that reports softmax(logits / temperature)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 4))
    calibrated = special.softmax(logits, axis=1)
    truth = np.array([rng.choice(4, p=row) for row in calibrated])
    return truth, special.softmax(logits / temperature, axis=1)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_the_fitted_temperature_undoes_a_known_one(temperature):
    truth, reported = overconfident(4000, 1 / temperature)  # reported = softmax(logits · T)
    fitted = fit_temperature(truth, reported)
    assert fitted == pytest.approx(temperature, rel=0.1)
    calibrated = apply_temperature(reported, fitted)
    assert expected_calibration_error(truth, calibrated) < 0.5 * expected_calibration_error(truth, reported)


def test_temperature_keeps_the_predicted_class_and_refuses_what_it_cannot_scale():
    truth, reported = overconfident(50, 0.5)
    np.testing.assert_allclose(apply_temperature(reported, 1.0), reported, atol=1e-12)
    assert (apply_temperature(reported, 3.0).argmax(axis=1) == reported.argmax(axis=1)).all()
    np.testing.assert_allclose(apply_temperature(reported, 3.0).sum(axis=1), 1)
    with pytest.raises(ValueError, match="positive"):
        apply_temperature(reported, 0)
    with pytest.raises(ValueError, match="rows not summing to 1"):
        fit_temperature(truth, reported * 2)
    with pytest.raises(ValueError, match="N = 50 images; got shape \\(50,\\)"):
        fit_temperature(truth, reported[:, 0])


def test_the_reliability_diagram_shows_before_and_after(tmp_path):
    truth, reported = overconfident(300, 0.5)
    one = cv2.imread(str(plots.reliability_diagram(truth, reported, tmp_path / "one.png")))
    calibrated = apply_temperature(reported, 2.0)
    two = cv2.imread(
        str(
            plots.reliability_diagram(
                truth, reported, tmp_path / "two.png", calibrated=calibrated, temperature=2.0
            )
        )
    )
    assert two.shape[0] == one.shape[0] and two.shape[1] == pytest.approx(2 * one.shape[1], rel=0.02)
