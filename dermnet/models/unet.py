"""The U-net family: Ronneberger's U-net, RECOD's fully connected U-net, the VGG16-encoder U-net,
and the parts the other segmentors share (backbone encoders, decoder, mask head).

Every segmentor maps raw RGB pixels `[B, H, W, 3]` in [0, 255] to mask probabilities
`[B, H, W, masks]` (float32, sigmoid) at the input's own size. Encoders built on a backbone are
nested models named `<backbone>_backbone`, so `dermnet.set_trainable(model, "backbone")` freezes
them as it freezes a classifier's backbone (Xue's first phase).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence

import keras
from keras import layers

from dermnet import backbones
from dermnet._cards import CARDS
from dermnet._registry import register_model
from dermnet.layers import Preprocess, ResizeLike, SqueezeExcite
from dermnet.models.tuning import load_weights, set_trainable


def check_image_shape(
    name: str, input_shape: Sequence[int | None], multiple: int = 1
) -> tuple[int | None, ...]:
    """`input_shape` as a tuple, or a `ValueError` saying what the segmentor takes."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"{name} takes RGB images: input_shape=(height, width, 3), got {input_shape}.")
    for side in input_shape[:2]:
        if side is not None and (side < multiple or side % multiple):
            raise ValueError(
                f"{name} needs sides that are multiples of {multiple}; got input_shape={input_shape}."
            )
    return input_shape


