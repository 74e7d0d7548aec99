"""On-device augmentation: exact flips and turns, a warp that matches OpenCV, masks that follow, XLA."""

import dataclasses
import json

import cv2
import keras
import numpy as np
import pytest

from dermnet.data.augment import PRESETS, Augmentation, RandomAugment, augment, transform

RNG = np.random.default_rng(0)
NOISE = RNG.integers(0, 256, (16, 24, 24, 3), dtype="uint8")  # every pixel distinct enough to tell moves


def smooth_images(batch=2, height=48, width=64):
    """Slow sines in [0, 255]: bilinear sampling is near-exact on them."""
    y, x = np.mgrid[:height, :width].astype("float32")
    channels = [np.sin(x / 9 + c) * np.cos(y / 7 - c) for c in range(3)]
    image = 127.5 + 120 * np.stack(channels, axis=-1)
    return np.repeat(image[None], batch, axis=0).astype("float32")


def disc_batch(batch=8, size=64):
    """A bright off-centre disc on a dark background, and its mask."""
    y, x = np.mgrid[:size, :size]
    mask = ((x - 40) ** 2 + (y - 26) ** 2 < 12**2).astype("uint8")
    images = np.repeat((30 + 200 * mask)[None, ..., None], 3, axis=-1).astype("uint8")
    return np.repeat(images, batch, axis=0), np.repeat(mask[None], batch, axis=0)


@pytest.mark.portable
def test_identity_returns_the_input():
    for images in (NOISE, NOISE.astype("float32")):
        out = augment(images, augmentation=Augmentation(), seed=0)
        assert keras.backend.standardize_dtype(out.dtype) == images.dtype.name
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), images)


@pytest.mark.portable
def test_dtype_and_range_are_kept():
    jitter = Augmentation(rotation=30, brightness=0.5, contrast=0.5)
    for dtype in ("uint8", "float32"):
        out = augment(NOISE.astype(dtype), augmentation=jitter, seed=1)
        assert keras.backend.standardize_dtype(out.dtype) == dtype
        out = keras.ops.convert_to_numpy(out)
        assert out.min() == 0 and out.max() == 255  # strong jitter, clipped at both ends


@pytest.mark.portable
@pytest.mark.parametrize("field, axis", [("flip_horizontal", 1), ("flip_vertical", 0)])
def test_flips_are_exact_and_random_per_image(field, axis):
    out = keras.ops.convert_to_numpy(augment(NOISE, augmentation=Augmentation(**{field: True}), seed=2))
    flipped = [np.array_equal(o, np.flip(i, axis)) for o, i in zip(out, NOISE)]
    unchanged = [np.array_equal(o, i) for o, i in zip(out, NOISE)]
    assert all(f != u for f, u in zip(flipped, unchanged))  # each image: exactly one of the two
    assert any(flipped) and any(unchanged)


@pytest.mark.portable
def test_rotate90_is_lossless():
    images = NOISE.astype("float32")  # floats: any resampling error would show
    out = keras.ops.convert_to_numpy(augment(images, augmentation=Augmentation(rotate90=True), seed=3))
    turns = [[k for k in range(4) if np.array_equal(o, np.rot90(i, k))] for o, i in zip(out, images)]
    assert all(len(t) == 1 for t in turns) and len({t[0] for t in turns}) > 2
    # Non-square images keep their shape: only 0° or 180°.
    wide = NOISE[:, :16]
    out = keras.ops.convert_to_numpy(augment(wide, augmentation=Augmentation(rotate90=True), seed=3))
    assert all(np.array_equal(o, i) or np.array_equal(o, np.rot90(i, 2)) for o, i in zip(out, wide))


@pytest.mark.portable
@pytest.mark.parametrize(
    "fill_mode, border", [("reflect", cv2.BORDER_REFLECT), ("constant", cv2.BORDER_CONSTANT)]
)
def test_transform_matches_opencv(fill_mode, border):
    images = smooth_images()
    cos, sin = np.cos(np.radians(17)) / 1.2, np.sin(np.radians(17)) / 1.2  # rotated and zoomed in
    matrices = np.array(
        [
            [[cos, -sin, 9.5], [sin, cos, -4.25]],
            [[1, 0.3, -6.0], [0, 1, 3.7]],  # a shear and a shift that reaches past the border
        ],
        "float32",
    )
    out = keras.ops.convert_to_numpy(transform(images, matrices, fill_mode=fill_mode))
    for image, matrix, result in zip(images, matrices, out):
        expected = cv2.warpAffine(
            image, matrix, (64, 48), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=border
        )
        # Same pixel-centre convention and border rule: half a pixel off would differ by ~8 grey levels.
        assert np.abs(result - expected).max() < 0.05


@pytest.mark.portable
def test_masks_stay_binary_and_follow_their_images():
    images, masks = disc_batch()
    geometry = Augmentation(
        flip_horizontal=True,
        flip_vertical=True,
        rotation=40,
        shift=0.15,
        zoom=(0.8, 1.3),
        shear=10,
        brightness=0.05,
    )
    out, out_masks = (keras.ops.convert_to_numpy(t) for t in augment(images, masks, geometry, seed=4))
    assert out_masks.dtype == np.uint8 and set(np.unique(out_masks)) <= {0, 1}
    moved = 0
    for image, mask in zip(out, out_masks):
        disc = image[..., 0] > 130
        assert (disc & (mask == 1)).sum() / (disc | (mask == 1)).sum() > 0.95
        moved += not np.array_equal(mask, masks[0])
    assert moved == len(out)
    # [B, H, W, 1] masks keep their shape.
    _, out_masks = augment(images, masks[..., None], geometry, seed=4)
    assert tuple(out_masks.shape) == masks[..., None].shape


