"""Each public data set read from a copy of its published layout (tests/layouts.py), split without a
lesion, patient or duplicate leak, and its files' problems named."""

import shutil

import h5py
import layouts
import numpy as np
import pandas as pd
import pytest

from dermnet import data, datasets
from dermnet.data import DataError
from dermnet.data.splits import GROUP_COLUMNS


def assert_no_leak(df):
    for column in GROUP_COLUMNS:
        if column == "duplicate_of" and column in df:
            split_of = df.set_index("image_id")["split"]
            named = df.dropna(subset=[column])
            assert (named[column].map(split_of) == named["split"]).all(), "a duplicate set in two splits"
        elif column in df:
            assert (df.dropna(subset=[column]).groupby(column)["split"].nunique() <= 1).all(), (
                f"a {column} leaks"
            )


@pytest.mark.parametrize("name", sorted(layouts.WRITERS))
def test_each_data_set_loads_from_its_published_layout_and_splits_without_a_leak(name, tmp_path):
    expected = layouts.write(name, tmp_path)
    options = layouts.LOAD_OPTIONS.get(name, {})
    df = data.load_dataset(name, tmp_path, **options)
    record = datasets.get(name)
    assert len(df) == expected["rows"] and df["image"].map(data.images.image_exists).all()
    if record.task == "classification":
        classes = record.classes or tuple(sorted(set(df["label"])))  # isic_archive: its label column's values
        assert df.attrs["classes"] == classes and set(df["label"]) <= set(classes)
    else:  # the masks of the published ground truth, one column per mask
        assert data.manifest.mask_columns(df) == (
            [f"mask_{a}" for a in datasets.ATTRIBUTES] if record.task == "attributes" else ["mask"]
        )
        assert df[data.manifest.mask_columns(df)].map(data.images.image_exists).all().all()
    assert set(expected["groups"]) <= set(df.columns)
    if "splits" in expected:  # the published split, as published
        assert df["split"].value_counts().to_dict() == expected["splits"]
    else:  # split here, stratified and reproducibly
        assert set(df["split"]) == {"train", "validation", "test"}
        assert df["split"].tolist() == data.load_dataset(name, tmp_path, **options)["split"].tolist()
    assert_no_leak(df)
    train, _, held_out = data.load_splits(name, tmp_path, **options)
    image = data.read_image(df["image"].iloc[0])
    assert image.ndim == 3 and image.shape[-1] == 3 and image.dtype == np.uint8


@pytest.mark.parametrize("name", sorted(layouts.WRITERS))
def test_each_reader_reads_the_published_paths_whatever_lies_beside_them(name, tmp_path):
    """Converted copies, thumbnails and __MACOSX beside the published files change nothing (issue 41)."""
    layouts.write(name, tmp_path / "clean")
    shutil.copytree(tmp_path / "clean", tmp_path / "shared")
    layouts.add_extras(tmp_path / "shared")
    options = layouts.LOAD_OPTIONS.get(name, {})
    clean, shared = (data.load_dataset(name, tmp_path / folder, **options) for folder in ("clean", "shared"))
    for column in ("image", *data.manifest.mask_columns(clean)):
        assert (
            shared[column].str.replace(str(tmp_path / "shared"), "")
            == clean[column].str.replace(str(tmp_path / "clean"), "")
        ).all(), column
    pd.testing.assert_frame_equal(
        shared.drop(columns=["image", *data.manifest.mask_columns(clean)]),
        clean.drop(columns=["image", *data.manifest.mask_columns(clean)]),
    )


