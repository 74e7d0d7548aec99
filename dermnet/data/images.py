"""Reading images and masks safely, and resizing them the way the papers did.

Every odd file is either converted correctly or refused with a `DataError` that names it:

- grayscale, palette, RGBA (alpha dropped), 16-bit (scaled to 8 bits) and CMYK images become RGB uint8;
- EXIF orientation is applied, so pixels are as a viewer shows them;
- empty files, files that are not images, truncated JPEG/PNG files (OpenCV may decode a truncated
  JPEG into a grey-filled image with only a warning) and images whose header claims more than
  `MAX_PIXELS` (a decompression bomb: refused before any pixel is decoded) raise `DataError`;
- masks stored as {0, 255}, {0, 1} or anti-aliased (any grey levels) become {0, 1} at half intensity.
"""

import io
import os
import warnings

import cv2
import numpy as np
from PIL import Image

from dermnet.data.errors import DataError

# The largest dermoscopy images are ~25 megapixels; anything far beyond is a bomb or a mistake.
MAX_PIXELS = 100_000_000

RESIZE_MODES = ("stretch", "crop", "pad")
_INTERPOLATION = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA,
                  "nearest": cv2.INTER_NEAREST}


def read_header(path):
    """(width, height) from the file header alone (no pixel is decoded), or `DataError` naming the file."""
    try:
        with open(path, "rb") as file:
            return _open_header(file, path).size
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err.strerror})") from None


def read_image(path, max_pixels=MAX_PIXELS):
    """RGB uint8 pixels `[H, W, 3]` of an image file, or `DataError` naming the file."""
    return cv2.cvtColor(read_image_bgr(path, max_pixels), cv2.COLOR_BGR2RGB)


def read_image_bgr(path, max_pixels=MAX_PIXELS):
    """`read_image` in OpenCV's BGR order: the cache swaps channels after resizing, on fewer pixels."""
    # OpenCV applies EXIF orientation, converts CMYK, palette and gray to BGR and 16 bits to 8.
    return _decode(path, max_pixels, cv2.IMREAD_COLOR, "image")


def read_mask(path, max_pixels=MAX_PIXELS):
    """A lesion mask as uint8 {0, 1} `[H, W]`; any stored scale or anti-aliasing is thresholded at half."""
    mask = _decode(path, max_pixels, cv2.IMREAD_UNCHANGED, "mask")
    if mask.ndim == 3:  # an RGB(A) mask: any colour channel counts
        mask = mask[..., :3].max(axis=-1)
    top = np.iinfo(mask.dtype).max if mask.dtype.kind == "u" else 1
    # {0, 1} masks have top value 1; {0, 255} and anti-aliased masks are cut at half the full scale.
    threshold = 0.5 if mask.max() <= 1 else top / 2
    return (mask > threshold).astype(np.uint8)


def resize(image, size, mode="stretch", interpolation="bicubic"):
    """Resize an `[H, W, C]` (or `[H, W]`) array to `size = (height, width)`.

    Args:
        mode: `"stretch"` (straight to the size, bicubic, as SDL), `"crop"` (the shorter side to
            the size, then the centre: resize-then-crop as Xue et al.), `"pad"` (aspect ratio kept,
            the rest filled with black).
        interpolation: `"bicubic"`, `"bilinear"`, `"area"` or `"nearest"`.
    """
    height, width = size
    flag = _INTERPOLATION[interpolation]
    if mode == "stretch":
        return cv2.resize(image, (width, height), interpolation=flag)
    if mode not in RESIZE_MODES:
        raise ValueError(f"Unknown resize mode {mode!r}; expected one of {RESIZE_MODES}.")
    in_height, in_width = image.shape[:2]
    # "crop" scales until both sides cover the target, "pad" until both fit inside it.
    bound = max if mode == "crop" else min
    scale = bound(height / in_height, width / in_width)
    new_height, new_width = bound(height, round(in_height * scale)), bound(width, round(in_width * scale))
    scaled = cv2.resize(image, (new_width, new_height), interpolation=flag)
    top, left = abs(new_height - height) // 2, abs(new_width - width) // 2
    if mode == "crop":
        return scaled[top:top + height, left:left + width]
    out = np.zeros((height, width) + image.shape[2:], image.dtype)
    out[top:top + new_height, left:left + new_width] = scaled
    return out


def _decode(path, max_pixels, flags, what):
    """Pixels of a checked file: readable, an image, within the pixel limit, complete."""
    try:
        data = open(path, "rb").read()
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err.strerror})") from None
    header = _open_header(io.BytesIO(data), path)
    width, height = header.size
    if width * height > max_pixels:
        raise DataError(f"{path}: the {what} header claims {width}×{height} = {width * height:,} pixels, "
                        f"more than the limit of {max_pixels:,} (a decompression bomb or a wrong file); "
                        "raise dermnet.data.images.MAX_PIXELS if the image is genuine")
    _check_complete(data, header.format, path)
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if pixels is None:
        raise DataError(f"{path}: OpenCV cannot decode this {header.format} {what} (corrupt data)")
    return pixels


def _open_header(file, path):
    """Pillow reads the header lazily: size and format without decoding a pixel."""
    with warnings.catch_warnings():  # our own pixel limit applies, not Pillow's warning
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(file)
        except Image.DecompressionBombError as err:  # Pillow refuses far larger headers itself
            raise DataError(f"{path}: {err} (refused before decoding)") from None
        except Exception:  # noqa: BLE001 - Pillow raises several types for "not an image"
            file.seek(0)
            head = file.read(512)
            if not head:
                raise DataError(f"{path}: the file is empty (0 bytes)") from None
            kind = "text" if _looks_like_text(head) else "unknown data"
            raise DataError(f"{path}: not an image file ({kind}, extension "
                            f"{os.path.splitext(str(path))[1] or 'none'})") from None


def _check_complete(data, image_format, path):
    """Truncated files end before their end marker; OpenCV may still decode them (grey-filled)."""
    if image_format == "JPEG":
        # The end-of-image marker must follow the last start-of-scan (entropy-coded data never
        # contains 0xFFD9, and trailing bytes after the marker are harmless).
        if data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
            raise DataError(f"{path}: truncated JPEG (no end-of-image marker after the image data); "
                            "download or copy the file again")
    elif image_format == "PNG" and b"IEND" not in data[-32:]:
        raise DataError(f"{path}: truncated PNG (no IEND chunk); download or copy the file again")


def _looks_like_text(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
