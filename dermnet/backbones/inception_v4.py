"""Inception-v4 (Szegedy et al., AAAI 2017, arXiv:1602.07261), without its classifier.

keras.applications has no Inception-v4; RECOD Titans used TF-slim's. This follows TF-slim's
layout (`nets/inception_v4.py`): convolutions without bias, batch norm without scale
(ε 0.001, momentum 0.9997), ReLU; block names `mixed_3a` … `mixed_7d` as in TF-slim, so that
unfreeze points and feature layers can be named.
"""

from __future__ import annotations

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
