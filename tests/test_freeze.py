"""Fine-tuning phases: which layers train under each `freeze` value."""

import keras
import numpy as np
import pytest
from harness import random_images, skip_deep_on_jax

import dermnet

pytestmark = pytest.mark.portable


def _first_trainable_in_backbone(model, backbone_name):
    backbone = model.get_layer(f"{backbone_name}_backbone")
    weighted = [(i, layer) for i, layer in enumerate(backbone.layers) if layer.weights]
    frozen = [i for i, layer in weighted if not layer.trainable]
    trainable = [i for i, layer in weighted if layer.trainable]
    assert not frozen or not trainable or max(frozen) < min(trainable), "trainable layers are not a suffix"
    return backbone.layers[min(trainable)].name if trainable else None, backbone


# The papers' unfreeze points: Ray et al. unfreeze DenseNet-201 from conv5_block1_0_bn,
# InceptionV3 from layer 249 and Inception-ResNet-v2 from layer 618 (keras.applications order).
@pytest.mark.parametrize(
    "name, side, first_name, first_index",
    [
        ("densenet201", 32, "conv5_block1_0_bn", None),
        ("vgg16", 32, "block5_conv1", None),
        ("inception_v3", 75, None, 249),
        ("inception_resnet_v2", 75, None, 618),
    ],
)
def test_top_unfreezes_from_the_papers_point(name, side, first_name, first_index):
    skip_deep_on_jax(name)
    model = dermnet.build(name, weights=None, input_shape=(side, side, 3), freeze="top")
    first, backbone = _first_trainable_in_backbone(model, name)
    if first_name is not None:
        assert first == first_name
    if first_index is not None:
        # index in keras.applications' own model, whose layer 0 is its input layer as here
        assert backbone.layers.index(backbone.get_layer(first)) == first_index
    assert model.get_layer("logits").trainable


def test_backbone_freezes_everything_but_the_head():
    model = dermnet.build("resnet50", weights=None, input_shape=(32, 32, 3), freeze="backbone")
    trainable = {v.path.split("/")[0] for v in model.trainable_variables}
    assert trainable == {"features", "logits"}


def test_set_trainable_switches_phases_without_rebuilding():
    model = dermnet.build("resnet50", weights=None, input_shape=(32, 32, 3), freeze="backbone")
    head_only = len(model.trainable_variables)
    dermnet.set_trainable(model, "all")
    assert len(model.trainable_variables) > head_only
    assert not model.non_trainable_variables or all("moving" in v.path for v in model.non_trainable_variables)
    dermnet.set_trainable(model, "conv5_block3_1_conv")
    first, _ = _first_trainable_in_backbone(model, "resnet50")
    assert first == "conv5_block3_1_conv"
    dermnet.set_trainable(model, "logits")
    assert [v.path for v in model.trainable_variables] == ["logits/kernel", "logits/bias"]


def test_unknown_freeze_value_is_refused():
    model = dermnet.build("baseline_cnn")
    with pytest.raises(ValueError, match="no_such_layer"):
        dermnet.set_trainable(model, "no_such_layer")
    with pytest.raises(ValueError, match="unfreeze point"):
        dermnet.set_trainable(model, "top")


def test_frozen_batchnorm_runs_in_inference_mode_during_training():
    model = dermnet.build("resnet50", weights=None, input_shape=(32, 32, 3), freeze="backbone", head="sdl")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    bn = model.get_layer("resnet50_backbone").get_layer("conv1_bn")
    before = keras.ops.convert_to_numpy(bn.moving_mean).copy()
    x = random_images(model, batch=8).astype("float32")
    y = keras.utils.to_categorical(np.arange(8) % 2, 2)
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_mean), before)
    # and unfrozen, the same layer's statistics do move
    dermnet.set_trainable(model, "all")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.allclose(keras.ops.convert_to_numpy(bn.moving_mean), before)


def test_set_trainable_reaches_every_ensemble_member():
    members = [
        dermnet.build("baseline_cnn", num_classes=3),
        dermnet.build("vgg16", num_classes=3, weights=None, input_shape=(64, 64, 3)),
    ]
    model = dermnet.build("ensemble", members=members, num_classes=3, weights=None, freeze="backbone")
    paths = {v.path.split("/")[0] for v in model.trainable_variables}
    assert paths == {"features", "logits"}
    assert len(model.trainable_variables) == 8  # two Dense layers in each of two members
    dermnet.set_trainable(model, "none")
    assert len(model.trainable_variables) == sum(len(m.trainable_variables) for m in members)


def test_a_bad_freeze_value_leaves_every_ensemble_member_as_it_was():
    members = [
        dermnet.build("vgg16", num_classes=3, weights=None, input_shape=(64, 64, 3)),
        dermnet.build("baseline_cnn", num_classes=3, input_shape=(64, 64, 3)),
    ]
    model = dermnet.build("ensemble", members=members, num_classes=3, weights=None, freeze="backbone")
    before = [v.path for v in model.trainable_variables]
    with pytest.raises(ValueError):
        dermnet.set_trainable(model, "block5_conv1")  # a VGG16 layer, unknown to the baseline CNN
    assert [v.path for v in model.trainable_variables] == before


def test_ensemble_members_built_from_names_take_its_input_size_and_unique_names():
    model = dermnet.build(
        "ensemble",
        members=["baseline_cnn", "baseline_cnn"],
        num_classes=3,
        input_shape=(40, 56, 3),
        weights=None,
    )
    assert [layer.name for layer in model.layers[1:3]] == ["baseline_cnn_1", "baseline_cnn_2"]
    assert all(layer.input_shape == (None, 40, 56, 3) for layer in model.layers[1:3])
    assert not any(layer.name.endswith("_resize") for layer in model.layers)


def test_segans_first_phase_fixes_the_pretrained_vgg_and_trains_its_squeeze_excite_gates():
    # Xue et al. fix "the weights of the pre-trained VGG net for 50 epochs and only train other parts of
    # the segmentor": the SE gates are new, not VGG's, though they sit inside the encoder.
    model = dermnet.build(
        "segan",
        input_shape=(32, 32, 3),
        weights=None,
        decoder_filters=(8, 8, 8, 8),
        critic_filters=(4, 8),
        freeze="backbone",
    )
    encoder = model.segmentor.get_layer("vgg19_backbone")
    gates = [layer for layer in encoder.layers if layer.name.endswith("_se")]
    convolutions = [
        layer
        for layer in encoder.layers
        if layer.name.startswith("block") and layer.weights and layer not in gates
    ]
    trainable = {id(v) for v in model.trainable_variables}
    assert gates and all(id(v) in trainable for gate in gates for v in gate.trainable_weights)
    assert gates[0].trainable and all(gate.trainable_weights for gate in gates)
    assert not any(id(v) in trainable for layer in convolutions for v in layer.weights)
    dermnet.set_trainable(model, "none")  # the second phase: everything
    trainable = {id(v) for v in model.trainable_variables}
    assert all(id(v) in trainable for layer in convolutions for v in layer.weights)
