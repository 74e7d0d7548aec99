"""The one way dermnet reads image and mask files: the cache, `dermnet predict`, splits, lesion
scoring and the notebooks all come here, and the served model (`dermnet.serving`) decodes to the
same pixels (a test checks it bit for bit).

The rules:

- **Pixels as stored.** EXIF orientation is not applied, anywhere: TensorFlow's decoders (and so a
  SavedModel) ignore it, and a model must see in serving what it saw in training. A mask paired
  with an image that carries an orientation tag is refused by `dermnet.data.validate` (nobody can
  tell which way the mask was drawn).
- **Colour.** Grayscale, palette, RGBA (alpha dropped), 16-bit (the top 8 bits) and CMYK images
  become RGB uint8; animated GIFs give their first frame, as the served model does.
- **What a server reads.** A BMP that is not an uncompressed 8-, 24- or 32-bit one, and a GIF whose
  first frame does not fill its canvas, are refused: the served model's decoders (TensorFlow's) read
  them otherwise (1-, 4- and 16-bit BMPs not at all, a GIF's first frame at its own size), and
  `predict` must give what a server gives.
- **Integrity.** JPEGs are decoded by libjpeg-turbo through simplejpeg in strict mode, so that
  libjpeg's "corrupt data" warnings (a file cut short and closed with an end marker, damaged
  entropy-coded data) are errors; bytes after a complete image (phone "motion photos", a PNG
  trailer) are fine. Other formats go through OpenCV, which refuses truncated files. Empty files,
  files that are not images and headers that claim more than `MAX_PIXELS` pixels (a decompression
  bomb, refused before any pixel is decoded) are errors too.
- **Masks.** A pixel is lesion above 128 of 255, or the same share of a 16-bit range (the ISIC
  scorer's rule); a mask holding only 0 and 1 is read as {0, 1}. A mask that is not empty but
  would come out (nearly) empty under the rule — a label map {0, 2}, a {0, 1} mask with a stray
  255, a 16-bit mask of 0 and 255, a mask kept in the alpha channel — is an error that names the
  file and the values found. (Submitted masks are scored by the official rule alone:
  `dermnet.evaluation.submissions`.)

Every refusal is a `DataError` that names the file.

Images may also live inside an HDF5 file, one dataset of encoded bytes per image (ISIC 2024's
`train-image.hdf5`): such an image is named `"<absolute path of the .hdf5/.h5 file>::<key>"`
(`hdf5_member`), and every function here takes that name as it takes a file's path; the same rules
apply to the bytes. Masks stay files.
"""

import io
import os
import re
import struct
import threading
import warnings

import cv2
import numpy as np
import simplejpeg
from PIL import Image

from dermnet.data.errors import DataError

# The largest dermoscopy images are ~25 megapixels; anything far beyond is a bomb or a mistake.
MAX_PIXELS = 100_000_000

# What the served model decodes as this module does (module docstring): `dermnet.serving` applies it too.
BMP_BITS = (8, 24, 32)  # TensorFlow gives an 8-bit BMP's palette indices: the served model looks them up
BMP_ADVICE = "dermnet reads uncompressed BMPs of 8, 24 or 32 bits: save it as PNG"
GIF_ADVICE = "dermnet reads a GIF whose first frame fills its canvas: save it as PNG"

RESIZE_MODES = ("stretch", "crop", "pad")
_INTERPOLATION = {
    "bicubic": cv2.INTER_CUBIC,
    "bilinear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "nearest": cv2.INTER_NEAREST,
}
_EXIF_ORIENTATION = 0x0112


def hdf5_member(file, key):
    """The name of the image stored under `key` in the HDF5 file `file`: `"<absolute path>::<key>"`,
    what a manifest's `image` column holds for it.

    dermnet keeps an HDF5 file it has read from open (read-only) while the process lives, and HDF5
    refuses to open a file for writing that is open: to change one, write a new file and rename it
    over the old (its images are then decoded again)."""
    return f"{os.path.abspath(file)}::{key}"


def image_exists(name):
    """Whether an image file, or the key of an HDF5 member (`hdf5_member`), exists. An HDF5 file
    that is there but cannot be read is a `DataError` (every member of it is unusable), not False."""
    member = hdf5_parts(name)
    if member is None:
        return os.path.isfile(name)
    file, key = member
    return os.path.isfile(file) and key in _hdf5_file(file, key)


def read_header(path):
    """(width, height) and the EXIF orientation (1: as stored, 2–8: flipped or rotated when shown)
    from the file header alone, without decoding a pixel; or `DataError` naming the file."""
    try:
        with _open_bytes(path) as file, _open_header(file, path) as header:
            return header.size, int(header.getexif().get(_EXIF_ORIENTATION, 1))
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err.strerror})") from None


