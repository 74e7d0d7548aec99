"""Manifests: the packaged dataset manifests, loaders, and validation that refuses wrong data."""

import shutil
from importlib import resources

import cv2
import numpy as np
import pandas as pd
import pytest
from harness import shared_folder, write_dataset

from dermnet import data, datasets
from dermnet.data import DataError

pytestmark = pytest.mark.portable


def packaged(name):
    with resources.files("dermnet.data.manifests").joinpath(f"{name}.csv").open() as f:
        return pd.read_csv(f, **data.manifest.CSV_AS_TEXT)


@pytest.mark.parametrize(
    "name, sizes, classes",
    [
        ("isic2016", {"train": 900, "test": 379}, {"benign": 1031, "malignant": 248}),
        (
            "isic2017",
            {"train": 2000, "validation": 150, "test": 600},
            {"melanoma": 521, "seborrheic_keratosis": 386, "nevus": 1843},
        ),
        (
            "ham10000",
            {"train": 7011, "validation": 1502, "test": 1502},
            {"nv": 6705, "mel": 1113, "bkl": 1099, "bcc": 514, "akiec": 327, "vasc": 142, "df": 115},
        ),
        ("isic2018_task3_test", {"test": 1512}, None),
    ],
)
def test_packaged_manifests_match_the_challenges(name, sizes, classes):
    df = packaged(name)
    assert df["split"].value_counts().to_dict() == sizes
    if classes:
        assert df["label"].value_counts().to_dict() == classes
    assert df["image_id"].is_unique
    assert set(df["label"]) <= set(datasets.get(name).classes)


def test_ham10000_split_keeps_lesions_whole_and_classes_stratified():
    df = packaged("ham10000")
    assert df["lesion_id"].nunique() == 7470
    assert (df.groupby("lesion_id")["split"].nunique() == 1).all()
    shares = pd.crosstab(df["label"], df["split"], normalize="index")
    assert ((shares["train"] - 0.7).abs() < 0.02).all()


