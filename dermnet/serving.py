"""What a server runs: a trained model exported with its image decoding and resizing inside.

`export_saved_model` writes a SavedModel (TensorFlow Serving takes it as is) with two signatures:

- `serving_default`: `images`, a `[batch]` tf.string of encoded JPEG / PNG / GIF / BMP / WebP files
  (each checked from its header against a pixel limit, and the request against a budget, before any is
  decoded; a refusal names the image's place in the request);
- `serving_pixels`: `pixels`, uint8 `[batch, height, width, 3]` RGB.

A classifier answers `probabilities` (float32 `[batch, K]`) and `label` (tf.string `[batch]`, the
class names of its run); a segmentor answers `masks` (float32 probabilities `[batch, height, width,
M]` at the input images' size: the images of one request share a size), and the attribute network
also `presence` (`[batch, M]`). Inside, each image is decoded as `dermnet.data.read_image` decodes
it (JPEG: accurate integer IDCT with fancy upsampling, bit for bit; EXIF orientation not applied),
stretched to the model's input size with OpenCV's bicubic kernel in float32 (`resize_bicubic`),
and given to the model, whose own layers normalise it. `dermnet predict` runs the same two functions, so both give the same probabilities.

ONNX and LiteRT exports, which cannot carry the decoder, take pixels resized by `resize_bicubic`:
`dermnet.portable`.

Exporting needs the TensorFlow backend; a model trained with JAX loads there from its `.keras` file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from dermnet import __version__
from dermnet._io import check_target, write_atomically
from dermnet.data.images import BMP_ADVICE, BMP_BITS, GIF_ADVICE, MAX_PIXELS
from dermnet.models import contract, inference_model

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from tensorflow import Operation, Tensor, TensorSpec

# The default budget of pixels that one request's images may declare together: one image at the data
# layer's limit, or four of 25 megapixels. The served model decodes a request's images one at a time, so
# its memory follows the largest (measured over a warm process of 1.04 GB, TensorFlow and the model loaded:
# +0.59 GB for a 100-megapixel progressive JPEG, the costliest kind: libjpeg's whole-image coefficient
# buffers; +0.25 GB for four of 25; 1.56 GB and 0.90 GB before they were decoded one at a time), and this
# budget bounds its decoding time (~1 s a core). A 2-core, 4 GB server takes two such requests at once.
MAX_REQUEST_PIXELS = 100_000_000


def _tf() -> Any:  # the tensorflow module
    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            f"exporting needs the TensorFlow backend (this is {keras.config.backend()}): run with "
            "KERAS_BACKEND=tensorflow; a .keras file saved with any backend loads there"
        )
    import tensorflow as tf

    return tf


def decode_image(data: Tensor) -> Tensor:
    """uint8 `[height, width, 3]` RGB pixels of an encoded image (a scalar tf.string), as
    `dermnet.data.read_image` decodes it: pixels as stored (EXIF orientation is not applied), the
    first frame of a GIF, an 8-bit BMP's palette looked up (TensorFlow's decoder gives the indices).
    Files that `refusal` names are not decoded as `read_image` decodes them."""
    import tensorflow as tf

    def other() -> Tensor:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        head = _bytes(data, 0, 34)
        palette = _bytes(data, 14 + _little(head, 14, 4), 1024)  # after the header: 256 × (B, G, R, 0)
        palette = tf.cast(tf.reshape(palette, [256, 4])[:, 2::-1], tf.uint8)
        bmp8 = _starts(head, b"BM") & tf.equal(_little(head, 28, 2), 8)
        return tf.cond(bmp8, lambda: tf.gather(palette, tf.cast(image[..., 0], tf.int32)), lambda: image)

    return tf.cond(
        tf.io.is_jpeg(data), lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"), other
    )


def _bytes(data: Tensor, start: int | Tensor, length: int) -> Tensor:
    """int64 `[length]`: the bytes of `data` (a scalar tf.string) from `start` on, zeros past its end."""
    import tensorflow as tf

    start = tf.minimum(tf.cast(start, tf.int64), tf.cast(tf.strings.length(data), tf.int64))  # substr's bound
    padded = tf.strings.substr(data + tf.constant(bytes(length)), start, tf.constant(length, tf.int64))
    return tf.cast(tf.io.decode_raw(padded, tf.uint8), tf.int64)


def _little(values: Tensor, start: int, length: int) -> Tensor:
    # an unsigned little-endian integer of `length` bytes at `start`
    return sum(values[start + k] * 256**k for k in range(length))


def _starts(values: Tensor, text: bytes, at: int = 0) -> Tensor:
    import tensorflow as tf

    return tf.reduce_all(tf.equal(values[at : at + len(text)], tf.constant(list(text), tf.int64)))


def header_size(data: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(known, height, width) of an encoded image (a scalar tf.string) from its header alone, before
    any pixel is decoded: JPEG, PNG, GIF (its first frame's size, which TensorFlow decodes, not the
    logical screen's), BMP and WebP (lossy, lossless and extended). Written out by hand because
    TensorFlow reads only a JPEG's size without decoding it (`extract_jpeg_shape`)."""
    import tensorflow as tf

    head = _bytes(data, 0, 32)

    def big(start: int, length: int) -> Tensor:
        return sum(head[start + k] * 256 ** (length - 1 - k) for k in range(length))

    bmp_height = _little(head, 22, 4)
    bmp_height = tf.where(bmp_height >= 2**31, 2**32 - bmp_height, bmp_height)  # top-down BMPs: negative
    vp8l = _little(head, 21, 4)
    webp = _starts(head, b"RIFF") & _starts(head, b"WEBP", 8)
    gif = _starts(head, b"GIF8")
    frame = tf.cond(gif, lambda: _gif_frame(data), lambda: tf.constant([-1] * 4, tf.int64))
    formats = [  # (is this format, height, width)
        (_starts(head, b"\x89PNG\r\n\x1a\n"), big(20, 4), big(16, 4)),
        (gif & (frame[0] >= 0), frame[3], frame[2]),
        (gif & (frame[0] < 0), _little(head, 8, 2), _little(head, 6, 2)),  # no frame found: `refusal` says so
        (_starts(head, b"BM"), bmp_height, _little(head, 18, 4)),
        (webp & _starts(head, b"VP8X", 12), _little(head, 27, 3) + 1, _little(head, 24, 3) + 1),
        (webp & _starts(head, b"VP8L", 12), vp8l // 2**14 % 2**14 + 1, vp8l % 2**14 + 1),
        (webp & _starts(head, b"VP8 ", 12), _little(head, 28, 2) % 2**14, _little(head, 26, 2) % 2**14),
    ]
    known, height, width = tf.constant(False), tf.constant(0, tf.int64), tf.constant(0, tf.int64)
    for is_format, format_height, format_width in reversed(formats):
        known, height, width = (
            is_format | known,
            tf.where(is_format, format_height, height),
            tf.where(is_format, format_width, width),
        )

    def jpeg_shape() -> Tensor:
        return tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64)

    jpeg = tf.io.is_jpeg(data)
    height_width = tf.cond(jpeg, jpeg_shape, lambda: tf.stack([height, width]))
    return jpeg | known, height_width[0], height_width[1]


