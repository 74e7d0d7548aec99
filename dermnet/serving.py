"""What a server runs: a trained model exported with its image decoding and resizing inside.

`export_saved_model` writes a SavedModel (TensorFlow Serving takes it as is) with two signatures:

- `serving_default`: `images`, a `[batch]` tf.string of encoded JPEG / PNG / GIF / BMP / WebP files
  (each checked from its header against a pixel limit before it is decoded);
- `serving_pixels`: `pixels`, uint8 `[batch, height, width, 3]` RGB.

A classifier answers `probabilities` (float32 `[batch, K]`) and `label` (tf.string `[batch]`, the
class names of its run); a segmentor answers `masks` (float32 probabilities `[batch, height, width,
M]` at the input images' size: the images of one request share a size), and the attribute network
also `presence` (`[batch, M]`). Inside, each image is decoded as `dermnet.data.read_image` decodes
it (JPEG: accurate integer IDCT with fancy upsampling, bit for bit; EXIF orientation not applied),
stretched to the model's input size with OpenCV's bicubic kernel in float32 (`resize_bicubic`),
and given to the model, whose own layers normalise it. `dermnet predict` runs the same two functions, so both give the same probabilities.

`export_tflite` writes a TensorFlow Lite classifier: float32 RGB pixels `[1, height, width, 3]` at
the model's input size in, probabilities out (resize with `resize_bicubic` first).

Exporting needs the TensorFlow backend; a model trained with JAX loads there from its `.keras` file.
"""

import json
import tempfile
from pathlib import Path

import keras
import numpy as np

from dermnet import __version__
from dermnet._io import recover_interrupted_write, write_atomically
from dermnet.data.images import MAX_PIXELS
from dermnet.models import contract, inference_model


def _tf():
    if keras.config.backend() != "tensorflow":
        raise RuntimeError(f"exporting needs the TensorFlow backend (this is {keras.config.backend()}): run with "
                           "KERAS_BACKEND=tensorflow; a .keras file saved with any backend loads there")
    import tensorflow as tf

    return tf


def decode_image(data):
    """uint8 `[height, width, 3]` RGB pixels of an encoded image (a scalar tf.string), as
    `dermnet.data.read_image` decodes it: pixels as stored (EXIF orientation is not applied), the
    first frame of a GIF."""
    import tensorflow as tf

    return tf.cond(tf.io.is_jpeg(data),
                   lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
                   lambda: tf.io.decode_image(data, channels=3, expand_animations=False))


def header_size(data):
    """(known, height, width) of an encoded image (a scalar tf.string) from its header alone, before
    any pixel is decoded: JPEG, PNG, GIF, BMP and WebP (lossy, lossless and extended). Written out
    by hand because TensorFlow reads only a JPEG's size without decoding it (`extract_jpeg_shape`)."""
    import tensorflow as tf

    head = tf.cast(tf.io.decode_raw(tf.strings.substr(data + tf.constant(bytes(32)), 0, 32), tf.uint8), tf.int64)

    def little(start, length):  # an unsigned little-endian integer of `length` bytes at `start`
        return sum(head[start + k] * 256**k for k in range(length))

    def big(start, length):
        return sum(head[start + k] * 256**(length - 1 - k) for k in range(length))

    def starts(text, at=0):
        return tf.reduce_all(tf.equal(head[at:at + len(text)], tf.constant(list(text), tf.int64)))

    bmp_height = little(22, 4)
    bmp_height = tf.where(bmp_height >= 2**31, 2**32 - bmp_height, bmp_height)  # top-down BMPs: negative
    vp8l = little(21, 4)
    webp = starts(b"RIFF") & starts(b"WEBP", 8)
    formats = [  # (is this format, height, width)
        (starts(b"\x89PNG\r\n\x1a\n"), big(20, 4), big(16, 4)),
        (starts(b"GIF8"), little(8, 2), little(6, 2)),
        (starts(b"BM"), bmp_height, little(18, 4)),
        (webp & starts(b"VP8X", 12), little(27, 3) + 1, little(24, 3) + 1),
        (webp & starts(b"VP8L", 12), vp8l // 2**14 % 2**14 + 1, vp8l % 2**14 + 1),
        (webp & starts(b"VP8 ", 12), little(28, 2) % 2**14, little(26, 2) % 2**14),
    ]
    known, height, width = tf.constant(False), tf.constant(0, tf.int64), tf.constant(0, tf.int64)
    for is_format, format_height, format_width in reversed(formats):
        known, height, width = (is_format | known, tf.where(is_format, format_height, height),
                                tf.where(is_format, format_width, width))

    def jpeg_shape():
        return tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64)

    jpeg = tf.io.is_jpeg(data)
    height_width = tf.cond(jpeg, jpeg_shape, lambda: tf.stack([height, width]))
    return jpeg | known, height_width[0], height_width[1]