@pytest.mark.parametrize("name", ["isic2016", "isic2017", "ham10000", "isic2018_task3_test"])
def test_manifests_agree_with_the_official_ground_truth(name):
    truth = shared_folder("reference", "ground_truth")
    import importlib.util
    import pathlib

    script = pathlib.Path(__file__).resolve().parents[1] / "dermnet" / "data" / "manifests" / "build.py"
    spec = importlib.util.spec_from_file_location("build_manifests", script)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    rebuilt = getattr(build, name)(truth).sort_values(["split", "image_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(rebuilt.astype(str), packaged(name).astype(str))


def test_load_dataset_on_the_real_isic_images(tmp_path):
    # 484 of the 1,279 images of ISIC 2016 part 3, in the folder its training archive extracts to
    shutil.copytree(
        shared_folder("data", "isic-archive-557") / "images", tmp_path / "ISBI2016_ISIC_Part3_Training_Data"
    )
    root = tmp_path
    with pytest.warns(UserWarning, match="skipped 795 rows"):
        df = data.load_dataset("isic2016", root, on_error="skip")
    assert df["split"].value_counts().to_dict() == {"train": 353, "test": 131}
    assert df.attrs["classes"] == ("benign", "malignant")
    assert all(path.startswith(str(root.resolve())) for path in df["image"])  # the folder, links resolved
    with pytest.raises(
        DataError,
        match=r"isic2016: 795 rows with file problems: ISIC_\d+: no image file \(an "
        r"empty image cell, or no file of this id under the data set's folder\)",
    ):
        data.load_dataset("isic2016", root)


def test_load_dataset_segmentation_from_a_folder(tmp_path):
    ham = shared_folder("data", "ham10000-5")
    train = tmp_path / "ISIC2018_Task1-2_Training_Input"
    masks = tmp_path / "ISIC2018_Task1_Training_GroundTruth"
    shutil.copytree(ham / "images", train)
    masks.mkdir()
    for mask in (ham / "masks").glob("*.png"):
        shutil.copy(mask, masks / f"{mask.stem}_segmentation.png")
    df = data.load_dataset("isic2018_task1", tmp_path)
    assert len(df) == 5 and set(df["split"]) == {"train"}
    assert all(m.endswith("_segmentation.png") for m in df["mask"])
    (train / "ISIC_0024311.jpg").unlink()
    with pytest.raises(DataError, match=r"masks without an image: .*ISIC_0024311_segmentation.png"):
        data.load_dataset("isic2018_task1", tmp_path)


def test_from_csv_resolves_paths_and_class_order(tmp_path):
    manifest = write_dataset(tmp_path, n=9)
    df = data.from_csv(manifest, classes=["class_2", "class_1", "class_0"])
    assert len(df) == 9 and df.attrs["classes"] == ("class_2", "class_1", "class_0")
    assert data.class_indices(df).tolist()[:3] == [2, 1, 0]
    # Without an image column, images are found by id anywhere under the root.
    pd.read_csv(manifest).drop(columns="image").to_csv(tmp_path / "ids.csv", index=False)
    assert data.from_csv(tmp_path / "ids.csv")["image"].tolist() == df["image"].tolist()


def test_from_folders(tmp_path):
    for split, label, i in [("train", "nevus", 0), ("train", "melanoma", 1), ("val", "nevus", 2)]:
        (tmp_path / split / label).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / split / label / f"{i}.png"), np.zeros((8, 8, 3), np.uint8))
    df = data.from_folders(tmp_path)
    assert df.attrs["classes"] == ("melanoma", "nevus")
    assert sorted(df["split"]) == ["train", "train", "validation"]
    with pytest.raises(DataError, match="missing: no such folder"):
        data.from_folders(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no images"):
        data.from_folders(tmp_path / "empty")


@pytest.mark.parametrize(
    "cells, message",
    [
        (
            {(3, "image"): "images/gone.png", (4, "image"): "x/y.png"},
            r"2 rows with file problems: IMG_0003: image file not found \(.*gone.png\)",
        ),
        ({(5, "label"): "class_9"}, r"unknown labels \['class_9'\]"),
        ({(2, "image_id"): "IMG_0001"}, "duplicate image ids: IMG_0001"),
        ({(2, "image_id"): "IMG_0001", (2, "split"): "test"}, r"ids in two splits \(a leak\): IMG_0001"),
        ({(1, "split"): "test"}, r"lesions with images in two splits.*L0000"),
        ({(1, "split"): "holdout"}, r"unknown split values \['holdout'\]"),
    ],
)
def test_validation_names_the_problem_and_the_rows(tmp_path, cells, message):
    manifest = write_dataset(tmp_path, n=12, lesions_per_image=2)
    df = pd.read_csv(manifest)
    for (row, column), value in cells.items():
        df.loc[row, column] = value
    df.to_csv(manifest, index=False)
    with pytest.raises(DataError, match=message):
        data.from_csv(manifest, classes=["class_0", "class_1", "class_2"])


def test_skip_drops_missing_files_and_reports_them(tmp_path):
    manifest = write_dataset(tmp_path, n=6)
    (tmp_path / "images" / "IMG_0004.png").unlink()
    with pytest.warns(UserWarning, match="skipped 1 rows.*IMG_0004"):
        df = data.from_csv(manifest, on_error="skip")
    assert len(df) == 5 and df.attrs["skipped"][0].startswith("IMG_0004")


def test_mask_of_another_size_is_refused(tmp_path):
    manifest = write_dataset(tmp_path, n=4, masks=True)
    cv2.imwrite(str(tmp_path / "images" / "IMG_0002_segmentation.png"), np.zeros((10, 10), np.uint8))
    with pytest.raises(
        DataError, match=r"IMG_0002_segmentation.png: mask of size 10×10, its image .* is 48×36"
    ):
        data.from_csv(manifest)


def test_a_mask_beside_an_image_with_an_exif_orientation_is_refused(tmp_path):
    from PIL import Image

    manifest = write_dataset(tmp_path, n=4, masks=True)
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.new("RGB", (48, 36)).save(tmp_path / "images" / "IMG_0001.png", exif=exif.tobytes())
    with pytest.raises(DataError, match=r"IMG_0001.png: EXIF orientation 8 .*cannot tell which way its mask"):
        data.from_csv(manifest)


def test_labels_that_differ_by_case_or_spaces_are_refused(tmp_path):
    manifest = write_dataset(tmp_path, n=6, num_classes=2)
    df = pd.read_csv(manifest)
    df.loc[[0, 2, 4], "label"] = ["Benign", "benign ", "benign"]
    df.to_csv(manifest, index=False)
    with pytest.raises(DataError, match=r"differ only by case or spaces: 'Benign', 'benign', 'benign '"):
        data.from_csv(manifest)


@pytest.mark.parametrize("name", ["NA", "None", "null", "nan", "N/A", "#N/A"])
def test_a_class_named_like_a_missing_value_is_a_class(tmp_path, name):
    """Labels are text: pandas' default missing-value words are class names here; only an empty cell is
    a row without a label (issue 41)."""
    manifest = write_dataset(tmp_path, n=6, num_classes=2)
    df = pd.read_csv(manifest)
    df.loc[df.label == "class_1", "label"] = name
    df.to_csv(manifest, index=False)
    loaded = data.from_csv(manifest)
    assert loaded.attrs["classes"] == tuple(sorted(["class_0", name])) and (loaded.label == name).sum() == 3
    df.loc[0, "label"] = ""
    df.to_csv(manifest, index=False)
    with pytest.raises(DataError, match="manifest.csv: rows without a label: IMG_0000"):
        data.from_csv(manifest)


def test_a_manifest_written_by_excel_with_a_utf8_bom_is_read(tmp_path):
    manifest = write_dataset(tmp_path, n=4)
    manifest.write_bytes(b"\xef\xbb\xbf" + manifest.read_bytes())
    assert len(data.from_csv(manifest)) == 4


def test_ham10000_keeps_its_metadata_in_the_archive_vocabulary():
    """HAM10000_metadata.csv's age and localization are age_approx and anatom_site_general, as the ISIC
    Archive names them; sex, dx_type and dataset keep their names (issue 38)."""
    df = packaged("ham10000").set_index("image_id")
    meta = pd.read_csv(
        shared_folder("reference", "ground_truth") / "HAM10000_metadata.csv", **data.manifest.CSV_AS_TEXT
    ).set_index("image_id")
    df = df.loc[meta.index]
    pd.testing.assert_series_equal(df["age_approx"], meta["age"], check_names=False)
    for ours, theirs in (
        ("anatom_site_general", "localization"),
        ("sex", "sex"),
        ("dx_type", "dx_type"),
        ("dataset", "dataset"),
    ):
        assert (df[ours] == meta[theirs]).all(), ours


def test_ham10000_loads_with_its_metadata(tmp_path):
    # Harvard Dataverse's layout of HAM10000, twice as Kaggle shares it (once lower-case)
    for folder in ("HAM10000_images_part_1", "ham10000_images_part_1"):
        shutil.copytree(shared_folder("data", "ham10000-5") / "images", tmp_path / folder)
    with pytest.warns(UserWarning, match="skipped 10010 rows"):
        df = data.load_dataset("ham10000", tmp_path, on_error="skip")
    row = df.set_index("image_id").loc["ISIC_0027287"]
    assert row[["label", "age_approx", "sex", "anatom_site_general", "dx_type"]].notna().all()


def test_an_id_that_matches_two_files_is_refused(tmp_path):
    manifest = write_dataset(tmp_path, n=4)
    pd.read_csv(manifest).drop(columns="image").to_csv(manifest, index=False)
    (tmp_path / "copy").mkdir()
    shutil.copy(tmp_path / "images" / "IMG_0001.png", tmp_path / "copy")  # the same bytes: one image
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "IMG_0002.png").write_bytes(b"resource fork")
    (tmp_path / "images" / "._IMG_0002.png").write_bytes(b"resource fork")
    assert len(data.from_csv(manifest)) == 4
    shutil.copy(
        tmp_path / "images" / "IMG_0003.png", tmp_path / "copy" / "IMG_0002.png"
    )  # same size, other pixels
    with pytest.raises(DataError, match="image ids that match two different files .*IMG_0002"):
        data.from_csv(manifest)