def _gif_frame(data: Tensor) -> Tensor:
    """int64 (left, top, width, height) of a GIF's first image descriptor, past the extension blocks
    before it (at most 4,096 blocks: a real GIF has a handful); −1s where none is found."""
    import tensorflow as tf

    def at(position: Tensor) -> Tensor:
        return _bytes(data, position, 1)[0]

    flags = _little(_bytes(data, 10, 1), 0, 1)
    start = 13 + tf.where(flags >= 128, 3 * 2 ** (flags % 8 + 1), 0)  # past the global colour table

    def step(position: Tensor, inside: Tensor) -> tuple[Tensor, Tensor]:
        # an extension: its introducer and label, then sub-blocks up to an empty one
        return tf.cond(
            inside,
            lambda: (position + at(position) + 1, at(position) > 0),
            lambda: (position + 2, tf.constant(True)),
        )

    position, inside = tf.while_loop(
        lambda position, inside: inside | tf.equal(at(position), 0x21),
        step,
        (start, tf.constant(False)),
        maximum_iterations=4096,
    )
    descriptor = _bytes(data, position, 9)
    frame = tf.stack([_little(descriptor, k, 2) for k in (1, 3, 5, 7)])
    return tf.where(~inside & tf.equal(descriptor[0], 0x2C), frame, -1)


