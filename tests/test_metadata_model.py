"""Ha, Liu and Liu's EfficientNet with metadata (`ha2020_effnet`), the metadata encoding and its stream;
tests/test_models.py runs the shared checks over it too."""

import keras
import numpy as np
import pandas as pd
import pytest

import dermnet
from dermnet.data.metadata import CLASSES, FEATURES, diagnosis_class, encode_metadata
from dermnet.models import contract


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return dermnet.build(
        "ha2020_effnet", backbone="efficientnet_b0", input_shape=(32, 32, 3), weights=None, num_classes=3
    )


def _inputs(batch=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.integers(96, 160, (batch, 32, 32, 3)).astype("uint8"),
        "metadata": rng.normal(size=(batch, len(FEATURES))).astype("float32"),
    }


def test_the_model_takes_image_and_metadata_and_both_change_its_answer(model):
    x = _inputs()
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (4, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    other_metadata = model.predict({**x, "metadata": x["metadata"][::-1]}, verbose=0)
    assert not np.allclose(other_metadata, probabilities)
    # A random EfficientNet's features are tiny at inference (about 1e-6): the image path is seen before them.
    features = keras.Model(model.inputs, model.get_layer("pool").output)
    black_white = {**x, "image": np.stack([np.zeros((32, 32, 3)), np.full((32, 32, 3), 255.0)] * 2)}
    pooled = features.predict(black_white, verbose=0)
    assert not np.array_equal(pooled[0], pooled[1])
    assert contract(model).stream == "metadata" and model.input_shape == (None, 32, 32, 3)
    # the winners' network: Dense 512 / 128 with batch norm on the metadata, one classifier on 5 dropouts
    assert [model.get_layer(f"meta_dense_{i}").units for i in (0, 1)] == [512, 128]
    assert model.get_layer("meta_bn_0").momentum == 0.9 and model.get_layer("meta_dropout_1").rate == 0.3
    assert [model.get_layer(f"dropout_{k}").rate for k in range(5)] == [0.5] * 5
    assert model.get_layer("logits").kernel.shape == (1280 + 128, 3)  # B0's 1280 features and the 128


def test_the_model_reloads_in_safe_mode_with_its_class_and_outputs(model, tmp_path):
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert type(reloaded) is type(model) and [w.path for w in reloaded.weights] == [
        w.path for w in model.weights
    ]
    arguments = {
        k: v for k, v in model.get_config().items() if k != "trunk"
    }  # the trunk: a Keras graph's config
    assert {k: v for k, v in reloaded.get_config().items() if k != "trunk"} == arguments
    np.testing.assert_allclose(
        reloaded.predict(_inputs(), verbose=0), model.predict(_inputs(), verbose=0), atol=1e-6
    )


def test_its_card_and_default_build_are_the_winners(model):
    card = dermnet.model_card("ha2020_effnet")
    assert (card.num_classes, card.input_shape, card.recipe, card.paper_key) == (
        9,
        (512, 512, 3),
        "ha2020",
        "ha2020",
    )
    assert dermnet.recipes.get("ha2020").model_kwargs == {"backbone": "efficientnet_b3"}
    assert len(CLASSES) == 9 and CLASSES.index("melanoma") == 6  # the winners' mel_idx


def test_the_encoding_of_hand_made_rows(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x" * 1000)
    rows = pd.DataFrame(
        {
            "sex": ["male", "female", None, "MALE "],
            "age_approx": ["45", "90.0", "", None],
            "patient_id": ["P1", "P1", None, "P2"],
            "anatom_site_general": ["posterior torso", "palms/soles", "", "scalp"],
            "image": [str(tmp_path / "a.jpg"), str(tmp_path / "missing.jpg"), None, ""],
        }
    )
    encoded = encode_metadata(rows)
    assert (
        encoded.shape == (4, 11)
        and encoded.dtype == np.float32
        and FEATURES[:4] == ("sex", "age_approx", "n_images", "image_size")
    )
    np.testing.assert_allclose(
        encoded[:, :4],
        [
            [1, 0.5, np.log(3), np.log(1000)],
            [0, 1.0, np.log(3), 0],
            [-1, 0, np.log(2), 0],  # no patient: one image
            [1, 0, np.log(2), 0],
        ],
        rtol=1e-6,
    )
    sites = [FEATURES[4 + i][len("site_") :] for i in encoded[:, 4:].argmax(1)]
    assert sites == ["torso", "palms/soles", "nan", "head/neck"] and (encoded[:, 4:].sum(1) == 1).all()
    # the categories are fixed: a table with one site gives the same columns (images per patient are counted
    # in the table given: P1 has one image there), and a missing column is unknown in every row
    alone = encode_metadata(rows.iloc[1:2])
    np.testing.assert_array_equal(np.delete(alone, 2, axis=1), np.delete(encoded[1:2], 2, axis=1))
    assert alone[0, 2] == np.float32(np.log(2))
    np.testing.assert_allclose(
        encode_metadata(pd.DataFrame(index=range(2))),
        [[-1, 0, np.log(2), 0, 0, 0, 0, 0, 0, 0, 1]] * 2,
        rtol=1e-6,
    )


def test_the_diagnoses_map_to_the_winners_nine_classes():
    diagnoses = ("lentigo NOS", "MEL", "NV", "cafe-au-lait macule", "SCC", "akiec")
    assert [diagnosis_class(d) for d in diagnoses] == ["BKL", "melanoma", "nevus", "unknown", "SCC", "AK"]
    with pytest.raises(ValueError, match="psoriasis"):
        diagnosis_class("psoriasis")


def _synthetic_with_metadata(tmp_path, n=24):
    df = dermnet.data.write_synthetic(tmp_path / "synthetic", n=n, image_size=32, num_classes=3)
    rng = np.random.default_rng(0)
    return df.assign(
        sex=rng.choice(["male", "female"], len(df)),
        age_approx=rng.integers(20, 80, len(df)).astype(str),
        anatom_site_general="torso",
        patient_id=[f"P{i // 3}" for i in range(len(df))],
    )


def test_one_epoch_trains_on_images_with_metadata_and_is_scored_by_isic2020(model, tmp_path):
    from dermnet import evaluation, reproduce, training

    df = _synthetic_with_metadata(tmp_path)
    stream = training.training_stream(model, df, (32, 32), 8, "ha2020", 0, tmp_path / "cache")
    x, y = next(iter(stream))
    assert set(x) == {"image", "metadata"} and tuple(x["metadata"].shape) == (8, 11)
    histories = training.train(
        model,
        reproduce.smoke_recipe("ha2020"),
        df,
        epochs=1,
        batch_size=8,
        cache_dir=tmp_path / "cache",
        verbose=0,
    )
    assert np.isfinite(histories[0].history["loss"]).all()
    probabilities = evaluation.predict_probabilities(model, df, cache_dir=tmp_path / "cache")
    scores = evaluation.challenge_scores(
        "isic2020", dermnet.data.class_indices(df), probabilities, dermnet.data.class_names(df)
    )
    assert probabilities.shape == (len(df), 3) and 0 <= scores["overall"] <= 1


def test_dermnets_exporter_serves_both_inputs(model, tmp_path, tensorflow_only):
    import json

    import tensorflow as tf

    from dermnet import serving
    from dermnet.data.metadata import FEATURES

    serving.export_saved_model(model, tmp_path / "served", (32, 32))
    served = tf.saved_model.load(str(tmp_path / "served"))
    x = {k: v.astype("float32") for k, v in _inputs().items()}
    np.testing.assert_allclose(served.serve(x).numpy(), model.predict(x, verbose=0), atol=1e-5)
    described = json.loads((tmp_path / "served" / "dermnet.json").read_text())
    assert described["inputs"]["metadata"] == list(FEATURES) and described["size"] == [32, 32]