def test_a_classifier_on_a_manifest_without_labels_is_told_so(tmp_path):
    manifest = write_dataset(tmp_path, n=4)
    pd.read_csv(manifest).drop(columns="label").to_csv(manifest, index=False)
    with pytest.raises(
        DataError, match=r"manifest.csv: no label column, and a classifier learns from labels"
    ):
        data.class_names(data.from_csv(manifest))


def test_bad_manifest_file(tmp_path):
    (tmp_path / "m.csv").write_text("name,label\na,b\n")
    with pytest.raises(DataError, match="m.csv: the manifest has no image_id column"):
        data.from_csv(tmp_path / "m.csv")
    with pytest.raises(ValueError, match="Unknown data set 'isic2099'.* Known: isic2016"):
        data.load_dataset("isic2099", tmp_path)


def test_synthetic_is_the_embedded_default(tmp_path):
    df = data.load_dataset("synthetic", tmp_path / "synthetic")
    assert len(df) == 600 and df.attrs["classes"] == ("nevus", "melanoma", "keratosis")
    assert df["split"].value_counts().to_dict() == {"train": 420, "validation": 90, "test": 90}
    assert data.read_mask(df["mask"][0]).shape == data.read_image(df["image"][0]).shape[:2] == (128, 128)


def test_load_dataset_attribute_masks(tmp_path):
    images, masks = (
        tmp_path / "ISIC2018_Task1-2_Training_Input",
        tmp_path / "ISIC2018_Task2_Training_GroundTruth_v3",
    )
    images.mkdir()
    masks.mkdir()
    for i in range(3):
        image_id = f"ISIC_000000{i}"
        cv2.imwrite(str(images / f"{image_id}.jpg"), np.zeros((20, 30, 3), np.uint8))
        for attribute in datasets.ATTRIBUTES:
            cv2.imwrite(str(masks / f"{image_id}_attribute_{attribute}.png"), np.zeros((20, 30), np.uint8))
    df = data.load_dataset("isic2018_task2", tmp_path)
    assert [c for c in df.columns if c.startswith("mask_")] == [f"mask_{a}" for a in datasets.ATTRIBUTES]
    cache = data.build_cache(df, 16, cache_dir=tmp_path / "cache", progress=False)
    assert cache.masks.shape == (3, 16, 16, 5)
    (masks / "ISIC_0000001_attribute_streaks.png").unlink()
    with pytest.raises(DataError, match=r"images without their .*mask_streaks.* file\(s\): ISIC_0000001"):
        data.load_dataset("isic2018_task2", tmp_path)