def refusal(data: Tensor) -> Tensor:
    """Why the served model refuses an encoded image (a scalar tf.string) that its header says it
    cannot decode as `dermnet.data.read_image` does (which refuses it too, in the same words): a BMP
    of other than 8, 24 or 32 bits, or compressed; a GIF whose first frame does not fill its canvas
    (TensorFlow decodes the frame alone, `read_image` puts it on the canvas); "" for any other file.

    Refused, not decoded: TensorFlow reads no 1-, 4- or 16-bit BMP, and drawing a GIF's frame on its
    canvas (background, transparency) in the graph as OpenCV does would be a second GIF decoder to
    keep in step; dermoscopy images are neither."""
    import tensorflow as tf

    head = _bytes(data, 0, 34)
    text = tf.strings.as_string
    bits, compression, dib = _little(head, 28, 2), _little(head, 30, 4), _little(head, 14, 4)
    bmp = tf.where(
        tf.reduce_any(tf.equal(bits, BMP_BITS)),
        tf.where(
            ((compression == 0) | (compression == 3)) & (dib >= 40),
            "",
            tf.strings.join(
                [
                    "a BMP of compression ",
                    text(compression),
                    " with a ",
                    text(dib),
                    f"-byte header: {BMP_ADVICE}",
                ]
            ),
        ),
        tf.strings.join(["a ", text(bits), f"-bit BMP: {BMP_ADVICE}"]),
    )

    def gif() -> Tensor:
        frame = _gif_frame(data)
        canvas = tf.stack([_little(head, 6, 2), _little(head, 8, 2)])
        return tf.where(
            tf.reduce_all(tf.equal(frame, tf.concat([[0, 0], canvas], 0))),
            "",
            tf.where(
                frame[0] < 0,
                f"a GIF whose first frame is not found: {GIF_ADVICE}",
                tf.strings.join(
                    [
                        "a GIF whose first frame (",
                        text(frame[2]),
                        "x",
                        text(frame[3]),
                        " at ",
                        text(frame[0]),
                        ",",
                        text(frame[1]),
                        ") does not fill its canvas (",
                        text(canvas[0]),
                        "x",
                        text(canvas[1]),
                        f"): {GIF_ADVICE}",
                    ]
                ),
            ),
        )

    return tf.cond(
        _starts(head, b"BM"),
        lambda: bmp,
        lambda: tf.cond(_starts(head, b"GIF8"), gif, lambda: tf.constant("")),
    )


def resize_bicubic(image: ArrayLike | Tensor, size: Sequence[int] | Tensor) -> Tensor:
    """float32 `[height, width, C]` of `image` (`[H, W, C]`, any number type) stretched to `size`,
    with OpenCV's bicubic kernel (a = −0.75, pixel centres aligned, edges repeated), not rounded:
    `cv2.resize(image, ..., interpolation=cv2.INTER_CUBIC)` on float input, to within 1e-4."""
    import tensorflow as tf

    for axis, length in enumerate(size):
        index, weights = _cubic_taps(tf.shape(image)[axis], length)
        # the 4 source rows (columns) of each output one, made float after the gather: a float copy of a
        # whole uint8 image would cost 12 bytes a pixel (1.2 GB for 100 megapixels), these cost a few rows
        taps = tf.cast(tf.gather(image, index, axis=axis), tf.float32)
        image = tf.einsum("hkwc,hk->hwc" if axis == 0 else "hwkc,wk->hwc", taps, weights)
    return image


def _cubic_taps(source_length: int | Tensor, length: int | Tensor, a: float = -0.75) -> tuple[Tensor, Tensor]:
    """Source indices `[length, 4]` and their weights `[length, 4]` along one axis."""
    import tensorflow as tf

    source = (tf.range(length, dtype=tf.float64) + 0.5) * tf.cast(source_length / length, tf.float64) - 0.5
    start = tf.floor(source)
    t = source - start

    def near(d: Tensor) -> Tensor:  # |d| ≤ 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: Tensor) -> Tensor:  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    weights = tf.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1)
    index = tf.clip_by_value(
        tf.cast(start, tf.int32)[:, None] + tf.range(-1, 3)[None, :], 0, source_length - 1
    )
    return index, tf.cast(weights, tf.float32)


