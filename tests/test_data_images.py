"""Odd and bad image files: each is converted correctly or refused with a DataError naming it."""

import os
import re
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from dermnet.data import DataError, read_image, read_mask, resize
from dermnet.data.images import hdf5_member, image_exists, read_header

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
    data = tmp_path / "full.jpg"
    save(data, np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data.read_bytes()[: int(data.stat().st_size * cut)])
    with pytest.raises(DataError, match="cut.jpg: corrupt or truncated JPEG"):
        read_image(path)


def test_truncated_png_is_refused(tmp_path):
    full = save(tmp_path / "full.png", smooth_rgb())
    path = tmp_path / "cut.png"
    path.write_bytes(full.read_bytes()[:-40])
    with pytest.raises(DataError, match="cut.png: this PNG image cannot be decoded"):
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


def test_exif_orientation_is_not_applied(tmp_path):
    rgb = smooth_rgb(32, 64)
    rgb[:, :8] = (255, 0, 0)  # a red band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = save(tmp_path / "rotated.jpg", rgb, quality=95, exif=exif.tobytes())
    image = read_image(path)
    assert image.shape == (32, 64, 3)  # as stored, as TensorFlow's decoder (the served model) sees it
    assert image[:, :8, 0].mean() > 200 and image[:, :8, 1].mean() < 60
    assert read_header(path) == ((64, 32), 6)


def noisy_jpeg(path):
    save(path, np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), quality=90)
    return path.read_bytes()


def test_jpeg_cut_short_and_closed_with_an_end_marker_is_refused(tmp_path):
    data = noisy_jpeg(tmp_path / "full.jpg")
    scan = data.rfind(b"\xff\xda")
    (tmp_path / "closed.jpg").write_bytes(data[: scan + (len(data) - scan) // 2] + b"\xff\xd9")
    with pytest.raises(DataError, match="closed.jpg: corrupt or truncated JPEG .*premature end"):
        read_image(tmp_path / "closed.jpg")


def test_jpeg_with_damaged_entropy_data_is_refused(tmp_path):
    data = bytearray(noisy_jpeg(tmp_path / "full.jpg"))
    start = data.rfind(b"\xff\xda") + 200
    data[start : start + 100] = np.random.default_rng(1).integers(0, 0xFE, 100, dtype=np.uint8).tobytes()
    (tmp_path / "damaged.jpg").write_bytes(bytes(data))
    with pytest.raises(DataError, match="damaged.jpg: corrupt or truncated JPEG .*Corrupt JPEG data"):
        read_image(tmp_path / "damaged.jpg")


def test_bytes_after_a_complete_image_are_fine(tmp_path):
    rgb = smooth_rgb()
    for name in ("motion.jpg", "trailer.png"):
        clean = save(tmp_path / f"clean_{name}", rgb, quality=95)
        (tmp_path / name).write_bytes(clean.read_bytes() + b"\0\0\0\x18ftypmp42" + bytes(range(256)) * 20)
        np.testing.assert_array_equal(read_image(tmp_path / name), read_image(clean))


def test_webp_and_the_first_frame_of_an_animated_gif(tmp_path):
    rgb = smooth_rgb()
    np.testing.assert_array_equal(read_image(save(tmp_path / "a.webp", rgb, lossless=True)), rgb)
    frames = [Image.fromarray(rgb).convert("P"), Image.fromarray(255 - rgb).convert("P")]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:])
    np.testing.assert_array_equal(read_image(tmp_path / "moving.gif"), np.asarray(frames[0].convert("RGB")))


