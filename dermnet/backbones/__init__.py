"""The table of feature extractors that dermnet models are built on.

Each entry says how to build the trunk (no classifier, no pooling), which normalisation its
ImageNet weights expect, its default and minimum input size, and the paper's unfreeze point for
fine-tuning ("top"), given as the last frozen layer's name so that it survives Keras' automatic
layer numbering.

EfficientNet, EfficientNetV2 and ConvNeXt carry keras.applications' own input normalisation inside the
trunk (EfficientNet has no switch to leave it out, and its ImageNet build adds a layer the others lack):
their `Preprocess` mode is "raw", so that a dermnet build computes exactly what keras.applications does
on the same pixels. Their "top" point is the last stage and what follows it, as for the papers' trunks.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import random
from collections.abc import Callable, Sequence
from typing import Any

import keras

from dermnet.backbones.inception_v4 import InceptionV4


@dataclasses.dataclass(frozen=True)
class Backbone:
    """How to build one trunk.

    Attributes:
        name: registry name (`"densenet201"`).
        constructor: `(input_shape, weights, name) -> keras.Model` mapping images to features.
        preprocessing: mode of `dermnet.layers.Preprocess` matching the ImageNet weights.
        input_shape: default `(height, width, 3)`.
        min_size: smallest height or width the trunk accepts.
        top_after: the "top" fine-tuning phase trains every layer after this one.
        top_doc: the paper's own words for that point.
        imagenet_file: name of the keras.applications weight file (no classifier), or None
            when no ImageNet weights exist for this trunk.

    The trunk's feature maps by stride (U-net skips, DeepLab's features, `features=True` builds)
    are found from the trunk itself: `feature_layers`.
    """

    name: str
    constructor: Callable[..., keras.Model]
    preprocessing: str
    input_shape: tuple[int, int, int]
    min_size: int
    top_after: str | None
    top_doc: str
    imagenet_file: str | None


def _keras_app(constructor: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
    def build(input_shape: Sequence[int | None], weights: str | None, name: str) -> keras.Model:
        return constructor(include_top=False, weights=weights, input_shape=input_shape, name=name)

    return build


def _keras_app_renamed(
    constructor: Callable[..., keras.Model], mark_stages: bool = False
) -> Callable[..., keras.Model]:
    """A trunk built under keras.applications' own name, then renamed: EfficientNet(V2) and ConvNeXt take
    their ImageNet file's name (and EfficientNetV2 its normalisation) from the model's name.

    With `mark_stages` (ConvNeXt), each stage's output, which keras.applications leaves as a bare `+`
    (no layer: nothing to read a feature from or freeze up to), goes through an `Identity` layer
    `<name>_stage_<i>_output`, in a copy of the trunk given its weights. (A copy reusing the layers
    would leave each with two graphs, and `layer.output` would answer the first one's.)
    """

    def build(input_shape: Sequence[int | None], weights: str | None, name: str) -> keras.Model:
        model = constructor(include_top=False, weights=weights, input_shape=input_shape)
        if mark_stages:
            prefix = model.name
            marks = {f"{prefix}_downsampling_block_{i}": f"{prefix}_stage_{i}_output" for i in range(3)}
            marks[model.layers[-1].name] = f"{prefix}_stage_3_output"  # before the closing LayerNormalization

            def call(operation: keras.Operation, *args: Any, **kwargs: Any) -> Any:
                if operation.name in marks:
                    args = (keras.layers.Identity(name=marks[operation.name])(args[0]),)
                return operation(*args, **kwargs)

            marked = keras.models.clone_model(
                model, input_tensors=keras.Input(input_shape), call_function=call
            )
            marked.set_weights(model.get_weights())
            model = marked
        model.name = name
        return model

    return build


def _inception_v4(input_shape: Sequence[int | None], weights: str | None, name: str) -> keras.Model:
    return InceptionV4(input_shape, name=name)


def _baseline_cnn(input_shape: Sequence[int | None], weights: str | None, name: str) -> keras.Model:
    """Ray et al.'s baseline: three 3×3 same-padded convolutions (16, 32, 64), each then 2×2 max-pooling."""
    inputs = keras.Input(input_shape)
    x = inputs
    for i, filters in enumerate((16, 32, 64), start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    return keras.Model(inputs, x, name=name)


def _notop(stem: str) -> str:
    return f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5"


# {variant: (default side, last layer of the stage before the last)}; keras.applications' defaults
_EFFICIENTNET = {
    "b0": (224, "block6d_add"),
    "b1": (240, "block6e_add"),
    "b2": (260, "block6e_add"),
    "b3": (300, "block6f_add"),
    "b4": (380, "block6h_add"),
    "b5": (456, "block6i_add"),
    "b6": (528, "block6k_add"),
    "b7": (600, "block6m_add"),
}
_EFFICIENTNET_V2 = {
    "b0": (224, "block5e_add"),
    "b1": (240, "block5f_add"),
    "b2": (260, "block5f_add"),
    "b3": (300, "block5g_add"),
    "s": (384, "block5i_add"),
    "m": (480, "block6r_add"),
    "l": (480, "block6y_add"),
}
_CONVNEXT = {"tiny": "Tiny", "small": "Small", "base": "Base", "large": "Large", "xlarge": "XLarge"}


def _next_block(after: str) -> str:
    return f"block{int(after[5]) + 1}a_expand_conv onward"  # "block6d_add" → block7a_expand_conv


_MODERN = [
    *(
        Backbone(
            f"efficientnet_{v}",
            _keras_app_renamed(getattr(keras.applications, f"EfficientNet{v.upper()}")),
            "raw",
            (side, side, 3),
            32,
            after,
            f"the last stage and the top convolution ({_next_block(after)})",
            f"efficientnet{v}_notop.h5",
        )
        for v, (side, after) in _EFFICIENTNET.items()
    ),
    *(
        Backbone(
            f"efficientnetv2_{v}",
            _keras_app_renamed(getattr(keras.applications, f"EfficientNetV2{v.upper()}")),
            "raw",
            (side, side, 3),
            32,
            after,
            f"the last stage and the top convolution ({_next_block(after)})",
            f"efficientnetv2-{v}_notop.h5",
        )
        for v, (side, after) in _EFFICIENTNET_V2.items()
    ),
    *(
        Backbone(
            f"convnext_{v}",
            _keras_app_renamed(getattr(keras.applications, f"ConvNeXt{k}"), True),
            "raw",
            (224, 224, 3),
            32,
            f"convnext_{v}_stage_2_output",
            f"the last stage (convnext_{v}_downsampling_block_2 onward)",
            f"convnext_{v}_notop.h5",
        )
        for v, k in _CONVNEXT.items()
    ),
]

BACKBONES = {
    b.name: b
    for b in [
        Backbone(
            "vgg16",
            _keras_app(keras.applications.VGG16),
            "caffe",
            (224, 224, 3),
            32,
            "block4_pool",
            "block 5 (block5_conv1 onward)",
            _notop("vgg16"),
        ),
        Backbone(
            "vgg19",
            _keras_app(keras.applications.VGG19),
            "caffe",
            (224, 224, 3),
            32,
            "block4_pool",
            "block 5 (block5_conv1 onward)",
            _notop("vgg19"),
        ),
        Backbone(
            "resnet50",
            _keras_app(keras.applications.ResNet50),
            "caffe",
            (224, 224, 3),
            32,
            "conv4_block6_out",
            "stage conv5 (conv5_block1_1_conv onward)",
            _notop("resnet50"),
        ),
        Backbone(
            "resnet101",
            _keras_app(keras.applications.ResNet101),
            "caffe",
            (224, 224, 3),
            32,
            "conv4_block23_out",
            "stage conv5 (conv5_block1_1_conv onward)",
            _notop("resnet101"),
        ),
        Backbone(
            "inception_v3",
            _keras_app(keras.applications.InceptionV3),
            "tf",
            (299, 299, 3),
            75,
            "mixed8",
            "layer 249 onward (the first layer after mixed8)",
            _notop("inception_v3"),
        ),
        Backbone(
            "densenet201",
            _keras_app(keras.applications.DenseNet201),
            "torch",
            (224, 224, 3),
            32,
            "pool4_pool",
            "conv5_block1_0_bn onward",
            _notop("densenet201"),
        ),
        Backbone(
            "inception_resnet_v2",
            _keras_app(keras.applications.InceptionResNetV2),
            "tf",
            (299, 299, 3),
            75,
            "mixed_7a",
            "layer 618 onward (the first layer after mixed_7a)",
            _notop("inception_resnet_v2"),
        ),
        Backbone(
            "inception_v4",
            _inception_v4,
            "tf",
            (299, 299, 3),
            75,
            "mixed_7a",
            "the Inception-C blocks (mixed_7b onward)",
            None,
        ),
        Backbone(
            "baseline_cnn",
            _baseline_cnn,
            "rescale",
            (192, 256, 3),
            8,
            None,
            "none: trained from scratch",
            None,
        ),
        *_MODERN,
    ]
}


def feature_layers(trunk: keras.Model) -> dict[int, str]:
    """`{stride: layer name}` of a trunk built by `build_trunk`: its feature map at each reduction of
    the input (1/stride of each side), as timm's `feature_info` lists them. They are found rather
    than typed in: at each stride, the last layer that everything after it reads through (a block's
    output, not a branch inside a block). For the trunks whose valid convolutions shave a few pixels
    the stride is rounded to a power of two (InceptionV3 at 299 px: 35×35 maps at stride 8). A trunk
    that normalises its own input (EfficientNet, ConvNeXt) has no stride-1 map: that is the pixels;
    ConvNeXt's first map is at stride 4 (its stem is a 4×4 convolution of stride 4)."""
    layers = trunk.layers
    # (the ignore: a trunk that `build_trunk` built is named after its `Backbone`, which mypy cannot tell)
    return {stride: layers[i].name for stride, i in _feature_indices(trunk_spec(trunk).name).items()}  # type: ignore[union-attr]


# Layers that change no feature: a padding, or keras.applications' own normalisation of the pixels.
_NO_FEATURE = (keras.layers.ZeroPadding2D, keras.layers.Rescaling, keras.layers.Normalization)


@functools.cache
def _feature_indices(name: str) -> dict[int, int]:
    """`{stride: layer index}`, from a trunk built at the default size: by index, because Keras numbers
    unnamed layers (InceptionV3's "activation_28") anew in every trunk of a process; counted from the
    end, because EfficientNet's ImageNet build has one more layer at its input than this probe."""
    spec = get(name)
    # The probe's weights are thrown away; their draws must not move the seeded stream (Keras seeds
    # each new layer's initializer from Python's `random`), or `keras.utils.set_random_seed(0)` and a
    # build would give other weights in a process whose probe has not run yet.
    state = random.getstate()
    try:
        probe = spec.constructor(spec.input_shape, None, f"{name}_probe")
    finally:
        random.setstate(state)
    producer = {id(layer.output): i for i, layer in enumerate(probe.layers)}

    def read(tensor: keras.KerasTensor) -> list[int]:
        """The layers whose outputs `tensor` is computed from: its own, or through an operation that is
        no layer (ConvNeXt's residual `+`), those its inputs come from."""
        if id(tensor) in producer:
            return [producer[id(tensor)]]
        return [i for t in keras.tree.flatten(tensor._keras_history.operation.input) for i in read(t)]

    last_read = list(range(len(probe.layers)))  # the last layer reading each layer's output
    for j, layer in enumerate(probe.layers[1:], start=1):
        for tensor in keras.tree.flatten(layer.input):
            for i in read(tensor):
                last_read[i] = j
    found, read_later = {}, 0  # read_later: the furthest layer reading any output so far
    for i, layer in enumerate(probe.layers):
        if i > 0 and read_later <= i and not isinstance(layer, _NO_FEATURE):
            # no output of an earlier layer is read after layer i: the rest reads through it
            found[2 ** round(math.log2(spec.input_shape[0] / layer.output.shape[1]))] = i - len(probe.layers)
        read_later = max(read_later, last_read[i])
    return dict(sorted(found.items()))


def get(name: str) -> Backbone:
    """Returns the `Backbone` called `name`, or raises `ValueError` listing the known ones."""
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; known backbones: {', '.join(BACKBONES)}.")
    return BACKBONES[name]


TRUNK_SUFFIX = "_backbone"  # a trunk inside a dermnet model is the nested model `<backbone>_backbone`


def trunk_spec(layer: object) -> Backbone | None:
    """The `Backbone` a layer of a dermnet model is the trunk of, or None when it is no trunk."""
    name = getattr(layer, "name", "")
    return BACKBONES.get(name[: -len(TRUNK_SUFFIX)]) if name.endswith(TRUNK_SUFFIX) else None


def check_input_shape(backbone: Backbone, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
    """Returns `input_shape` as a tuple, or raises `ValueError` saying what the trunk needs."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(
            f"{backbone.name} takes RGB images: input_shape=(height, width, 3), got {input_shape}."
        )
    for side in input_shape[:2]:
        if side is not None and side < backbone.min_size:
            raise ValueError(
                f"{backbone.name} needs images of at least {backbone.min_size}×{backbone.min_size} "
                f"pixels; got input_shape={input_shape}."
            )
    return input_shape


def keras_models_dir() -> str:
    """The folder where keras.applications looks for (and downloads) weight files.

    Keras reads KERAS_HOME once, when it is imported, and falls back to /tmp/.keras where the
    home folder is not writable (`keras.utils.get_file`): this follows the same rule.
    """
    from keras.src.backend.config import keras_home  # no public name for it in Keras 3

    home = os.path.expanduser(keras_home())
    if not os.access(home, os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return os.path.join(home, "models")


def build_trunk(backbone: Backbone, input_shape: Sequence[int | None], weights: str | None) -> keras.Model:
    """Builds the trunk, named `<backbone>_backbone`, with ImageNet weights or none.

    Raises:
        ValueError: "imagenet" asked of a trunk that has no such weights.
        OSError: the ImageNet file could not be downloaded; says which file to put where.
    """
    name = f"{backbone.name}{TRUNK_SUFFIX}"
    if weights != "imagenet":
        return backbone.constructor(input_shape, None, name)
    if backbone.imagenet_file is None:
        slim = (
            " (for ImageNet's: TF-slim's inception_v4.ckpt, from "
            "http://download.tensorflow.org/models/inception_v4_2016_09_09.tar.gz)"
            if backbone.name == "inception_v4"
            else ""
        )
        raise ValueError(
            f"{backbone.name} has no ImageNet weights in keras.applications; pass weights=None, "
            f"or weights='path/to/file' with weights you trained or converted{slim}."
        )
    try:
        return backbone.constructor(input_shape, "imagenet", name)
    except Exception as err:  # keras.utils.get_file raises a bare Exception when a download fails
        if not any(sign in str(err) for sign in ("URL fetch failure", "corrupted file")):
            raise
        target = os.path.join(keras_models_dir(), backbone.imagenet_file)
        raise OSError(
            f"Could not get the ImageNet weights of {backbone.name}: {err}\n"
            f"Without network access, copy the file {backbone.imagenet_file} (the keras-applications "
            f"release named in the message above) to {target} — set KERAS_HOME to use another "
            "folder than ~/.keras — and build again."
        ) from err