def test_labels_come_from_the_columns_by_name(tmp_path):
    layouts.write("isic2019", tmp_path)
    truth = pd.read_csv(tmp_path / "ISIC_2019_Training_GroundTruth.csv", dtype=str)
    shuffled = truth[["image", "UNK", "SCC", "VASC", "DF", "BKL", "AK", "BCC", "NV", "MEL"]]
    shuffled.to_csv(tmp_path / "ISIC_2019_Training_GroundTruth.csv", index=False)
    df = data.load_dataset("isic2019", tmp_path).set_index("image_id")
    expected = truth.set_index("image")[["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]].astype(
        float
    )
    assert (df.loc[expected.index, "label"] == expected.idxmax(axis=1).str.lower()).all()
    assert df.loc["ISIC_0000003_downsampled", "label"] == "ak"


def test_isic2019_without_its_test_truth_is_split_by_lesion(tmp_path):
    layouts.write("isic2019", tmp_path, with_test=False)
    df = data.load_dataset("isic2019", tmp_path)
    assert set(df.split) == {"train", "validation", "test"} and df.lesion_id.notna().sum() == 20
    assert_no_leak(df)


def test_isic2020_keeps_patients_and_duplicate_sets_whole(tmp_path):
    layouts.write("isic2020", tmp_path)
    df = data.load_dataset("isic2020", tmp_path).set_index("image_id")
    ids = df.index.tolist()
    # pairs (2, 3), (3, 16), (5, 30): one set of three across patients 2, 3 and 4, and a pair
    assert df.loc[[ids[3], ids[16]], "duplicate_of"].tolist() == [ids[2], ids[2]]
    assert df.loc[ids[30], "duplicate_of"] == ids[5] and pd.isna(df.loc[ids[2], "duplicate_of"])
    patients_of_the_set = df.loc[[ids[2], ids[3], ids[16]], "patient_id"].unique()
    assert df[df.patient_id.isin(patients_of_the_set)]["split"].nunique() == 1
    moved = df.reset_index()
    moved.loc[moved.image_id == ids[16], "split"] = "test" if moved.loc[2, "split"] != "test" else "train"
    moved.loc[moved.image_id == ids[16], "patient_id"] = "IP_elsewhere"
    with pytest.raises(DataError, match=f"duplicate images in two splits.*{ids[16]} duplicates {ids[2]}"):
        data.validate(moved)


def test_a_patient_in_two_splits_is_a_leak(tmp_path):
    layouts.write("isic2024", tmp_path)
    df = data.load_dataset("isic2024", tmp_path)
    df.loc[df.patient_id == "IP_0000001", "split"] = ["train", "test", "train", "train"]
    with pytest.raises(DataError, match="patients with images in two splits.*IP_0000001"):
        data.validate(df)


def test_isic2024_reads_the_hdf5_in_place_and_names_a_missing_entry(tmp_path):
    layouts.write("isic2024", tmp_path / "whole")
    df = data.load_dataset("isic2024", tmp_path / "whole")
    assert df["image"].str.startswith(str(tmp_path / "whole" / "train-image.hdf5") + "::").all()
    assert not list(tmp_path.glob("**/*.jpg"))  # nothing extracted
    layouts.write("isic2024", tmp_path / "short")
    with h5py.File(tmp_path / "short" / "train-image.hdf5", "a") as archive:
        del archive["ISIC_2000003"]
    with pytest.raises(DataError, match="train-image.hdf5.*ISIC_2000003"):
        data.load_dataset("isic2024", tmp_path / "short")


def test_isic2024_cache_streams_from_the_hdf5(tmp_path):
    layouts.write("isic2024", tmp_path)
    df = data.load_dataset("isic2024", tmp_path)
    cache = data.build_cache(df, 16, cache_dir=tmp_path / "cache", progress=False)
    assert cache.images.shape == (40, 16, 16, 3) and cache.images.std() > 0


@pytest.mark.parametrize("tab_separated", [False, True])
def test_ph2_table_in_either_format(tmp_path, tab_separated):
    layouts.write("ph2", tmp_path, tab_separated=tab_separated)
    df = data.load_dataset("ph2", tmp_path)
    assert df["label"].value_counts().to_dict() == {"common_nevus": 8, "atypical_nevus": 8, "melanoma": 4}
    assert df["mask"].str.endswith("_lesion.bmp").all() and data.read_mask(df["mask"].iloc[0]).max() == 1


def test_ph2_row_without_a_diagnosis_is_named(tmp_path):
    layouts.write("ph2", tmp_path)
    table = tmp_path / "PH2Dataset" / "PH2_dataset.txt"
    table.write_text(table.read_text().replace("||                  2 ||", "||                    ||", 1))
    with pytest.raises(DataError, match="PH2_dataset.txt: rows without one clinical diagnosis.*IMD018"):
        data.load_dataset("ph2", tmp_path)


def test_derm7pt_groups_its_diagnoses_and_keeps_the_raw_one(tmp_path):
    layouts.write("derm7pt", tmp_path)
    df = data.load_dataset("derm7pt", tmp_path).set_index("diagnosis")
    assert set(df.loc["melanoma (in situ)", "label"]) == {"melanoma"}
    assert set(df.loc["lentigo", "label"]) == {"miscellaneous"} and set(df.loc["clark nevus", "label"]) == {
        "nevus"
    }
    meta = tmp_path / "release_v0" / "meta" / "meta.csv"
    table = pd.read_csv(meta)
    table.loc[0, "diagnosis"] = "amelanotic something"
    table.to_csv(meta, index=False)
    with pytest.raises(DataError, match="meta.csv: diagnoses dermnet does not know how to group: amelanotic"):
        data.load_dataset("derm7pt", tmp_path)


def test_derm7pt_case_in_two_split_files_is_named(tmp_path):
    layouts.write("derm7pt", tmp_path)
    pd.DataFrame({"indexes": [0, 14]}).to_csv(
        tmp_path / "release_v0" / "meta" / "valid_indexes.csv", index=False
    )
    with pytest.raises(DataError, match="valid_indexes.csv: rows of .*meta.csv already in the train split"):
        data.load_dataset("derm7pt", tmp_path)


def test_missing_or_doubled_official_files_are_named(tmp_path):
    layouts.write("isic2018_task3", tmp_path)
    truth = tmp_path / "ISIC2018_Task3_Test_GroundTruth" / "ISIC2018_Task3_Test_GroundTruth.csv"
    (tmp_path / "copy").mkdir()
    copy = shutil.copy(truth, tmp_path / "copy")
    pd.read_csv(copy).head(2).to_csv(copy, index=False)
    with pytest.raises(
        DataError, match="ISIC2018_Task3_Test_GroundTruth.csv is there twice with other contents"
    ):
        data.load_dataset("isic2018_task3", tmp_path)
    shutil.rmtree(tmp_path / "copy")
    truth.unlink()
    with pytest.raises(DataError, match="no ISIC2018_Task3_Test_GroundTruth.csv under this folder"):
        data.load_dataset("isic2018_task3", tmp_path)


def test_a_row_that_is_not_one_hot_is_named(tmp_path):
    layouts.write("isic2018_task3", tmp_path)
    truth = tmp_path / "ISIC2018_Task3_Validation_GroundTruth" / "ISIC2018_Task3_Validation_GroundTruth.csv"
    table = pd.read_csv(truth, dtype=str)
    table.loc[1, "NV"] = "1.0"  # ISIC_0034322 is mel: now two classes
    table.to_csv(truth, index=False)
    with pytest.raises(DataError, match="rows that are not one-hot .*ISIC_0034322"):
        data.load_dataset("isic2018_task3", tmp_path)


def test_a_data_set_without_a_public_archive_says_where_to_get_it(tmp_path):
    from dermnet.data.download import download

    with pytest.raises(DataError, match="cannot download derm7pt .*derm.cs.sfu.ca"):
        download("derm7pt", tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "name, columns",
    [
        ("isic2018_task3", {"age_approx", "sex", "anatom_site_general", "dx_type", "dataset"}),
        ("isic2019", {"age_approx", "sex", "anatom_site_general"}),
        ("isic2020", {"age_approx", "sex", "anatom_site_general", "diagnosis", "benign_malignant", "target"}),
        ("isic2024", {"age_approx", "sex", "anatom_site_general", "iddx_full", "target"}),
        (
            "isic_archive",
            {"age_approx", "sex", "anatom_site_general", "diagnosis_2", "attribution", "copyright_license"},
        ),
    ],
)
def test_every_reader_keeps_the_metadata_its_data_set_publishes(name, columns, tmp_path):
    """One vocabulary across data sets, the ISIC Archive's: ISIC 2020's anatom_site_general_challenge
    and HAM10000's localization are anatom_site_general, HAM10000's age is age_approx (issue 38)."""
    layouts.write(name, tmp_path)
    df = data.load_dataset(name, tmp_path, **layouts.LOAD_OPTIONS.get(name, {}))
    assert columns <= set(df.columns), columns - set(df.columns)
    train = df[df["image_id"].str.match(r"ISIC_002")] if name == "isic2018_task3" else df  # HAM10000's images
    assert train[sorted(columns)].notna().any().all()
