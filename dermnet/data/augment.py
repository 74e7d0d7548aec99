"""Batch-wise random augmentation in `keras.ops`: it jit-compiles (XLA) and runs where the model runs.

Keras' `RandomRotation`/`RandomZoom`/`RandomTranslation`/`RandomCrop` switch XLA off, and
`keras.ops.image.affine_transform` has no XLA kernel on TensorFlow (ImageProjectiveTransformV3), so the
warp is written here: every geometric part (flips, 90° turns, rotation, shear, zoom, shift, crop) is
composed into one affine matrix per image and the image is resampled once. Colour jitter is one 3×3
matrix and an offset per image. Masks get the same geometry, sampled nearest so that their values
(0/1, 0/255, class indices, one-hot) stay valid, and no colour.

Example:
>>> images, masks = augment(images, masks, augmentation="menegola2017", seed=0)
>>> model = keras.Sequential([RandomAugment("ray2020", seed=1), classifier])  # on-device, in fit()
"""

import dataclasses
import math
from typing import Optional

import keras
import numpy as np
from keras import ops


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Ranges of random augmentation; every part is off by default.

    Attributes:
        flip_horizontal, flip_vertical: flip with probability 1/2.
        rotate90: turn by a random multiple of 90° (lossless). Non-square outputs keep their shape, so
            they only get 0° or 180° (a square crop of a non-square image gets all four).
        rotation: maximum rotation in degrees (±).
        shift: maximum shift, a fraction of the side (±, each axis on its own).
        zoom: `(min, max)` scale, >1 zooms in; the visible area 1/zoom² is drawn uniformly, as
            Inception-style random-area crops draw it.
        shear: maximum shear angle in degrees (±).
        crop: `(height, width)` of a random crop: the output is that size (as `tf.image.random_crop`).
        brightness: maximum offset, a fraction of 255 (±).
        contrast: maximum change of the contrast factor around 1 (±), about each channel's mean.
        saturation: maximum change of the saturation factor around 1 (±), against luma.
        hue: maximum hue rotation, a fraction of the hue circle (±), done as a rotation in YIQ space.
        fill_mode: "reflect" or "constant" (zeros) for pixels that come from outside the image.
    """

    flip_horizontal: bool = False
    flip_vertical: bool = False
    rotate90: bool = False
    rotation: float = 0.0
    shift: float = 0.0
    zoom: Optional[tuple] = None
    shear: float = 0.0
    crop: Optional[tuple] = None
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    fill_mode: str = "reflect"

    def __post_init__(self):
        if self.fill_mode not in ("reflect", "constant"):
            raise ValueError(f"fill_mode must be 'reflect' or 'constant', not {self.fill_mode!r}.")
        if self.zoom is not None and not 0 < self.zoom[0] <= self.zoom[1]:
            raise ValueError(f"zoom must be (min, max) with 0 < min <= max, not {self.zoom!r}.")
        # JSON gives lists: store tuples so that a config round trip compares equal.
        for name in ("zoom", "crop"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def geometric(self):
        return bool(
            self.flip_horizontal
            or self.flip_vertical
            or self.rotate90
            or self.rotation
            or self.shift
            or self.zoom
            or self.shear
            or self.crop
        )

    @property
    def colour(self):
        return bool(self.brightness or self.contrast or self.saturation or self.hue)

    def to_config(self):
        """A JSON-able dict; `Augmentation.from_config` inverts it."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# Each preset says which numbers come from the paper (and where) and which are dermnet's choice.
