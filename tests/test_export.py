"""`dermnet export`: SavedModels a server loads as they are, and TFLite classifiers."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pandas as pd
import pytest
from harness import SHARED

import dermnet
from dermnet import cli, serving
from dermnet.data import read_image

pytestmark = pytest.mark.usefixtures("tensorflow_only")


def jpeg(path, size=(45, 61)):
    """A real ISIC JPEG where ../shared is present, else a JPEG of noise with 4:2:0 chroma (OpenCV's default)."""
    real = sorted((SHARED / "data" / "isic-archive-557" / "images").glob("*.jp*g"))
    if real:
        return real[0]
    cv2.imwrite(str(path), np.random.default_rng(1).integers(0, 256, (*size, 3), dtype=np.uint8))
    return path


def test_resize_bicubic_is_opencvs(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for size in ((16, 24), (37, 53), (90, 70)):
        ours = np.asarray(serving.resize_bicubic(image, size))
        opencv = cv2.resize(image.astype("float32"), size[::-1], interpolation=cv2.INTER_CUBIC)
        np.testing.assert_allclose(ours, opencv, atol=1e-3)
        # the training cache: OpenCV on uint8 (fixed-point weights, rounded)
        cached = cv2.resize(image, size[::-1], interpolation=cv2.INTER_CUBIC)
        assert np.abs(np.clip(np.round(ours), 0, 255) - cached).max() <= 1


def test_jpeg_and_png_decode_as_opencv_decodes_them(tmp_path):
    import tensorflow as tf

    cv2.imwrite(
        str(tmp_path / "a.png"), np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    )
    for path in (jpeg(tmp_path / "a.jpg"), tmp_path / "a.png"):
        decoded = serving.decode_image(tf.io.read_file(str(path))).numpy()
        np.testing.assert_array_equal(decoded, read_image(path))


def saved_model_cli(*arguments):
    """TensorFlow's saved_model_cli, as a user runs it."""
    script = Path(sys.executable).with_name("saved_model_cli")
    return subprocess.run([str(script), *arguments], check=True, capture_output=True, text=True).stdout


def odd_images(folder):
    """The files a server gets: a real or noise JPEG, and progressive, CMYK, EXIF-rotated, PNG, WebP,
    GIF and BMP files (the rotated one is not square: turning it would change its shape)."""
    from PIL import Image

    base = Image.open(jpeg(folder / "lesion.jpg")).convert("RGB").resize((61, 45))
    exif = Image.Exif()
    exif[0x0112] = 6
    files = [jpeg(folder / "lesion.jpg")]
    for name, image, options in (
        ("progressive.jpg", base, {"progressive": True, "quality": 90}),
        ("cmyk.jpg", base.convert("CMYK"), {"quality": 90}),
        ("rotated.jpg", base, {"exif": exif.tobytes(), "quality": 90}),
        ("lesion.png", base, {}),
        ("lesion.webp", base, {"quality": 80}),
        ("lesion.gif", base.convert("P"), {}),
        ("lesion.bmp", base, {}),
    ):
        image.save(folder / name, **options)
        files.append(folder / name)
    return files


def test_saved_model_cli_runs_the_export_as_dermnet_predict_does(tmp_path):
    keras.utils.set_random_seed(0)
    run = tmp_path / "run"
    run.mkdir()
    dermnet.build("resnet50", num_classes=3, weights=None, input_shape=(48, 48, 3)).save(run / "model.keras")
    (run / "config.json").write_text(json.dumps({"classes": ["nevus", "melanoma", "keratosis"]}))
    images = odd_images(tmp_path)
    assert cli.main(["predict", str(run), *map(str, images), "--out", str(tmp_path / "predicted.csv")]) == 0
    assert cli.main(["export", str(run), "--out", str(tmp_path / "served")]) == 0

    shown = saved_model_cli("show", "--dir", str(tmp_path / "served"), "--all")
    assert "signature_def['serving_default']" in shown and "signature_def['serving_pixels']" in shown
    # An object array: a fixed-width bytes array ("S") drops trailing NUL bytes, which ends a WebP file.
    np.save(tmp_path / "images.npy", np.array([Path(image).read_bytes() for image in images], object))
    saved_model_cli(
        "run",
        "--dir",
        str(tmp_path / "served"),
        "--tag_set",
        "serve",
        "--signature_def",
        "serving_default",
        "--inputs",
        f"images={tmp_path / 'images.npy'}",
        "--outdir",
        str(tmp_path),
    )
    predicted = pd.read_csv(tmp_path / "predicted.csv")
    np.testing.assert_allclose(
        np.load(tmp_path / "probabilities.npy"),
        predicted[["p_nevus", "p_melanoma", "p_keratosis"]].to_numpy(),
        atol=1e-5,
    )
    labels = np.load(tmp_path / "label.npy", allow_pickle=True)  # an object array of bytes: our own file
    assert [label.decode() for label in labels] == predicted["predicted"].tolist()
    assert json.loads((tmp_path / "served" / "dermnet.json").read_text())["classes"][0] == "nevus"


def test_export_never_replaces_a_users_files(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    dermnet.build("baseline_cnn", num_classes=2, input_shape=(32, 32, 3)).save(run / "model.keras")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my notes")
    monkeypatch.chdir(tmp_path)
    for out, problem, *options in (
        (run, "model.keras, which this command reads and must not replace"),
        (run / "model.keras", "must not replace", "--format", "litert", "--overwrite"),
        (".", "is the working folder"),
        (tmp_path, "is the working folder"),
        (tmp_path / "mine", "mine exists: give --overwrite"),
        (tmp_path / "mine", "holds files dermnet did not write", "--overwrite"),
    ):
        with pytest.raises(FileExistsError, match=problem):
            cli.main(["--debug", "export", str(run), "--out", str(out), *options])
    assert sorted(p.name for p in run.iterdir()) == ["model.keras"]
    assert (tmp_path / "mine" / "notes.txt").read_text() == "my notes"
    (tmp_path / "empty").mkdir()
    assert cli.main(["export", str(run), "--out", "empty"]) == 0  # an empty folder is written
    assert cli.main(["export", str(run), "--out", "empty"]) == 1  # then replaced only when told
    assert cli.main(["export", str(run), "--out", "empty", "--overwrite"]) == 0
    assert (tmp_path / "empty" / "saved_model.pb").is_file()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A tiny classifier served with small limits: 50,000 pixels an image, 80,000 a request."""
    if keras.config.backend() != "tensorflow":
        pytest.skip("SavedModel export needs the TensorFlow backend")
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("served")
    model = dermnet.build("baseline_cnn", num_classes=2, input_shape=(32, 32, 3))
    serving.export_saved_model(
        model,
        folder / "served",
        (32, 32),
        ["benign", "malignant"],
        max_pixels=50_000,
        max_request_pixels=80_000,
    )
    return model, tf.saved_model.load(str(folder / "served")).signatures["serving_default"], folder / "served"


def request(served, *files):
    import tensorflow as tf

    return served[1](images=tf.constant([f if isinstance(f, bytes) else Path(f).read_bytes() for f in files]))


def refused(served, problem, *files):
    """The served model's refusal of a request, which must match `problem`."""
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError, match=problem):
        request(served, *files)


def test_the_served_model_has_limits(tmp_path, served):
    import tensorflow as tf
    from PIL import Image
    from test_data_images import png_header_only

    empty = served[1](images=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 2) and empty["label"].shape == (0,)
    good = tmp_path / "a.png"
    Image.new("RGB", (200, 150), (200, 100, 50)).save(good)
    bomb = png_header_only(tmp_path / "bomb.png", 60_000, 60_000)
    refused(served, r"image 1 of the request: declares 60000x60000 pixels", good, bomb)
    refused(served, r"image 2 of the request: not a JPEG", good, good, b"hello")
    assert request(served, good)["probabilities"].shape == (1, 2)
    # 30,000 pixels each: two fit the request's budget of 80,000, the third does not
    assert request(served, good, good)["probabilities"].shape == (2, 2)
    refused(
        served,
        "image 2 of the request: brings the request to 90000 pixels, more than its budget of 80,000",
        good,
        good,
        good,
    )
    described = json.loads((served[2] / "dermnet.json").read_text())
    assert (described["max_pixels"], described["max_request_pixels"]) == (50_000, 80_000)


def gif_on_a_canvas(path, frame_size, canvas_size, at=(0, 0)):
    """A GIF whose first frame declares `frame_size` (width, height) at `at` on a canvas (logical screen)
    of `canvas_size`: 12x10 pixels of noise written by Pillow, its header and image descriptor set by hand."""
    from PIL import Image

    noise = np.random.default_rng(3).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(noise).convert("P").save(path)
    data = bytearray(path.read_bytes())
    data[6:10] = struct.pack("<HH", *canvas_size)
    position = 13 + (3 << (data[10] & 7) + 1 if data[10] & 0x80 else 0)
    while data[position] == 0x21:  # extension blocks: label, then sub-blocks up to an empty one
        position += 2
        while data[position]:
            position += data[position] + 1
        position += 1
    assert data[position] == 0x2C  # the image descriptor: left, top, width, height
    data[position + 1 : position + 9] = struct.pack("<HHHH", *at, *frame_size)
    path.write_bytes(data)
    return path


def bmp_4bit(path, width=30, height=20):
    """A valid 16-colour BMP (Pillow writes palettes at 8 bits only)."""
    indices = np.random.default_rng(4).integers(0, 16, (height, width), dtype=np.uint8)
    stride = (width * 4 + 31) // 32 * 4
    pairs = np.pad(indices, ((0, 0), (0, width % 2))).reshape(height, -1, 2)  # two pixels a byte
    rows = b"".join((row @ [16, 1]).astype(np.uint8).tobytes().ljust(stride, b"\0") for row in pairs[::-1])
    palette = np.random.default_rng(5).integers(0, 256, (16, 4), dtype=np.uint8)
    offset = 14 + 40 + palette.nbytes
    path.write_bytes(
        b"BM"
        + struct.pack("<IHHI", offset + len(rows), 0, 0, offset)
        + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 4, 0, len(rows), 2835, 2835, 16, 16)
        + palette.tobytes()
        + rows
    )
    return path


def test_palette_bmps_and_gif_frames_are_read_as_predict_reads_them_or_refused_by_both(tmp_path, served):
    from PIL import Image

    from dermnet.data import DataError
    from dermnet.inference import predict_images

    model = served[0]
    base = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8))
    base.convert("P").save(tmp_path / "palette.bmp")
    base.convert("L").save(tmp_path / "gray.bmp")
    base.save(tmp_path / "rgb.bmp")
    for name in ("palette.bmp", "gray.bmp", "rgb.bmp"):  # decoded in the graph as predict decodes them
        expected = predict_images(model, [str(tmp_path / name)], (32, 32), ["benign", "malignant"])
        answered = request(served, tmp_path / name)["probabilities"][0]
        np.testing.assert_allclose(
            answered, expected.filter(like="p_").to_numpy()[0], atol=1e-5, err_msg=name
        )
    base.convert("1").save(tmp_path / "one.bmp")
    refusals = {
        tmp_path / "one.bmp": "a 1-bit BMP",
        bmp_4bit(tmp_path / "four.bmp"): "a 4-bit BMP",
        gif_on_a_canvas(
            tmp_path / "small.gif", (12, 10), (30, 20), at=(5, 3)
        ): r"a GIF whose first frame \(12x10 at 5,3\) does not fill its canvas \(30x20\)",
    }
    for path, problem in refusals.items():
        refused(served, f"image 1 of the request: {problem}", tmp_path / "rgb.bmp", path)
        with pytest.raises(DataError, match=f"{path.name}: {problem}"):
            read_image(path)