def resize_masks(masks: ArrayLike | Tensor, size: Sequence[int] | Tensor) -> Tensor:
    """Mask probabilities `[batch, h, w, M]` brought to `size` (bilinear, as `cv2.INTER_LINEAR`)."""
    import tensorflow as tf

    return tf.image.resize(masks, size, method="bilinear")


def export_saved_model(
    model: keras.Model,
    out: str | os.PathLike[str],
    size: Sequence[int],
    classes: Sequence[str] | None = None,
    max_pixels: int = MAX_PIXELS,
    max_request_pixels: int = MAX_REQUEST_PIXELS,
    keep: Iterable[str | os.PathLike[str]] = (),
    overwrite: bool = False,
) -> None:
    """Writes `model` as a SavedModel folder `out` with the `serving_default` (encoded images) and
    `serving_pixels` (uint8 pixels) signatures of the module docstring, and `dermnet.json` (what it
    is: model, classes, size, pixel limit); written under a temporary name, then renamed.

    The served model refuses a request, naming the image ("dermnet: image 3 of the request: ..."), that
    holds a file that is not a JPEG, PNG, GIF, BMP or WebP, one whose header declares more than
    `max_pixels` pixels, images whose headers declare more than `max_request_pixels` together (all
    before decoding anything: a small file can declare gigapixels), a file that `refusal` names, or one
    that fails to decode; an empty request gets an empty answer.

    Args:
        size: `(height, width)` the model predicts at (`dermnet.models.prediction_size`).
        classes: a classifier's class names in output order (default class_0, class_1, ...).
        max_pixels: the largest image the server decodes (default the data layer's limit).
        max_request_pixels: the most pixels a request's images may declare together (`MAX_REQUEST_PIXELS`).
        keep: files that must survive (the model file exported): an `out` that holds one is refused.
        overwrite: replace an earlier export in `out` (a folder of other files is still refused).

    Raises:
        FileExistsError: `out` breaks the rule of every writer (`dermnet._io.check_target`): it exists
            (without `overwrite`), holds a file of `keep`, or is the working folder (or one above it).
    """
    tf = _tf()
    out = check_target(out, overwrite, keep)
    if contract(model).stream == "metadata":
        return _export_with_metadata(model, out, size, classes)
    network = inference_model(model)
    segmentor = contract(model).predicts_masks
    size = tuple(int(s) for s in size)
    if not segmentor:
        classes = list(classes or [f"class_{k}" for k in range(network.output_shape[-1])])
        if len(classes) != network.output_shape[-1]:
            raise ValueError(
                f"{model.name} has {network.output_shape[-1]} outputs and {len(classes)} class names"
            )

    # Both signatures call this one function: the network's graph is traced and saved once.
    @tf.function(input_signature=[tf.TensorSpec([None, *size, 3], tf.float32)], autograph=False)
    def predict(batch: Tensor) -> Any:  # the network's outputs: a tensor or a dict of them
        return network(batch, training=False)

    def answer(batch: Tensor, image_size: Tensor | None) -> dict[str, Tensor]:
        count = tf.shape(batch)[0]
        # An empty request: the network (a convolution) cannot take a batch of none, so it runs on
        # one blank image whose answer is cut away.
        outputs = predict(tf.concat([batch, tf.zeros([1, *size, 3])], 0)[: tf.maximum(count, 1)])
        outputs = tf.nest.map_structure(lambda value: value[:count], outputs)
        if not segmentor:
            probabilities = tf.cast(outputs, tf.float32)
            return {
                "probabilities": probabilities,
                "label": tf.gather(tf.constant(classes), tf.argmax(probabilities, axis=-1)),
            }
        answers = dict(outputs) if isinstance(outputs, dict) else {"masks": outputs}
        answers = {name: tf.cast(value, tf.float32) for name, value in answers.items()}
        answers["masks"] = resize_masks(answers["masks"], image_size)
        return answers

    resized = tf.TensorSpec([*size, 3], tf.float32)

    def from_pixels(pixels: Tensor) -> dict[str, Tensor]:
        batch = tf.map_fn(lambda image: resize_bicubic(image, size), pixels, fn_output_signature=resized)
        return answer(batch, tf.shape(pixels)[1:3])

    def from_files(images: Tensor) -> dict[str, Tensor]:
        count, text = tf.shape(images, out_type=tf.int64)[0], tf.strings.as_string

        def header(data: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
            known, height, width = header_size(data)
            return height, width, tf.where(known, "", "not a JPEG, PNG, GIF, BMP or WebP file"), refusal(data)

        # TensorFlow's errors name no image: what fails in `_each` is left out, and named here.
        read, (heights, widths, unknown, refusals) = _each(images, header)
        heights, widths, refusals = (
            _spread(read, values, count, default)
            for values, default in ((heights, 0), (widths, 0), (refusals, ""))
        )
        unknown = _spread(read, unknown, count, "its header cannot be read: a truncated or corrupt file")
        pixels = heights * widths
        total = tf.math.cumsum(pixels)
        # Each image's first problem from its header alone: no pixel is decoded before every image passes.
        problems = tf.where(
            unknown != "",
            unknown,
            tf.where(
                pixels > max_pixels,
                tf.strings.join(
                    [
                        "declares ",
                        text(widths),
                        "x",
                        text(heights),
                        " pixels, more than the limit of "
                        f"{max_pixels:,} set at export (dermnet export --max-pixels)",
                    ]
                ),
                tf.where(
                    refusals != "",
                    refusals,
                    tf.where(
                        total > max_request_pixels,
                        tf.strings.join(
                            [
                                "brings the request to ",
                                text(total),
                                " pixels, more than its budget of "
                                f"{max_request_pixels:,} set at export (dermnet export --max-request-pixels)",
                            ]
                        ),
                        "",
                    ),
                ),
            ),
        )
        with tf.control_dependencies([_assert_none(problems)]):
            decoded, (batch, sizes) = _each(images, lambda data: _decoded(data, size))
        failed = _spread(
            decoded, tf.fill(tf.shape(decoded), ""), count, "cannot be decoded: a truncated or corrupt file"
        )
        with tf.control_dependencies([_assert_none(failed)]):
            batch = tf.identity(batch)
        if not segmentor:
            return answer(batch, None)
        # masks come back at the images' size: one per request
        same = tf.reduce_all(tf.equal(sizes, sizes[:1]), axis=1)
        with tf.control_dependencies(
            [
                _assert_none(
                    tf.where(
                        same,
                        "",
                        tf.strings.join(
                            [
                                text(sizes[:, 1]),
                                "x",
                                text(sizes[:, 0]),
                                ", where image 0 is ",
                                text(sizes[0, 1]),
                                "x",
                                text(sizes[0, 0]),
                                ": a segmentor takes the images of a request at one size",
                            ]
                        ),
                    )
                )
            ]
        ):
            return answer(tf.identity(batch), tf.concat([sizes, [size]], 0)[0])

    description = {
        "model": model.name,
        "classes": classes,
        "size": list(size),
        "max_pixels": max_pixels,
        "max_request_pixels": max_request_pixels,
        "dermnet_version": __version__,
        "keras_version": keras.__version__,
    }

    def write(partial: str) -> None:
        _save(
            partial,
            {
                "serving_default": (from_files, tf.TensorSpec([None], tf.string, "images")),
                "serving_pixels": (from_pixels, tf.TensorSpec([None, None, None, 3], tf.uint8, "pixels")),
            },
        )
        (Path(partial) / _DESCRIPTION).write_text(json.dumps(description, indent=2))

    write_atomically(out, write)


def _export_with_metadata(
    model: keras.Model, out: Path, size: Sequence[int], classes: Sequence[str] | None
) -> None:
    """A model with metadata inputs (`ha2020_effnet`) as Keras' own SavedModel: its `serve` signature
    takes `image`, float32 pixels `[batch, H, W, 3]` at the model's size (resized as `dermnet predict`
    resizes: `resize_bicubic`), and `metadata`, float32 `[batch, F]` (`encode_metadata`'s columns,
    named in `dermnet.json`). An image file carries no patient metadata, so there is no signature on
    encoded images; Keras' exporter serves the two inputs as they are."""
    from dermnet.data.metadata import FEATURES

    outputs = model.output_shape[-1]
    classes = list(classes or [f"class_{k}" for k in range(outputs)])
    if len(classes) != outputs:
        raise ValueError(f"{model.name} has {outputs} outputs and {len(classes)} class names")
    description = {
        "model": model.name,
        "classes": classes,
        "size": [int(s) for s in size],
        "inputs": {
            "image": f"float32 [batch, {int(size[0])}, {int(size[1])}, 3] RGB pixels in [0, 255], "
            "resized by dermnet.serving.resize_bicubic",
            "metadata": list(FEATURES),
        },
        "signature": "serve",
        "dermnet_version": __version__,
        "keras_version": keras.__version__,
    }

    def write(partial: str) -> None:
        model.export(partial, format="tf_saved_model", verbose=False)
        (Path(partial) / _DESCRIPTION).write_text(json.dumps(description, indent=2))

    write_atomically(out, write)


def _assert_none(problems: Tensor) -> Operation:
    """An assertion that no image of a request has a problem (a `[batch]` tf.string, "" for none), whose
    message names the first that has one: "dermnet: image 3 of the request: <its problem>"."""
    import tensorflow as tf

    first = tf.argmax(tf.concat([tf.cast(problems != "", tf.int32), [1]], 0), output_type=tf.int32)
    problem = tf.concat([problems, [""]], 0)[first]
    return tf.debugging.Assert(
        tf.reduce_all(tf.equal(problems, "")),
        [tf.strings.join(["dermnet: image ", tf.strings.as_string(first), " of the request: ", problem])],
    )


def _decoded(data: Tensor, size: Sequence[int]) -> tuple[Tensor, Tensor]:
    """(pixels resized to `size`, their own size) of an encoded image."""
    import tensorflow as tf

    image = decode_image(data)
    return resize_bicubic(image, size), tf.shape(image)[:2]


def _each(images: Tensor, function: Callable[[Tensor], Any]) -> tuple[Tensor, Any]:
    """(the indices of the images where `function` succeeds, its outputs there, stacked) over a `[batch]`
    tf.string of encoded images, one image at a time (a request's memory is its largest image's).
    An image where it fails (a corrupt file) is left out: TensorFlow's error would name no image."""
    import tensorflow as tf

    options = tf.data.Options()  # one at a time: no parallel map, no prefetch
    options.experimental_optimization.map_parallelization = False
    options.experimental_optimization.inject_prefetch = False
    count = tf.shape(images, out_type=tf.int64)[0]
    results = tf.data.Dataset.range(count).map(lambda index: (index, function(images[index]))).ignore_errors()
    none = tf.nest.map_structure(lambda spec: tf.zeros([0, *spec.shape], spec.dtype), results.element_spec)
    results = results.batch(tf.maximum(count, 1)).concatenate(tf.data.Dataset.from_tensors(none))
    return results.take(1).with_options(options).get_single_element()


def _spread(index: Tensor, values: Tensor, count: Tensor, default: str | int) -> Tensor:
    """`[count]` values: `values[k]` at `index[k]` (ascending), `default` elsewhere."""
    import tensorflow as tf

    present = tf.scatter_nd(index[:, None], tf.ones_like(index, tf.int32), [count]) > 0
    at = tf.where(present, tf.cumsum(tf.cast(present, tf.int64)) - 1, tf.size(values, out_type=tf.int64))
    return tf.gather(tf.concat([values, [default]], 0), at)


_DESCRIPTION = "dermnet.json"  # beside saved_model.pb: TensorFlow Serving reads only its own files


def _save(
    folder: str | os.PathLike[str], signatures: Mapping[str, tuple[Callable[..., Any], TensorSpec]]
) -> None:
    """A SavedModel of `signatures` ({name: (function, the TensorSpec of its one input)}), holding the
    TensorFlow variables they read and not the layers: Keras' ExportArchive traces a network four
    times over and walks every layer (a DenseNet-201 export takes 3× as long)."""
    import tensorflow as tf

    concrete = {
        name: tf.function(function, input_signature=[spec], autograph=False).get_concrete_function()
        for name, (function, spec) in signatures.items()
    }
    module = tf.Module()
    module.captured = list({id(v): v for f in concrete.values() for v in f.variables}.values())
    tf.saved_model.save(module, folder, signatures=concrete)
