"""Procedural dermoscopy-like images: dermnet's embedded default data set (no download needed).

Each image is a pigmented lesion on skin, seen through a dermoscope: an uneven skin tone, a lesion
with a soft or sharp border, hairs across it and the dark circular vignette of the lens. The class
changes what the lesion looks like; skin tone, exposure, lesion position, size within the class'
range, hairs and vignette are drawn independently of the class, so that no single global statistic
(such as the mean brightness) gives the class away.

The classes (`CLASS_NAMES`; `num_classes=k` uses the first k), loosely after the ISIC/HAM10000 ones:

0. nevus: small to medium, nearly round, regular border, homogeneous brown.
1. melanoma: larger, asymmetric and irregular border, several colours (black, blue-grey, red, dark
   brown blotches) and radial streaks at the border.
2. keratosis: waxy light brown, sharp "stuck-on" border, white milia dots and dark crypts.
3. basal_cell_carcinoma: pinkish and translucent, red branching vessels, blue-grey ovoid nests.
4. actinic_keratosis: pink-red, faint and diffuse border, white scale patches.
5. vascular: small, sharp, dark red-purple with darker round lacunae.
6. dermatofibroma: light brown, pigment network at the rim around a white central patch.

Example:
>>> from dermnet.data.synthetic import synthetic, write_synthetic
>>> images, masks, labels = synthetic(8, image_size=64)
>>> images.shape, masks.shape, labels.shape
((8, 64, 64, 3), (8, 64, 64), (8,))
>>> table = write_synthetic("~/data/synthetic-60", n=60)  # PNGs, masks and manifest.csv
>>> table.columns.tolist()
['image_id', 'label', 'split', 'lesion_id', 'image', 'mask']
"""

import json
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from dermnet._progress import progress
from dermnet.data.manifest import from_csv

CLASS_NAMES = (
    "nevus",
    "melanoma",
    "keratosis",
    "basal_cell_carcinoma",
    "actinic_keratosis",
    "vascular",
    "dermatofibroma",
)

# One style per class. radius: range as a fraction of the shorter image side; border: amplitude of the
# border's wobble; edge: blur of the border (fraction of the radius); opacity: how much the pigment
# hides the skin; blotches: colours of which 2 or more cover patches; dots: (colour, count range,
# radius as a fraction of the side). Colours are RGB and jittered per image.
_BROWN = (100, 62, 44)
_STYLES = (
    dict(radius=(0.12, 0.25), border=0.03, edge=0.12, opacity=0.9, base=_BROWN),
    dict(
        radius=(0.18, 0.33),
        border=0.16,
        edge=0.06,
        opacity=0.9,
        base=_BROWN,
        blotches=((35, 25, 25), (100, 110, 130), (170, 85, 85), (75, 45, 30)),
        streaks=True,
    ),
    dict(
        radius=(0.14, 0.29),
        border=0.06,
        edge=0.02,
        opacity=0.8,
        base=(165, 122, 80),
        dots=(((245, 235, 200), (10, 25), 0.018), ((70, 45, 30), (3, 8), 0.02)),
    ),
    dict(
        radius=(0.14, 0.29),
        border=0.08,
        edge=0.1,
        opacity=0.65,
        base=(230, 170, 180),
        vessels=True,
        dots=(((90, 100, 130), (3, 7), 0.03),),
    ),
    dict(
        radius=(0.18, 0.33),
        border=0.1,
        edge=0.3,
        opacity=0.65,
        base=(200, 90, 85),
        blotches=((240, 230, 225), (230, 215, 190)),
    ),
    dict(
        radius=(0.1, 0.22),
        border=0.04,
        edge=0.03,
        opacity=0.95,
        base=(150, 35, 65),
        dots=(((80, 15, 45), (6, 14), 0.035),),
    ),
    dict(radius=(0.12, 0.24), border=0.04, edge=0.2, opacity=0.75, base=(160, 110, 80), network=True),
)