PRESETS = {
    "none": Augmentation(),
    # Zhang et al. 2018 (SDL) augment with "random rotation and flips" (as dermnet's SDL issue
    # summarises the paper; no ranges given). dermnet's choice: any angle (a dermoscopic image has no
    # up), flips both ways.
    "zhang2018": Augmentation(flip_horizontal=True, flip_vertical=True, rotation=180.0),
    # Ray et al. 2020 used Keras' ImageDataGenerator, whose arguments were not found; all ranges here
    # are dermnet's choice, within what ImageDataGenerator expresses.
    "ray2020": Augmentation(
        flip_horizontal=True, flip_vertical=True, rotation=10.0, shift=0.1, zoom=(0.9, 1.1)
    ),
    # Xue et al. 2018 (ISIC 2018): the report's augmentation was not found; dermnet's choice, geometric
    # ranges that suit segmentation masks too, and a mild brightness/contrast jitter.
    "xue2018": Augmentation(
        flip_horizontal=True,
        flip_vertical=True,
        rotate90=True,
        rotation=15.0,
        zoom=(0.9, 1.1),
        brightness=0.1,
        contrast=0.1,
    ),
    # Menegola et al. 2017 (RECOD Titans): their released ISIC 2017 Part 3 training code
    # (github.com/learningtitans/isbi2017-part3, preprocessing/dermatologic_preprocessing.py, training
    # flags at their defaults: fast_mode, no rotations, minimum_area_to_crop=0.05) does
    # `random_flip_left_right`, a random crop of 5-100 % of the area drawn uniformly
    # (area_range=(0.05, 1.0)) -> zoom (1, 1/sqrt(0.05)), `random_brightness(max_delta=32/255)`
    # -> 32/255, `random_saturation(0.5, 1.5)` -> 0.5 (HSV there, luma blend here). dermnet's choice:
    # shift 0.1 for the crop's position (placed anywhere inside the image there); the crop's aspect
    # jitter (3/4 to 4/3) is not represented.
    # Menegola et al. 2017, part 1 (segmentation), Section I-C: "up to 10% horizontal and vertical
    # shifts, up to 20% zoom, and up to 270° degrees rotation", of the images resized to 128×128;
    # nothing else (no flips, no colour).
    "menegola2017_seg": Augmentation(rotation=270.0, zoom=(0.8, 1.2), shift=0.1),
    # Xue et al. 2018, tasks 1 and 2: random 224×224 crops of images resized to 336×296, flips,
    # 90° turns, colour jitter (the report's list; the jitter's ranges are dermnet's choice).
    "xue2018_seg": Augmentation(
        flip_horizontal=True,
        flip_vertical=True,
        rotate90=True,
        crop=(224, 224),
        brightness=0.1,
        contrast=0.1,
        saturation=0.1,
        hue=0.02,
    ),
    # Xue et al. 2018, task 2 ("Data"): inputs scaled to 224×224, random horizontal and vertical flips,
    # random rotations and colour jitter (the rotations as 90° turns and the jitter's ranges: dermnet's,
    # those of task 1's preset).
    "xue2018_task2": Augmentation(
        flip_horizontal=True,
        flip_vertical=True,
        rotate90=True,
        brightness=0.1,
        contrast=0.1,
        saturation=0.1,
        hue=0.02,
    ),
    # Xue et al. 2018, task 3: "randomly crop them to 256 × 256 ... randomly flipped vertically or
    # horizontally" (of images resized to 360×270: the recipe's resize).
    "xue2018_task3": Augmentation(flip_horizontal=True, flip_vertical=True, crop=(256, 256)),
    "menegola2017": Augmentation(
        flip_horizontal=True, zoom=(1.0, 1 / math.sqrt(0.05)), shift=0.1, brightness=32 / 255, saturation=0.5
    ),
    # Ha, Liu and Liu (SIIM-ISIC 2020, 1st place), `get_transforms` of their dataset.py (albumentations):
    # Transpose and both flips (all 8 dihedral views: flips and 90° turns here), RandomBrightness and
    # RandomContrast of limit 0.2, HueSaturationValue (hue ±10 of OpenCV's 180 -> 10/180; saturation ±20 of
    # 255, a shift there, a factor of ±20/255 here), ShiftScaleRotate (shift 0.1, scale 0.1, rotation 15°,
    # border_mode 0: zeros). Not expressed here: their probabilities (0.5-0.85), blur or noise, optical,
    # grid or elastic distortion, CLAHE and Cutout.
    "ha2020": Augmentation(
        flip_horizontal=True,
        flip_vertical=True,
        rotate90=True,
        rotation=15.0,
        shift=0.1,
        zoom=(0.9, 1.1),
        brightness=0.2,
        contrast=0.2,
        saturation=20 / 255,
        hue=10 / 180,
        fill_mode="constant",
    ),
}

_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.5959, -0.2746, -0.3213], [0.2115, -0.5227, 0.3112]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def get(augmentation):
    """An `Augmentation` from a preset name, an `Augmentation` or its config dict."""
    if isinstance(augmentation, Augmentation):
        return augmentation
    if isinstance(augmentation, dict):
        return Augmentation.from_config(augmentation)
    if augmentation not in PRESETS:
        raise ValueError(f"Unknown augmentation {augmentation!r}; presets: {', '.join(sorted(PRESETS))}.")
    return PRESETS[augmentation]


