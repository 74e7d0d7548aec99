"""Mask post-processing (threshold, opening, closing, hole filling, largest component) and the mask
ensemble, on small hand-drawn maps."""

import numpy as np
import pytest

from dermnet.evaluation import average_masks, postprocess_mask
from dermnet.evaluation.postprocess import dense_crf, postprocess_masks

RAW = {"fill_holes": False, "largest_component": False}  # one step at a time


def disc(size, center, radius):
    rows, cols = np.mgrid[:size, :size]
    return ((rows - center[0]) ** 2 + (cols - center[1]) ** 2 <= radius**2).astype("float32")


def test_threshold_is_strict():
    probabilities = np.array([[0.2, 0.5, 0.51], [0.9, 0.0, 1.0]], "float32")
    mask = postprocess_mask(probabilities, **RAW)
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, [[0, 0, 1], [1, 0, 1]])
    strict = postprocess_mask(probabilities, threshold=0.95, **RAW)
    np.testing.assert_array_equal(strict, [[0, 0, 0], [0, 0, 1]])


def test_opening_removes_a_speck():
    probabilities = disc(20, (10, 10), 5)
    probabilities[1, 1] = 1.0  # a one-pixel speck far from the lesion
    assert postprocess_mask(probabilities, **RAW)[1, 1] == 1
    opened = postprocess_mask(probabilities, opening=1, **RAW)
    assert opened[1, 1] == 0 and opened[10, 10] == 1
    assert opened.sum() > 0.9 * disc(20, (10, 10), 5).sum()  # the lesion itself survives


def test_closing_bridges_a_gap():
    probabilities = np.zeros((9, 11), "float32")
    probabilities[2:7, 1:5] = probabilities[2:7, 6:10] = 1.0  # two blocks, a one-pixel gap at column 5
    assert postprocess_mask(probabilities, **RAW)[2:7, 5].sum() == 0
    closed = postprocess_mask(probabilities, closing=1, **RAW)
    # The 3×3 cross (radius 1) fills the gap between the blocks' rows; their corners stay notched.
    np.testing.assert_array_equal(closed[3:6, 5], [1, 1, 1])
    assert closed[:2].sum() == closed[7:].sum() == 0  # nothing added beyond the blocks


def test_fill_holes():
    probabilities = np.zeros((9, 9), "float32")
    probabilities[1:8, 1:8] = 1.0
    probabilities[3:6, 3:6] = 0.0  # a 3×3 hole in a square
    assert postprocess_mask(probabilities, **RAW)[3:6, 3:6].sum() == 0
    filled = postprocess_mask(probabilities, largest_component=False)
    np.testing.assert_array_equal(filled[1:8, 1:8], np.ones((7, 7)))
    assert filled.sum() == 49  # the background around the square stays background

    probabilities[1:3, 4] = 0.0  # a channel from the hole to the background at the border: a bay, no hole
    bay = postprocess_mask(probabilities, largest_component=False)
    assert bay[1:6, 4].sum() == 0 and bay[3:6, 3].sum() == 0


def test_a_diagonal_outline_still_encloses_its_hole():
    # A diamond outline (|r - 3| + |c - 3| = 2) is one 8-connected ring; its inside meets the
    # outside only diagonally, so it is a hole (background is 4-connected).
    rows, cols = np.mgrid[:7, :7]
    outline = (np.abs(rows - 3) + np.abs(cols - 3) == 2).astype("float32")
    filled = postprocess_mask(outline)
    np.testing.assert_array_equal(filled, np.abs(rows - 3) + np.abs(cols - 3) <= 2)


def test_largest_component_is_eight_connected():
    probabilities = np.zeros((8, 8), "float32")
    probabilities[0:2, 5:7] = 1.0  # a 2×2 block: 4 pixels
    probabilities[[3, 4, 5, 6, 7], [0, 1, 2, 3, 4]] = 1.0  # a diagonal line: 5 pixels, 8-connected
    mask = postprocess_mask(probabilities)
    assert mask.sum() == 5 and mask[0:2, 5:7].sum() == 0
    assert postprocess_mask(probabilities, largest_component=False).sum() == 9


def test_empty_input_stays_empty():
    mask = postprocess_mask(np.zeros((6, 5), "float32"), opening=2, closing=2)
    assert mask.shape == (6, 5) and mask.dtype == np.uint8 and mask.sum() == 0


def test_channel_axis_input():
    probabilities = disc(12, (6, 6), 3)
    mask = postprocess_mask(probabilities[..., None])
    assert mask.shape == (12, 12)
    np.testing.assert_array_equal(mask, postprocess_mask(probabilities))
    with pytest.raises(ValueError, match=r"\(12, 12, 2\)"):
        postprocess_mask(np.stack([probabilities] * 2, axis=-1))


def test_average_masks():
    a, b = np.full((2, 3), 0.8, "float32"), np.full((2, 3), 0.2, "float32")
    mean = average_masks([a, b])
    assert mean.dtype == np.float32 and mean.shape == (2, 3)
    np.testing.assert_allclose(mean, 0.5)
    np.testing.assert_allclose(average_masks([a, b], weights=[3, 1]), (3 * 0.8 + 0.2) / 4)


def test_average_masks_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        average_masks([np.zeros((2, 3)), np.zeros((3, 2))])
    with pytest.raises(ValueError, match="weights"):
        average_masks([np.zeros((2, 3))] * 2, weights=[1.0])
    with pytest.raises(ValueError, match="at least one"):
        average_masks([])


def test_postprocess_masks_removes_isolated_small_regions_of_a_batch_as_the_recipe_says():
    # Xue et al.'s morphological operations "remove the isolated small regions": recipe xue2018's options
    from dermnet import recipes

    options = {k: v for k, v in recipes.get("xue2018").postprocess.items() if k != "crf"}
    lesion = disc(40, (20, 20), 10)
    speckled = lesion.copy()
    speckled[2:4, 2:4] = 1.0  # an isolated 2×2 region
    speckled[20, 20] = 0.0  # a pinhole in the lesion
    masks = postprocess_masks(np.stack([speckled, lesion])[..., None], **options)
    assert masks.shape == (2, 40, 40, 1) and masks.dtype == np.float32
    assert masks[0, 2:4, 2:4].sum() == 0 and masks[0, 20, 20, 0] == 1
    assert abs(masks[0].sum() - lesion.sum()) < 0.05 * lesion.sum()
    with pytest.raises(ValueError, match="images"):
        postprocess_masks(masks, crf=True)


def test_dense_crf_pulls_an_uncertain_map_to_the_image_edges():
    pytest.importorskip("pydensecrf", reason="the optional CRF (pip install 'dermnet[crf]')")
    truth = disc(32, (16, 16), 8)
    image = np.where(truth[..., None] > 0, 60, 200).astype("uint8").repeat(3, axis=2)
    noise = np.random.default_rng(0).standard_normal(truth.shape)
    uncertain = np.clip(0.5 + 0.2 * (truth - 0.5) + 0.25 * noise, 0, 1)
    refined = dense_crf(image, uncertain)
    assert refined.shape == (32, 32)
    errors = [np.mean((p > 0.5) != truth) for p in (uncertain, refined)]
    assert errors[1] < errors[0] / 2, errors
    masks = postprocess_masks(uncertain[None, ..., None], image[None], crf=True, opening=1)
    assert np.mean(masks[0, ..., 0] != truth) < errors[0] / 2