def resize_bicubic(image, size):
    """float32 `[height, width, C]` of `image` (`[H, W, C]`, any number type) stretched to `size`,
    with OpenCV's bicubic kernel (a = −0.75, pixel centres aligned, edges repeated), not rounded:
    `cv2.resize(image, ..., interpolation=cv2.INTER_CUBIC)` on float input, to within 1e-4."""
    import tensorflow as tf

    image = tf.cast(image, tf.float32)
    for axis, length in enumerate(size):
        index, weights = _cubic_taps(tf.shape(image)[axis], length)
        taps = tf.gather(image, index, axis=axis)  # the 4 source rows (columns) of each output one
        image = tf.einsum("hkwc,hk->hwc" if axis == 0 else "hwkc,wk->hwc", taps, weights)
    return image


def _cubic_taps(source_length, length, a=-0.75):
    """Source indices `[length, 4]` and their weights `[length, 4]` along one axis."""
    import tensorflow as tf

    source = (tf.range(length, dtype=tf.float64) + 0.5) * tf.cast(source_length / length, tf.float64) - 0.5
    start = tf.floor(source)
    t = source - start

    def near(d):  # |d| ≤ 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    weights = tf.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1)
    index = tf.clip_by_value(tf.cast(start, tf.int32)[:, None] + tf.range(-1, 3)[None, :], 0, source_length - 1)
    return index, tf.cast(weights, tf.float32)


def resize_masks(masks, size):
    """Mask probabilities `[batch, h, w, M]` brought to `size` (bilinear, as `cv2.INTER_LINEAR`)."""
    import tensorflow as tf

    return tf.image.resize(masks, size, method="bilinear")


def export_saved_model(model, out, size, classes=None, max_pixels=MAX_PIXELS, keep=()):
    """Writes `model` as a SavedModel folder `out` with the `serving_default` (encoded images) and
    `serving_pixels` (uint8 pixels) signatures of the module docstring, and `dermnet.json` (what it
    is: model, classes, size, pixel limit); written under a temporary name, then renamed.

    The served model refuses, naming the image's place in the request, a file that is not a JPEG,
    PNG, GIF, BMP or WebP and one whose header declares more than `max_pixels` pixels (before
    decoding it: a small file can declare gigapixels); an empty request gets an empty answer.

    Args:
        size: `(height, width)` the model predicts at (`dermnet.models.prediction_size`).
        classes: a classifier's class names in output order (default class_0, class_1, ...).
        max_pixels: the largest image the server decodes (default the data layer's limit).
        keep: files that must survive (the model file exported, its run folder's files): an
            `out` that holds one of them is refused.

    Raises:
        FileExistsError: `out` is a folder that holds other files than an earlier dermnet export,
            holds a file of `keep`, or is the working folder (or one above it).
    """
    tf = _tf()
    out = _export_folder(out, keep)
    network = inference_model(model)
    segmentor = contract(model).predicts_masks
    size = tuple(int(s) for s in size)
    if not segmentor:
        classes = list(classes or [f"class_{k}" for k in range(network.output_shape[-1])])
        if len(classes) != network.output_shape[-1]:
            raise ValueError(f"{model.name} has {network.output_shape[-1]} outputs and {len(classes)} class names")

    # Both signatures call this one function: the network's graph is traced and saved once.
    @tf.function(input_signature=[tf.TensorSpec([None, *size, 3], tf.float32)], autograph=False)
    def predict(batch):
        return network(batch, training=False)

    def answer(batch, image_size):
        count = tf.shape(batch)[0]
        # An empty request: the network (a convolution) cannot take a batch of none, so it runs on
        # one blank image whose answer is cut away.
        outputs = predict(tf.concat([batch, tf.zeros([1, *size, 3])], 0)[:tf.maximum(count, 1)])
        outputs = tf.nest.map_structure(lambda value: value[:count], outputs)
        if not segmentor:
            probabilities = tf.cast(outputs, tf.float32)
            return {"probabilities": probabilities, "label": tf.gather(tf.constant(classes),
                                                                      tf.argmax(probabilities, axis=-1))}
        answers = dict(outputs) if isinstance(outputs, dict) else {"masks": outputs}
        answers = {name: tf.cast(value, tf.float32) for name, value in answers.items()}
        answers["masks"] = resize_masks(answers["masks"], image_size)
        return answers

    resized = tf.TensorSpec([*size, 3], tf.float32)

    def from_pixels(pixels):
        batch = tf.map_fn(lambda image: resize_bicubic(image, size), pixels, fn_output_signature=resized)
        return answer(batch, tf.shape(pixels)[1:3])

    def from_files(images):
        def one(item):
            data, index = item
            known, height, width = header_size(data)
            checks = [
                tf.debugging.Assert(known, ["dermnet: image", index, "of the request is not a JPEG, PNG, GIF, "
                                            "BMP or WebP file"]),
                tf.debugging.Assert(height * width <= max_pixels, [
                    "dermnet: image", index, "of the request declares", width, "x", height, "pixels, more than "
                    f"the limit of {max_pixels:,} set at export (dermnet export --max-pixels)"]),
            ]
            with tf.control_dependencies(checks):
                image = decode_image(data)
            return resize_bicubic(image, size), tf.shape(image)[:2]

        indices = tf.range(tf.shape(images)[0])
        batch, sizes = tf.map_fn(one, (images, indices),
                                 fn_output_signature=(resized, tf.TensorSpec([2], tf.int32)))
        if not segmentor:
            return answer(batch, None)
        # masks come back at the images' size: one per request
        tf.debugging.assert_equal(sizes, tf.broadcast_to(sizes[:1], tf.shape(sizes)),
                                  message="a segmentor's request holds images of one size")
        return answer(batch, tf.concat([sizes, [size]], 0)[0])

    description = {"model": model.name, "classes": classes, "size": list(size), "max_pixels": max_pixels,
                   "dermnet_version": __version__, "keras_version": keras.__version__}

    def write(partial):
        _save(partial, {"serving_default": (from_files, tf.TensorSpec([None], tf.string, "images")),
                        "serving_pixels": (from_pixels, tf.TensorSpec([None, None, None, 3], tf.uint8, "pixels"))})
        (Path(partial) / _EXPORT_MARK).write_text(json.dumps(description, indent=2))

    write_atomically(out, write)


