"""Odd and bad image files: each is converted correctly or refused with a DataError naming it."""

import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from dermnet.data import DataError, read_image, read_mask, resize

pytestmark = pytest.mark.portable


def smooth_rgb(height=48, width=64):
    """A smooth colour image (JPEG keeps it within a few levels)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 120)], -1).astype(np.uint8)


def save(path, array_or_image, **kwargs):
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    image.save(path, **kwargs)
    return path


def test_plain_jpeg_and_png_read_as_rgb(tmp_path):
    rgb = smooth_rgb()
    np.testing.assert_array_equal(read_image(save(tmp_path / "a.png", rgb)), rgb)
    jpeg = read_image(save(tmp_path / "a.jpg", rgb, quality=95))
    assert jpeg.shape == rgb.shape and jpeg.dtype == np.uint8
    assert np.abs(jpeg.astype(int) - rgb).mean() < 3


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_jpeg_is_refused(tmp_path, cut):
    data = (tmp_path / "full.jpg")
    save(data, np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data.read_bytes()[:int(data.stat().st_size * cut)])
    with pytest.raises(DataError, match="cut.jpg: truncated JPEG"):
        read_image(path)


def test_truncated_png_is_refused(tmp_path):
    full = save(tmp_path / "full.png", smooth_rgb())
    path = tmp_path / "cut.png"
    path.write_bytes(full.read_bytes()[:-40])
    with pytest.raises(DataError, match="cut.png: truncated PNG"):
        read_image(path)


def test_empty_and_text_files_are_refused(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.jpg: the file is empty"):
        read_image(tmp_path / "empty.jpg")
    (tmp_path / "notes.jpg").write_text("this is not a picture\n")
    with pytest.raises(DataError, match=r"notes.jpg: not an image file \(text"):
        read_image(tmp_path / "notes.jpg")
    with pytest.raises(DataError, match=r"missing.jpg: cannot read the file"):
        read_image(tmp_path / "missing.jpg")


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = smooth_rgb()[..., 0]
    image = read_image(save(tmp_path / "gray.png", gray))
    assert image.shape == (*gray.shape, 3)
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], gray)


def test_rgba_png_drops_alpha(tmp_path):
    rgb = smooth_rgb()
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], -1)
    np.testing.assert_array_equal(read_image(save(tmp_path / "rgba.png", rgba)), rgb)


def test_16_bit_png_is_scaled_to_8_bits(tmp_path):
    rgb16 = smooth_rgb().astype(np.uint16) * 257 + 100  # full 16-bit range, not just << 8
    cv2.imwrite(str(tmp_path / "deep.png"), rgb16[..., ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png"), (rgb16 >> 8).astype(np.uint8))


def test_cmyk_jpeg_becomes_the_right_rgb(tmp_path):
    rgb = smooth_rgb()
    path = save(tmp_path / "cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), quality=98)
    assert Image.open(path).mode == "CMYK"
    assert np.abs(read_image(path).astype(int) - rgb).mean() < 4


def test_exif_orientation_is_applied(tmp_path):
    rgb = smooth_rgb(32, 64)
    rgb[:, :8] = (255, 0, 0)  # a red band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    image = read_image(save(tmp_path / "rotated.jpg", rgb, quality=95, exif=exif.tobytes()))
    assert image.shape == (64, 32, 3)
    assert image[:8, :, 0].mean() > 200 and image[:8, :, 1].mean() < 60  # the band is now on top


def png_header_only(path, width, height):
    """A PNG that claims width × height pixels and holds (almost) none: a decompression bomb."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    bomb = png_header_only(tmp_path / "bomb.png", 60_000, 60_000)
    with pytest.raises(DataError, match=r"bomb.png: .*(3,600,000,000|3600000000) pixels"):
        read_image(bomb)
    with pytest.raises(DataError, match=r"small.png: .*more than the limit of 100"):
        read_image(save(tmp_path / "small.png", smooth_rgb()), max_pixels=100)


@pytest.mark.parametrize("stored", ["0-255", "0-1", "antialiased", "rgb"])
def test_masks_in_any_storage_become_0_1(tmp_path, stored):
    truth = np.zeros((40, 50), np.uint8)
    cv2.circle(truth, (25, 20), 12, 1, -1)
    if stored == "0-255":
        mask = truth * 255
    elif stored == "0-1":
        mask = truth
    elif stored == "antialiased":
        mask = cv2.GaussianBlur(truth.astype(np.float32) * 255, (5, 5), 1).round().astype(np.uint8)
        assert len(np.unique(mask)) > 10
    else:
        mask = np.stack([truth * 255] * 3, -1)
    result = read_mask(save(tmp_path / "mask.png", mask))
    assert result.dtype == np.uint8 and set(np.unique(result)) <= {0, 1}
    assert (result != truth).mean() < 0.01


@pytest.mark.parametrize("mode", ["stretch", "crop", "pad"])
def test_resize_modes(mode):
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 50:150] = 255  # a centred white square of side 100
    out = resize(image, (50, 50), mode)
    assert out.shape == (50, 50, 3)
    white = (out[..., 0] > 127).mean()
    # stretch keeps the half-width band, crop shows the square filling the frame, pad shows a band
    assert white == pytest.approx({"stretch": 0.5, "crop": 1.0, "pad": 0.25}[mode], abs=0.05)
    with pytest.raises(ValueError, match="Unknown resize mode"):
        resize(image, (50, 50), "squash")
