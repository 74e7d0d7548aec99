"""An `isic image download` folder (isic-cli), read as it is: ids, the label column a user names,
the metadata kept, a split by patient and lesion, and its licences and attributions (issue 38)."""

import json

import layouts
import pandas as pd
import pytest
from test_data_layouts import assert_no_leak

from dermnet import data
from dermnet.data import DataError


@pytest.fixture
def download(tmp_path):
    layouts.write("isic_archive", tmp_path)
    return tmp_path


def test_the_label_is_the_column_named_and_the_metadata_is_kept(download):
    df = data.load_dataset("isic_archive", download, label="diagnosis_1")
    metadata = pd.read_csv(download / "metadata.csv", dtype=str, keep_default_na=False).set_index("isic_id")
    df = df.set_index("image_id").loc[metadata.index]
    assert (df["label"] == metadata["diagnosis_1"]).all() and df.attrs["classes"] == ("Benign", "Malignant")
    assert (df["image"] == [str(download / f"{i}.jpg") for i in metadata.index]).all()
    for column in metadata.columns:  # every column, empty cells as NaN
        assert (df[column].fillna("") == metadata[column]).all(), column
    with pytest.warns(UserWarning, match="6 images with an empty diagnosis_3 are left out"):
        df = data.load_dataset("isic_archive", download, label="diagnosis_3")
    assert set(df["label"]) == {"Nevus", "Melanoma Invasive"}


def test_split_keeps_patients_and_lesions_whole_and_is_reproducible(download):
    df = data.load_dataset("isic_archive", download, label="diagnosis_1")
    assert set(df["split"]) == {"train", "validation", "test"}
    assert_no_leak(df)
    again = data.load_dataset("isic_archive", download, label="diagnosis_1")
    assert df["split"].tolist() == again["split"].tolist()
    train, validation, test = data.load_splits("isic_archive", download, label="diagnosis_1")
    assert len(train) + len(validation) + len(test) == 24


@pytest.mark.parametrize(
    "label, message",
    [
        (
            None,
            r"metadata.csv: name the label column \(label=\.\.\., --label\); the columns are .*diagnosis_1 "
            r"\(Benign 18, Malignant 6\)",
        ),
        ("dx", r"metadata.csv: no column 'dx'; the columns are .*; sex \(female 8, male 8, empty 8\)$"),
        (
            "diagnosis",
            r"metadata.csv: 'diagnosis' is ambiguous: diagnosis_1 \(Benign 18, Malignant 6\); "
            r"diagnosis_2 \(Benign melanocytic proliferations 18, .*\); "
            r"diagnosis_3 \(Nevus 12, Melanoma Invasive 6, empty 6\).*; name one of them",
        ),
        ("diagnosis_4", r"metadata.csv: column diagnosis_4 is empty in every row"),
    ],
)
def test_a_missing_or_ambiguous_label_column_lists_the_columns_and_their_values(download, label, message):
    with pytest.raises(DataError, match=message):
        data.load_dataset("isic_archive", download, label=label)


def test_rows_with_an_empty_label_are_reported_not_guessed(tmp_path):
    layouts.write("isic_archive", tmp_path, empty_labels=True)
    with pytest.warns(
        UserWarning,
        match=r"metadata.csv: 2 images with an empty diagnosis_1 are left out: "
        r"ISIC_9000055, ISIC_9000187",
    ):
        df = data.load_dataset("isic_archive", tmp_path, label="diagnosis_1")
    assert len(df) == 22 and df.attrs["unlabelled"] == ["ISIC_9000055", "ISIC_9000187"]


def test_the_label_argument_is_for_the_isic_archive_only(download):
    with pytest.raises(ValueError, match="label= names the label column of an isic_archive download"):
        data.load_dataset("isic2019", download, label="diagnosis_1")


def test_a_missing_image_is_named(download):
    (download / "ISIC_9000011.jpg").unlink()
    with pytest.raises(DataError, match="ISIC_9000011: no image file"):
        data.load_dataset("isic_archive", download, label="diagnosis_1")


def test_provenance_counts_licences_and_keeps_the_attributions(download):
    df = data.load_dataset("isic_archive", download, label="diagnosis_1")
    whole = data.provenance(download)
    assert whole["licences"] == {"CC-0": 8, "CC-BY": 8, "CC-BY-NC": 8} and whole["images"] == 24
    assert whole["attributions"] == {
        "Hospital Clínic de Barcelona": 12,
        "Memorial Sloan Kettering Cancer Center": 8,
        "Anonymous": 4,
    }
    assert whole["attribution_text"] == (download / "attribution.txt").read_text(encoding="utf8")
    assert whole["licence_texts"]["CC-BY"] == "the text of CC-BY\n"
    train = data.provenance(df[df.split == "train"])
    assert sum(train["licences"].values()) == (df.split == "train").sum() and "attribution_text" not in train
    json.dumps(whole), json.dumps(train)  # goes into a run's config.json as it is


def test_provenance_of_a_data_set_without_per_image_licences_is_its_record(tmp_path):
    layouts.write("ph2", tmp_path)
    df = data.load_dataset("ph2", tmp_path)
    assert data.provenance(df) == {
        "dataset": "ph2",
        "images": 20,
        "licences": {"free for research, citing Mendonça et al. 2013": 20},
    }


def test_the_cache_and_streams_ignore_the_metadata_columns(download, tmp_path):
    df = data.load_dataset("isic_archive", download, label="diagnosis_1")
    cache = data.build_cache(df, 16, cache_dir=tmp_path / "cache", progress=False)
    assert cache.images.shape == (24, 16, 16, 3)
    assert data.class_indices(df).tolist() == [("Benign", "Malignant").index(label) for label in df.label]