_EXPORT_MARK = "dermnet.json"  # beside saved_model.pb: TensorFlow Serving reads only its own files


def _export_folder(out, keep):
    """`out` as an absolute path, refused where writing it would replace a user's files."""
    out = Path(out).expanduser().absolute()
    if Path.cwd().resolve().is_relative_to(out.resolve()):
        raise FileExistsError(f"{out} is the working folder (or holds it): give a new folder for the SavedModel, "
                              "e.g. --out ./saved_model")
    for path in keep:
        if Path(path).resolve().is_relative_to(out.resolve()):
            raise FileExistsError(f"{out} holds {path}, which the export must not replace: give another folder, "
                                  f"e.g. --out {Path(path).parent / 'saved_model'}")
    recover_interrupted_write(out)  # an export killed while being replaced: the earlier one back, checked
    if out.is_dir() and any(out.iterdir()) and not (out / _EXPORT_MARK).is_file():
        raise FileExistsError(f"{out} is a folder of other files (not an earlier dermnet export): give a new or "
                              "empty folder")
    return out


def export_tflite(model, out):
    """Writes a classifier as a TensorFlow Lite file `out` (float32 pixels `[1, H, W, 3]` at its input
    size → probabilities); written under a temporary name, then renamed."""
    tf = _tf()
    if contract(model).predicts_masks:
        raise ValueError(f"{model.name} is a segmentor: TFLite export is for classifiers (use saved_model)")
    height, width = model.input_shape[1:3]
    if height is None or width is None:
        raise ValueError(f"{model.name} takes any image size: a TFLite model needs a fixed one (rebuild it)")

    def probabilities(pixels):
        return {"probabilities": tf.cast(model(pixels, training=False), tf.float32)}

    with tempfile.TemporaryDirectory() as folder:
        _save(folder, {"serving_default": (probabilities, tf.TensorSpec([1, height, width, 3], tf.float32, "pixels"))})
        flatbuffer = tf.lite.TFLiteConverter.from_saved_model(folder).convert()
    write_atomically(out, lambda partial: Path(partial).write_bytes(flatbuffer))


def _save(folder, signatures):
    """A SavedModel of `signatures` ({name: (function, the TensorSpec of its one input)}), holding the
    TensorFlow variables they read and not the layers: Keras' ExportArchive traces a network four
    times over and walks every layer (a DenseNet-201 export takes 3× as long)."""
    import tensorflow as tf

    concrete = {name: tf.function(function, input_signature=[spec], autograph=False).get_concrete_function()
                for name, (function, spec) in signatures.items()}
    module = tf.Module()
    module.captured = list({id(v): v for f in concrete.values() for v in f.variables}.values())
    tf.saved_model.save(module, folder, signatures=concrete)


def run_tflite(path, pixels):
    """Probabilities `[batch, K]` of a TFLite classifier (`export_tflite`) on float pixels `[batch, H, W, 3]`,
    with the LiteRT interpreter (`pip install ai-edge-litert`), else TensorFlow's (deprecated there)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Interpreter = tf.lite.Interpreter  # noqa: N806
    interpreter = Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    return np.concatenate([runner(pixels=np.asarray(p[None], np.float32))["probabilities"] for p in pixels])
