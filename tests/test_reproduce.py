"""The notebooks' shared pieces (dermnet.reproduce), fast: the closing table of a smoke run says what it
is, and RECOD's stacking split comes from the training data."""

import re
import shutil
from pathlib import Path

import pandas as pd

from dermnet import data, reproduce

SMOKE_NOTE = "smoke run on synthetic data and random weights: not comparable to the paper"


def test_a_smoke_table_says_in_every_row_that_it_is_not_comparable_to_the_paper():
    measured = [("Part 3", "TTA + SVM stacking", "mean AUC", 0.91, 0.6)]  # close to the paper by chance
    smoke = reproduce.comparison("menegola2017", measured, "smoke")
    assert (smoke["note"] == SMOKE_NOTE).all()
    assert list(smoke.columns[:2]) == ["note", "table"]  # the first thing a reader sees
    full = reproduce.comparison("menegola2017", measured, "full")
    assert "note" not in full.columns


def test_recods_stacking_split_is_an_internal_split_of_the_training_data(tmp_path):
    # Menegola et al., Section II-H: the SVMs "were trained using our internal validation set", a split of
    # their training data with the (near-)duplicates kept on one side, not the official validation set.
    df = data.write_synthetic(tmp_path / "synthetic", n=60, image_size=32, seed=0)
    train = df[df.split == "train"].copy()
    twin = train.iloc[[0]].assign(image_id="SYN_twin", lesion_id="SYN_twin")  # a copy under another name
    shutil.copy(twin.image.iat[0], tmp_path / "twin.png")
    train = pd.concat([train, twin.assign(image=str(tmp_path / "twin.png"))], ignore_index=True)
    fitted, stacked = reproduce.stacking_split(train, seed=0)
    assert sorted([*fitted.image_id, *stacked.image_id]) == sorted(train.image_id)
    assert 0.1 * len(train) <= len(stacked) <= 0.3 * len(train)
    original = train.image_id.iat[0]
    assert (original in set(stacked.image_id)) == ("SYN_twin" in set(stacked.image_id))
    assert set(fitted.split) == {"train"} and set(stacked.split) == {"validation"}


def test_rays_notebook_splits_per_image_as_the_paper_by_default():
    # Ray et al. split HAM10000 per image (7,210 / 1,803 / 1,002): full mode reproduces that first, dermnet's
    # lesion-grouped split is the named alternative. (Reads the parameters cell; runs nothing.)
    import nbformat

    path = Path(__file__).resolve().parents[1] / "notebooks" / "ray2020_ham10000.ipynb"
    notebook = nbformat.read(path, as_version=4)
    (parameters,) = [c.source for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert re.search(r'^SPLIT = "image"', parameters, re.M)
    assert 'data.split(df, data.RAY2020_SPLIT, group_by="image")' in "".join(c.source for c in notebook.cells)
