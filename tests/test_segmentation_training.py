"""Segmentors trained by recipe: a U-net learns the synthetic lesions and finds real ones; the
`dermnet train` / `dermnet evaluate` jobs run for segmentors."""

import dataclasses
import json

import cv2
import numpy as np
import pytest
from harness import shared_folder, write_dataset

import dermnet
from dermnet import cli, data, recipes, training
from dermnet.data import read_image, read_mask
from dermnet.evaluation import mask_scores, predict_masks

pytestmark = pytest.mark.slow  # over a minute: `pytest -m "not slow"` is the fast loop


@pytest.fixture(scope="module")
def trained_unet(tmp_path_factory):
    """A small U-net, 12 epochs on the synthetic set at 64 px (about 25 s on 2 CPU cores)."""
    import keras

    keras.utils.set_random_seed(0)
    df = data.load_dataset("synthetic", tmp_path_factory.mktemp("synthetic"))
    model = dermnet.build("unet", input_shape=(64, 64, 3), depth=4, filters=8)
    recipe = dataclasses.replace(
        recipes.get("menegola2017"), phases=(recipes.Phase("train", "none", 12, "Adam", 1e-3),)
    )
    cache = tmp_path_factory.mktemp("cache")
    training.train(model, recipe, df[df.split == "train"], batch_size=16, cache_dir=cache, verbose=0)
    return model, df[df.split == "test"], cache


def test_unet_reaches_dice_0_8_on_held_out_synthetic_lesions(trained_unet):
    model, test, cache = trained_unet
    scores = mask_scores(test, predict_masks(model, test, (64, 64), cache_dir=cache))
    print("held-out synthetic masks:", scores)
    assert scores["dice"] >= 0.8, scores


def test_the_synthetic_unet_segments_real_ham10000_images(request):
    # The skip where ../shared is absent comes before the U-net: none is trained for nothing.
    folder = shared_folder("data", "ham10000-5")
    model = request.getfixturevalue("trained_unet")[0]
    dice, everything = {}, {}
    for path in sorted((folder / "images").glob("*.jpg")):
        truth = read_mask(folder / "masks" / f"{path.stem}.png").astype(bool)
        small = cv2.resize(read_image(path), (64, 64), interpolation=cv2.INTER_AREA)
        probability = model.predict(small[None], verbose=0)[0, ..., 0]
        predicted = cv2.resize(probability, truth.shape[::-1]) > 0.5
        dice[path.stem] = 2 * (predicted & truth).sum() / (predicted.sum() + truth.sum())
        everything[path.stem] = 2 * truth.sum() / (truth.size + truth.sum())  # "all lesion" as the prediction
    print(
        "Dice on the 5 HAM10000 images:",
        {k: round(float(v), 3) for k, v in dice.items()},
        "calling every pixel lesion:",
        {k: round(float(v), 3) for k, v in everything.items()},
    )
    assert len(dice) == 5
    # Trained on drawn lesions only, it must still beat calling every pixel lesion, on average.
    assert np.mean(list(dice.values())) > np.mean(list(everything.values())) + 0.1, (dice, everything)


@pytest.mark.parametrize("model_name, recipe", [("unet", "menegola2017"), ("unet_vgg16", "xue2018")])
def test_dermnet_train_and_evaluate_a_segmentor(model_name, recipe, tmp_path, monkeypatch):
    monkeypatch.setenv("DERMNET_CACHE", str(tmp_path / "cache"))
    manifest = write_dataset(tmp_path / "data", n=20, masks=True)
    table = __import__("pandas").read_csv(manifest)
    table.loc[table.index % 5 == 0, "split"] = "test"
    table.to_csv(manifest, index=False)
    out = tmp_path / "run"
    assert (
        cli.main(
            [
                "train",
                model_name,
                "--dataset",
                str(manifest),
                "--recipe",
                recipe,
                "--epochs",
                "1",
                "--image-size",
                "32",
                "--batch-size",
                "4",
                "--weights",
                "none",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    scores = json.loads((out / "scores.json").read_text())
    assert set(scores) == {
        "overall",
        "validation",
        "accuracy",
        "sensitivity",
        "specificity",
        "jaccard",
        "threshold_jaccard",
        "dice",
    }
    config = json.loads((out / "config.json").read_text())
    assert config["classes"] == ["lesion"]
    if recipe == "xue2018":  # crops of resized images, whole images at prediction
        assert config["recipe"]["resize"] == [42, 48] and config["recipe"]["augment"]["crop"] == [32, 32]
    assert cli.main(["evaluate", str(out), "--dataset", str(manifest)]) == 0
    evaluation = out / "evaluation"
    evaluated = json.loads((evaluation / "scores.json").read_text())  # and beside them their intervals
    assert {key: evaluated[key] for key in scores} == pytest.approx(scores) and "intervals" in evaluated
    assert (evaluation / "masks.png").stat().st_size > 0 and "masks.png" in (
        evaluation / "report.md"
    ).read_text()


def test_mask_scores_score_each_attribute_at_its_masks_own_size(tmp_path):
    truth = np.zeros((40, 60), np.uint8)
    truth[10:30, 20:40] = 255
    cv2.imwrite(str(tmp_path / "globules.png"), truth)
    cv2.imwrite(str(tmp_path / "streaks.png"), np.zeros_like(truth))  # the image shows no streaks
    df = __import__("pandas").DataFrame(
        {
            "image_id": ["ISIC_0000001"],
            "mask_globules": [tmp_path / "globules.png"],
            "mask_streaks": [tmp_path / "streaks.png"],
        }
    )
    probabilities = np.zeros((1, 20, 30, 2), np.float32)
    probabilities[0, 5:15, 10:20, 0] = 1.0  # the globules at half size: exact once resized back
    probabilities[0, ..., 1] = 0.9  # streaks everywhere
    scores = mask_scores(df, probabilities)
    assert scores["jaccard_globules"] == 1.0 and scores["dice_globules"] == 1.0
    assert scores["jaccard_streaks"] == 0.0
    # ISIC 2018 task 2: shares of the image's pixels, summed: TP 400/2400 (globules), FP 1 (streaks).
    assert scores["jaccard"] == scores["overall"] == pytest.approx((1 / 6) / (1 / 6 + 1))
    # The per-image means, under their own names.
    assert scores["image_mean_jaccard"] == 0.5 and scores["image_mean_threshold_jaccard_streaks"] == 0.0
