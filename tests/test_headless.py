"""Backbones without their head: pooled features, feature maps and the maps at every stride, as
timm (`num_classes=0`, `features_only`) and keras.applications (`include_top=False, pooling=`) give them."""

import keras
import numpy as np
import pytest

import dermnet
from dermnet import backbones


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")


def test_num_classes_0_gives_the_pooled_features_or_the_map(images):
    feature_map = dermnet.build(
        "resnet50", num_classes=0, pooling=None, weights=None, input_shape=(64, 64, 3)
    )
    assert feature_map.output_shape == (None, 2, 2, 2048)
    maps = np.asarray(feature_map.predict(images, verbose=0))
    for pooling, reduce in (("avg", np.mean), ("max", np.max)):
        pooled = dermnet.build(
            "resnet50", num_classes=0, pooling=pooling, weights=None, input_shape=(64, 64, 3)
        )
        pooled.set_weights(feature_map.get_weights())
        assert pooled.output_shape == (None, 2048)
        np.testing.assert_allclose(
            pooled.predict(images, verbose=0), reduce(maps, axis=(1, 2)), rtol=1e-5, atol=1e-5
        )
    with pytest.raises(ValueError, match="Unknown pooling 'mean'"):
        dermnet.build("resnet50", num_classes=0, pooling="mean", weights=None)


def test_features_gives_the_trunks_maps_at_every_stride(images):
    features = dermnet.build("resnet50", features=True, weights=None, input_shape=(64, 64, 3))
    assert {name: tuple(tensor.shape[1:]) for name, tensor in features.output.items()} == {
        "stride_2": (32, 32, 64),
        "stride_4": (16, 16, 256),
        "stride_8": (8, 8, 512),
        "stride_16": (4, 4, 1024),
        "stride_32": (2, 2, 2048),
    }
    headless = dermnet.build("resnet50", num_classes=0, pooling=None, weights=None, input_shape=(64, 64, 3))
    features.get_layer("resnet50_backbone").set_weights(headless.get_layer("resnet50_backbone").get_weights())
    np.testing.assert_allclose(
        features.predict(images, verbose=0)["stride_32"],
        headless.predict(images, verbose=0),
        rtol=1e-5,
        atol=1e-5,
    )
    dermnet.set_trainable(features, "backbone")  # the trunk is the `<backbone>_backbone` a freeze finds
    assert not features.get_layer("resnet50_backbone").trainable


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "vgg16",
            {
                1: "block1_conv2",
                2: "block2_conv2",
                4: "block3_conv3",
                8: "block4_conv3",
                16: "block5_conv3",
                32: "block5_pool",
            },
        ),
        (
            "resnet50",
            {
                2: "conv1_relu",
                4: "conv2_block3_out",
                8: "conv3_block4_out",
                16: "conv4_block6_out",
                32: "conv5_block3_out",
            },
        ),
        (
            "inception_v3",
            {8: "mixed2", 16: "mixed7", 32: "mixed10"},
        ),  # block outputs, not branches inside them
        ("densenet201", {8: "pool3_conv", 16: "pool4_conv", 32: "relu"}),
    ],
)
def test_feature_layers_are_the_block_outputs_at_each_stride(name, expected):
    spec = backbones.get(name)
    for _ in range(2):  # a second trunk in the process: Keras numbers its unnamed layers anew
        trunk = backbones.build_trunk(spec, spec.input_shape, None)
        found = backbones.feature_layers(trunk)
        assert {stride: found[stride] for stride in expected} == expected
        for stride, layer in found.items():
            height = trunk.get_layer(layer).output.shape[1]
            assert 2 ** round(np.log2(spec.input_shape[0] / height)) == stride
        if name == "inception_v3":  # auto-named layers resolve to this trunk's own names
            assert {layer.name for layer in trunk.layers} >= set(found.values())
    assert (
        keras.Model(trunk.input, trunk.get_layer(found[max(found)]).output).output_shape == trunk.output_shape
    )


def test_segmentors_take_their_encoder_by_name():
    deeplab = dermnet.build("deeplabv3plus", input_shape=(64, 64, 3), weights=None, encoder="densenet201")
    assert deeplab.output_shape == (None, 64, 64, 1) and deeplab.get_layer("densenet201_backbone")
    assert deeplab.get_layer("preprocess").get_config()["mode"] == "torch"  # the encoder's normalisation
    unet = dermnet.build("unet_vgg16", input_shape=(64, 64, 3), weights=None, encoder="vgg19")
    assert unet.output_shape == (None, 64, 64, 1) and unet.get_layer("vgg19_backbone")
    with pytest.raises(ValueError, match=r"resnet50 has no feature map at stride\(s\) \[1\]"):
        dermnet.build("unet_vgg16", input_shape=(64, 64, 3), weights=None, encoder="resnet50")


def test_a_seeded_build_does_not_depend_on_whether_the_feature_probe_ran():
    """The probe that finds the feature layers builds a trunk of its own once per process; its weights
    are thrown away, and drawing them must not change what a seeded build gets."""

    def seeded_weights():
        keras.utils.set_random_seed(0)
        unet = dermnet.build(
            "unet_vgg16", input_shape=(32, 32, 3), weights=None, decoder_filters=(8, 8, 4, 4)
        )
        return unet.get_weights()

    backbones._feature_indices.cache_clear()
    probe_runs, probe_cached = seeded_weights(), seeded_weights()
    assert all(np.array_equal(a, b) for a, b in zip(probe_runs, probe_cached, strict=True))
