"""dermnet.runs: a trained run published as a bundle, loaded back from a folder, a file or the Hub's cache."""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pandas as pd
import pytest
from harness import write_dataset

import dermnet
from dermnet import cli, runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished `dermnet train` run, and three images of other sizes to predict on."""
    root = tmp_path_factory.mktemp("trained")
    manifest = write_dataset(root / "data", n=24, num_classes=2)
    table = pd.read_csv(manifest)
    table.loc[16:19, "split"], table.loc[20:, "split"] = "validation", "test"
    table.to_csv(manifest, index=False)
    run = root / "run"
    assert (
        cli.main(
            [
                "--debug",
                "train",
                "baseline_cnn",
                "--dataset",
                str(manifest),
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--out",
                str(run),
                "--seed",
                "3",
            ]
        )
        == 0
    )
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i, size in enumerate([(40, 56), (33, 70), (64, 64)]):
        cv2.imwrite(str(images / f"new_{i}.png"), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return run, images


def predictions(source, images, out):
    assert cli.main(["--debug", "predict", str(source), str(images), "--out", str(out)]) == 0
    return pd.read_csv(out)


def test_a_run_opens_with_what_it_was_trained_on(trained):
    run_folder, _ = trained
    run = dermnet.load(run_folder)
    assert run.model_name == "baseline_cnn" and run.classes == ["class_0", "class_1"]
    assert (
        run.prediction_size == (32, 32) and run.recipe.name == "ray2020" and run.card.name == "baseline_cnn"
    )
    assert run.dataset.endswith("manifest.csv") and run.scores == json.loads(
        (run_folder / "scores.json").read_text()
    )
    data = run.config["data"]
    assert data["grouped_by"] == "lesion_id" and data["splits"]["test"] == {"images": 4, "lesion_ids": 4}
    assert run.config["seed"] == 3 and run.config["input"]["size"] == [32, 32]
    alone = dermnet.load(run_folder / "model.keras")  # the file: its run's config beside it
    assert alone.classes == run.classes and alone.model.count_params() == run.model.count_params()


def test_a_published_bundle_predicts_as_the_run_from_a_folder_and_from_the_hub_cache(trained, tmp_path):
    run_folder, images = trained
    bundle = runs.publish(run_folder, tmp_path / "bundle")
    assert sorted(p.name for p in bundle.iterdir()) == [
        "README.md",
        "dermnet.json",
        "history.csv",
        "model.keras",
        "scores.json",
    ]
    expected = predictions(run_folder, images, tmp_path / "run.csv")
    from_folder = predictions(bundle, images, tmp_path / "bundle.csv")

    # The Hub's cache as huggingface_hub lays it out (refs/main names the snapshot; files link to blobs),
    # read with HF_HUB_OFFLINE=1 by a new process, as a user without network would.
    cache, commit = tmp_path / "hub", "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--someone--skin-model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "blobs").mkdir()
    (repo / "snapshots" / commit).mkdir(parents=True)
    for i, file in enumerate(sorted(bundle.iterdir())):
        blob = repo / "blobs" / f"blob{i}"
        blob.write_bytes(file.read_bytes())
        (repo / "snapshots" / commit / file.name).symlink_to(
            os.path.relpath(blob, repo / "snapshots" / commit)
        )
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    command = [
        sys.executable,
        "-m",
        "dermnet.cli",
        "predict",
        "hf://someone/skin-model",
        str(images),
        "--out",
        str(tmp_path / "hub.csv"),
    ]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    from_hub = pd.read_csv(tmp_path / "hub.csv")

    columns = ["p_class_0", "p_class_1"]
    for table in (from_folder, from_hub):
        assert list(table["predicted"]) == list(expected["predicted"])
        assert np.abs(table[columns].to_numpy() - expected[columns].to_numpy()).max() <= 1e-6

    command[4] = "hf://someone/never-downloaded"
    done = subprocess.run(command, env=environment, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "hf://someone/never-downloaded: not in the local Hugging Face cache" in done.stderr


def test_the_card_parses_on_the_hub_and_the_network_loads_in_plain_keras(trained, tmp_path):
    from huggingface_hub import ModelCard

    run_folder, _ = trained
    bundle = runs.publish(run_folder, tmp_path / "bundle")
    card = ModelCard.load(bundle / "README.md")
    assert card.data.library_name == "keras" and card.data.datasets == ["manifest.csv"]
    assert card.data.license == "other" and card.data.license_name  # a manifest CSV's terms are not known
    scores = json.loads((run_folder / "scores.json").read_text())
    assert set(card.data.metrics) >= {"auc", "balanced_accuracy"}
    assert {r.metric_type: r.metric_value for r in card.data.eval_results}["auc"] == pytest.approx(
        scores["auc"]
    )
    assert "not a medical device" in card.text and "class_0, class_1" in card.text
    assert runs.publish(run_folder, tmp_path / "isic", licence="cc-by-nc-4.0")
    assert ModelCard.load(tmp_path / "isic" / "README.md").data.license == "cc-by-nc-4.0"
    model = keras.saving.load_model(bundle / "model.keras", safe_mode=True)
    pixels = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        model.predict(pixels, verbose=0), dermnet.load(run_folder).model.predict(pixels, verbose=0), atol=1e-6
    )


def test_publishing_refuses_an_unfinished_run_and_replaces_only_an_earlier_bundle(trained, tmp_path, capsys):
    run_folder, _ = trained
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "model.keras").write_bytes((run_folder / "model.keras").read_bytes())
    (unfinished / "resume").mkdir()
    assert cli.main(["publish", str(unfinished), str(tmp_path / "out")]) == 1
    assert "not a finished run (no scores.json, config.json)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    assert cli.main(["publish", str(run_folder), str(occupied)]) == 1
    assert "exists: give --overwrite" in capsys.readouterr().err
    assert cli.main(["publish", str(run_folder), str(occupied), "--overwrite"]) == 1  # not a bundle: kept
    assert (occupied / "notes.txt").read_text() == "mine" and not (occupied / "model.keras").exists()

    assert cli.main(["publish", str(run_folder), str(tmp_path / "bundle")]) == 0
    assert cli.main(["publish", str(run_folder), str(tmp_path / "bundle")]) == 1
    assert cli.main(["publish", str(run_folder), str(tmp_path / "bundle"), "--overwrite"]) == 0


def test_publishing_to_the_hub_uploads_the_bundle_through_huggingface_hub(trained, monkeypatch):
    import huggingface_hub

    run_folder, _ = trained
    calls = []

    class FakeApi:  # the library's boundary: what it is asked to do, and the folder it is given
        def __init__(self, **kwargs):
            calls.append(("HfApi", kwargs))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))
            return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

        def upload_folder(self, repo_id, folder_path, **kwargs):
            files = sorted(p.name for p in Path(folder_path).iterdir())
            card = huggingface_hub.ModelCard.load(Path(folder_path) / "README.md")
            calls.append(("upload_folder", repo_id, files, card.data.library_name))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert runs.publish(run_folder, "hf://someone/skin-model") == "https://huggingface.co/someone/skin-model"
    assert calls[0] == (
        "HfApi",
        {"library_name": "dermnet", "library_version": dermnet.__version__, "token": None},
    )
    assert calls[1] == ("create_repo", "someone/skin-model", {"exist_ok": True, "private": None})
    assert calls[2] == (
        "upload_folder",
        "someone/skin-model",
        ["README.md", "dermnet.json", "history.csv", "model.keras", "scores.json"],
        "keras",
    )


def test_sources_that_hold_no_model_are_named(tmp_path, capsys):
    for source, message in [
        (tmp_path / "nothing", "no such model file or folder"),
        ("kaggle://someone/model", "download a Kaggle model with kagglehub"),
    ]:
        assert cli.main(["predict", str(source), str(tmp_path)]) == 1
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and str(source) in error and message in error
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no model.keras in it"):
        dermnet.load(tmp_path / "empty")


def test_only_the_runs_module_knows_a_runs_file_names():
    package = Path(dermnet.__file__).parent
    # (not dermnet.json: a bundle's config, but also the name of an export's description, serving's)
    names = [
        runs.MODEL,
        runs.CONFIG,
        runs.SCORES,
        runs.HISTORY,
        runs.CHECKPOINT,
        runs.LOCK,
    ]
    for module in ("cli.py", "training/run.py"):
        tree = ast.parse((package / module).read_text())
        documentation = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        code = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in documentation
        ]
        found = [
            name for name in names for text in code if re.search(rf"(?<![\w.]){re.escape(name)}\b", text)
        ]
        assert not found, f"{module} names a run's files {found}: ask dermnet.runs instead"


def test_an_isic_archive_download_trains_and_its_licences_reach_the_card(tmp_path):
    import layouts
    from huggingface_hub import ModelCard

    root = tmp_path / "download"
    root.mkdir()
    layouts.isic_archive(root, np.random.default_rng(0))
    run = tmp_path / "run"
    assert (
        cli.main(
            [
                "--debug",
                "train",
                "baseline_cnn",
                "--dataset",
                "isic_archive",
                "--root",
                str(root),
                "--label",
                "diagnosis_1",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    opened = dermnet.load(run)
    assert opened.classes == ["Benign", "Malignant"] and opened.arguments["label"] == "diagnosis_1"
    provenance = opened.config["data"]["provenance"]
    assert sum(provenance["licences"].values()) == 24 and len(provenance["licences"]) == 3
    assert provenance["attribution_text"] == (root / "attribution.txt").read_text()
    assert opened.config["data"]["grouped_by"] == "patient_id"
    assert cli.main(["--debug", "evaluate", str(run)]) == 0  # the run's own label column, unnamed
    card = ModelCard.load(runs.publish(run, tmp_path / "bundle") / "README.md")
    assert card.data.license == "other"  # three licences: each named in the text
    for licence in provenance["licences"]:
        assert licence in card.text
    for attribution in provenance["attributions"]:
        assert attribution in card.text


def test_a_run_folder_with_its_own_predictions_trains_over_with_overwrite(tmp_path):
    folder = runs.RunFolder(tmp_path / "run")
    folder.path.mkdir()
    for name in (
        "model.keras",
        "scores.json",
        "config.json",
        "predictions.csv",
    ):  # predict's default output too
        (folder.path / name).write_text("{}")
    with pytest.raises(FileExistsError, match="holds a finished run"):
        folder.start_or_resume({"seed": 0}, lambda _: None)
    earlier = folder.start_or_resume({"seed": 0}, lambda _: None, overwrite=True)
    assert folder.path / "predictions.csv" in earlier and (folder.path / "predictions.csv").exists()
    (folder.path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"not a dermnet run's \(notes.txt\)"):
        folder.start_or_resume({"seed": 0}, lambda _: None, overwrite=True)


def test_two_runs_compare_on_the_same_test_images_and_not_on_others(trained, tmp_path, capsys):
    run_folder, _ = trained
    manifest = dermnet.load(run_folder).dataset
    other = tmp_path / "other"
    assert (
        cli.main(
            [
                "train",
                "baseline_cnn",
                "--dataset",
                manifest,
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--out",
                str(other),
                "--seed",
                "4",
            ]
        )
        == 0
    )
    scores = json.loads((other / "scores.json").read_text())
    assert scores["interval_method"]["resampled"] == "lesions" and "auc" in scores["intervals"]
    first = tmp_path / "first"  # an evaluation folder of its own (the run's is the fixture's, shared)
    assert cli.main(["evaluate", str(run_folder), "--out", str(first)]) == 0
    assert cli.main(["evaluate", str(other)]) == 0
    capsys.readouterr()
    assert (
        cli.main(["compare", str(first), str(other), "--resamples", "50", "--out", str(tmp_path / "c.json")])
        == 0
    )
    printed = capsys.readouterr().out
    assert re.search(r"'s auc (is higher|is lower|are the same)", printed) and "95 % CI" in printed
    result = json.loads((tmp_path / "c.json").read_text())
    assert "auc" in result["intervals"] and result["interval_method"]["n_resamples"] == 50

    elsewhere = tmp_path / "elsewhere"  # an evaluation of other images: two of its four are not A's
    shutil.copytree(other / "evaluation", elsewhere)
    table = pd.read_csv(elsewhere / "predictions.csv", dtype=str)
    table.loc[:1, "image_id"] = ["IMG_9998", "IMG_9999"]
    table.to_csv(elsewhere / "predictions.csv", index=False)
    capsys.readouterr()
    assert cli.main(["compare", str(first), str(tmp_path / "elsewhere")]) == 1
    assert "are in one table only" in capsys.readouterr().err
    assert (
        cli.main(["compare", str(run_folder), str(tmp_path / "elsewhere")]) == 1
    )  # the fixture: not evaluated
    assert "not evaluated yet" in capsys.readouterr().err


def test_calibrating_fits_a_temperature_on_validation_and_keeps_it_with_the_run(trained, tmp_path):
    run_folder, _ = trained
    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    assert cli.main(["evaluate", str(run), "--calibrate", "--out", str(tmp_path / "eval")]) == 0
    kept = dermnet.load(run).calibration
    scores = json.loads((tmp_path / "eval" / "scores.json").read_text())
    assert kept["temperature"] == pytest.approx(scores["calibration"]["temperature"]) and kept["tta"] == 1
    assert "(4 images)" in kept["fitted_on"]
    assert "calibration.json" in {p.name for p in runs.publish(run, tmp_path / "bundle").iterdir()}
