"""ONNX and LiteRT exports: a trained model for `onnxruntime` and `ai-edge-litert`, checked there when written.

`export_portable` writes a folder, as `dermnet.serving.export_saved_model` does: `model.onnx` (or
`model.tflite`) and `dermnet.json`, which says what the model takes and gives, how the export was checked
and, for a quantized one, what quantization cost. The ONNX file carries the same description in its
metadata (`metadata_props["dermnet"]`), so that it travels with the file alone; a `.tflite` file carries
none (writing TFLite metadata needs `tflite-support`, which is no longer maintained), and `load` reads its
size and task off its tensors when no `dermnet.json` lies beside it.

Neither runtime has dermnet's decoder, so the model takes pixels: float32 `[batch, height, width, 3]`, RGB
values in [0, 255] of the image stretched to the model's size by `dermnet.serving.resize_bicubic`
(OpenCV's bicubic kernel on float input, not rounded: `cv2.resize(image.astype("float32"), (width,
height), interpolation=cv2.INTER_CUBIC)` to within 1e-4; EXIF orientation not applied), as `dermnet
predict` gives them to the Keras model. uint8 pixels resized by OpenCV and rounded are within one grey
level of them. The model normalises them itself. A classifier gives probabilities `[batch, K]`, a
segmentor mask probabilities `[batch, height, width, M]` at the model's size, the attribute network
those and `presence` `[batch, M]`.

The conversions are tf2onnx's, on the network's frozen TensorFlow graph (`_to_onnx` says why not through
Keras' `model.export(format="onnx")`; ConvNeXt's grouped convolutions and exact GELU are rewritten into
the same functions in ops ONNX has, `_onnx_compatible`), and Keras' `model.export(format="litert")`, the
TFLite converter; quantization is the runtimes' own (`onnxruntime.quantization.quantize_static`,
onnxruntime's float16 converter, the TFLite converter's options). What is written here: the check, the
scoring before and after quantization, the metadata, and the small runtime-backed predictor (`load`) that
`dermnet.inference.predict_images` runs an exported file with.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from dermnet import __version__
from dermnet._io import check_target, write_atomically
from dermnet.data import class_indices, from_csv, load_splits, read_image
from dermnet.datasets import challenge_of
from dermnet.evaluation.masks import mask_scores
from dermnet.evaluation.scoring import challenge_scores, headline
from dermnet.layers import nested_layers
from dermnet.models import contract, inference_model
from dermnet.serving import resize_bicubic

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike

    from dermnet.runs import Run

FILES = {"onnx": "model.onnx", "litert": "model.tflite"}
RUNTIMES = {"onnx": "onnxruntime", "litert": "ai-edge-litert"}
QUANTIZATIONS = ("float16", "int8")
TOLERANCE = 1e-4  # float32 exports against the Keras model, on the same pixels
DESCRIPTION = "dermnet.json"
INPUT = (
    "float32 [batch, {h}, {w}, 3]: RGB values in [0, 255] of the image stretched to {h}x{w} with OpenCV's "
    "bicubic kernel on float input, not rounded (cv2.resize(image.astype('float32'), ({w}, {h}), "
    "interpolation=cv2.INTER_CUBIC); dermnet.serving.resize_bicubic), EXIF orientation not applied; uint8 "
    "pixels resized and rounded are within one grey level; the model normalises them itself"
)


def export_run(
    run: Run,
    out: str | os.PathLike[str],
    format: str,
    *,
    quantize: str | None = None,
    max_drop: float | None = None,
    score_on: str | os.PathLike[str] | None = None,
    calibration_images: int = 200,
    overwrite: bool = False,
) -> dict[str, Any]:
    """`dermnet export --format onnx|litert`: a run's model through `export_portable`, checked on validation
    images of its data set where they are here (else odd images drawn at export); quantized, calibrated on
    `calibration_images` of its training split (drawn with seed 0) and scored on its validation split, or
    on the manifest CSV `score_on`.

    Args:
        run: a `dermnet.runs.Run`.
        out, format, quantize, max_drop, overwrite: as `export_portable`'s.
        score_on: a manifest CSV whose images (all of them) are scored before and after quantization.
        calibration_images: int8: how many training images the quantizer calibrates on.

    Returns:
        The description written to `dermnet.json`.
    """
    splits = None
    if run.dataset:
        try:
            splits = load_splits(run.dataset, run.root, label=run.arguments.get("label"))
        except (OSError, ValueError):  # the data set is not on this machine
            pass
    options: dict[str, Any] = {"quantize": quantize, "max_drop": max_drop}
    if splits is not None:
        checked = splits[1] if splits[1] is not None else splits[2]
        options["check_images"] = [path for path in checked["image"][:8] if Path(path).is_file()]
    if quantize:
        if splits is None:
            raise ValueError(
                f"{run.source}: --quantize calibrates on the run's training images and scores its "
                f"validation split; its data set ({run.dataset or 'none recorded'}) is not here"
            )
        if score_on:
            options["scoring"], options["scored_on"] = from_csv(score_on), str(score_on)
        elif splits[1] is not None:
            options["scoring"], options["scored_on"] = splits[1], f"the validation split of {run.dataset}"
        else:
            raise ValueError(
                f"{run.dataset} has no validation split to score quantization on: give --score-on CSV"
            )
        train = splits[0].sample(min(len(splits[0]), calibration_images), random_state=0)
        options["calibration"] = list(train["image"]) if quantize == "int8" else []
        options["challenge"] = challenge_of(str(run.dataset)) if not score_on else None
    return export_portable(
        run.model,
        out,
        format,
        run.prediction_size,
        run.classes,
        keep=[run.model_path],
        overwrite=overwrite,
        **options,
    )


def summary(description: Mapping[str, Any]) -> str:
    """What `dermnet export` prints of an export's `dermnet.json`: its check, and what quantization cost."""
    check = description["check"]
    worst = max(check["max_abs_difference"].values())
    lines = [
        f"checked in {check['runtime']} on {check['count']} images: at most {worst:.1e} from the Keras model"
        + (f" (tolerance {check['tolerance']:.0e})" if check["tolerance"] else "")
    ]
    if "score" in description:
        score = description["score"]
        lines.append(
            f"{description['quantization']}: {score['name']} {score['before']:.4f} → {score['after']:.4f} "
            f"(drop {score['drop']:+.4f}) on {score['images']} images of {score['scored_on']}"
        )
    return "\n".join(lines)


