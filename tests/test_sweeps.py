"""SDL's sweeps (λ, n) from Python and from the command line: one scored row per run, a CSV."""

import numpy as np
import pandas as pd
import pytest
from harness import write_dataset

from dermnet import cli, data, sweeps

pytestmark = pytest.mark.portable
TINY = {"backbone": "baseline_cnn", "image_size": 32, "weights": None, "epochs": 1, "batch_size": 8}


@pytest.fixture
def manifest(tmp_path):
    path = write_dataset(tmp_path / "data", n=36, num_classes=2, test_from=24)
    return path


def test_synergic_weight_sweep_writes_a_row_per_value(manifest, tmp_path):
    df = data.from_csv(manifest)
    out = tmp_path / "lambda.csv"
    table = sweeps.synergic_weight_sweep(
        df[df.split == "train"], df[df.split == "test"], values=(0, 3), out=out, cache_dir=tmp_path, **TINY
    )
    written = pd.read_csv(out)
    assert written.synergic_weight.tolist() == [0.0, 3.0] and len(table) == 2
    assert {"ap", "accuracy", "auc", "val_auc", "train_seconds", "seconds_per_step"} <= set(written)
    assert (written.steps == 2).all()  # 80 % of 24 training images (the rest validate λ), batch 8, one epoch
    assert written[["ap", "accuracy", "seconds_per_step"]].notna().all().all()
    assert written.chosen.sum() == 1 and written.val_auc[written.chosen].item() == written.val_auc.max()


def test_lambda_is_chosen_on_the_validation_split_it_is_given(manifest, tmp_path, monkeypatch):
    df = data.from_csv(manifest)
    seen = []
    real = sweeps.train_and_predict

    def recording(n, weight, train_df, test_df, **options):  # which images each run trains on
        seen.append(set(train_df.image_id))
        return real(n, weight, train_df, test_df, **options)

    monkeypatch.setattr(sweeps, "train_and_predict", recording)
    train, validation = df[df.split == "train"].iloc[:18], df[df.split == "train"].iloc[18:]
    table = sweeps.synergic_weight_sweep(
        train, df[df.split == "test"], values=(1,), validation_df=validation, cache_dir=tmp_path, **TINY
    )
    assert seen == [set(train.image_id)] and table.chosen.tolist() == [True]
    assert np.isfinite(table.val_auc).all()


def test_an_undefined_validation_score_is_never_chosen(monkeypatch):
    scores = iter([float("nan"), 0.6, 0.7, 0.65])
    monkeypatch.setattr(sweeps, "train_and_score", lambda *args, **kwargs: {"val_auc": next(scores)})
    table = sweeps.synergic_weight_sweep(None, None, values=(0, 1, 3, 5), validation_df="given")
    assert table.chosen.tolist() == [False, False, True, False]


def test_components_sweep_from_the_command_line(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("DERMNET_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "n.csv"
    status = cli.main(
        [
            "sweep",
            "components",
            "--dataset",
            str(manifest),
            "--values",
            "1,2",
            "--backbone",
            "baseline_cnn",
            "--image-size",
            "32",
            "--weights",
            "none",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    table = pd.read_csv(out)
    assert table.n.tolist() == [1, 2] and table.relative_step_time[0] == 1.0
    assert np.isfinite(table.relative_step_time).all() and (table.steps == 3).all()


def test_the_lambda_sweep_trains_without_augmentation_as_fig_4(manifest, tmp_path, monkeypatch):
    seen = []

    def recording(n, weight, train_df, test_df, **options):  # the augmentation each run is given
        seen.append(options.get("augment"))
        return {"val_auc": 0.5, "seconds_per_step": 1.0}

    monkeypatch.setattr(sweeps, "train_and_score", recording)
    given = ["--dataset", str(manifest), "--values", "1", "--out", str(tmp_path / "sweep.csv"), "--overwrite"]
    for command in (["synergic-weight"], ["synergic-weight", "--augment", "zhang2018"], ["components"]):
        assert cli.main(["sweep", *command, *given]) == 0
    assert seen == ["none", "zhang2018", None]  # None: the recipe's (Fig. 5 shows both)


def test_sweep_needs_a_held_out_split(tmp_path, capsys):
    manifest = write_dataset(tmp_path / "data", n=12, num_classes=2)  # every image in "train"
    assert (
        cli.main(["sweep", "components", "--dataset", str(manifest), "--out", str(tmp_path / "n.csv")]) == 1
    )
    assert "needs 'train' and 'test'" in capsys.readouterr().err