class _TensorSeed(keras.random.SeedGenerator):
    """A stateless seed from an integer tensor (a batch counter in `tf.data.Dataset.map`, a traced int
    under `jax.jit`): those places cannot create the state variable of a real SeedGenerator."""

    def __init__(self, seed):  # SeedGenerator.__init__ is skipped on purpose: it makes the variable
        self._seed = seed

    def next(self, ordered=True):
        dtype = "uint32" if keras.config.backend() == "jax" else "int32"
        seed = ops.cast(self._seed, "int32")
        return ops.cast(ops.stack([seed, ops.zeros_like(seed)]), dtype)


def _mat(a, b, c, d):
    """[[a, b], [c, d]] per image, from four [B] tensors."""
    return ops.reshape(ops.stack([a, b, c, d], axis=-1), (-1, 2, 2))


def _geometry(u, size, out_size, aug):
    """[B, 2, 3] matrices mapping output pixel (x, y, 1) to input (x, y), from uniforms u [B, 14]."""
    height, width = (ops.cast(s, "float32") for s in size)
    out_h, out_w = (ops.cast(s, "float32") for s in out_size)
    one, zero = ops.ones_like(u[:, 0]), ops.zeros_like(u[:, 0])
    sym = lambda i, limit: (2 * u[:, i] - 1) * limit  # noqa: E731 - uniform in ±limit
    fx = ops.where(u[:, 0] < 0.5, -one, one) if aug.flip_horizontal else one
    fy = ops.where(u[:, 1] < 0.5, -one, one) if aug.flip_vertical else one
    linear = _mat(fx, zero, zero, fy)
    if aug.rotate90:
        quarter = ops.floor(u[:, 2] * 4)
        quarter = ops.cast(ops.where(ops.equal(out_h, out_w), quarter, 2 * (quarter % 2)), "int32")
        # Exact cos/sin of k·90° (a computed cos(pi/2) is 6e-17, not 0): the turn stays lossless.
        cos = ops.take(ops.array([1, 0, -1, 0], "float32"), quarter)
        sin = ops.take(ops.array([0, 1, 0, -1], "float32"), quarter)
        linear = ops.matmul(_mat(cos, -sin, sin, cos), linear)
    if aug.rotation:
        angle = sym(3, math.radians(aug.rotation))
        linear = ops.matmul(_mat(ops.cos(angle), -ops.sin(angle), ops.sin(angle), ops.cos(angle)), linear)
    if aug.shear:
        linear = ops.matmul(_mat(one, ops.tan(sym(4, math.radians(aug.shear))), zero, one), linear)
    if aug.zoom:
        low, high = 1 / aug.zoom[1] ** 2, 1 / aug.zoom[0] ** 2
        inverse = ops.sqrt(low + u[:, 5] * (high - low))  # 1/zoom: the side of the visible window
        linear = ops.matmul(_mat(inverse, zero, zero, inverse), linear)
    # p_in = centre_in + offset + linear @ (p_out - centre_out)
    offset_x, offset_y = sym(6, aug.shift * width), sym(7, aug.shift * height)
    if aug.crop:
        # Whole-pixel offsets of the window from the centre: a crop alone is an exact copy.
        room_y, room_x = height - out_h, width - out_w
        offset_y += ops.minimum(ops.floor(u[:, 8] * (room_y + 1)), room_y) - room_y / 2
        offset_x += ops.minimum(ops.floor(u[:, 9] * (room_x + 1)), room_x) - room_x / 2
    centre_out = ops.stack([(out_w - 1) / 2 * one, (out_h - 1) / 2 * one], axis=-1)[..., None]
    translation = ops.stack([(width - 1) / 2 + offset_x, (height - 1) / 2 + offset_y], axis=-1)[..., None]
    return ops.concatenate([linear, translation - ops.matmul(linear, centre_out)], axis=-1)


