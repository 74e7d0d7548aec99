"""Calibration: the expected calibration error, and temperature scaling (Guo et al., ICML 2017) fitted
on a validation split.

Temperature scaling divides a classifier's logits by one number T fitted to minimise the negative
log-likelihood of the validation images: T > 1 softens over-confident probabilities, T < 1 sharpens
them. The predicted class never changes. dermnet's classifiers output softmax probabilities; their
logarithms are the logits up to a constant per image, which softmax ignores, so T applies to them.

Example:
>>> truth = np.array([0, 1, 1, 0])
>>> probabilities = np.array([[0.99, 0.01], [0.02, 0.98], [0.97, 0.03], [0.9, 0.1]])
>>> temperature = fit_temperature(truth, probabilities)
>>> temperature > 1  # over-confident: one image wrong at 0.97
True
>>> calibrated = apply_temperature(probabilities, temperature)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import optimize, special

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

_FLOOR = 1e-12  # log(0) is -inf: a probability of exactly 0 (float rounding) is taken as this


def expected_calibration_error(truth: ArrayLike, probabilities: ArrayLike, bins: int = 10) -> float:
    """The expected calibration error over `bins` equal-width bins of the predicted class' confidence
    (`dermnet.plots.calibration_bins`, the one definition that the reliability diagram draws too).

    Args:
        truth: `[N]` class indices.
        probabilities: `[N, K]`.
        bins: confidence bins.

    Returns:
        The ECE, in [0, 1].
    """
    from dermnet.plots import calibration_bins

    return calibration_bins(truth, probabilities, bins)["ece"]


def apply_temperature(probabilities: ArrayLike, temperature: float) -> np.ndarray:
    """`softmax(log(probabilities) / temperature)`, row by row.

    Args:
        probabilities: `[N, K]` softmax outputs (rows summing to 1).
        temperature: T > 0 (`fit_temperature`); 1 returns the probabilities as they are.

    Returns:
        `[N, K]` float64 probabilities.
    """
    if not temperature > 0:
        raise ValueError(f"a temperature is positive; got {temperature}")
    logits = np.log(np.clip(np.asarray(probabilities, dtype="float64"), _FLOOR, 1.0))
    return special.softmax(logits / temperature, axis=1)


def fit_temperature(
    truth: ArrayLike, probabilities: ArrayLike, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The temperature that minimises the mean negative log-likelihood of `truth` under
    `apply_temperature(probabilities, T)`: fit it on the validation split, apply it to the test split.

    Args:
        truth: `[N]` class indices of the validation images.
        probabilities: `[N, K]` the model's softmax outputs on them.
        bounds: the range searched (on a log scale).

    Returns:
        T, a float in `bounds`.

    Raises:
        ValueError: no images, or probabilities that are not `[N, K]` rows of K ≥ 2 summing to 1.
    """
    truth = np.asarray(truth, dtype="int64")
    probabilities = np.asarray(probabilities, dtype="float64")
    shaped = probabilities.ndim == 2 and probabilities.shape[1] >= 2 and len(probabilities) == len(truth) > 0
    if not shaped or not np.allclose(probabilities.sum(axis=1), 1, atol=1e-3):
        problem = "" if not shaped else ", rows not summing to 1"
        raise ValueError(
            f"temperature scaling needs softmax probabilities [N, K ≥ 2] of the N = "
            f"{len(truth)} images; got shape {probabilities.shape}{problem}"
        )
    logits = np.log(np.clip(probabilities, _FLOOR, 1.0))

    def loss(log_temperature: float) -> float:
        scaled = logits / np.exp(log_temperature)
        return float(np.mean(special.logsumexp(scaled, axis=1) - scaled[np.arange(len(truth)), truth]))

    found = optimize.minimize_scalar(loss, bounds=np.log(bounds), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))