@pytest.mark.portable
def test_colour_jitter_leaves_masks_and_greys_alone():
    images, masks = disc_batch()
    out, out_masks = augment(images, masks, Augmentation(saturation=0.5, hue=0.5), seed=5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out_masks), masks)
    # Saturation and hue act on colour: a grey image stays (within rounding) where it was.
    assert np.abs(keras.ops.convert_to_numpy(out).astype(int) - images).max() <= 1
    colourful = keras.ops.convert_to_numpy(augment(NOISE, augmentation=Augmentation(hue=0.5), seed=5))
    assert np.abs(colourful.astype(int) - NOISE).mean() > 10


@pytest.mark.portable
def test_random_crop_is_an_exact_window():
    out = keras.ops.convert_to_numpy(augment(NOISE, augmentation=Augmentation(crop=(16, 12)), seed=6))
    assert out.shape == (16, 16, 12, 3)
    corners = []
    for o, i in zip(out, NOISE):
        found = [
            (t, left)
            for t in range(9)
            for left in range(13)
            if np.array_equal(i[t : t + 16, left : left + 12], o)
        ]
        assert len(found) == 1
        corners.append(found[0])
    assert len(set(corners)) > 4


@pytest.mark.portable
def test_each_image_gets_its_own_draw():
    same = np.repeat(NOISE[:1], 8, axis=0)
    out = keras.ops.convert_to_numpy(augment(same, augmentation="ray2020", seed=7))
    assert len({o.tobytes() for o in out}) == 8


@pytest.mark.portable
def test_presets_build_run_and_round_trip_through_json():
    for name, preset in PRESETS.items():
        config = json.loads(json.dumps(preset.to_config()))
        assert Augmentation.from_config(config) == preset
        if preset.crop:  # a crop preset asks for images at least its size
            preset = dataclasses.replace(preset, crop=NOISE.shape[1:3])
        out = augment(NOISE[:2], augmentation=preset, seed=8)
        assert tuple(out.shape) == NOISE[:2].shape
    with pytest.raises(ValueError, match="ray2020"):
        augment(NOISE, augmentation="ray2021")
    with pytest.raises(ValueError, match="fill_mode"):
        Augmentation(fill_mode="wrap")
    with pytest.raises(ValueError, match="larger than the images"):
        augment(NOISE, augmentation=Augmentation(crop=(32, 8)))


@pytest.mark.portable
def test_augment_compiles_under_xla():
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        step = jax.jit(lambda images, seed: augment(images, augmentation="xue2018", seed=seed))
        first, second = step(NOISE, np.uint32(1)), step(NOISE, np.uint32(2))
    elif backend == "tensorflow":
        import tensorflow as tf

        generator = keras.random.SeedGenerator(1)
        step = tf.function(
            lambda images: augment(images, augmentation="xue2018", seed=generator), jit_compile=True
        )
        first, second = step(NOISE), step(NOISE)
    else:
        pytest.skip(f"no XLA check for the {backend} backend")
    assert first.dtype == np.uint8 and not np.array_equal(first, second)


@pytest.mark.portable
def test_random_augment_layer(tmp_path):
    layer = RandomAugment("xue2018", seed=9)
    assert layer.supports_jit
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(NOISE)), NOISE)
    assert not np.array_equal(keras.ops.convert_to_numpy(layer(NOISE, training=True)), NOISE)
    cropping = RandomAugment(Augmentation(crop=(16, 16)))
    assert tuple(cropping(NOISE).shape) == tuple(cropping(NOISE, training=True).shape) == (16, 16, 16, 3)

    inputs = keras.Input((24, 24, 3))
    x = RandomAugment("menegola2017", seed=9)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(x))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile("adam", "categorical_crossentropy", jit_compile=True)
    model.fit(NOISE.astype("float32"), np.eye(2)[RNG.integers(0, 2, 16)], epochs=1, verbose=0)  # jitted step

    path = tmp_path / "augmented.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.layers[1].augmentation == PRESETS["menegola2017"] and loaded.layers[1].seed == 9
    np.testing.assert_allclose(loaded.predict(NOISE, verbose=0), model.predict(NOISE, verbose=0), atol=1e-6)


def test_augment_inside_tf_data_map(tensorflow_only):
    import tensorflow as tf

    batches = tf.data.Dataset.from_tensors(NOISE).repeat(3)  # three identical uint8 batches
    by_counter = [b.numpy() for b in batches.enumerate().map(lambda i, b: augment(b, seed=i))]
    generator = keras.random.SeedGenerator(10)  # made outside the map function
    by_generator = [b.numpy() for b in batches.map(lambda b: augment(b, seed=generator))]
    by_int = [b.numpy() for b in batches.map(lambda b: augment(b, seed=11))]
    for outs in (by_counter, by_generator):
        assert all(o.dtype == np.uint8 and o.shape == NOISE.shape for o in outs)
        assert not np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[1], outs[2])
    # A Python int is stateless: every batch gets the same draw.
    assert np.array_equal(by_int[0], by_int[1]) and np.array_equal(by_int[0], by_int[2])
