"""Segmentors: any input size, a few training steps on synthetic lesions with the loss and metrics of
their contract, SegAN's alternating step, encoders reading their skips from the backbone table.
(What every model must do, segmentors included, is checked by tests/test_models.py.)"""

import warnings

import keras
import numpy as np
import pytest
from harness import masks_of, small_kwargs, small_model, training_batch

import dermnet
from dermnet.models import compile_arguments
from dermnet.models.segan import SegAN
from dermnet.models.unet import unet_fc_parameters

pytestmark = pytest.mark.portable
SEGMENTORS = dermnet.list_models(task="segmentation") + dermnet.list_models(task="attributes")


def lesions(model, n=4, seed=0):
    """Synthetic images with their lesion masks (as many mask channels as the model outputs)."""
    return training_batch(model, n, seed)


@pytest.mark.parametrize("name", [m for m in SEGMENTORS if m != "unet_fc"])  # unet_fc: a dense bottleneck
def test_any_input_size_when_built_without_one(name):
    model = dermnet.build(name, **dict(small_kwargs(name), input_shape=(None, None, 3)))
    images = np.random.default_rng(0).integers(0, 256, (2, 52, 44, 3), dtype="uint8")  # not multiples of 16
    assert masks_of(model.predict(images, verbose=0)).shape[:3] == (2, 52, 44)