def export_portable(
    model: keras.Model,
    out: str | os.PathLike[str],
    format: str,
    size: Sequence[int],
    classes: Sequence[str] | None = None,
    *,
    quantize: str | None = None,
    check_images: Sequence[str | os.PathLike[str]] = (),
    calibration: Sequence[str | os.PathLike[str]] = (),
    scoring: pd.DataFrame | None = None,
    scored_on: str | None = None,
    challenge: str | None = None,
    max_drop: float | None = None,
    keep: Iterable[str | os.PathLike[str]] = (),
    overwrite: bool = False,
) -> dict[str, Any]:
    """Writes `model` as an ONNX or LiteRT folder `out` (module docstring), after checking it in its runtime.

    The check: `check_images` (image files; odd ones are drawn when none are given) go through dermnet's
    one image path (`read_image`, `resize_bicubic`) to the Keras network and to the exported file in its
    runtime; a float32 export that differs by more than `TOLERANCE` anywhere is refused. A quantized one
    records its difference, and its headline score on `scoring` before (float32) and after.

    Args:
        model: a dermnet model (its `inference_model` is exported).
        out: the folder to write.
        format: "onnx" or "litert".
        size: `(height, width)` the exported model takes.
        classes: class (or mask) names in output order.
        quantize: None, "float16" or "int8".
        check_images: image files to check the export on.
        calibration: int8: image files (the training split's) the quantizer calibrates on.
        scoring: a quantized export: a manifest DataFrame (labels or masks) to score before and after.
        scored_on: what `scoring` is, for `dermnet.json`.
        challenge: the ISIC challenge that scores a classifier on `scoring` (None: dermnet's scores).
        max_drop: int8: the largest drop of the headline score allowed; a larger one is refused.
        keep, overwrite: as `export_saved_model`'s.

    Returns:
        The description written to `dermnet.json`.

    Raises:
        ValueError: a model these formats cannot take (the message says why), a failed check, or an
            int8 model whose score drops by more than `max_drop`.
    """
    if format not in FILES:
        raise ValueError(f"format is one of {sorted(FILES)}; got {format!r}")
    if quantize not in (None, *QUANTIZATIONS):
        raise ValueError(f"quantize is one of {QUANTIZATIONS}; got {quantize!r}")
    out = check_target(out, overwrite, keep)
    network, task = inference_model(model), contract(model).task
    if contract(model).stream == "metadata" or len(network.inputs) != 1:
        raise ValueError(
            f"{model.name} takes more than an image (its inputs: {[i.name for i in network.inputs]}): "
            "the ONNX and LiteRT exports take pixels alone"
        )
    if quantize == "int8" and not len(calibration):
        raise ValueError("an int8 export calibrates on the run's training images: none were given")
    if quantize and scoring is None:
        raise ValueError("a quantized export is scored before and after: give the images to score on")
    size = tuple(int(s) for s in size)
    description: dict[str, Any] = {
        "model": model.name,
        "format": format,
        "file": FILES[format],
        "task": task,
        "classes": list(classes) if classes else None,
        "size": list(size),
        "input": {"name": "image", "description": INPUT.format(h=size[0], w=size[1])},
        "outputs": _outputs(task),
        "quantization": quantize or "none",
        "converted_by": (
            f"tf2onnx {importlib.metadata.version('tf2onnx')} on the frozen graph of keras {keras.__version__}"
            if format == "onnx"
            else f"keras {keras.__version__} model.export(format='litert')"
        ),
        "dermnet_version": __version__,
    }
    with tempfile.TemporaryDirectory() as folder:
        plain = Path(folder) / FILES[format]
        _convert(network, plain, format, size, task)
        exported = plain
        if quantize:
            exported = Path(folder) / f"quantized.{plain.suffix[1:]}"
            _quantize(network, plain, exported, format, quantize, size, calibration)
            description["calibrated_on"] = (
                f"{len(calibration)} training images" if quantize == "int8" else None
            )
        description["check"] = check(
            network, exported, size, check_images, tolerance=None if quantize else TOLERANCE
        )
        if quantize:
            description["score"] = {
                **_score_change(load(plain), load(exported), scoring, size, classes, challenge, task),
                "scored_on": scored_on or "given images",
            }
            drop = description["score"]["drop"]
            if quantize == "int8" and max_drop is not None and drop > max_drop:
                raise ValueError(
                    f"{model.name} int8: {description['score']['name']} drops by {drop:.4f} "
                    f"({description['score']['before']:.4f} → {description['score']['after']:.4f}), "
                    f"more than --max-drop {max_drop}: not written"
                )
        if format == "onnx":
            _embed(exported, description)

        def write(partial: str | os.PathLike[str]) -> None:
            Path(partial).mkdir()
            (Path(partial) / FILES[format]).write_bytes(exported.read_bytes())
            (Path(partial) / DESCRIPTION).write_text(json.dumps(description, indent=2))

        write_atomically(out, write)
    return description