def _gather(images, x, y, fill_mode):
    """images [B, H, W, C] at integer positions x, y [B, P] -> [B, P, C] float32."""
    batch, height, width, channels = ops.shape(images)
    if fill_mode == "reflect":  # mirror about the outer pixel edges: ... c b a | a b c ... c b a | a b ...
        x, y = ((v % (2 * n)) for v, n in ((x, width), (y, height)))
        x, y = ops.where(x >= width, 2 * width - 1 - x, x), ops.where(y >= height, 2 * height - 1 - y, y)
        inside = None
    else:
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        x, y = ops.clip(x, 0, width - 1), ops.clip(y, 0, height - 1)
    first = ops.reshape(ops.arange(batch, dtype="int32") * (height * width), (-1, 1))
    flat = ops.reshape(images, (-1, channels))
    values = ops.cast(ops.take(flat, first + y * width + x, axis=0), "float32")
    return values if inside is None else values * ops.cast(inside, "float32")[..., None]


def transform(images, matrices, output_size=None, fill_mode="reflect", interpolation="bilinear"):
    """Resamples each image through its affine matrix (output pixel (x, y, 1) -> input (x, y)).

    This is the deterministic half of `augment`; it agrees with `cv2.warpAffine(image, matrix, size,
    flags=WARP_INVERSE_MAP, borderMode=BORDER_REFLECT)`.

    Args:
        images: [B, H, W, C], any dtype.
        matrices: [B, 2, 3] float32.
        output_size: `(height, width)` of the output; default the input's.
        fill_mode: "reflect" or "constant" (zeros).
        interpolation: "bilinear" or "nearest".

    Returns:
        [B, height, width, C] float32.

    Example:
    >>> shift_right = np.array([[[1, 0, -3], [0, 1, 0]]], "float32")  # output x reads input x - 3
    >>> moved = transform(images[:1], shift_right)
    """
    batch, height, width, channels = ops.shape(images)
    out_h, out_w = output_size or (height, width)
    grid_y, grid_x = ops.meshgrid(
        ops.arange(out_h, dtype="float32"), ops.arange(out_w, dtype="float32"), indexing="ij"
    )
    grid_x, grid_y = ops.reshape(grid_x, (-1,)), ops.reshape(grid_y, (-1,))
    grid = ops.stack([grid_x, grid_y, ops.ones_like(grid_x)])  # [3, P]
    coords = ops.matmul(ops.cast(matrices, "float32"), grid)  # [B, 2, P]
    x, y = coords[:, 0], coords[:, 1]
    if interpolation == "nearest":
        out = _gather(
            images, ops.cast(ops.floor(x + 0.5), "int32"), ops.cast(ops.floor(y + 0.5), "int32"), fill_mode
        )
    else:
        x0, y0 = ops.floor(x), ops.floor(y)
        wx, wy, xi, yi = x - x0, y - y0, ops.cast(x0, "int32"), ops.cast(y0, "int32")
        # One gather per neighbour: stacking the four into one gather is 3x slower under JAX's XLA:CPU.
        out = 0
        for dx, dy, weight in (
            (0, 0, (1 - wx) * (1 - wy)),
            (1, 0, wx * (1 - wy)),
            (0, 1, (1 - wx) * wy),
            (1, 1, wx * wy),
        ):
            out += _gather(images, xi + dx, yi + dy, fill_mode) * weight[..., None]
    return ops.reshape(out, (batch, out_h, out_w, channels))


def _colour(images, u, aug):
    """Brightness, contrast, saturation and hue as one 3×3 matrix and offset per image (float32)."""
    one, zero = ops.ones_like(u[:, 0]), ops.zeros_like(u[:, 0])
    saturation = 1 + (2 * u[:, 12] - 1) * aug.saturation
    angle = (2 * u[:, 13] - 1) * aug.hue * 2 * math.pi
    cos, sin = saturation * ops.cos(angle), saturation * ops.sin(angle)
    # In YIQ, scaling I and Q is a blend with luma (saturation) and turning them is a hue rotation.
    yiq = ops.reshape(ops.stack([one, zero, zero, zero, cos, -sin, zero, sin, cos], axis=-1), (-1, 3, 3))
    to_yiq, to_rgb = ops.array(_RGB_TO_YIQ, "float32"), ops.array(_YIQ_TO_RGB, "float32")
    matrix = ops.matmul(to_rgb, ops.matmul(yiq, to_yiq))
    contrast = (1 + (2 * u[:, 11] - 1) * aug.contrast)[:, None]
    brightness = ((2 * u[:, 10] - 1) * aug.brightness * 255)[:, None]
    mean = ops.einsum("bij,bj->bi", matrix, ops.mean(images, axis=(1, 2)))
    offset = (1 - contrast) * mean + brightness  # contrast about each channel's mean, then brightness
    # A broadcast product, not an einsum: XLA:CPU fuses it, where a batched 3×3 matmul is ~4x slower.
    matrix = (matrix * contrast[..., None])[:, None, None]  # [B, 1, 1, 3, 3]
    return ops.sum(matrix * images[..., None, :], axis=-1) + offset[:, None, None, :]