def conv_block(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int | tuple[int, int],
    convs: int,
    name: str,
    batch_norm: bool = True,
) -> keras.KerasTensor:
    """`convs` × (convolution → [batch norm] → ReLU), layers named `<name>_conv<i>`."""
    for i in range(1, convs + 1):
        x = layers.Conv2D(
            filters, kernel_size, padding="same", use_bias=not batch_norm, name=f"{name}_conv{i}"
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def decoder(
    x: keras.KerasTensor,
    skips: Sequence[keras.KerasTensor],
    filters: Sequence[int | tuple[int, ...] | list[int]],
    name: str = "decoder",
    dropout: float = 0.0,
    batch_norm: bool = True,
    kernel_sizes: Sequence[int] = (3, 3),
) -> keras.KerasTensor:
    """U-net decoder: per stage, upsample to the skip's size, concatenate it, then one convolution per
    entry of `kernel_sizes`; `skips` run from the deepest to the finest, one per entry of `filters`."""
    for i, (skip, stage_filters) in enumerate(zip(skips, filters), start=1):
        stage = f"{name}{i}"
        x = ResizeLike(name=f"{stage}_up")([x, skip])
        x = layers.Concatenate(name=f"{stage}_concat")([x, skip])
        if dropout:
            x = layers.Dropout(dropout, name=f"{stage}_dropout")(x)
        per_conv = (
            stage_filters if isinstance(stage_filters, (tuple, list)) else [stage_filters] * len(kernel_sizes)
        )
        for j, (conv_filters, size) in enumerate(zip(per_conv, kernel_sizes), start=1):
            x = conv_block(x, conv_filters, size, 1, f"{stage}_{j}", batch_norm)
    return x


def mask_head(x: keras.KerasTensor, masks: int, name: str = "masks") -> keras.KerasTensor:
    """1×1 convolution to `masks` channels, sigmoid in float32 (exact under mixed precision)."""
    logits = layers.Conv2D(masks, 1, name="logits")(x)
    return layers.Activation("sigmoid", dtype="float32", name=name)(logits)


def backbone_encoder(
    backbone: str,
    input_shape: Sequence[int | None],
    weights: str | os.PathLike[str] | None = None,
    squeeze_excite: bool = False,
    strides: Sequence[int] = (1, 2, 4, 8, 16),
) -> keras.Model:
    """A backbone trunk as a multi-output encoder `<backbone>_backbone`: its `features` at `strides`.

    With `squeeze_excite` (VGG trunks: a chain of layers), a `SqueezeExcite` follows the last
    convolution of every block, inside the encoder, so that the next block sees the gated features.
    The trunk's own layers are reused: ImageNet weights stay in place.
    """
    spec = backbones.get(backbone)
    trunk = backbones.build_trunk(spec, input_shape, "imagenet" if weights == "imagenet" else None)
    features = backbones.feature_layers(trunk)
    missing = sorted(set(strides) - set(features))
    if missing:
        raise ValueError(f"{backbone} has no feature map at stride(s) {missing}; it has {sorted(features)}.")
    names = [features[s] for s in strides]
    if not squeeze_excite:
        return keras.Model(trunk.input, [trunk.get_layer(n).output for n in names], name=trunk.name)
    inputs = keras.Input(input_shape, name="image")
    x, outputs = inputs, {}
    for layer in trunk.layers[1:]:
        x = layer(x)
        if layer.name in features.values():
            x = SqueezeExcite(min_units=8, name=f"{layer.name}_se")(x)
            outputs[layer.name] = x
        if layer.name == names[-1]:
            break
    return keras.Model(inputs, [outputs[n] for n in names], name=trunk.name)


def finish(model: keras.Model, weights: str | os.PathLike[str] | None, freeze: str) -> keras.Model:
    """Loads a weights file (the whole model's, or its encoder's) and applies `freeze`."""
    if weights not in (None, "imagenet"):
        load_weights(model, weights)
    set_trainable(model, freeze)
    return model


@register_model(CARDS["unet"])
def unet(
    input_shape: Sequence[int | None] = (128, 128, 3),
    depth: int = 4,
    filters: int = 64,
    dropout: float = 0.0,
    masks: int = 1,
    weights: str | os.PathLike[str] | None = None,
    freeze: str = "none",
    preprocessing: str = "tf",
    name: str = "unet",
) -> keras.Model:
    """Ronneberger et al.'s U-net, with batch normalization after every convolution.

    Args:
        input_shape: `(height, width, 3)`; sides may be None: any size works, since the decoder
            upsamples to each skip's exact size.
        depth: number of 2×2 max-poolings (4 in the paper).
        filters: filters of the first level, doubled at every level (64 in the paper).
        dropout: dropout rate before the decoder's convolutions (0: none).
        masks: output channels (1: the lesion).
        weights: None, or a `.weights.h5` / `.keras` file of this model.
        freeze: as in `dermnet.set_trainable` ("none": there is no pretrained part).
        preprocessing: a `Preprocess` mode ("tf": [-1, 1]).

    Example:
    >>> model = dermnet.build("unet", input_shape=(None, None, 3), depth=4, filters=8)
    >>> model.compile(optimizer="adam", loss=dermnet.losses.DiceLoss(), metrics=[dermnet.metrics.JaccardIndex()])
    """
    if not isinstance(depth, numbers.Integral) or depth < 1:
        raise ValueError(f"depth must be a positive integer; got {depth!r}.")
    input_shape = check_image_shape(name, input_shape)
    inputs = keras.Input(input_shape, name="image")
    x = Preprocess(preprocessing, name="preprocess")(inputs)
    skips = []
    for level in range(depth):
        x = conv_block(x, filters * 2**level, 3, 2, f"encoder{level + 1}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"encoder{level + 1}_pool")(x)
    x = conv_block(x, filters * 2**depth, 3, 2, "bottleneck")
    x = decoder(x, skips[::-1], [filters * 2**level for level in reversed(range(depth))], dropout=dropout)
    return finish(keras.Model(inputs, mask_head(x, masks), name=name), weights, freeze)


def unet_fc_parameters(height: int = 128, width: int = 128, bottleneck_units: int = 8192) -> int:
    """Parameters of `unet_fc` at a given input size: most of them are its dense bottleneck."""

    def conv(k: int, c_in: int, c_out: int) -> int:
        return k * k * c_in * c_out + c_out

    encoder = sum(conv(5, a, b) + 2 * conv(5, b, b) for a, b in ((3, 32), (32, 64), (64, 128)))
    flat = (height // 8) * (width // 8) * 128
    dense = flat * bottleneck_units + bottleneck_units + bottleneck_units * flat + flat
    stages = ((128 + 128, 128, 128, 64), (64 + 64, 64, 64, 32), (32 + 32, 32, 32, 32))
    decoder_ = sum(conv(11, c_in, a) + conv(5, a, b) + conv(5, b, c) for c_in, a, b, c in stages)
    return encoder + dense + decoder_ + conv(1, 32, 1)


@register_model(CARDS["unet_fc"])
def unet_fc(
    input_shape: Sequence[int | None] = (128, 128, 3),
    bottleneck_units: int = 8192,
    noise: float = 0.025,
    dropout: float = 0.5,
    masks: int = 1,
    weights: str | os.PathLike[str] | None = None,
    freeze: str = "none",
    preprocessing: str = "imagenet_mean",
    name: str = "unet_fc",
) -> keras.Model:
    """RECOD's (after Codella et al.) U-net with a fully connected bottleneck: their best network.

    Gaussian noise (σ = `noise` of the pixel range) on the input, which then loses the ImageNet mean
    RGB (Section I-D); three encoder blocks of three 5×5 convolutions (32, 64, 128 filters) each
    followed by 2×2 max-pooling; dropout; the feature map flattened through Dense(`bottleneck_units`)
    → dropout → Dense back to the map; a decoder of upsampling + skip + dropout, an 11×11 convolution
    then two 5×5 ones per stage (128/128/64, 64/64/32, 32/32/32); 1×1 sigmoid. The dense bottleneck
    fixes the input size (sides multiples of 8); at 128×128 it holds 537 M of the model's parameters
    (2.1 GB in float32).

    Example:
    >>> unet_fc_parameters(128, 128, 8192)   # `dermnet.build("unet_fc")`: 128×128, as RECOD trained it
    544269921
    """
    input_shape = check_image_shape(name, input_shape, multiple=8)
    if None in input_shape[:2]:
        raise ValueError(f"{name} has a dense bottleneck: it needs a fixed input_shape, got {input_shape}.")
    return _recod_unet(
        input_shape,
        bottleneck_units,
        noise,
        dropout,
        masks,
        weights,
        freeze,
        preprocessing,
        name,
        batch_norm=False,
    )


@register_model(CARDS["unet_bn"])
def unet_bn(
    input_shape: Sequence[int | None] = (128, 128, 3),
    noise: float = 0.0,
    dropout: float = 0.5,
    masks: int = 1,
    weights: str | os.PathLike[str] | None = None,
    freeze: str = "none",
    preprocessing: str = "imagenet_mean",
    name: str = "unet_bn",
) -> keras.Model:
    """RECOD's second network: `unet_fc` without its fully connected layers and with batch
    normalization after every convolution (Section I-D: 0.774 against 0.783, faster and far
    smaller). It takes any size whose sides are multiples of 8.

    Args:
        noise: σ of Gaussian noise on the input, as a share of the pixel range; 0 (the paper's, which
            names no noise for this network): none. `noise=0.025` adds `unet_fc`'s, as an option.
    """
    input_shape = check_image_shape(name, input_shape, multiple=8)
    return _recod_unet(
        input_shape, 0, noise, dropout, masks, weights, freeze, preprocessing, name, batch_norm=True
    )


def _recod_unet(
    input_shape: Sequence[int | None],
    bottleneck_units: int,
    noise: float,
    dropout: float,
    masks: int,
    weights: str | os.PathLike[str] | None,
    freeze: str,
    preprocessing: str,
    name: str,
    batch_norm: bool,
) -> keras.Model:
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    if noise:
        # The noise's σ is a share of the pixel range (Keras' GaussianNoise takes σ ≤ 1), whatever the
        # normalisation after it: pixels to [0, 1], noise, back to [0, 255], then `preprocessing`.
        x = layers.GaussianNoise(noise, dtype="float32", name="noise")(
            Preprocess("rescale", name="unit_range")(x)
        )
        x = layers.Rescaling(255.0, dtype="float32", name="pixel_range")(x)
    x = Preprocess(preprocessing, name="preprocess")(x)
    skips = []
    for i, filters in enumerate((32, 64, 128), start=1):
        x = conv_block(x, filters, 5, 3, f"encoder{i}", batch_norm=batch_norm)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"encoder{i}_pool")(x)
    x = layers.Dropout(dropout, name="encoder_dropout")(x)
    if bottleneck_units:
        map_shape = tuple(x.shape[1:])
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(bottleneck_units, activation="relu", name="bottleneck")(x)
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
        x = layers.Dense(
            map_shape[0] * map_shape[1] * map_shape[2], activation="relu", name="bottleneck_out"
        )(x)
        x = layers.Reshape(map_shape, name="unflatten")(x)
    x = decoder(
        x,
        skips[::-1],
        [(128, 128, 64), (64, 64, 32), (32, 32, 32)],
        dropout=dropout,
        batch_norm=batch_norm,
        kernel_sizes=(11, 5, 5),
    )
    return finish(keras.Model(inputs, mask_head(x, masks), name=name), weights, freeze)


@register_model(CARDS["unet_vgg16"])
def unet_vgg16(
    input_shape: Sequence[int | None] = (128, 128, 3),
    decoder_filters: Sequence[int] = (256, 128, 64, 32),
    dropout: float = 0.5,
    masks: int = 1,
    weights: str | os.PathLike[str] | None = "imagenet",
    freeze: str = "none",
    preprocessing: str | None = None,
    name: str = "unet_vgg16",
    encoder: str = "vgg16",
) -> keras.Model:
    """A U-net whose encoder is VGG16's conv1–conv5 (no pool5), a dropout (rate `dropout`) after each
    of its five copied feature maps (Section I-D: "after each of the five layers with copied features":
    the four skips and the deepest map), and a decoder of two 3×3 convolutions per stage
    (`decoder_filters`). Train the decoder with the encoder frozen first (`freeze="backbone"`), then
    everything (recipe `menegola2017`).

    Args:
        weights: None, "imagenet" (the encoder's), or a weights file of this model or of its encoder.
        encoder: a backbone with maps at strides 1 to 16 (the skips): "vgg16" or "vgg19"
            (segmentation_models' `encoder_name`); `preprocessing` is its own if None.
    """
    input_shape = check_image_shape(name, input_shape)
    inputs = keras.Input(input_shape, name="image")
    x = Preprocess(preprocessing or backbones.get(encoder).preprocessing, name="preprocess")(inputs)
    features = backbone_encoder(encoder, input_shape, weights)(x)
    if dropout:
        features = [
            layers.Dropout(dropout, name=f"copied{i}_dropout")(f) for i, f in enumerate(features, start=1)
        ]
    *skips, x = features
    x = decoder(x, skips[::-1], decoder_filters)
    return finish(keras.Model(inputs, mask_head(x, masks), name=name), weights, freeze)