def read_image(path, max_pixels=MAX_PIXELS):
    """RGB uint8 pixels `[H, W, 3]` of an image file, as stored (module docstring), or `DataError`."""
    data = _read_bytes(path)
    with _open_header(io.BytesIO(data), path) as header:
        _check_size(header, max_pixels, path, "image")
        image_format, mode = header.format, header.mode
        refusal = _unservable(header, data)
    if refusal:
        raise DataError(f"{path}: {refusal}")
    if image_format == "JPEG":
        return _decode_jpeg(data, path, cmyk=mode == "CMYK")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if pixels is None:
        raise DataError(
            f"{path}: this {image_format} image cannot be decoded (truncated or corrupt); "
            "download or copy the file again"
        )
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def read_mask(path, max_pixels=MAX_PIXELS):
    """A mask as uint8 {0, 1} `[H, W]` by the mask rule of the module docstring, or `DataError`."""
    data = _read_bytes(path)
    with _open_header(io.BytesIO(data), path) as header:
        _check_size(header, max_pixels, path, "mask")
        is_jpeg = header.format == "JPEG"
    if is_jpeg:
        mask = _decode_jpeg(data, path, gray=True)[..., 0]
    else:
        mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise DataError(f"{path}: this mask cannot be decoded (truncated or corrupt)")
    if mask.dtype not in (np.uint8, np.uint16):
        raise DataError(f"{path}: a mask of {mask.dtype} values; save it as 8-bit 0 and 255")
    if mask.ndim == 3:
        colour = mask[..., :3].max(axis=-1)
        if mask.shape[-1] == 4 and colour.min() == colour.max() and mask[..., 3].min() != mask[..., 3].max():
            raise DataError(
                f"{path}: the mask is in the alpha channel (its colour channels are all "
                f"{colour.flat[0]}); dermnet reads the colour or gray channels: save the mask as "
                "a grayscale image of 0 and 255"
            )
        mask = colour
    return _binarize(mask, path)


def _binarize(mask, path):
    values = np.unique(mask)
    if values[-1] <= 1:  # a {0, 1} mask
        return mask.astype(np.uint8)
    threshold = 128 if mask.dtype == np.uint8 else 128 * 257  # 128 of 255, the same share of 65535
    lesion = mask > threshold
    faint = np.count_nonzero(mask) - np.count_nonzero(lesion)
    # Anti-aliased edges put a few pixels under the threshold; a mask whose marked pixels are
    # mostly under it is not a {0, 255} mask, and thresholding it would lose the lesion silently.
    if faint > np.count_nonzero(lesion):
        shown = ", ".join(map(str, values[:8])) + (", ..." if len(values) > 8 else "")
        raise DataError(
            f"{path}: a mask whose marked pixels are mostly at or below {threshold} "
            f"({faint:,} pixels, against {np.count_nonzero(lesion):,} above; {mask.dtype} values "
            f"{shown}): a lesion is above {threshold}, so this would be (nearly) empty. A "
            "label map, a {0, 1} mask with stray values, or a 16-bit file of 0 and 255? Save it "
            "as 8-bit 0 and 255 (or 0 and 1)"
        )
    return lesion.astype(np.uint8)


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
        return scaled[top : top + height, left : left + width]
    out = np.zeros((height, width) + image.shape[2:], image.dtype)
    out[top : top + new_height, left : left + new_width] = scaled
    return out


def _read_bytes(path):
    member = hdf5_parts(path)
    if member is not None:
        return _member_bytes(*member)
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err.strerror})") from None


def _open_bytes(path):
    """A file object on the image: the file itself (a header reads only its first bytes), or an
    HDF5 member's bytes (a few kB: read whole)."""
    member = hdf5_parts(path)
    return open(path, "rb") if member is None else io.BytesIO(_member_bytes(*member))


# HDF5 members. "<file>.h5::<key>" or "<file>.hdf5::<key>": the first "::" after such an extension
# separates the two, so a key may hold "::" (a path can too, before the extension).
_MEMBER = re.compile(r"(.*?\.(?:h5|hdf5))::(.+)", re.IGNORECASE | re.DOTALL)
_hdf5_files = {}  # (process id, path) -> (the file's identity on disk, its open h5py.File)
_hdf5_lock = threading.Lock()


def hdf5_parts(name):
    """(HDF5 file, key) of a member's name (`hdf5_member`); None for a file's path."""
    match = _MEMBER.fullmatch(str(name))
    return None if match is None else match.groups()


def _hdf5_file(path, key):
    """The open h5py.File of `path`: opened once per process (400,000 members would otherwise open
    it 400,000 times), and again when the file on disk changed (a handle on a replaced or rewritten
    file would read the old bytes, or garbage). The process id is part of the key: a forked child
    must not use its parent's HDF5 handle; a spawned one starts empty anyway. Threads share the
    handle: h5py serialises its calls with its own lock."""
    import h5py  # here: only a data set stored in HDF5 needs it

    try:
        stat = os.stat(path)
    except OSError as err:
        raise DataError(f"{path}: cannot read the HDF5 file ({err.strerror}) holding image {key!r}") from None
    identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _hdf5_lock:
        known = _hdf5_files.get((os.getpid(), path))
        if known is None or known[0] != identity:
            try:
                # Replaced, not closed: another thread may still be reading from the old handle;
                # h5py closes it when the last reference goes.
                known = _hdf5_files[os.getpid(), path] = (identity, h5py.File(path, "r"))
            except OSError as err:  # h5py's "file signature not found", a truncated file, ...
                raise DataError(
                    f"{path}: not a readable HDF5 file ({err}); it should hold image {key!r}"
                ) from None
        return known[1]


