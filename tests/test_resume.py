"""Killing `dermnet train` at any moment and running the same command again loses nothing."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest
from harness import write_dataset

from dermnet import recipes, training
from dermnet.training import callbacks as training_callbacks
from dermnet.training import state as training_state

PLATEAU = {"class_name": "ReduceLROnPlateau", "config": {"monitor": "loss", "patience": 1, "factor": 0.5}}


@pytest.fixture(scope="module")
def command(tmp_path_factory):
    """`dermnet train` on 48 tiny images by a two-phase recipe (frozen backbone, then all layers with
    a learning-rate schedule and a plateau callback), with augmentation and dropout: every kind of
    state a resumed run must carry over. The caller adds --out."""
    root = tmp_path_factory.mktemp("resume")
    manifest = write_dataset(root / "data", n=48, num_classes=2)
    table = pd.read_csv(manifest)
    table.loc[36:41, "split"], table.loc[42:, "split"] = "validation", "test"
    table.to_csv(manifest, index=False)
    recipe = dataclasses.replace(
        recipes.get("ray2020"),
        per_model={},
        phases=(
            recipes.Phase("head", "backbone", 2, "Adam", 1e-3),
            recipes.Phase(
                "finetune",
                "none",
                5,
                "Adam",
                1e-3,
                callbacks=(PLATEAU,),
                schedule={"class_name": "ExponentialDecay", "config": {"decay_steps": 3, "decay_rate": 0.9}},
            ),
        ),
    )
    (root / "recipe.json").write_text(json.dumps(recipe.to_config()))
    return [
        sys.executable,
        "-m",
        "dermnet.cli",
        "train",
        "baseline_cnn",
        "--dataset",
        str(manifest),
        "--recipe",
        str(root / "recipe.json"),
        "--image-size",
        "32",
        "--batch-size",
        "8",
        "--deterministic",
    ]


def environment(tmp_path):
    return {**os.environ, "DERMNET_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.mark.slow  # over a minute: `pytest -m "not slow"` is the fast loop
@pytest.mark.portable
def test_a_run_killed_mid_phase_resumes_to_the_same_weights(command, tmp_path):
    env = environment(tmp_path)
    subprocess.run([*command, "--out", str(tmp_path / "whole")], env=env, check=True, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [*command, "--out", str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # Kill once the state after epoch 3 (the first of the second phase) exists.
    while not (killed / "resume" / "epoch-0003").exists() and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "model.keras").exists(), "the run finished before it was killed: nothing was tested"

    resumed = subprocess.run(
        [*command, "--out", str(killed)], env=env, check=True, capture_output=True, text=True
    )
    assert "resuming an interrupted run after epoch" in resumed.stdout
    assert not (killed / "resume").exists()  # a finished run leaves no state behind

    whole, again = (keras.saving.load_model(tmp_path / run / "model.keras") for run in ("whole", "killed"))
    for a, b in zip(whole.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    history = pd.read_csv(tmp_path / "whole" / "history.csv")
    assert len(history) == 7
    pd.testing.assert_frame_equal(history, pd.read_csv(killed / "history.csv"))


@pytest.mark.portable
def test_the_same_folder_with_other_arguments_is_refused(tmp_path):
    out = tmp_path / "run"
    (out / "resume" / "epoch-0001").mkdir(parents=True)
    (out / "resume" / "epoch-0001" / "progress.json").write_text(json.dumps({"epoch": 1}))
    (out / "resume" / "arguments.json").write_text(json.dumps({"model_name": "sdl"}))
    with pytest.raises(
        ValueError, match="interrupted run with other arguments .*model_name: 'sdl' then, 'baseline_cnn' now"
    ):
        training.run("baseline_cnn", out=out, epochs=1)


class Interruption(BaseException):
    """Stands in for a killed run (pytest handles a real KeyboardInterrupt itself)."""


def test_a_damaged_newest_state_resumes_from_the_epoch_before_and_keeps_the_run_files(tmp_path, monkeypatch):
    manifest = write_dataset(tmp_path / "data", n=24, num_classes=2)
    table = pd.read_csv(manifest)
    table.loc[16:19, "split"], table.loc[20:, "split"] = "validation", "test"
    table.to_csv(manifest, index=False)
    monkeypatch.setenv("DERMNET_CACHE", str(tmp_path / "cache"))
    out, trained, stop_after = tmp_path / "run", [], [3]
    save = training_callbacks.save_training_state

    def save_then_stop(folder, model, progress):  # a run killed once the state of epoch `stop_after` is saved
        trained.append(progress["epoch"])
        if progress["epoch"] > stop_after[0]:
            raise Interruption
        save(folder, model, progress)

    monkeypatch.setattr(training_callbacks, "save_training_state", save_then_stop)
    arguments = dict(
        dataset=str(manifest), out=out, epochs=4, image_size=32, batch_size=8, weights=None, verbose=0
    )
    with pytest.raises(Interruption):
        training.run("baseline_cnn", **arguments)
    assert trained == [1, 2, 3, 4]
    rows = pd.read_csv(out / "history.csv")
    with open(out / "resume" / "epoch-0003" / "variables.npz", "r+b") as variables:
        variables.truncate(100)  # a state cut short: a full disk, a copy of the folder stopped half-way

    trained.clear()
    stop_after[0] = 2  # killed again after the first epoch it trains
    with pytest.warns(UserWarning, match=r"epoch-0003: a damaged file .*resuming from the epoch before it"):
        with pytest.raises(Interruption):
            training.run("baseline_cnn", **arguments)
    assert trained == [3]  # it trained epoch 3 again, from the state of epoch 2, not epoch 1 afresh
    assert (out / "checkpoint.keras").is_file()
    resumed = pd.read_csv(out / "history.csv")
    assert list(resumed["epoch"]) == [1, 2, 3]
    pd.testing.assert_frame_equal(resumed.iloc[:2], rows.iloc[:2])


def test_a_state_damaged_in_the_middle_is_passed_over_for_the_one_before(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(64)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((2, 4)), np.ones((2, 64)), verbose=0)
    for epoch in (1, 2, 3):
        model.layers[0].kernel.assign(np.full((4, 64), epoch, np.float32))
        training_state.save_training_state(tmp_path, model, {"epoch": epoch})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0002", "epoch-0003"]  # and the one before
    variables = tmp_path / "epoch-0003" / "variables.npz"
    content = bytearray(variables.read_bytes())
    content[len(content) // 2] ^= 0xFF  # one flipped byte in the middle: the zip still opens
    variables.write_bytes(bytes(content))
    with pytest.warns(UserWarning, match=r"epoch-0003: a damaged file \(variables.npz: arr_\d+.npy fails"):
        assert training_state.load_training_state(tmp_path)["epoch"] == 2
    with pytest.warns(UserWarning):
        training_state.restore_training_state(model, tmp_path)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), np.full((4, 64), 2, np.float32))