@pytest.mark.parametrize("name", SEGMENTORS)
def test_a_few_training_steps_on_synthetic_lesions(name):
    keras.utils.set_random_seed(0)  # a few steps of a tiny model: some draws leave a ReLU dead, so fix them
    model = dermnet.build(name, **small_kwargs(name))
    images, masks = lesions(model, n=8)
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **compile_arguments(model))
    history = model.fit(images, masks, batch_size=4, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    unchanged = [v.path for v, b, a in zip(model.trainable_variables, before, after) if np.array_equal(b, a)]
    assert not unchanged, f"not trained: {unchanged[:5]}"
    if isinstance(model, SegAN):
        critic = [keras.ops.convert_to_numpy(v) for v in model.critic.trainable_variables]
        assert max(np.abs(w).max() for w in critic) <= model.clip_value + 1e-7
        assert "multiscale_l1" in history.history
        logs = model.evaluate(images, masks, verbose=0, return_dict=True)  # the critic's L1 on validation too
        assert logs["multiscale_l1"] > 0 and np.isfinite(logs["loss"])


def test_segan_alternates_critic_and_segmentor_steps():
    # One step: the critic climbs the multi-scale L1 loss on the batch's predicted masks (projected on
    # the clipping box: start inside it), then the segmentor moves too.
    model = dermnet.build("segan", **dict(small_kwargs("segan"), dropout=0.0))
    images, masks = lesions(model, n=4)
    model.compile(optimizer=keras.optimizers.SGD(1e-3))
    for variable in model.critic.trainable_variables:
        variable.assign(keras.ops.clip(variable, -model.clip_value, model.clip_value))
    predicted = model.segmentor(images, training=True)
    before = float(model.multiscale_l1(images, predicted, masks, training=True))
    segmentor_before = [keras.ops.convert_to_numpy(v).copy() for v in model.segmentor.trainable_variables]
    model.train_on_batch(images, masks)
    assert float(model.multiscale_l1(images, predicted, masks, training=True)) > before
    assert any(
        not np.array_equal(b, keras.ops.convert_to_numpy(v))  # (every weight: the test above)
        for b, v in zip(segmentor_before, model.segmentor.trainable_variables)
    )


def test_segan_encoder_is_vgg19_with_a_squeeze_excite_gate_after_every_block():
    model = small_model("segan")
    encoder = model.segmentor.get_layer("vgg19_backbone")
    gated = [layer.name for layer in encoder.layers if layer.name.endswith("_se")]
    blocks = ["block1_conv2", "block2_conv2", "block3_conv4", "block4_conv4", "block5_conv4"]  # strides 1-16
    assert gated == [f"{name}_se" for name in blocks]
    # Hu et al.'s ratio 16, but never under 8 units (VGG's 64 channels would give 4)
    assert [encoder.get_layer(name).squeeze.units for name in gated] == [8, 8, 16, 32, 32]


def test_freezing_the_backbone_freezes_the_encoder_only():
    model = dermnet.build("unet_vgg16", **dict(small_kwargs("unet_vgg16"), freeze="backbone"))
    assert not model.get_layer("vgg16_backbone").trainable_weights
    assert model.get_layer("logits").trainable


def test_unet_fc_parameters_follow_its_formula():
    model = dermnet.build("unet_fc", input_shape=(32, 32, 3), bottleneck_units=64)
    assert model.count_params() == unet_fc_parameters(32, 32, 64)
    assert dermnet.model_card("unet_fc").parameters == unet_fc_parameters(128, 128, 8192)  # 544 M


def test_unet_fc_refuses_a_free_input_size():
    with pytest.raises(ValueError, match="fixed input_shape"):
        dermnet.build("unet_fc", input_shape=(None, None, 3))


def test_segan_refuses_float16_loss_scaling_it_would_get_wrong():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = dermnet.build("segan", **small_kwargs("segan"))
        with pytest.raises(ValueError, match="mixed_bfloat16"):
            model.compile(optimizer="adam")
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_a_saved_compiled_segan_reloads_compiled_without_a_warning(tmp_path):
    model = dermnet.build("segan", **small_kwargs("segan"))
    model.compile(optimizer=keras.optimizers.Adam(3e-4))
    model.fit(*training_batch(model), epochs=1, verbose=0)  # the optimizer's state is saved too
    model.save(tmp_path / "segan.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warns when it skips compiling a loaded model
        reloaded = keras.saving.load_model(tmp_path / "segan.keras", safe_mode=True)
    assert reloaded.compiled and float(reloaded.optimizer.learning_rate) == pytest.approx(3e-4)


def _stub_critic(side):
    """A critic whose levels are known: the masked image doubled, then 2×2-averaged."""
    inputs = keras.Input((side, side, 3))
    doubled = keras.layers.Rescaling(2.0)(inputs)
    return keras.Model(inputs, [doubled, keras.layers.AveragePooling2D(2)(inputs)])


@pytest.mark.parametrize("pixel_level", [False, True])
def test_segan_multiscale_l1_averages_over_the_critics_layers_as_eqs_1_and_2(pixel_level):
    # Eq. 2: (1/L) Σ_i ‖f_C^i(x∘S(x)) − f_C^i(x∘y)‖, L "the total number of layers (i.e. scales) in the critic
    # network"; the masked pixels themselves are a level only as the named option (the authors' SegAN code).
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 4, 4, 3)).astype("float32")
    predicted = rng.random((2, 4, 4, 1)).astype("float32")
    truth = (rng.random((2, 4, 4, 1)) > 0.5).astype("float32")
    segmentor = dermnet.build("segan", **small_kwargs("segan")).segmentor
    model = SegAN(segmentor, _stub_critic(4), pixel_level=pixel_level)
    a, b = images / 255 * predicted, images / 255 * truth
    pooled = [x.reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4)) for x in (a, b)]
    levels = [np.abs(2 * a - 2 * b).mean(), np.abs(pooled[0] - pooled[1]).mean()]
    if pixel_level:
        levels.insert(0, np.abs(a - b).mean())
    got = float(model.multiscale_l1(images, predicted, truth))
    assert got == pytest.approx(np.mean(levels), rel=1e-5)
    assert model.get_config()["pixel_level"] is pixel_level
    assert dermnet.build("segan", **small_kwargs("segan")).pixel_level is False  # the text's, by default


def test_unet_vgg16_has_a_dropout_after_each_of_its_five_copied_feature_layers():
    # Menegola et al., Section I-D: "We added dropout layers after each of the five layers with copied
    # features."
    model = dermnet.build("unet_vgg16", **small_kwargs("unet_vgg16"))
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(dropouts) == 5
    encoder = model.get_layer("vgg16_backbone")
    fed = [layer._inbound_nodes[0].input_tensors[0] for layer in dropouts]
    assert all(t._keras_history.operation is encoder for t in fed), (
        "each dropout takes one of the encoder's maps"
    )
    assert sorted(t._keras_history.tensor_index for t in fed) == [0, 1, 2, 3, 4]


def test_unet_bn_adds_input_noise_only_as_a_named_option():
    # Menegola et al. describe the BN U-net as the best network without its fully connected layers and with
    # batch normalization: no input noise.
    def noise_layers(model):
        return [layer for layer in model.layers if isinstance(layer, keras.layers.GaussianNoise)]

    assert noise_layers(dermnet.build("unet_bn", **small_kwargs("unet_bn"))) == []
    (noise,) = noise_layers(dermnet.build("unet_bn", **dict(small_kwargs("unet_bn"), noise=0.025)))
    assert noise.stddev == pytest.approx(0.025)