def _outputs(task: str) -> dict[str, str]:
    masks = (
        "float32 [batch, height, width, masks]: mask probabilities at the model's size (resize to the image)"
    )
    if task == "classification":
        return {"probabilities": "float32 [batch, classes]"}
    if task == "segmentation":
        return {"masks": masks}
    return {
        "masks": masks,
        "presence": "float32 [batch, masks]: each attribute's probability of being present",
    }


def _convert(
    network: keras.Model, path: str | os.PathLike[str], format: str, size: Sequence[int], task: str
) -> None:
    """At a fixed size and any batch."""
    if format == "onnx":
        return _to_onnx(network, path, size, task)
    return _to_litert(network, path, size)


def _to_litert(
    network: keras.Model, path: str | os.PathLike[str], size: Sequence[int], **converter: Any
) -> None:
    """Keras' exporter (`converter`: the TFLite converter's options)."""
    spec = [keras.InputSpec(shape=(None, *size, 3), dtype="float32", name="image")]
    network.export(str(path), format="litert", input_signature=spec, verbose=False, **converter)


def _to_onnx(network: keras.Model, path: str | os.PathLike[str], size: Sequence[int], task: str) -> None:
    """tf2onnx on the network's frozen graph, its outputs named as `_outputs` names them.

    Not Keras' `model.export(format="onnx")`, which hands tf2onnx the traced function unfrozen: the tensors
    a layer holds as constants (the `Normalization` in EfficientNet's trunks) became inputs of the ONNX
    graph, which onnxruntime then asked for. Freezing first turns them into constants, as tf2onnx does
    with variables."""
    import tensorflow as tf
    import tf2onnx

    # Keras' export applies this patch (tf2onnx 1.17 predates numpy 2); the freezing is tf2onnx's own.
    from keras.src.export.tf2onnx_lib import patch_tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    network = _onnx_compatible(network)
    names = list(_outputs(task))

    def serve(image: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = network(image, training=False)
        outputs = outputs if isinstance(outputs, dict) else {names[0]: outputs}
        return {name: outputs[name] for name in names}

    traced = tf.function(serve).get_concrete_function(
        tf.TensorSpec((None, *size, 3), "float32", name="image")
    )
    frozen = convert_variables_to_constants_v2(traced, lower_control_flow=False, aggressive_inlining=True)
    order = tf.nest.flatten({name: name for name in names})  # the order the function's outputs come in
    renamed = {tensor.name: name for tensor, name in zip(frozen.outputs, order)}
    with warnings.catch_warnings():
        # Keras' patch probes `np.object`, which numpy answers with a FutureWarning: not the user's to see.
        warnings.filterwarnings("ignore", message="In the future `np.object`", category=FutureWarning)
        patch_tf2onnx()
        tf2onnx.convert.from_graph_def(
            frozen.graph.as_graph_def(add_shapes=True),
            input_names=[frozen.inputs[0].name],
            output_names=list(renamed),
            tensors_to_rename={frozen.inputs[0].name: "image", **renamed},
            output_path=str(path),
        )


def _exact_gelu(x: Any) -> Any:
    """GELU with erf, which ONNX has (tf.nn.gelu's erfc it lacks)."""
    return 0.5 * x * (1.0 + keras.ops.erf(x * 0.7071067811865476))


def _onnx_compatible(network: keras.Model) -> keras.Model:
    """`network`, or a copy of it with the same weights where it has layers tf2onnx cannot convert:
    a grouped convolution with one group a channel (ConvNeXt's depthwise ones: Keras runs grouped
    convolutions on TensorFlow as an XLA function, which tf2onnx leaves unconverted) becomes the
    `DepthwiseConv2D` it is, and exact GELU (tf.nn.gelu's erfc) the same function with erf."""

    def depthwise(layer: keras.layers.Layer) -> bool:
        return isinstance(layer, keras.layers.Conv2D) and layer.groups > 1

    def gelu(layer: keras.layers.Layer) -> bool:
        return isinstance(layer, keras.layers.Activation) and layer.get_config()["activation"] == "gelu"

    def rewritten(layer: keras.layers.Layer) -> keras.layers.Layer:
        if not isinstance(layer, keras.layers.Layer):  # an op of a functional graph (keras.ops.add ...)
            return layer
        if depthwise(layer):
            if layer.groups != layer.input.shape[-1]:
                raise ValueError(
                    f"{network.name}: {layer.name} is a grouped convolution of {layer.groups} groups over "
                    f"{layer.input.shape[-1]} channels, which the ONNX export cannot take (export litert)"
                )
            kernel = keras.ops.convert_to_numpy(layer.kernel)  # [h, w, 1, channels x multiplier]
            new = keras.layers.DepthwiseConv2D(
                layer.kernel_size,
                layer.strides,
                layer.padding,
                depth_multiplier=layer.filters // layer.groups,
                dilation_rate=layer.dilation_rate,
                use_bias=layer.use_bias,
                name=layer.name,
            )
            weights = [kernel.reshape(*kernel.shape[:2], layer.groups, -1), *layer.get_weights()[1:]]
        elif gelu(layer):
            new, weights = keras.layers.Activation(_exact_gelu, name=layer.name), []
        else:
            new, weights = layer.__class__.from_config(layer.get_config()), layer.get_weights()
        if not new.built:
            new.build(layer.input.shape)
        new.set_weights(weights)
        return new

    if not any(depthwise(layer) or gelu(layer) for layer in nested_layers(network)):
        return network
    try:
        return keras.models.clone_model(network, clone_function=rewritten, recursive=True)
    except ValueError as error:  # a subclassed model, which clone_model cannot copy
        raise ValueError(
            f"{network.name}: its grouped convolutions or exact GELU need rewriting for ONNX, and the model "
            f"cannot be copied to do it ({error}): export litert"
        ) from error


def _quantize(
    network: keras.Model,
    plain: Path,
    out: Path,
    format: str,
    mode: str,
    size: Sequence[int],
    calibration: Sequence[str | os.PathLike[str]],
) -> None:
    """The runtimes' own quantizers: onnxruntime's static QDQ quantizer and float16 converter; the TFLite
    converter's representative dataset and float16 type."""

    def batches() -> Iterator[np.ndarray]:  # one image a batch, as the converters' examples feed them
        return (_pixels([path], size) for path in calibration)

    if format == "litert":
        import tensorflow as tf

        options: dict[str, Any] = {"optimizations": [tf.lite.Optimize.DEFAULT]}
        if mode == "int8":
            options["representative_dataset"] = lambda: ([batch] for batch in batches())
        else:
            options["target_spec"] = {"supported_types": [tf.float16]}
        return _to_litert(network, out, size, **options)
    import onnx

    if mode == "float16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        return onnx.save(convert_float_to_float16(onnx.load(plain), keep_io_types=True), out)
    from onnxruntime import quantization

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = batches()

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"image": batch}

    prepared = out.with_name("prepared.onnx")  # shape inference and folding first, as onnxruntime advises
    quantization.quant_pre_process(
        str(plain), str(prepared), skip_symbolic_shape=True
    )  # fixed shapes: no sympy
    quantization.quantize_static(
        str(prepared),
        str(out),
        Reader(),
        quant_format=quantization.QuantFormat.QDQ,
        per_channel=True,
        activation_type=quantization.QuantType.QUInt8,
        weight_type=quantization.QuantType.QInt8,
    )


