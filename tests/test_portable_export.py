"""ONNX and LiteRT exports (`dermnet.portable`, `dermnet export --format onnx|litert`): checked in their own
runtimes, described in dermnet.json, run by `dermnet predict`, quantized with the score change measured."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import filelock
import keras
import numpy as np
import pandas as pd
import pytest
from harness import BUILD_ONLY, SHARED, check_portable_export, write_dataset
from test_export import odd_images

import dermnet
from dermnet import cli, portable
from dermnet.data import from_csv
from dermnet.inference import predict_images

pytestmark = pytest.mark.usefixtures("tensorflow_only")
FORMATS = ("onnx", "litert")
# The rest of the registry; 10-70 s an export each on 2 cores, in a process of its own. CI converts the
# models of `EVERY_KIND`: a classifier whose trunk holds constants and depthwise, squeeze-and-excitation
# and swish layers (EfficientNet-B0), a segmentor (U-net), atrous convolutions (DeepLab v3+) and the
# attribute network's two outputs; ConvNeXt's rewritten layers are checked on a tiny model below. The rest
# are `large` (`pytest --run-large -p no:xdist -k every_model`): tf2onnx took 7 GB on ConvNeXt-T, 13 GB on
# Inception-v4 and 19 GB on resnet50x2 (`/usr/bin/time -v`, the conversion alone), and conversions of
# ensemble, Inception-v3 and ResNet-50 beside a CI worker's other tests met the OOM killer.
EVERY_KIND = ("efficientnet_b0", "unet", "deeplabv3plus", "attribute_net")
SWEPT = [
    name if name in EVERY_KIND else pytest.param(name, marks=pytest.mark.large)
    for name in dermnet.list_models()
    if name not in (*BUILD_ONLY, "baseline_cnn")
]


def real_images(folder):
    """ISIC JPEGs where ../shared is present, and odd files of every format (progressive, CMYK, EXIF, GIF, ...)."""
    folder.mkdir()
    real = sorted((SHARED / "data" / "isic-archive-557" / "images").glob("*.jpg"))[:3]
    return list(dict.fromkeys(real + odd_images(folder)))  # odd_images' first is a real one where present


@pytest.mark.parametrize("format", FORMATS)
def test_a_tiny_model_exports_and_agrees_in_its_runtime(format, tmp_path):
    check_portable_export("baseline_cnn", tmp_path, format)


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEPT)
def test_every_model_exports_and_agrees_in_its_runtime(name, tmp_path, tmp_path_factory):
    # Both formats in a process of its own (one TensorFlow start, not two): a converter keeps what it traced,
    # and 44 conversions in one test process grew it past the machine's 24 GB (a CI worker was killed for
    # memory). One large model at a time across the test workers: tf2onnx peaks at 13 GB on Inception-v4
    # (42 M parameters) and 7 GB on ConvNeXt-T (28 M), and two of them beside each other met the OOM killer.
    code = (
        "from harness import check_portable_export\n"
        f"for format in {FORMATS!r}: check_portable_export({name!r}, {str(tmp_path)!r}, format)"
    )
    large = dermnet.model_card(name).parameters > 20_000_000
    lock = tmp_path_factory.getbasetemp().parent / (
        "one-large-conversion-at-a-time.lock" if large else f"{name}.lock"
    )
    with filelock.FileLock(lock):
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=Path(__file__).parent, capture_output=True, text=True
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]


@pytest.mark.parametrize("format", FORMATS)
def test_convnexts_grouped_convolutions_and_exact_gelu_export_as_what_they_compute(format, tmp_path):
    """ConvNeXt's layers that tf2onnx cannot convert (`portable._onnx_compatible`), in a model of a few
    thousand parameters: the export agrees with Keras in its runtime."""
    keras.utils.set_random_seed(0)
    image = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 2, strides=2)(image)
    x = keras.layers.Conv2D(8, 3, padding="same", groups=8, name="depthwise")(x)  # ConvNeXt's 7x7 ones
    x = keras.layers.Conv2D(16, 3, padding="same", groups=8, name="two_per_group")(x)
    x = keras.layers.Activation("gelu")(keras.layers.LayerNormalization()(x))
    x = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    network = keras.Model(image, x, name="tiny_convnext")
    rewritten = portable._onnx_compatible(network)
    assert {type(layer).__name__ for layer in rewritten.layers} >= {"DepthwiseConv2D"}
    pixels = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(rewritten(pixels), network(pixels), atol=1e-6)
    portable._convert(network, tmp_path / portable.FILES[format], format, (16, 16), "classification")
    np.testing.assert_allclose(portable.load(tmp_path).predict(pixels), network(pixels), atol=1e-5)


def test_a_grouped_convolution_that_is_not_depthwise_is_refused_for_onnx():
    image = keras.Input((8, 8, 4))
    network = keras.Model(image, keras.layers.Conv2D(4, 3, groups=2, name="pairs")(image), name="grouped")
    with pytest.raises(ValueError, match="pairs is a grouped convolution of 2 groups over 4 channels"):
        portable._onnx_compatible(network)


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(0)
    return dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3))


@pytest.mark.parametrize("format", FORMATS)
def test_dermnet_predict_runs_the_export_as_it_runs_the_model(format, classifier, tmp_path):
    classes = ["nevus", "melanoma", "keratosis"]
    images = real_images(tmp_path / "images")
    described = portable.export_portable(
        classifier, tmp_path / "out", format, (32, 32), classes, check_images=images
    )
    written = json.loads((tmp_path / "out" / "dermnet.json").read_text())
    assert written == json.loads(json.dumps(described))
    assert written["check"]["passed"] and written["check"]["count"] == len(images)
    assert max(written["check"]["max_abs_difference"].values()) <= 1e-4
    assert "float32 [batch, 32, 32, 3]" in written["input"]["description"]
    assert "INTER_CUBIC" in written["input"]["description"]
    expected = predict_images(classifier, images, (32, 32), classes)
    got = predict_images(
        tmp_path / "out" / portable.FILES[format], images
    )  # size and names from dermnet.json
    assert got["predicted"].tolist() == expected["predicted"].tolist()
    columns = [f"p_{name}" for name in classes]
    np.testing.assert_allclose(got[columns].to_numpy(), expected[columns].to_numpy(), atol=1e-4)
    assert (
        cli.main(["predict", str(tmp_path / "out"), *map(str, images), "--out", str(tmp_path / "cli.csv")])
        == 0
    )  # the command line takes the export folder itself
    by_cli = pd.read_csv(tmp_path / "cli.csv")
    np.testing.assert_allclose(by_cli[columns].to_numpy(), got[columns].to_numpy(), atol=1e-6)
    # The file alone: the ONNX file carries its description; a .tflite its size (names default)
    alone = tmp_path / "alone" / portable.FILES[format]
    alone.parent.mkdir()
    shutil.copy(tmp_path / "out" / portable.FILES[format], alone)
    exported = portable.load(alone)
    assert exported.size == (32, 32) and exported.task == "classification"
    assert exported.classes == (classes if format == "onnx" else None)


def test_a_segmentors_export_writes_masks_as_predict_does(tmp_path):
    keras.utils.set_random_seed(0)
    unet = dermnet.build("unet", input_shape=(32, 32, 3), depth=2, filters=4)
    images = real_images(tmp_path / "images")[:4]
    portable.export_portable(unet, tmp_path / "out", "onnx", (32, 32), check_images=images)
    expected = predict_images(unet, images, (32, 32), masks_dir=tmp_path / "keras")
    got = predict_images(tmp_path / "out", images, masks_dir=tmp_path / "onnx")
    pd.testing.assert_frame_equal(got, expected)


def test_a_failed_check_refuses_the_export(classifier, tmp_path, monkeypatch):
    predict = portable.Exported.predict
    monkeypatch.setattr(
        portable.Exported, "predict", lambda self, pixels, verbose=0: predict(self, pixels) + 2e-4
    )
    with pytest.raises(
        ValueError, match="'output' differs from the Keras model's by 2.00e-04 .* not written"
    ):
        portable.export_portable(classifier, tmp_path / "out", "onnx", (32, 32))
    assert not (tmp_path / "out").exists()


def test_what_cannot_be_exported_is_refused_saying_why(classifier, tmp_path, capsys):
    with pytest.raises(ValueError, match="calibrates on the run's training images"):
        portable.export_portable(classifier, tmp_path / "out", "onnx", (32, 32), quantize="int8")
    with pytest.raises(ValueError, match="format is one of"):
        portable.export_portable(classifier, tmp_path / "out", "tflite", (32, 32))
    classifier.save(tmp_path / "model.keras")
    assert (
        cli.main(
            ["export", str(tmp_path / "model.keras"), "--format", "tflite", "--out", str(tmp_path / "t")]
        )
        == 1
    )
    assert "--format tflite is now --format litert" in capsys.readouterr().err
    assert (
        cli.main(
            ["export", str(tmp_path / "model.keras"), "--quantize", "int8", "--out", str(tmp_path / "q")]
        )
        == 1
    )
    assert "--quantize is for --format onnx or litert" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "export",
                str(tmp_path / "model.keras"),
                "--format",
                "onnx",
                "--quantize",
                "int8",
                "--out",
                str(tmp_path / "q"),
            ]
        )
        == 1
    )
    assert "its data set (none recorded) is not here" in capsys.readouterr().err


def tiny_run(tmp_path, masks=False):
    """A run folder whose config names a manifest with train, validation and test images."""
    manifest = write_dataset(tmp_path / "data", n=24, masks=masks)
    table = pd.read_csv(manifest)
    table["split"] = ["train", "train", "validation", "test"] * 6
    table.to_csv(manifest, index=False)
    run = tmp_path / "run"
    run.mkdir()
    keras.utils.set_random_seed(0)
    dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3)).save(run / "model.keras")
    (run / "config.json").write_text(
        json.dumps({"classes": ["class_0", "class_1", "class_2"], "arguments": {"dataset": str(manifest)}})
    )
    return run, manifest


# LiteRT's int8 conversion takes 40 s on 2 cores: with the slow tests
@pytest.mark.parametrize("format", ["onnx", pytest.param("litert", marks=pytest.mark.slow)])
def test_int8_is_calibrated_on_training_images_and_scored_before_and_after(format, tmp_path, capsys):
    run, manifest = tiny_run(tmp_path)
    out = tmp_path / "int8"
    assert (
        cli.main(
            [
                "export",
                str(run),
                "--format",
                format,
                "--quantize",
                "int8",
                "--max-drop",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    written = json.loads((out / "dermnet.json").read_text())
    assert written["quantization"] == "int8" and written["calibrated_on"] == "12 training images"
    score = written["score"]
    assert score["images"] == 6 and score["scored_on"] == f"the validation split of {manifest}"
    assert score["drop"] == pytest.approx(score["before"] - score["after"])
    assert written["check"]["tolerance"] is None  # quantized: the difference is recorded, not held to 1e-4
    printed = capsys.readouterr().out
    assert f"int8: {score['name']} {score['before']:.4f} → {score['after']:.4f}" in printed
    # The checked images are the run's validation images
    assert written["check"]["images"] == [f"IMG_{k:04d}.png" for k in (2, 6, 10, 14, 18, 22)]
    # A drop larger than the user allows is refused, nothing written
    assert (
        cli.main(
            [
                "export",
                str(run),
                "--format",
                format,
                "--quantize",
                "int8",
                "--max-drop",
                "-2",
                "--out",
                str(tmp_path / "refused"),
            ]
        )
        == 1
    )
    assert "more than --max-drop -2.0: not written" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()


@pytest.mark.slow
@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("quantize", ["float16", "int8"])
def test_a_segmentor_quantizes_with_its_mask_scores(format, quantize, tmp_path):
    manifest = write_dataset(tmp_path / "data", n=12, masks=True)
    data = from_csv(manifest)
    keras.utils.set_random_seed(0)
    unet = dermnet.build("unet", input_shape=(32, 32, 3), depth=2, filters=4)
    written = portable.export_portable(
        unet,
        tmp_path / "out",
        format,
        (32, 32),
        quantize=quantize,
        calibration=list(data["image"][:6]),
        scoring=data,
    )
    assert written["score"]["name"] == "overall" and written["score"]["images"] == 12
    assert "threshold_jaccard" in written["score"]["headline_after"]
    if quantize == "float16":
        assert max(written["check"]["max_abs_difference"].values()) < 1e-2
