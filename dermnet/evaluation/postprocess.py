"""Post-processing of predicted lesion masks: `postprocess_mask` turns one probability map into a
clean binary mask (threshold, morphological opening and closing, hole filling, largest
component), `dense_crf` refines a map with a fully connected CRF, `postprocess_masks` applies both to
a batch (a recipe's `postprocess`: Xue et al. 2018 "leverage the Conditional Random Fields (CRFs) with
morphological operations to refine the generated segmentation masks and remove the isolated small
regions"), and `average_masks` is the mask ensemble of RECOD (four U-nets, Menegola et al. 2017)
and Xue et al. 2018 (four SegANs and two DeepLabs): the (weighted) mean of the members' maps.

The CRF is Krähenbühl and Koltun's (Xue et al.'s reference 9) through `pydensecrf2`, an optional
dependency (`pip install dermnet[crf]`): the original `pydensecrf` is unmaintained and does not build
on current Python; `pydensecrf2` is its maintained fork (AdaptiveMotorControlLab), published as source
only, so installing it compiles C++ (it builds on Python 3.11 with NumPy 2).

Example:
>>> probabilities = dermnet.evaluation.average_masks([unet.predict(images), deeplab.predict(images)])[0]
>>> mask = dermnet.evaluation.postprocess_mask(probabilities, opening=3, closing=3)
"""

import cv2
import numpy as np


def postprocess_mask(
    probabilities, threshold=0.5, opening=0, closing=0, fill_holes=True, largest_component=True
):
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
        raise ValueError(
            f"postprocess_mask takes one [H, W] or [H, W, 1] map; got the shape {probabilities.shape}"
        )
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


def dense_crf(
    image,
    probabilities,
    iterations=5,
    position_sigma=3.0,
    position_weight=3.0,
    bilateral_sigma=80.0,
    color_sigma=13.0,
    bilateral_weight=10.0,
):
    """Lesion probabilities `[H, W]` refined by a fully connected CRF with Gaussian edge potentials
    (Krähenbühl and Koltun 2011): a smoothness kernel over positions and an appearance kernel over
    positions and colours, `iterations` steps of mean-field inference.

    Xue et al. name no parameters: the defaults are pydensecrf's own example (dermnet's choice).

    Args:
        image: `[H, W, 3]` uint8 RGB, the image the map was predicted for, at the map's size.
        probabilities: `[H, W]` or `[H, W, 1]` lesion probabilities.
        iterations: mean-field steps.
        position_sigma, position_weight: the smoothness kernel's width in pixels and its weight.
        bilateral_sigma, color_sigma, bilateral_weight: the appearance kernel's widths in pixels and
            in colour levels, and its weight.

    Raises:
        ImportError: `pydensecrf2` is not installed (the message says how to install it).
    """
    try:
        import pydensecrf.densecrf as densecrf
        from pydensecrf.utils import unary_from_softmax
    except ImportError as err:
        raise ImportError(
            "dense_crf needs pydensecrf2 (the maintained fork of pydensecrf; it compiles C++): "
            "pip install 'dermnet[crf]'"
        ) from err
    lesion = np.asarray(probabilities, "float32")
    lesion = lesion[..., 0] if lesion.ndim == 3 and lesion.shape[-1] == 1 else lesion
    height, width = lesion.shape
    if np.shape(image) != (height, width, 3):
        raise ValueError(
            f"dense_crf takes an [H, W, 3] image of the map's size {lesion.shape}; got {np.shape(image)}"
        )
    crf = densecrf.DenseCRF2D(width, height, 2)
    crf.setUnaryEnergy(unary_from_softmax(np.stack([1 - lesion, lesion])))  # clipped there: no log(0)
    crf.addPairwiseGaussian(sxy=position_sigma, compat=position_weight)
    crf.addPairwiseBilateral(
        sxy=bilateral_sigma,
        srgb=color_sigma,
        compat=bilateral_weight,
        rgbim=np.ascontiguousarray(image, dtype=np.uint8),
    )
    return np.asarray(crf.inference(iterations), "float32")[1].reshape(height, width)


def postprocess_masks(probabilities, images=None, crf=False, **options):
    """`postprocess_mask` over a batch `[N, H, W, 1]`, after a `dense_crf` of each map with `crf`:
    float32 `[N, H, W, 1]` masks of 0 and 1 (what `mask_scores` scores).

    Args:
        probabilities: `[N, H, W, 1]` lesion probabilities (`predict_masks`).
        images: `[N, H, W, 3]` uint8, the images at the maps' size: needed by the CRF only.
        crf: refine each map with `dense_crf` first.
        **options: `postprocess_mask`'s (threshold, opening, closing, fill_holes, largest_component).

    Example:
    >>> options = dict(dermnet.recipes.get("xue2018").postprocess, crf=False)  # the CRF needs pydensecrf2
    >>> masks = postprocess_masks(model.predict(images, verbose=0), images, **options)
    >>> masks.shape
    (4, 32, 32, 1)
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 4 or probabilities.shape[-1] != 1:
        raise ValueError(
            f"postprocess_masks takes [N, H, W, 1] lesion probabilities; got the shape {probabilities.shape}"
        )
    if crf and (images is None or len(images) != len(probabilities)):
        raise ValueError("the CRF needs the images the masks were predicted for: one per mask")
    masks = [
        postprocess_mask(dense_crf(images[i], p) if crf else p, **options)
        for i, p in enumerate(probabilities)
    ]
    return np.stack(masks)[..., None].astype("float32")


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
