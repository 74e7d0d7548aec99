"""DeepLab v3+ (Chen et al., ECCV 2018) on a ResNet-50 encoder: the second member of Xue et al.'s
ISIC 2018 task-1 ensemble (4 SegAN + 2 DeepLab v3+, probability maps averaged)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
from keras import layers

from dermnet import backbones
from dermnet._cards import CARDS
from dermnet._registry import register_model
from dermnet.layers import Preprocess, ResizeLike
from dermnet.models.unet import backbone_encoder, check_image_shape, conv_block, finish


def _atrous_spatial_pyramid_pooling(
    x: keras.KerasTensor, filters: int, rates: Sequence[int]
) -> keras.KerasTensor:
    """1×1 convolution, 3×3 atrous convolutions at `rates`, and image-level pooling, in parallel."""
    branches = [conv_block(x, filters, 1, 1, "aspp_1x1")]
    for rate in rates:
        y = layers.Conv2D(
            filters, 3, padding="same", dilation_rate=rate, use_bias=False, name=f"aspp_rate{rate}_conv"
        )(x)
        y = layers.BatchNormalization(name=f"aspp_rate{rate}_bn")(y)
        branches.append(layers.Activation("relu", name=f"aspp_rate{rate}_relu")(y))
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(x)
    pooled = conv_block(pooled, filters, 1, 1, "aspp_pool", batch_norm=False)
    branches.append(ResizeLike(name="aspp_pool_up")([pooled, x]))
    y = layers.Concatenate(name="aspp_concat")(branches)
    return conv_block(y, filters, 1, 1, "aspp_project")


@register_model(CARDS["deeplabv3plus"])
def deeplabv3plus(
    input_shape: Sequence[int | None] = (224, 224, 3),
    aspp_filters: int = 256,
    rates: Sequence[int] = (6, 12, 18),
    low_level_filters: int = 48,
    masks: int = 1,
    weights: str | os.PathLike[str] | None = "imagenet",
    freeze: str = "none",
    preprocessing: str | None = None,
    name: str = "deeplabv3plus",
    encoder: str = "resnet50",
) -> keras.Model:
    """DeepLab v3+ with a ResNet-50 encoder at output stride 16 (`encoder`: another backbone of
    `dermnet.backbones.BACKBONES` with maps at strides 4 and 16, segmentation_models' `encoder_name`;
    `preprocessing`: the encoder's own if None).

    ASPP (1×1, 3×3 atrous at `rates`, image pooling; `aspp_filters` each) on the stride-16 features
    (conv4_block6_out), upsampled to stride 4 and joined with a 1×1 `low_level_filters` projection of
    conv2_block3_out; two 3×3 convolutions, a 1×1 mask layer, and a bilinear upsampling to the
    input's own size (any size: sides may be None).

    Args:
        weights: None, "imagenet" (the encoder's), or a weights file of this model or of its encoder.
    """
    input_shape = check_image_shape(name, input_shape)
    inputs = keras.Input(input_shape, name="image")
    x = Preprocess(preprocessing or backbones.get(encoder).preprocessing, name="preprocess")(inputs)
    low_level, high_level = backbone_encoder(encoder, input_shape, weights, strides=(4, 16))(x)
    x = _atrous_spatial_pyramid_pooling(high_level, aspp_filters, rates)
    x = ResizeLike(name="decoder_up")([x, low_level])
    low_level = conv_block(low_level, low_level_filters, 1, 1, "decoder_low_level")
    x = layers.Concatenate(name="decoder_concat")([x, low_level])
    x = conv_block(x, aspp_filters, 3, 2, "decoder")
    logits = layers.Conv2D(masks, 1, name="logits")(x)
    logits = ResizeLike(name="logits_up")([logits, inputs])
    outputs = layers.Activation("sigmoid", dtype="float32", name="masks")(logits)
    return finish(keras.Model(inputs, outputs, name=name), weights, freeze)
