"""TF-slim's Inception-v4 checkpoint (the ImageNet weights RECOD fine-tuned) loads into dermnet's Inception-v4.

The checkpoint is written here, in TF-slim's format (a V1 `.ckpt` file, as `inception_v4_2016_09_09.tar.gz`
holds), with its variables named and shaped as `nets/inception_v4.py` makes them: the shapes below are
written from that file, not from dermnet's layers, so a unit mapped to the wrong scope fails on its shape."""

import numpy as np
import pytest

import dermnet

pytestmark = pytest.mark.usefixtures("tensorflow_only")


def tf_slim_shapes():
    """`nets/inception_v4.py`'s convolutions: scope → (kh, kw, in, out)."""
    inception_a = {
        "Branch_0/Conv2d_0a_1x1": (1, 1, 384, 96),
        "Branch_1/Conv2d_0a_1x1": (1, 1, 384, 64),
        "Branch_1/Conv2d_0b_3x3": (3, 3, 64, 96),
        "Branch_2/Conv2d_0a_1x1": (1, 1, 384, 64),
        "Branch_2/Conv2d_0b_3x3": (3, 3, 64, 96),
        "Branch_2/Conv2d_0c_3x3": (3, 3, 96, 96),
        "Branch_3/Conv2d_0b_1x1": (1, 1, 384, 96),
    }
    inception_b = {
        "Branch_0/Conv2d_0a_1x1": (1, 1, 1024, 384),
        "Branch_1/Conv2d_0a_1x1": (1, 1, 1024, 192),
        "Branch_1/Conv2d_0b_1x7": (1, 7, 192, 224),
        "Branch_1/Conv2d_0c_7x1": (7, 1, 224, 256),
        "Branch_2/Conv2d_0a_1x1": (1, 1, 1024, 192),
        "Branch_2/Conv2d_0b_7x1": (7, 1, 192, 192),
        "Branch_2/Conv2d_0c_1x7": (1, 7, 192, 224),
        "Branch_2/Conv2d_0d_7x1": (7, 1, 224, 224),
        "Branch_2/Conv2d_0e_1x7": (1, 7, 224, 256),
        "Branch_3/Conv2d_0b_1x1": (1, 1, 1024, 128),
    }
    inception_c = {
        "Branch_0/Conv2d_0a_1x1": (1, 1, 1536, 256),
        "Branch_1/Conv2d_0a_1x1": (1, 1, 1536, 384),
        "Branch_1/Conv2d_0b_1x3": (1, 3, 384, 256),
        "Branch_1/Conv2d_0c_3x1": (3, 1, 384, 256),
        "Branch_2/Conv2d_0a_1x1": (1, 1, 1536, 384),
        "Branch_2/Conv2d_0b_3x1": (3, 1, 384, 448),
        "Branch_2/Conv2d_0c_1x3": (1, 3, 448, 512),
        "Branch_2/Conv2d_0d_1x3": (1, 3, 512, 256),
        "Branch_2/Conv2d_0e_3x1": (3, 1, 512, 256),
        "Branch_3/Conv2d_0b_1x1": (1, 1, 1536, 256),
    }
    blocks = {
        "Mixed_3a": {"Branch_1/Conv2d_0a_3x3": (3, 3, 64, 96)},
        "Mixed_4a": {
            "Branch_0/Conv2d_0a_1x1": (1, 1, 160, 64), "Branch_0/Conv2d_1a_3x3": (3, 3, 64, 96),
            "Branch_1/Conv2d_0a_1x1": (1, 1, 160, 64), "Branch_1/Conv2d_0b_1x7": (1, 7, 64, 64),
            "Branch_1/Conv2d_0c_7x1": (7, 1, 64, 64), "Branch_1/Conv2d_1a_3x3": (3, 3, 64, 96)},
        "Mixed_5a": {"Branch_0/Conv2d_1a_3x3": (3, 3, 192, 192)},
        **{f"Mixed_5{block}": inception_a for block in "bcde"},
        "Mixed_6a": {
            "Branch_0/Conv2d_1a_3x3": (3, 3, 384, 384), "Branch_1/Conv2d_0a_1x1": (1, 1, 384, 192),
            "Branch_1/Conv2d_0b_3x3": (3, 3, 192, 224), "Branch_1/Conv2d_1a_3x3": (3, 3, 224, 256)},
        **{f"Mixed_6{block}": inception_b for block in "bcdefgh"},
        "Mixed_7a": {
            "Branch_0/Conv2d_0a_1x1": (1, 1, 1024, 192), "Branch_0/Conv2d_1a_3x3": (3, 3, 192, 192),
            "Branch_1/Conv2d_0a_1x1": (1, 1, 1024, 256), "Branch_1/Conv2d_0b_1x7": (1, 7, 256, 256),
            "Branch_1/Conv2d_0c_7x1": (7, 1, 256, 320), "Branch_1/Conv2d_1a_3x3": (3, 3, 320, 320)},
        **{f"Mixed_7{block}": inception_c for block in "bcd"},
    }  # fmt: skip
    stem = {"Conv2d_1a_3x3": (3, 3, 3, 32), "Conv2d_2a_3x3": (3, 3, 32, 32), "Conv2d_2b_3x3": (3, 3, 32, 64)}
    return {**stem, **{f"{block}/{k}": v for block, convs in blocks.items() for k, v in convs.items()}}