def _arguments(n, image_size, num_classes):
    """Checks the arguments; returns (height, width)."""
    height, width = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    if min(height, width) < 32:
        raise ValueError(f"image_size must be at least 32 pixels a side, got {image_size!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 2 <= num_classes <= len(CLASS_NAMES):
        raise ValueError(f"num_classes must be between 2 and {len(CLASS_NAMES)}, got {num_classes}")
    return int(height), int(width)


def _label(i, num_classes, seed):
    # A fresh class order per block of num_classes images: exactly balanced, not periodic in i,
    # and still a function of (seed, i) alone.
    return int(np.random.default_rng([seed, 1, i // num_classes]).permutation(num_classes)[i % num_classes])


def _noise(rng, height, width, cells):
    """A smooth random field of roughly unit spread, with about `cells` blobs across the image."""
    grid = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


def _paint(image, layer, colour, opacity=1.0):
    """Blends `colour` into `image` (in place) where the uint8 `layer` is drawn."""
    alpha = layer.astype(np.float32)[..., None] * (opacity / 255)
    image += alpha * (np.asarray(colour, np.float32) - image)


def _strokes(image, curves, colour, opacity, thickness):
    """Paints anti-aliased curves (arrays of [x, y] pixel points) onto `image`."""
    layer = np.zeros(image.shape[:2], np.uint8)
    cv2.polylines(layer, [_fixed(curve) for curve in curves], False, 255, thickness, cv2.LINE_AA, 4)
    _paint(image, layer, colour, opacity)


def _fixed(points):
    """Pixel coordinates with 4 fractional bits: OpenCV draws at sub-pixel precision with shift=4."""
    return np.round(np.asarray(points) * 16).astype(np.int32)


def _jitter(rng, colour, spread=0.2):
    # Mostly lighter or darker, a little hue: a uniform per-channel shift would turn browns olive
    return np.clip(np.asarray(colour) * rng.uniform(1 - spread, 1 + spread) * rng.normal(1, 0.04, 3), 0, 255)


def _draw(seed, i, height, width, num_classes):
    """Image i of a data set: (uint8 RGB image, uint8 mask, label), from (seed, i) alone."""
    label = _label(i, num_classes, seed)
    style, rng, side = _STYLES[label], np.random.default_rng([seed, 0, i]), min(height, width)
    # Skin: a tone from fair to brown, uneven illumination and a fine texture
    tone = rng.uniform()
    skin = np.array([235, 190, 165]) * (1 - tone) + np.array([165, 112, 80]) * tone + rng.normal(0, 6, 3)
    shade = 1 + 0.07 * _noise(rng, height, width, 3) + 0.02 * _noise(rng, height, width, side // 6)
    image = (skin * shade[..., None]).astype(np.float32)

    # Lesion outline: a circle whose radius wobbles with random harmonics (k = 1 makes it lopsided),
    # squashed to an ellipse and rotated. to_xy maps (angle, fraction of the outline radius) to pixels.
    radius = rng.uniform(*style["radius"]) * side
    centre = np.array([width, height]) / 2 + rng.uniform(-0.12, 0.12, 2) * side
    harmonics = np.arange(1, 9)
    amplitude = style["border"] * rng.uniform(0.3, 1.0, 8) / harmonics**0.5
    phase, aspect, turn = rng.uniform(0, 2 * np.pi, 8), rng.uniform(0.7, 1), rng.uniform(0, np.pi)
    cos, sin = np.cos(turn), np.sin(turn)

    def to_xy(theta, rho):
        r = rho * radius * (1 + np.cos(np.outer(theta, harmonics) + phase) @ amplitude)
        x, y = aspect * r * np.cos(theta), r * np.sin(theta)
        return centre + np.stack([x * cos - y * sin, x * sin + y * cos], -1)

    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [_fixed(to_xy(np.linspace(0, 2 * np.pi, 96, endpoint=False), 1.0))], 1, shift=4)

    # Pigment: a mottled base colour, then class features, then blended onto the skin with a soft border
    pigment = np.empty_like(image)
    pigment[:] = _jitter(rng, style["base"])
    pigment *= (1 + 0.1 * _noise(rng, height, width, 12))[..., None]
    blotches = style.get("blotches", ())
    chosen = rng.permutation(len(blotches))[: rng.integers(2, len(blotches) + 1)] if blotches else ()
    for colour in [blotches[j] for j in chosen]:
        weight = np.clip(1.5 * _noise(rng, height, width, int(side / radius * 2.5)) - 1, 0, 1)
        pigment += weight[..., None] * (_jitter(rng, colour, 0.1) - pigment)
    if style.get("network"):  # a warped grid of dark lines fading in towards the rim, white centre
        yy, xx = np.ogrid[:height, :width]
        scale = max(4.0, 0.05 * side) / np.pi  # sin(x / scale) has a line every 4 or more pixels
        u = (xx + 2 * scale * _noise(rng, height, width, 6)) / scale
        v = (yy + 2 * scale * _noise(rng, height, width, 6)) / scale
        distance = np.hypot(xx - centre[0], yy - centre[1]) / radius
        lines = np.maximum(np.exp(-(np.sin(u) ** 2) / 0.08), np.exp(-(np.sin(v) ** 2) / 0.08))
        _paint(pigment, 255 * lines * np.clip((distance - 0.4) / 0.3, 0, 1), (85, 50, 30), 0.8)
        _paint(pigment, 255 * np.clip(1.5 - distance / 0.3, 0, 1), _jitter(rng, (235, 220, 210), 0.05))
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), style["edge"] * radius) * style["opacity"]
    image += alpha[..., None] * (pigment - image)

    # Line and dot features, drawn anti-aliased on a layer each and blended in
    thin = max(1, round(side / 160))
    for colour, (low, high), size in style.get("dots", ()):
        layer = np.zeros_like(mask)
        count = rng.integers(low, high + 1)
        for x, y in _fixed(to_xy(rng.uniform(0, 2 * np.pi, count), 0.8 * np.sqrt(rng.uniform(size=count)))):
            dot = round(16 * size * side * rng.uniform(0.6, 1.3))  # in 1/16 pixels, as the centre
            cv2.circle(layer, (x, y), dot, 255, -1, cv2.LINE_AA, 4)
        layer = cv2.GaussianBlur(layer, (0, 0), 0.3 * size * side)  # round, soft dots even at 2 px
        _paint(image, layer, _jitter(rng, colour, 0.1), 0.9)
    if style.get("streaks"):  # radial streaks crossing the border
        theta = rng.uniform(0, 2 * np.pi, rng.integers(6, 14))
        streaks = np.stack([to_xy(theta, 0.8), to_xy(theta, rng.uniform(1.05, 1.2))], 1)
        _strokes(image, streaks, _jitter(rng, (50, 30, 25), 0.1), 0.7, thin)
    if style.get("vessels"):  # branching red vessels: smooth random walks that fork twice
        count, vessels = rng.integers(2, 5), []
        walks = [
            (start, rng.uniform(0, 2 * np.pi), 10)
            for start in to_xy(rng.uniform(0, 2 * np.pi, count), rng.uniform(0, 0.5, count))
        ]
        while walks:
            start, heading, steps = walks.pop()
            headings = heading + np.cumsum(rng.normal(0, 0.4, steps))
            moves = 0.1 * radius * np.stack([np.cos(headings), np.sin(headings)], 1)
            vessels.append(start + np.cumsum(moves, 0))
            if steps > 4:
                forks = rng.integers(0, steps, 2)
                walks += [(vessels[-1][j], headings[j] + rng.choice([-0.8, 0.8]), steps // 2) for j in forks]
        _strokes(image, vessels, _jitter(rng, (175, 25, 35), 0.1), 0.9, thin)

    # Hairs (none in a third of the images): gently bent dark curves that may cross everything
    hairs, t = [], np.linspace(0, 1, 16)[:, None]
    for _ in range(rng.integers(1, 9) if rng.uniform() < 0.67 else 0):
        start, direction = rng.uniform(0, 1, 2) * [width, height], rng.uniform(0, 2 * np.pi)
        end = start + rng.uniform(0.4, 1.2) * side * np.array([np.cos(direction), np.sin(direction)])
        bend = (start + end) / 2 + rng.normal(0, 0.15 * side, 2)
        hairs.append((1 - t) ** 2 * start + 2 * t * (1 - t) * bend + t**2 * end)  # quadratic Bezier
    _strokes(image, hairs, _jitter(rng, (45, 30, 20), 0.3), 0.9, thin)

    # Camera: exposure, the dermoscope's circular field of view with dark corners, sensor noise
    yy, xx = np.ogrid[:height, :width]
    field = rng.uniform(0.5, 0.68) * side, np.array([width, height]) / 2 + rng.normal(0, 0.02 * side, 2)
    distance = np.hypot(xx - field[1][0], yy - field[1][1])
    vignette = np.clip((field[0] - distance) / (0.06 * side), 0, 1) * rng.uniform(0.8, 1.15)
    image = image * vignette[..., None] + 8 + 2.5 * rng.standard_normal(image.shape, np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), mask, label


def synthetic(n, image_size=128, num_classes=3, seed=0):
    """Draws n dermoscopy-like images with lesion masks and class labels (classes: module docstring).

    Args:
        n: the number of images, at least 1.
        image_size: an int (square images) or (height, width); at least 32 pixels a side.
        num_classes: 2 to 7; the first num_classes of `CLASS_NAMES`.
        seed: an int. Image i depends only on (seed, i, image_size, num_classes), so any subset can
            be redrawn alone and a large set drawn in chunks.

    Returns:
        (images, masks, labels): uint8 RGB images [n, H, W, 3], uint8 lesion masks [n, H, W] in {0, 1}
        (the lesion's outline: hairs across it are not cut out), int64 labels [n], balanced to
        within one image per class.
    """
    height, width = _arguments(n, image_size, num_classes)
    images, masks, labels = zip(*(_draw(seed, i, height, width, num_classes) for i in range(n)))
    return np.stack(images), np.stack(masks), np.array(labels, np.int64)


def _splits(labels, seed):
    """70/15/15 train/validation/test, stratified by class and fixed by the seed."""
    split, rng = np.empty(len(labels), object), np.random.default_rng([seed, 2])
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        train, validation = round(0.7 * len(members)), round(0.15 * len(members))
        split[members] = np.repeat(
            ["train", "validation", "test"], [train, validation, len(members) - train - validation]
        )
    return split


def write_synthetic(root, n=600, image_size=128, num_classes=3, seed=0):
    """Writes `synthetic(n, image_size, num_classes, seed)` as PNG files with a manifest; returns it.

    Files: root/images/SYN_00000.png, root/masks/SYN_00000_segmentation.png (0 or 255),
    root/manifest.csv and root/synthetic.json (the arguments). The manifest has the columns image_id,
    label (a class name of `CLASS_NAMES`), split (train, validation or test: 70/15/15, stratified by
    class and fixed by the seed), lesion_id (= image_id: one image per lesion), image and mask (paths
    relative to root).

    Args as for `synthetic`; root is the folder to write. A folder already holding these arguments'
    data set is returned as it is. The files are written to a temporary folder beside root and moved
    into place when complete, so an interrupted write never leaves a half data set; an earlier
    synthetic set with other arguments is replaced, a folder holding other files is refused.

    Returns:
        The validated manifest (`dermnet.data.from_csv(root / "manifest.csv")`), classes in
        `CLASS_NAMES` order.
    """
    height, width = _arguments(n, image_size, num_classes)
    root = Path(root).expanduser()
    params = {"n": int(n), "image_size": [height, width], "num_classes": int(num_classes), "seed": int(seed)}
    stamp = root / "synthetic.json"
    if (root / "manifest.csv").exists() and stamp.exists() and json.loads(stamp.read_text()) == params:
        return from_csv(root / "manifest.csv", classes=CLASS_NAMES[:num_classes])
    if root.exists() and any(root.iterdir()) and not stamp.exists():
        raise ValueError(f"{root} holds other files; write_synthetic only replaces a folder it wrote")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        staging.chmod(0o755)  # mkdtemp's folder is private; a data set is readable like other folders
        (staging / "images").mkdir()
        (staging / "masks").mkdir()
        ids = [f"SYN_{i:05d}" for i in range(n)]
        table = pd.DataFrame(
            {
                "image_id": ids,
                "label": "",
                "split": "",
                "lesion_id": ids,
                "image": [f"images/{i}.png" for i in ids],
                "mask": [f"masks/{i}_segmentation.png" for i in ids],
            }
        )
        labels = np.empty(n, np.int64)
        with progress(n, f"drawing the synthetic data set into {root}") as bar:
            for i in range(n):  # one image at a time: memory stays flat for large sets
                image, mask, labels[i] = _draw(seed, i, height, width, num_classes)
                for path, pixels in ((table.image[i], image[..., ::-1]), (table["mask"][i], mask * 255)):
                    if not cv2.imwrite(str(staging / path), pixels):  # OpenCV returns False, raises nothing
                        raise OSError(f"could not write {staging / path}")
                bar.update(1)
        table["label"], table["split"] = np.array(CLASS_NAMES)[labels], _splits(labels, seed)
        table.to_csv(staging / "manifest.csv", index=False)
        (staging / "synthetic.json").write_text(json.dumps(params))
        old = staging.with_name(staging.name + ".old")
        if root.exists():  # empty, or an earlier set with other arguments: swap, then delete
            root.rename(old)
        staging.rename(root)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:  # interrupted too: leave no staging folder behind
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return from_csv(root / "manifest.csv", classes=CLASS_NAMES[:num_classes])