def _pixels(paths: Iterable[str | os.PathLike[str]], size: Sequence[int]) -> np.ndarray:
    """What `dermnet predict` gives a model: each file read by `read_image`, stretched by `resize_bicubic`."""
    return np.stack([np.asarray(resize_bicubic(read_image(path), size)) for path in paths])


def check(
    network: keras.Model,
    path: str | os.PathLike[str],
    size: Sequence[int],
    images: Sequence[str | os.PathLike[str]] = (),
    tolerance: float | None = TOLERANCE,
) -> dict[str, Any]:
    """The exported file at `path` in its runtime against the Keras `network`, on `images` (files; 4 odd
    ones drawn, JPEG and PNG at sizes other than the model's, where none are given).

    Returns:
        `{"runtime", "images", "max_abs_difference", "tolerance", "passed"}` for `dermnet.json`.

    Raises:
        ValueError: a difference over `tolerance` (None: none checked), naming the output.
    """
    with tempfile.TemporaryDirectory() as folder:
        files = list(images) or odd_images(folder)
        pixels = _pixels(files, size)
        exported = load(path)
        expected = _as_dict(network.predict(pixels, verbose=0))
        got = _as_dict(exported.predict(pixels))
    differences = {
        name: float(np.max(np.abs(np.asarray(got[name], "float32") - np.asarray(value, "float32"))))
        for name, value in expected.items()
    }
    worst = max(differences, key=differences.get)  # type: ignore[arg-type]  # get's None: every key is there
    passed = tolerance is None or differences[worst] <= tolerance
    if not passed:
        raise ValueError(
            f"{network.name} in {exported.runtime}: its {worst!r} differs from the Keras model's by "
            f"{differences[worst]:.2e} (more than {tolerance:.0e}) on {len(files)} images: not written"
        )
    return {
        "runtime": exported.runtime,
        "against": "the Keras model on the same pixels (dermnet predict)",
        "count": len(files),
        "images": [Path(f).name for f in files] if images else "odd images drawn at export",
        "max_abs_difference": differences,
        "tolerance": tolerance,
        "passed": passed,
    }