def png_header_only(path, width, height):
    """A PNG that claims width × height pixels and holds (almost) none: a decompression bomb."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )
    return path


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    bomb = png_header_only(tmp_path / "bomb.png", 60_000, 60_000)
    with pytest.raises(DataError, match=r"bomb.png: .*(3,600,000,000|3600000000) pixels"):
        read_image(bomb)
    with pytest.raises(DataError, match=r"small.png: .*more than the limit of 100"):
        read_image(save(tmp_path / "small.png", smooth_rgb()), max_pixels=100)


@pytest.mark.parametrize("stored", ["0-255", "0-1", "antialiased", "rgb", "16-bit"])
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
    elif stored == "16-bit":
        mask = truth.astype(np.uint16) * 65535
    else:
        mask = np.stack([truth * 255] * 3, -1)
    path = tmp_path / "mask.png"
    cv2.imwrite(str(path), mask)
    result = read_mask(path)
    assert result.dtype == np.uint8 and set(np.unique(result)) <= {0, 1}
    assert (result != truth).mean() < 0.01


def test_a_mask_at_128_is_background_as_the_isic_scorer_has_it(tmp_path):
    mask = np.array([[0, 128, 129, 255]], np.uint8)
    cv2.imwrite(str(tmp_path / "edge.png"), np.repeat(mask, 4, 0))
    np.testing.assert_array_equal(read_mask(tmp_path / "edge.png")[0], [0, 0, 1, 1])


def lesion(dtype=np.uint8, value=1):
    mask = np.zeros((40, 50), dtype)
    cv2.circle(mask, (25, 20), 12, value, -1)
    return mask


@pytest.mark.parametrize(
    "case, values",
    [
        ("label map", "0, 2"),
        ("stray 255", "0, 1, 255"),
        ("16-bit 0 and 255", "uint16 values 0, 255"),
    ],
)
def test_a_mask_that_would_come_out_empty_is_refused(tmp_path, case, values):
    mask = {"label map": lesion(value=2), "16-bit 0 and 255": lesion(np.uint16, 255)}.get(case)
    if case == "stray 255":
        mask = lesion()
        mask[0, 0] = 255
    path = tmp_path / "odd.png"
    cv2.imwrite(str(path), mask)
    with pytest.raises(
        DataError, match=f"odd.png: a mask whose marked pixels are mostly at or below .*{values}"
    ):
        read_mask(path)


def test_a_mask_in_the_alpha_channel_is_refused(tmp_path):
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 3] = lesion() * 255
    save(tmp_path / "alpha.png", rgba)
    with pytest.raises(DataError, match="alpha.png: the mask is in the alpha channel"):
        read_mask(tmp_path / "alpha.png")


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


def write_hdf5(path, members, storage="bytes"):
    """An HDF5 file of encoded images, one dataset per key: a scalar fixed-length string (ISIC
    2024's 'S…' storage) or a uint8 array."""
    import h5py

    with h5py.File(path, "w") as file:
        for key, data in members.items():
            file[key] = np.bytes_(data) if storage == "bytes" else np.frombuffer(data, np.uint8)
    return path


@pytest.mark.parametrize("storage", ["bytes", "uint8"])
def test_an_image_inside_an_hdf5_file_reads_as_the_same_file_does(tmp_path, storage):
    jpeg = save(
        tmp_path / "a.jpg", np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8), quality=90
    )
    h5 = write_hdf5(tmp_path / "train-image.hdf5", {"ISIC_0000001": jpeg.read_bytes()}, storage)
    name = hdf5_member(h5, "ISIC_0000001")
    assert name == f"{os.path.abspath(h5)}::ISIC_0000001"
    np.testing.assert_array_equal(read_image(name), read_image(jpeg))  # bit for bit
    assert read_header(name) == read_header(jpeg) == ((64, 48), 1)
    assert image_exists(name) and image_exists(jpeg)
    assert not image_exists(hdf5_member(h5, "ISIC_0000002"))
    assert not image_exists(hdf5_member(tmp_path / "x.h5", "ISIC_0000001"))


def test_a_missing_key_a_bad_hdf5_file_or_a_bad_member_is_named(tmp_path):
    jpeg = save(tmp_path / "a.jpg", smooth_rgb(), quality=90).read_bytes()
    h5 = write_hdf5(tmp_path / "train-image.hdf5", {"ISIC_1": jpeg, "ISIC_2": jpeg[:-200], "ISIC_4": b"text"})
    with pytest.raises(DataError, match=rf"^{re.escape(str(h5))}: no image 'ISIC_3' in this HDF5 file"):
        read_image(hdf5_member(h5, "ISIC_3"))
    cut_short = re.escape(hdf5_member(h5, "ISIC_2"))
    with pytest.raises(DataError, match=rf"^{cut_short}: corrupt or truncated JPEG"):
        read_image(hdf5_member(h5, "ISIC_2"))
    with pytest.raises(DataError, match=r"hdf5::ISIC_4: not an image file \(text, extension none\)"):
        read_header(hdf5_member(h5, "ISIC_4"))
    (tmp_path / "text.h5").write_text("not HDF5")
    with pytest.raises(DataError, match=r"text.h5: not a readable HDF5 file .*it should hold image 'ISIC_1'"):
        read_header(hdf5_member(tmp_path / "text.h5", "ISIC_1"))
    with pytest.raises(DataError, match=r"text.h5: not a readable HDF5 file"):  # not "no such image"
        image_exists(hdf5_member(tmp_path / "text.h5", "ISIC_1"))
    with pytest.raises(DataError, match=r"gone.hdf5: cannot read the HDF5 file .*holding image 'ISIC_1'"):
        read_image(hdf5_member(tmp_path / "gone.hdf5", "ISIC_1"))


def test_an_hdf5_file_replaced_on_disk_is_read_anew(tmp_path):
    """The open handle is kept per process, but never on a file that changed since."""
    first, second = smooth_rgb(), smooth_rgb()[::-1].copy()
    h5 = write_hdf5(tmp_path / "images.h5", {"k": save(tmp_path / "1.png", first).read_bytes()})
    np.testing.assert_array_equal(read_image(hdf5_member(h5, "k")), first)
    os.replace(write_hdf5(tmp_path / "new.h5", {"k": save(tmp_path / "2.png", second).read_bytes()}), h5)
    np.testing.assert_array_equal(read_image(hdf5_member(h5, "k")), second)