def _member_bytes(path, key):
    import h5py

    file = _hdf5_file(path, key)
    try:
        dataset = file.get(key)
        if not isinstance(dataset, h5py.Dataset):
            raise DataError(
                f"{path}: no image {key!r} in this HDF5 file"
                + ("" if dataset is None else " (that key is a group, not a dataset)")
            )
        # ISIC 2024 stores each JPEG as a scalar fixed-length string ('S…'); others write an opaque
        # ('V…') scalar or a uint8 array. Reading into an array of the stored type keeps every byte
        # (numpy's bytes scalars would drop trailing NULs).
        bytes_scalar = dataset.dtype.kind in "SV" and dataset.ndim == 0
        if not (bytes_scalar or dataset.dtype == np.uint8 and dataset.ndim == 1):
            raise DataError(
                f"{path}: image {key!r} holds {dataset.dtype} data of shape {dataset.shape}, not "
                "encoded image bytes (a scalar bytes string or a 1-D uint8 array)"
            )
        data = np.empty(dataset.shape, dataset.dtype)
        if data.size:
            dataset.read_direct(data)
        return data.tobytes()
    except OSError as err:  # HDF5's own read errors: a damaged file
        raise DataError(f"{path}: cannot read image {key!r} from this HDF5 file ({err})") from None


def _decode_jpeg(data, path, cmyk=False, gray=False):
    """libjpeg-turbo's accurate integer IDCT with fancy upsampling: TensorFlow's `decode_jpeg(...,
    dct_method="INTEGER_ACCURATE")` to the bit. Strict: libjpeg's corrupt-data warnings raise."""
    colorspace = "GRAY" if gray else "CMYK" if cmyk else "RGB"
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace=colorspace, strict=True)
    except ValueError as err:
        raise DataError(
            f"{path}: corrupt or truncated JPEG ({err}); download or copy the file again"
        ) from None
    if cmyk:
        # Adobe's inverted CMYK, as libjpeg hands it over; TensorFlow (and Pillow) take R = C·K / 255.
        cmyk_values = pixels.astype(np.uint16)
        pixels = (cmyk_values[..., :3] * cmyk_values[..., 3:] // 255).astype(np.uint8)
    return pixels


def _check_size(header, max_pixels, path, what):
    width, height = header.size
    if width * height > max_pixels:
        raise DataError(
            f"{path}: the {what} header claims {width}×{height} = {width * height:,} pixels, "
            f"more than the limit of {max_pixels:,} (a decompression bomb or a wrong file); "
            "raise dermnet.data.images.MAX_PIXELS if the image is genuine"
        )


def _unservable(header, data):
    """Why the served model could not decode this file as `read_image` does (module docstring), or None."""
    if header.format == "BMP" and len(data) >= 34:
        dib, bits, compression = struct.unpack_from("<I10xHI", data, 14)
        if bits not in BMP_BITS:
            return f"a {bits}-bit BMP: {BMP_ADVICE}"
        if compression not in (0, 3) or dib < 40:  # RLE, JPEG or PNG inside; OS/2's 12-byte header
            return f"a BMP of compression {compression} with a {dib}-byte header: {BMP_ADVICE}"
    if header.format == "GIF" and header.tile:
        left, top, right, bottom = header.tile[0].extents
        canvas = struct.unpack_from("<HH", data, 6)  # the file's: Pillow widens its size to a larger frame
        if (left, top, right, bottom) != (0, 0, *canvas):
            return (
                f"a GIF whose first frame ({right - left}x{bottom - top} at {left},{top}) does not fill "
                f"its canvas ({canvas[0]}x{canvas[1]}): {GIF_ADVICE}"
            )
    return None


def _open_header(file, path):
    """Pillow reads the header lazily: size, format and EXIF without decoding a pixel."""
    with warnings.catch_warnings():  # our own pixel limit applies, not Pillow's warning
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(file)
        except Image.DecompressionBombError as err:  # Pillow refuses far larger headers itself
            raise DataError(f"{path}: {err} (refused before decoding)") from None
        except Exception:  # noqa: BLE001 - Pillow raises several types for "not an image"
            file.seek(0)
            data = file.read(512)
            if not data:
                raise DataError(f"{path}: the file is empty (0 bytes)") from None
            kind = "text" if _looks_like_text(data) else "unknown data"
            member = hdf5_parts(path)  # the key of an HDF5 member stands for its file name
            raise DataError(
                f"{path}: not an image file ({kind}, extension "
                f"{os.path.splitext(member[1] if member else str(path))[1] or 'none'})"
            ) from None


def _looks_like_text(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