def write_tf_slim_checkpoint(path, drop=(), extra=()):
    """A V1 checkpoint with TF-slim's names: each scope's `weights` and `BatchNorm/{beta, moving_mean,
    moving_variance}`, the logits, the auxiliary head and `global_step`; each tensor a distinct known value."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    tensors = {"global_step": np.int64(525000), "InceptionV4/Logits/Logits/weights": np.zeros((1536, 1001))}
    tensors["InceptionV4/AuxLogits/Aux_logits/weights"] = np.zeros((768, 1001))
    for scope, shape in tf_slim_shapes().items():
        prefix = f"InceptionV4/{scope}"
        tensors[f"{prefix}/weights"] = rng.normal(0, 0.05, shape)
        tensors[f"{prefix}/BatchNorm/beta"] = rng.normal(0, 0.1, shape[-1])
        tensors[f"{prefix}/BatchNorm/moving_mean"] = rng.normal(0, 0.1, shape[-1])
        tensors[f"{prefix}/BatchNorm/moving_variance"] = rng.uniform(0.5, 1.5, shape[-1])
    tensors.update({name: np.ones(1) for name in extra})
    tensors = {k: np.asarray(v, "int64" if k == "global_step" else "float32") for k, v in tensors.items()}
    kept = [name for name in tensors if name not in drop]
    tf.raw_ops.Save(filename=str(path), tensor_names=kept, data=[tensors[name] for name in kept])
    return tensors


def test_the_checkpoint_loads_every_unit_of_the_trunk_and_leaves_the_head_out(tmp_path):
    path = tmp_path / "inception_v4.ckpt"
    tensors = write_tf_slim_checkpoint(path)
    model = dermnet.build("inception_v4", input_shape=(75, 75, 3), num_classes=2, weights=str(path))
    trunk = model.get_layer("inception_v4_backbone")
    loaded = 0
    for layer in trunk.layers:
        if layer.name.endswith(("_conv", "_bn")):
            for weight in layer.weights:
                scope = dermnet.backbones.inception_v4.TF_SLIM_SCOPES[
                    layer.name[:-5] if layer.name.endswith("_conv") else layer.name[:-3]
                ]
                name = f"InceptionV4/{scope}/" + (
                    "weights" if layer.name.endswith("_conv") else f"BatchNorm/{weight.name}"
                )
                np.testing.assert_array_equal(weight.numpy(), tensors[name])
                loaded += 1
    assert loaded == 4 * len(tf_slim_shapes()) == 596
    assert np.isfinite(model.predict(np.full((1, 75, 75, 3), 128.0), verbose=0)).all()


@pytest.mark.parametrize(
    "drop, extra, message",
    [
        (("InceptionV4/Mixed_6c/Branch_2/Conv2d_0d_7x1/BatchNorm/moving_mean",), (), "no variable InceptionV4/Mixed_6c/Branch_2/Conv2d_0d_7x1/BatchNorm/moving_mean"),
        ((), ("InceptionV4/Conv2d_1a_3x3/BatchNorm/gamma",), "no place for: \\['InceptionV4/Conv2d_1a_3x3/BatchNorm/gamma'\\]"),
    ],
)  # fmt: skip
def test_a_checkpoint_that_is_not_tf_slims_inception_v4_is_refused_naming_the_variable(
    tmp_path, drop, extra, message
):
    path = tmp_path / "inception_v4.ckpt"
    write_tf_slim_checkpoint(path, drop=drop, extra=extra)
    with pytest.raises(ValueError, match=message):
        dermnet.build("inception_v4", input_shape=(75, 75, 3), num_classes=2, weights=str(path))
    with pytest.raises(ValueError, match="TensorFlow checkpoint: dermnet reads TF-slim's Inception-v4 ones"):
        dermnet.build("resnet50", input_shape=(32, 32, 3), num_classes=2, weights=str(path))
