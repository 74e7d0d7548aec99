"""Today's keras.applications backbones (issue 42): EfficientNet, EfficientNetV2, ConvNeXt. Their trunks
normalise their own input, so a dermnet build must compute what keras.applications computes on the same
raw pixels, ImageNet weights included; their stride maps feed `features=True`, the segmentors' encoders
and freezing. Every check of tests/harness.py runs on each family's smallest member (tests/test_models.py).
"""

import keras
import numpy as np
import pytest

import dermnet
from dermnet import backbones

SHAPE = (64, 64, 3)
KERAS_APPLICATIONS = {
    "efficientnet_b0": keras.applications.EfficientNetB0,
    "efficientnetv2_b0": keras.applications.EfficientNetV2B0,
    "efficientnetv2_s": keras.applications.EfficientNetV2S,  # its own normalisation: x/128 - 1
    "convnext_tiny": keras.applications.ConvNeXtTiny,
}


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(0).uniform(0, 255, (2, *SHAPE)).astype("float32")


# EfficientNetV2-S: 80 s here (2 shared cores), slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n == "efficientnetv2_s" else n
        for n in sorted(KERAS_APPLICATIONS)
    ],
)
def test_imagenet_build_gives_keras_applications_features_on_raw_pixels(name, pixels, tmp_path, monkeypatch):
    """ImageNet weights cannot be downloaded here: a file of random weights stands in for them, given to
    keras.applications and to dermnet by the same fake download. EfficientNet's ImageNet build has one more
    layer than its build without weights (keras.applications rescales by 1/√std after its Normalization)."""
    from keras.src.utils import file_utils

    keras.utils.set_random_seed(0)
    stand_in = KERAS_APPLICATIONS[name](include_top=False, weights=None, input_shape=SHAPE)
    for layer in stand_in.layers:  # EfficientNet's unadapted Normalization: statistics like ImageNet's
        if isinstance(layer, keras.layers.Normalization) and layer.weights:
            layer.set_weights(
                [np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]) ** 2, np.array(0)]
            )
    path = tmp_path / "stand_in.h5"
    stand_in.save(path)
    asked = []

    def fake_get_file(fname, origin, **kwargs):
        asked.append(fname)
        return str(path)

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    reference = KERAS_APPLICATIONS[name](include_top=False, weights="imagenet", input_shape=SHAPE)
    model = dermnet.build(name, num_classes=0, pooling=None, weights="imagenet", input_shape=SHAPE)
    assert asked == [backbones.get(name).imagenet_file] * 2  # the file the offline error names
    expected = keras.ops.convert_to_numpy(reference(pixels))
    np.testing.assert_allclose(model.predict(pixels, verbose=0), expected, rtol=1e-4, atol=1e-4)
    # the stride maps are found in the ImageNet trunk too, and are keras.applications' own layers' maps
    features = dermnet.build(name, features=True, weights="imagenet", input_shape=SHAPE)
    found = backbones.feature_layers(features.get_layer(f"{name}_backbone"))
    without = backbones.feature_layers(backbones.build_trunk(backbones.get(name), SHAPE, None))
    # ConvNeXt's last map is an unnamed LayerNormalization, numbered anew in each trunk
    assert {s: n for s, n in found.items() if s < 32} == {s: n for s, n in without.items() if s < 32}
    if not name.startswith("convnext"):  # ConvNeXt's stage outputs are layers dermnet adds (below)
        maps = keras.Model(reference.input, [reference.get_layer(found[s]).output for s in (2, 16)])(pixels)
        outputs = features.predict(pixels, verbose=0)
        for stride, expected_map in zip((2, 16), maps):
            np.testing.assert_allclose(outputs[f"stride_{stride}"], expected_map, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "efficientnet_b0",
            {
                2: "block2a_expand_activation",
                4: "block3a_expand_activation",
                8: "block4a_expand_activation",
                16: "block6a_expand_activation",
                32: "top_activation",
            },
        ),
        (
            "efficientnetv2_b0",
            {
                2: "block1a_project_activation",
                4: "block2b_add",
                8: "block4a_expand_activation",
                16: "block6a_expand_activation",
                32: "top_activation",
            },
        ),
        # ConvNeXt's stem is a 4×4 convolution of stride 4: no map at stride 2 (nor 1: that is the pixels)
        (
            "convnext_tiny",
            {
                4: "convnext_tiny_stage_0_output",
                8: "convnext_tiny_stage_1_output",
                16: "convnext_tiny_stage_2_output",
            },
        ),
    ],
)
def test_stride_features_are_the_stage_outputs(name, expected, pixels):
    features = dermnet.build(name, features=True, weights=None, input_shape=SHAPE)
    found = backbones.feature_layers(features.get_layer(f"{name}_backbone"))
    assert {s: found[s] for s in expected} == expected and set(found) == set(expected) | {32}
    outputs = features.predict(pixels, verbose=0)
    assert {key: value.shape[1] for key, value in outputs.items()} == {f"stride_{s}": 64 // s for s in found}


def test_convnext_stage_outputs_are_identities_of_its_own_graph(pixels):
    """The stage outputs dermnet marks change nothing: the trunk is keras.applications' ConvNeXt."""
    model = dermnet.build("convnext_tiny", num_classes=0, pooling=None, weights=None, input_shape=SHAPE)
    reference = keras.applications.ConvNeXtTiny(include_top=False, weights=None, input_shape=SHAPE)
    reference.set_weights(model.get_layer("convnext_tiny_backbone").get_weights())
    np.testing.assert_allclose(
        model.predict(pixels, verbose=0), keras.ops.convert_to_numpy(reference(pixels)), rtol=1e-5, atol=1e-5
    )


def test_segmentors_and_sdl_take_them_and_a_u_net_needing_stride_2_refuses_convnext():
    deeplab = dermnet.build(
        "deeplabv3plus",
        input_shape=SHAPE,
        weights=None,
        encoder="convnext_tiny",
        aspp_filters=8,
        low_level_filters=4,
    )
    assert deeplab.output_shape == (None, 64, 64, 1)
    assert deeplab.get_layer("preprocess").get_config()["mode"] == "raw"
    with pytest.raises(
        ValueError,
        match=r"convnext_tiny has no feature map at stride\(s\) \[1, 2\]; it has "
        r"\[4, 8, 16, 32\]",
    ):
        dermnet.build("unet_vgg16", input_shape=SHAPE, weights=None, encoder="convnext_tiny")
    sdl = dermnet.build("sdl", backbone="efficientnet_b0", input_shape=(32, 32, 3), weights=None)
    assert sdl.inference_model().output_shape == (None, 2)


@pytest.mark.parametrize(
    "name, first",
    [
        ("efficientnet_b0", "block7a_expand_conv"),
        ("efficientnetv2_b0", "block6a_expand_conv"),
        ("convnext_tiny", "convnext_tiny_downsampling_block_2"),
    ],
)
def test_top_trains_the_last_stage_and_backbone_the_head(name, first):
    model = dermnet.build(name, weights=None, input_shape=(32, 32, 3), freeze="top")
    trunk = model.get_layer(f"{name}_backbone")
    trainable = [layer.name for layer in trunk.layers if layer.trainable and layer.weights]
    assert trainable[0] == first and first in backbones.get(name).top_doc
    assert all(layer.trainable for layer in trunk.layers[trunk.layers.index(trunk.get_layer(first)) :])
    dermnet.set_trainable(model, "backbone")
    assert {v.path.split("/")[0] for v in model.trainable_variables} == {"logits"}


def test_headless_builds_pool_the_trunks_last_map(pixels):
    feature_map = dermnet.build("convnext_tiny", num_classes=0, pooling=None, weights=None, input_shape=SHAPE)
    pooled = dermnet.build("convnext_tiny", num_classes=0, weights=None, input_shape=SHAPE)
    pooled.set_weights(feature_map.get_weights())
    assert feature_map.output_shape == (None, 2, 2, 768) and pooled.output_shape == (None, 768)
    np.testing.assert_allclose(
        pooled.predict(pixels, verbose=0),
        feature_map.predict(pixels, verbose=0).mean(axis=(1, 2)),
        rtol=1e-5,
        atol=1e-5,
    )