def test_a_gif_frame_larger_than_its_screen_is_held_to_the_limit(tmp_path, served):
    from dermnet.data import DataError

    # 100x100 on its screen, 12000x12000 in its frame (TensorFlow decodes the frame): refused from the header
    bomb = gif_on_a_canvas(tmp_path / "bomb.gif", (12000, 12000), (100, 100))
    refused(served, "image 0 of the request: declares 12000x12000 pixels", bomb)
    with pytest.raises(DataError, match="bomb.gif"):
        read_image(bomb)


def test_a_file_that_cannot_be_decoded_is_named(tmp_path, served):
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8))
    image.save(tmp_path / "a.jpg", quality=90)
    image.save(tmp_path / "a.png")
    for name in ("a.jpg", "a.png"):
        cut = (tmp_path / name).read_bytes()[:2000]  # the header whole, the pixels cut short
        refused(
            served, "image 2 of the request: cannot be decoded", tmp_path / "a.png", tmp_path / "a.jpg", cut
        )
    cut = (tmp_path / "a.jpg").read_bytes()[:40]  # TensorFlow cannot read the size of this one
    refused(served, "image 1 of the request: its header cannot be read", tmp_path / "a.png", cut)


def test_header_sizes_of_every_served_format(tmp_path):
    import tensorflow as tf
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8))
    for name, options in (
        ("a.jpg", {}),
        ("a.png", {}),
        ("a.gif", {}),
        ("a.bmp", {}),
        ("lossy.webp", {"quality": 80}),
        ("lossless.webp", {"lossless": True}),
        ("extended.webp", {"exif": b"Exif\0\0", "quality": 80}),
    ):
        image.save(tmp_path / name, **options)
        known, height, width = serving.header_size(tf.constant((tmp_path / name).read_bytes()))
        assert (bool(known), int(height), int(width)) == (True, 37, 53), name
    cv2.imwrite(str(tmp_path / "topdown.bmp"), np.zeros((37, 53, 3), np.uint8))
    assert [
        int(v) for v in serving.header_size(tf.constant((tmp_path / "topdown.bmp").read_bytes()))[1:]
    ] == [37, 53]


def test_a_segmentor_answers_masks_at_the_images_size(tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = dermnet.build("unet", input_shape=(32, 32, 3), depth=2, filters=4)
    serving.export_saved_model(model, tmp_path / "served", (32, 32))
    served = tf.saved_model.load(str(tmp_path / "served")).signatures["serving_default"]
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    encoded = cv2.imencode(".png", image[..., ::-1])[1].tobytes()
    masks = served(images=tf.constant([encoded, encoded]))["masks"].numpy()
    assert masks.shape == (2, 40, 56, 1)
    expected = serving.resize_masks(
        model.predict(np.asarray(serving.resize_bicubic(image, (32, 32)))[None], verbose=0), (40, 56)
    )
    np.testing.assert_allclose(masks[:1], expected, atol=1e-5)
    other = cv2.imencode(".png", image[:30, :30, ::-1])[1].tobytes()
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match="image 1 of the request: 30x30, where image 0 is "
        "56x40: a segmentor takes the images of a request at one size",
    ):
        served(images=tf.constant([encoded, other]))
