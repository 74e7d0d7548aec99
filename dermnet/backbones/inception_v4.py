"""Inception-v4 (Szegedy et al., AAAI 2017, arXiv:1602.07261), without its classifier.

keras.applications has no Inception-v4; RECOD Titans used TF-slim's. This follows TF-slim's
layout (`nets/inception_v4.py`): convolutions without bias, batch norm without scale
(ε 0.001, momentum 0.9997), ReLU; block names `mixed_3a` … `mixed_7d` as in TF-slim, so that
unfreeze points and feature layers can be named.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
from keras import layers


def _conv(
    x: keras.KerasTensor,
    filters: int,
    kernel: int | tuple[int, int],
    name: str,
    strides: int = 1,
    padding: str = "same",
) -> keras.KerasTensor:
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=f"{name}_conv")(
        x
    )
    x = layers.BatchNormalization(scale=False, epsilon=1e-3, momentum=0.9997, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _concat(branches: list[keras.KerasTensor], name: str) -> keras.KerasTensor:
    return layers.Concatenate(name=name)(branches)


def _stem(x: keras.KerasTensor) -> keras.KerasTensor:
    x = _conv(x, 32, 3, "conv_1a", strides=2, padding="valid")
    x = _conv(x, 32, 3, "conv_2a", padding="valid")
    x = _conv(x, 64, 3, "conv_2b")
    x = _concat(
        [
            layers.MaxPooling2D(3, strides=2, name="mixed_3a_pool")(x),
            _conv(x, 96, 3, "mixed_3a_b1", strides=2, padding="valid"),
        ],
        "mixed_3a",
    )
    b0 = _conv(x, 64, 1, "mixed_4a_b0_1")
    b0 = _conv(b0, 96, 3, "mixed_4a_b0_2", padding="valid")
    b1 = _conv(x, 64, 1, "mixed_4a_b1_1")
    b1 = _conv(b1, 64, (1, 7), "mixed_4a_b1_2")
    b1 = _conv(b1, 64, (7, 1), "mixed_4a_b1_3")
    b1 = _conv(b1, 96, 3, "mixed_4a_b1_4", padding="valid")
    x = _concat([b0, b1], "mixed_4a")
    return _concat(
        [
            _conv(x, 192, 3, "mixed_5a_b0", strides=2, padding="valid"),
            layers.MaxPooling2D(3, strides=2, name="mixed_5a_pool")(x),
        ],
        "mixed_5a",
    )


def _inception_a(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    b0 = _conv(x, 96, 1, f"{name}_b0")
    b1 = _conv(x, 64, 1, f"{name}_b1_1")
    b1 = _conv(b1, 96, 3, f"{name}_b1_2")
    b2 = _conv(x, 64, 1, f"{name}_b2_1")
    b2 = _conv(b2, 96, 3, f"{name}_b2_2")
    b2 = _conv(b2, 96, 3, f"{name}_b2_3")
    b3 = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    b3 = _conv(b3, 96, 1, f"{name}_b3")
    return _concat([b0, b1, b2, b3], name)


def _reduction_a(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    b0 = _conv(x, 384, 3, f"{name}_b0", strides=2, padding="valid")
    b1 = _conv(x, 192, 1, f"{name}_b1_1")
    b1 = _conv(b1, 224, 3, f"{name}_b1_2")
    b1 = _conv(b1, 256, 3, f"{name}_b1_3", strides=2, padding="valid")
    b2 = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return _concat([b0, b1, b2], name)


def _inception_b(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    b0 = _conv(x, 384, 1, f"{name}_b0")
    b1 = _conv(x, 192, 1, f"{name}_b1_1")
    b1 = _conv(b1, 224, (1, 7), f"{name}_b1_2")
    b1 = _conv(b1, 256, (7, 1), f"{name}_b1_3")
    b2 = _conv(x, 192, 1, f"{name}_b2_1")
    b2 = _conv(b2, 192, (7, 1), f"{name}_b2_2")
    b2 = _conv(b2, 224, (1, 7), f"{name}_b2_3")
    b2 = _conv(b2, 224, (7, 1), f"{name}_b2_4")
    b2 = _conv(b2, 256, (1, 7), f"{name}_b2_5")
    b3 = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    b3 = _conv(b3, 128, 1, f"{name}_b3")
    return _concat([b0, b1, b2, b3], name)


def _reduction_b(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    b0 = _conv(x, 192, 1, f"{name}_b0_1")
    b0 = _conv(b0, 192, 3, f"{name}_b0_2", strides=2, padding="valid")
    b1 = _conv(x, 256, 1, f"{name}_b1_1")
    b1 = _conv(b1, 256, (1, 7), f"{name}_b1_2")
    b1 = _conv(b1, 320, (7, 1), f"{name}_b1_3")
    b1 = _conv(b1, 320, 3, f"{name}_b1_4", strides=2, padding="valid")
    b2 = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return _concat([b0, b1, b2], name)


def _inception_c(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    b0 = _conv(x, 256, 1, f"{name}_b0")
    b1 = _conv(x, 384, 1, f"{name}_b1_1")
    b1 = _concat(
        [_conv(b1, 256, (1, 3), f"{name}_b1_2a"), _conv(b1, 256, (3, 1), f"{name}_b1_2b")],
        f"{name}_b1",
    )
    b2 = _conv(x, 384, 1, f"{name}_b2_1")
    b2 = _conv(b2, 448, (3, 1), f"{name}_b2_2")
    b2 = _conv(b2, 512, (1, 3), f"{name}_b2_3")
    b2 = _concat(
        [_conv(b2, 256, (1, 3), f"{name}_b2_4a"), _conv(b2, 256, (3, 1), f"{name}_b2_4b")],
        f"{name}_b2",
    )
    b3 = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    b3 = _conv(b3, 256, 1, f"{name}_b3")
    return _concat([b0, b1, b2, b3], name)


def InceptionV4(input_shape: Sequence[int | None] = (299, 299, 3), name: str = "inception_v4") -> keras.Model:
    """Inception-v4 feature extractor: 299×299×3 → 8×8×1536 (no pooling, no classifier).

    Args:
        input_shape: `(height, width, 3)`, at least 75×75; `None` sides are allowed.
        name: name of the returned model.

    Example:
    >>> trunk = InceptionV4((75, 75, 3))   # 299×299 gives 8×8
    >>> trunk.output_shape
    (None, 1, 1, 1536)
    """
    inputs = keras.Input(input_shape)
    x = _stem(inputs)
    for block in "bcde":
        x = _inception_a(x, f"mixed_5{block}")
    x = _reduction_a(x, "mixed_6a")
    for block in "bcdefgh":
        x = _inception_b(x, f"mixed_6{block}")
    x = _reduction_b(x, "mixed_7a")
    for block in "bcd":
        x = _inception_c(x, f"mixed_7{block}")
    return keras.Model(inputs, x, name=name)


# TF-slim's checkpoint (`inception_v4_2016_09_09.tar.gz`, the one RECOD used): each `_conv` unit above is a
# slim scope under `InceptionV4/` holding `weights` [kh, kw, in, out] (Keras' layout) and `BatchNorm/{beta,
# moving_mean, moving_variance}` (no gamma: slim's batch norm without scale, as here). The table follows
# `nets/inception_v4.py`'s scopes; Keras has no reader for them, so the mapping is written out here.
_A = {"b0": "Branch_0/Conv2d_0a_1x1", "b1_1": "Branch_1/Conv2d_0a_1x1", "b1_2": "Branch_1/Conv2d_0b_3x3",
      "b2_1": "Branch_2/Conv2d_0a_1x1", "b2_2": "Branch_2/Conv2d_0b_3x3", "b2_3": "Branch_2/Conv2d_0c_3x3",
      "b3": "Branch_3/Conv2d_0b_1x1"}  # fmt: skip
_B = {"b0": "Branch_0/Conv2d_0a_1x1", "b1_1": "Branch_1/Conv2d_0a_1x1", "b1_2": "Branch_1/Conv2d_0b_1x7",
      "b1_3": "Branch_1/Conv2d_0c_7x1", "b2_1": "Branch_2/Conv2d_0a_1x1", "b2_2": "Branch_2/Conv2d_0b_7x1",
      "b2_3": "Branch_2/Conv2d_0c_1x7", "b2_4": "Branch_2/Conv2d_0d_7x1", "b2_5": "Branch_2/Conv2d_0e_1x7",
      "b3": "Branch_3/Conv2d_0b_1x1"}  # fmt: skip
_C = {"b0": "Branch_0/Conv2d_0a_1x1", "b1_1": "Branch_1/Conv2d_0a_1x1", "b1_2a": "Branch_1/Conv2d_0b_1x3",
      "b1_2b": "Branch_1/Conv2d_0c_3x1", "b2_1": "Branch_2/Conv2d_0a_1x1", "b2_2": "Branch_2/Conv2d_0b_3x1",
      "b2_3": "Branch_2/Conv2d_0c_1x3", "b2_4a": "Branch_2/Conv2d_0d_1x3", "b2_4b": "Branch_2/Conv2d_0e_3x1",
      "b3": "Branch_3/Conv2d_0b_1x1"}  # fmt: skip
_BLOCKS = {
    "conv_1a": {"": "Conv2d_1a_3x3"}, "conv_2a": {"": "Conv2d_2a_3x3"}, "conv_2b": {"": "Conv2d_2b_3x3"},
    "mixed_3a": {"b1": "Branch_1/Conv2d_0a_3x3"},
    "mixed_4a": {"b0_1": "Branch_0/Conv2d_0a_1x1", "b0_2": "Branch_0/Conv2d_1a_3x3",
                 "b1_1": "Branch_1/Conv2d_0a_1x1", "b1_2": "Branch_1/Conv2d_0b_1x7",
                 "b1_3": "Branch_1/Conv2d_0c_7x1", "b1_4": "Branch_1/Conv2d_1a_3x3"},
    "mixed_5a": {"b0": "Branch_0/Conv2d_1a_3x3"},
    **{f"mixed_5{block}": _A for block in "bcde"},
    "mixed_6a": {"b0": "Branch_0/Conv2d_1a_3x3", "b1_1": "Branch_1/Conv2d_0a_1x1",
                 "b1_2": "Branch_1/Conv2d_0b_3x3", "b1_3": "Branch_1/Conv2d_1a_3x3"},
    **{f"mixed_6{block}": _B for block in "bcdefgh"},
    "mixed_7a": {"b0_1": "Branch_0/Conv2d_0a_1x1", "b0_2": "Branch_0/Conv2d_1a_3x3",
                 "b1_1": "Branch_1/Conv2d_0a_1x1", "b1_2": "Branch_1/Conv2d_0b_1x7",
                 "b1_3": "Branch_1/Conv2d_0c_7x1", "b1_4": "Branch_1/Conv2d_1a_3x3"},
    **{f"mixed_7{block}": _C for block in "bcd"},
}  # fmt: skip
# dermnet's unit name (its layers `<unit>_conv`, `<unit>_bn`) → TF-slim's scope under `InceptionV4/`
TF_SLIM_SCOPES = {
    f"{block}_{unit}" if unit else block: f"Mixed_{block[len('mixed_') :]}/{scope}" if unit else scope
    for block, units in _BLOCKS.items()
    for unit, scope in units.items()
}


_READ = ("weights", "beta", "moving_mean", "moving_variance")


def load_tf_slim_checkpoint(trunk: keras.Model, checkpoint: str | os.PathLike[str]) -> None:
    """Loads TF-slim's Inception-v4 checkpoint into `trunk` (its logits and auxiliary head are not a
    trunk's, and are left out). Only tensors are read (TensorFlow's checkpoint reader): nothing in the file runs.

    Raises:
        ValueError: a variable the trunk needs is missing from the file, or has another shape; names both.
    """
    import tensorflow as tf  # the checkpoint reader, whatever Keras' backend

    reader = tf.train.load_checkpoint(os.fspath(checkpoint))
    shapes = reader.get_variable_to_shape_map()
    used = {f"InceptionV4/{scope}/" for scope in TF_SLIM_SCOPES.values()}
    head = ("InceptionV4/Logits/", "InceptionV4/AuxLogits/")
    left = sorted(
        name
        for name in shapes
        if name.startswith("InceptionV4/")
        and not name.startswith(head)
        and not any(name.startswith(scope) and name.rsplit("/", 1)[1] in _READ for scope in used)
    )
    if left:  # a batch norm with gamma, or another network: loading the rest would be silently wrong
        raise ValueError(f"{checkpoint}: variables Inception-v4's trunk has no place for: {left[:5]}")
    pairs = []  # every variable checked before any is assigned, so that nothing is half loaded
    for unit, scope in TF_SLIM_SCOPES.items():
        conv, norm = trunk.get_layer(f"{unit}_conv"), trunk.get_layer(f"{unit}_bn")
        names = [f"InceptionV4/{scope}/weights"] + [
            f"InceptionV4/{scope}/BatchNorm/{v}" for v in ("beta", "moving_mean", "moving_variance")
        ]
        for name, weight in zip(names, [*conv.weights, *norm.weights]):
            if name not in shapes:
                raise ValueError(
                    f"{checkpoint}: no variable {name} (for {weight.path}): not TF-slim's Inception-v4"
                )
            if tuple(shapes[name]) != tuple(weight.shape):
                raise ValueError(
                    f"{checkpoint}: {name} has shape {tuple(shapes[name])}, {weight.path} {tuple(weight.shape)}"
                )
            pairs.append((weight, name))
    for weight, name in pairs:
        weight.assign(reader.get_tensor(name))


def is_tf_checkpoint(path: str | os.PathLike[str]) -> bool:
    """A TensorFlow checkpoint: a V1 `.ckpt` file (as TF-slim published theirs) or a V2 prefix with its `.index`."""
    path = os.fspath(path)
    return (os.path.isfile(path) and path.endswith(".ckpt")) or os.path.isfile(f"{path}.index")
