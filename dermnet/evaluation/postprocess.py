"""Post-processing of predicted lesion masks: `postprocess_mask` turns one probability map into a
clean binary mask (threshold, morphological opening and closing, hole filling, largest
component), and `average_masks` is the mask ensemble of RECOD (four U-nets, Menegola et al. 2017)
and Xue et al. 2018 (four SegANs and two DeepLabs): the (weighted) mean of the members' maps.

Dense-CRF refinement is not offered (`pydensecrf` is unmaintained and does not build for current
Python); `postprocess_mask` covers the post-processing the papers report.

Example:
>>> probabilities = dermnet.evaluation.average_masks([unet.predict(images), deeplab.predict(images)])[0]
>>> mask = dermnet.evaluation.postprocess_mask(probabilities, opening=3, closing=3)
"""

import cv2
import numpy as np


def postprocess_mask(probabilities, threshold=0.5, opening=0, closing=0, fill_holes=True,
                     largest_component=True):
    """A binary lesion mask from one probability map, in this order:

    1. threshold: a pixel above `threshold` is lesion;
    2. opening (erode, then dilate) removes specks and thin bridges smaller than the element,
       before closing could merge them into the lesion;
    3. closing (dilate, then erode) seals small gaps and notches of the border;
    4. hole filling makes lesion of every region of background that does not reach the image
       border, including holes the closing has just sealed;
    5. only the largest 8-connected component is kept (one lesion per image, as in the ISIC
       masks), after the filling, so that a ring around a large hole counts with its hole.

    Args:
        probabilities: `[H, W]` or `[H, W, 1]` lesion probabilities.
        threshold: the probability above which a pixel is lesion.
        opening: the radius in pixels of the elliptical element of the opening; 0 skips it.
        closing: the radius in pixels of the elliptical element of the closing; 0 skips it.
        fill_holes: fill the holes (4-connected background regions not touching the border).
        largest_component: keep only the largest 8-connected component (the first one in raster
            order on a tie). Leave it off for attribute masks, which are often scattered.

    Returns:
        A uint8 `[H, W]` mask of 0 and 1; all 0 when no pixel passes the threshold.

    Example:
    >>> mask = postprocess_mask(model.predict(images)[0], opening=2, closing=5)
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim == 3 and probabilities.shape[-1] == 1:
        probabilities = probabilities[..., 0]
    if probabilities.ndim != 2:
        raise ValueError(f"postprocess_mask takes one [H, W] or [H, W, 1] map; got the shape "
                         f"{probabilities.shape}")
    mask = (probabilities > threshold).astype(np.uint8)
    for radius, operation in ((opening, cv2.MORPH_OPEN), (closing, cv2.MORPH_CLOSE)):
        if radius > 0:
            element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            mask = cv2.morphologyEx(mask, operation, element)
    if fill_holes:
        # Flood the background from a one-pixel frame around the image: what stays unreached is a
        # hole. floodFill's 4-connectivity is the dual of the lesion's 8-connectivity (a diagonal
        # gap in the lesion's outline does not let the outside in).
        outside = np.pad(mask, 1)
        cv2.floodFill(outside, None, (0, 0), 1)
        mask = mask | (outside[1:-1, 1:-1] == 0).astype(np.uint8)
    if largest_component:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if count > 2:  # label 0 is the background; with one component there is nothing to drop
            mask = (labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])).astype(np.uint8)
    return mask


def average_masks(probability_maps, weights=None):
    """The (weighted) mean of probability maps of one shape: a mask ensemble, float32.

    Args:
        probability_maps: a sequence of arrays of the same shape (e.g. `[H, W]` or `[N, H, W, 1]`).
        weights: one non-negative weight per map (None: all equal); they need not sum to 1.

    Example:
    >>> probabilities = average_masks([unet_probabilities, deeplab_probabilities], weights=[2, 1])
    """
    maps = [np.asarray(m, dtype=np.float32) for m in probability_maps]
    if not maps:
        raise ValueError("average_masks needs at least one probability map")
    shapes = [m.shape for m in maps]
    if len(set(shapes)) > 1:
        raise ValueError(f"average_masks takes maps of one shape; got the shapes {shapes}")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(maps),) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"expected {len(maps)} non-negative weights, not all 0; got {weights.tolist()}")
    return np.average(np.stack(maps), axis=0, weights=weights).astype(np.float32)