def augment(images, masks=None, augmentation="ray2020", seed=None):
    """Random augmentation of a batch, each image with its own parameters.

    Args:
        images: [B, H, W, 3] RGB pixels in [0, 255], uint8 or float.
        masks: optional [B, H, W] or [B, H, W, C] masks: the same geometry, sampled nearest, no colour.
        augmentation: a `PRESETS` name, an `Augmentation` or its config dict.
        seed: an int (stateless: the same draw every call), an integer tensor (stateless, e.g. a batch
            counter in `tf.data.Dataset.map`), a `keras.random.SeedGenerator` (a new draw every call;
            in `tf.data` make it outside the map function), or None (Keras' global generator, which
            `jax.jit` refuses).

    Returns:
        The augmented images in the input dtype, clipped to [0, 255] (`(images, masks)` with masks).
        With `crop` the output is `crop` sized.

    Example:
    >>> images = augment(images_uint8, augmentation="menegola2017", seed=keras.random.SeedGenerator(0))
    >>> ds = ds.enumerate().map(lambda i, batch: augment(batch, seed=i))  # tf.data, TensorFlow backend
    """
    aug = get(augmentation)
    if not (aug.geometric or aug.colour):
        return images if masks is None else (images, masks)
    if not (seed is None or isinstance(seed, (int, keras.random.SeedGenerator))):
        seed = int(seed) if isinstance(seed, np.integer) else _TensorSeed(seed)
    dtype = keras.backend.standardize_dtype(images.dtype)
    batch, height, width, _ = ops.shape(images)
    out_size = aug.crop or (height, width)
    if aug.crop and isinstance(height, int) and not (aug.crop[0] <= height and aug.crop[1] <= width):
        raise ValueError(f"crop {aug.crop} is larger than the images ({height}, {width}).")
    # One draw of every uniform at once: one seed, so an int seed gives no correlated streams.
    u = keras.random.uniform((batch, 14), seed=seed)
    out = ops.cast(images, "float32")
    if aug.geometric:
        matrices = _geometry(u, (height, width), out_size, aug)
        out = transform(images, matrices, out_size, aug.fill_mode)
        if masks is not None:
            squeeze = len(masks.shape) == 3
            warped = transform(
                masks[..., None] if squeeze else masks,
                matrices,
                out_size,
                aug.fill_mode,
                interpolation="nearest",
            )
            masks = ops.cast(warped[..., 0] if squeeze else warped, masks.dtype)
    if aug.colour:
        out = _colour(out, u, aug)
    out = ops.clip(out, 0, 255)
    if "float" not in dtype:  # integers: round, don't truncate
        out = ops.round(out)
    out = ops.cast(out, dtype)
    return out if masks is None else (out, masks)


@keras.saving.register_keras_serializable(package="dermnet")
class RandomAugment(keras.layers.Layer):
    """`augment` as a layer: random when `training=True`, the identity at inference.

    Put it in front of a model so that augmentation runs inside the jitted train step. With a `crop`
    augmentation, inference takes the centre crop, so that both modes give the same shape.

    Args:
        augmentation: a `PRESETS` name, an `Augmentation` or its config dict.
        seed: int or None, the seed of the layer's `keras.random.SeedGenerator`.

    Example:
    >>> model = keras.Sequential([keras.Input((224, 224, 3)), RandomAugment("zhang2018", seed=0), net])
    """

    def __init__(self, augmentation="ray2020", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.augmentation = get(augmentation)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if training:
            return augment(images, augmentation=self.augmentation, seed=self.seed_generator)
        if self.augmentation.crop:
            height, width = ops.shape(images)[1:3]
            top, left = (height - self.augmentation.crop[0]) // 2, (width - self.augmentation.crop[1]) // 2
            return images[:, top : top + self.augmentation.crop[0], left : left + self.augmentation.crop[1]]
        return images

    def get_config(self):
        return {**super().get_config(), "augmentation": self.augmentation.to_config(), "seed": self.seed}