def odd_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Four image files unlike the training data's: JPEG and PNG, odd sizes, noise over gradients."""
    import cv2

    draw, files = np.random.default_rng(0), []
    for k, (height, width) in enumerate([(97, 131), (61, 45), (128, 128), (33, 250)]):
        ramp = np.linspace(0, 255, width)[None, :, None] * np.linspace(0.2, 1, height)[:, None, None]
        image = np.clip(ramp + draw.normal(0, 40, (height, width, 3)), 0, 255).astype("uint8")
        files.append(Path(folder) / f"odd_{k}.{'jpg' if k % 2 else 'png'}")
        cv2.imwrite(str(files[-1]), image)
    return files


def _as_dict(outputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return dict(outputs) if isinstance(outputs, dict) else {"output": outputs}


def _score_change(
    before: Exported,
    after: Exported,
    df: pd.DataFrame,
    size: Sequence[int],
    classes: Sequence[str] | None,
    challenge: str | None,
    task: str,
) -> dict[str, Any]:
    """The headline score of the float32 export and the quantized one on the images of `df`."""
    scores = [_headline(model, df, size, classes, challenge, task) for model in (before, after)]
    name = "overall" if "overall" in scores[0] else "balanced_accuracy"
    return {
        "name": name,
        "before": scores[0][name],
        "after": scores[1][name],
        "drop": scores[0][name] - scores[1][name],
        "images": len(df),
        "headline_before": scores[0],
        "headline_after": scores[1],
    }


def _headline(
    model: Exported,
    df: pd.DataFrame,
    size: Sequence[int],
    classes: Sequence[str] | None,
    challenge: str | None,
    task: str,
    batch_size: int = 16,
) -> dict[str, float]:
    paths = list(df["image"])
    outputs = [
        _as_dict(model.predict(_pixels(paths[k : k + batch_size], size)))
        for k in range(0, len(paths), batch_size)
    ]
    outputs = {name: np.concatenate([o[name] for o in outputs]) for name in outputs[0]}
    if task != "classification":  # a segmentor gives one array, the attribute network masks and presence
        scores = mask_scores(df, outputs["masks" if "masks" in outputs else "output"])
    else:  # (the ignore: a classifier's export is scored with its class names, which a run records)
        scores = challenge_scores(challenge, class_indices(df, classes), outputs["output"], classes)  # type: ignore[arg-type]
    return {name: float(value) for name, value in headline(scores).items()}


def _embed(path: Path, description: Mapping[str, Any]) -> None:
    """The description in the ONNX file's own metadata, where it travels with the file."""
    import onnx

    proto = onnx.load(path)
    del proto.metadata_props[:]
    proto.metadata_props.add(key="dermnet", value=json.dumps(description))
    onnx.save(proto, path)


class Exported:
    """An exported `.onnx` or `.tflite` file in its runtime, predicting as a Keras model's `predict` does.

    Attributes:
        path: the model file.
        description: its `dermnet.json` (beside it, else the ONNX file's metadata, else read off its tensors).
        size: `(height, width)` it takes.
        classes: class (or mask) names in output order, or None.
        task: "classification", "segmentation" or "attributes".
        runtime: the runtime and its version.
        name: the model's name.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        if path.is_dir():
            found = [path / f for f in FILES.values() if (path / f).is_file()]
            if not found:
                raise FileNotFoundError(f"{path}: no {' or '.join(FILES.values())} in it")
            path = found[0]
        if path.suffix not in (".onnx", ".tflite"):
            raise ValueError(f"{path}: an exported model is a .onnx or .tflite file")
        self.path: Path = path
        beside = path.with_name(DESCRIPTION)
        self.description: dict[str, Any] = json.loads(beside.read_text()) if beside.is_file() else {}
        if path.suffix == ".onnx":
            import onnxruntime

            self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            embedded = self._session.get_modelmeta().custom_metadata_map.get("dermnet")
            self.description = self.description or json.loads(embedded or "{}")
            self.runtime: str = f"onnxruntime {onnxruntime.__version__}"
            shape = self._session.get_inputs()[0].shape
            self._names = [o.name for o in self._session.get_outputs()]
            ranks = {o.name: len(o.shape) for o in self._session.get_outputs()}
        else:
            import ai_edge_litert
            from ai_edge_litert.interpreter import Interpreter

            self._interpreter = Interpreter(model_path=str(path))
            self._runner = self._interpreter.get_signature_runner()
            self.runtime = f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '')}".strip()
            details = self._runner.get_input_details()
            shape = list(next(iter(details.values()))["shape"])
            outputs = self._runner.get_output_details()
            self._names = list(outputs)
            ranks = {name: len(detail["shape"]) for name, detail in outputs.items()}
        self.size: tuple[int, ...] = tuple(self.description.get("size") or shape[1:3])
        self.classes: list[str] | None = self.description.get("classes")
        self.task: str = self.description.get("task") or (
            "attributes" if len(ranks) > 1 else "segmentation" if 4 in ranks.values() else "classification"
        )
        self.name: str = self.description.get("model", path.stem)

    def predict(self, pixels: ArrayLike, verbose: int = 0) -> np.ndarray | dict[str, np.ndarray]:
        """What the model gives on float32 pixels `[batch, height, width, 3]` (module docstring): an array,
        or for the attribute network `{"masks", "presence"}`. `verbose` is for Keras' signature."""
        pixels = np.ascontiguousarray(pixels, dtype="float32")
        if self.path.suffix == ".onnx":
            answers = dict(
                zip(self._names, self._session.run(None, {self._session.get_inputs()[0].name: pixels}))
            )
        else:
            # LiteRT resizes its input for the batch (the converter writes batch 1)
            answers = self._runner(**{next(iter(self._runner.get_input_details())): pixels})
        if len(answers) == 1:
            return np.asarray(next(iter(answers.values())))
        return {
            name: np.asarray(answers[key]) for name in ("masks", "presence") for key in answers if name in key
        }


def load(path: str | os.PathLike[str]) -> Exported:
    """An exported model (`export_portable`'s folder, or its `.onnx` / `.tflite` file) as an `Exported`."""
    return Exported(path)


def is_exported(source: str | os.PathLike[str]) -> bool:
    """Whether `source` names an ONNX or LiteRT export (a `.onnx` / `.tflite` file, or a folder with one)."""
    path = Path(str(source))
    return path.suffix in (".onnx", ".tflite") or (
        path.is_dir() and any((path / f).is_file() for f in FILES.values())
    )