def test_empty_manifest_and_empty_path_cells(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: cannot read the manifest"):
        data.from_csv(tmp_path / "empty.csv")
    manifest = write_dataset(tmp_path / "data", n=3)
    df = pd.read_csv(manifest)
    df.loc[1, "image"] = None
    df.to_csv(manifest, index=False)
    with pytest.raises(DataError, match=r"IMG_0001: no image file \(an empty image cell"):
        data.from_csv(manifest)


def test_images_inside_an_hdf5_file_are_checked_by_key(tmp_path):
    import h5py

    from dermnet.data.images import hdf5_member

    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    with h5py.File(tmp_path / "train-image.hdf5", "w") as h5:
        h5["ISIC_1"] = np.bytes_((tmp_path / "a.jpg").read_bytes())
    ids = ["ISIC_1", "ISIC_2"]
    df = pd.DataFrame(
        {
            "image_id": ids,
            "label": ["benign", "benign"],
            "image": [hdf5_member(tmp_path / "train-image.hdf5", i) for i in ids],
        }
    )
    assert len(data.validate(df.iloc[:1])) == 1
    with pytest.raises(
        DataError, match=r"ISIC_2: no such HDF5 file, or no such key in it \(.*hdf5::ISIC_2\)"
    ):
        data.validate(df)
    with pytest.raises(DataError, match=r"hdf5::ISIC_1: masks are read from image files, not from inside"):
        data.validate(df.iloc[:1].assign(mask=df["image"][0]))
