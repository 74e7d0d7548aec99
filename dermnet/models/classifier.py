"""Image classifiers: a backbone from `dermnet.backbones` with one of the papers' heads.

Every classifier is `image (raw RGB, [0, 255]) → Preprocess → <backbone>_backbone → head →
probabilities`. The backbone is a nested model so that fine-tuning phases can freeze it, or
part of it, by layer name (`set_trainable`).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import keras
from keras import layers

from dermnet import backbones
from dermnet._cards import CARDS
from dermnet._registry import register_model
from dermnet.layers import Preprocess
from dermnet.models.tuning import load_weights, set_trainable

if TYPE_CHECKING:
    from dermnet._cards import ModelCard

HEADS = ("ray", "sdl", "embedding", "linear")


def _head(kind: str, features: keras.KerasTensor, num_classes: int) -> keras.KerasTensor:
    """The classifier heads of the papers; the penultimate Dense layer is always named "features"."""
    # SDL (Zhang et al.) initialises its head from U(-0.05, 0.05).
    init = keras.initializers.RandomUniform(-0.05, 0.05) if kind == "sdl" else "glorot_uniform"
    if kind == "ray":  # Ray et al.: global max pooling → Dense 512 ReLU → Dropout 0.5
        x = layers.GlobalMaxPooling2D(name="pool")(features)
        x = layers.Dense(512, activation="relu", name="features")(x)
        x = layers.Dropout(0.5, name="dropout")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="pool")(features)
        if kind == "sdl":
            x = layers.Dense(1024, activation="relu", kernel_initializer=init, name="features")(x)
        elif kind == "embedding":  # Xue et al.: a 256-d embedding for the triplet loss
            x = layers.Dense(256, name="features")(x)
    logits = layers.Dense(num_classes, kernel_initializer=init, name="logits")(x)
    # Softmax in float32: probabilities stay exact under a mixed-precision policy.
    return layers.Activation("softmax", dtype="float32", name="probabilities")(logits)


POOLINGS = ("avg", "max", None)


def build_classifier(
    backbone: str,
    num_classes: int,
    input_shape: Sequence[int | None] | None = None,
    weights: str | os.PathLike[str] | None = None,
    freeze: str = "none",
    head: str = "linear",
    preprocessing: str | None = None,
    name: str | None = None,
    pooling: str | None = "avg",
    features: bool = False,
) -> keras.Model:
    """Builds `backbone` with a classifier head, or without one.

    Args:
        backbone: a name from `dermnet.backbones.BACKBONES`.
        num_classes: number of classes, at least 2 (a softmax over one class learns nothing); 0 for
            no head (timm's `num_classes=0`, keras.applications' `include_top=False`): the model
            gives the backbone's features, pooled by `pooling`.
        input_shape: `(height, width, 3)`; the backbone's default if None. Sides may be None.
        weights: None (random), "imagenet" (keras.applications), or the path of a
            `.weights.h5` / `.keras` file of this whole model, or of its backbone alone
            (`.weights.h5`, or a keras.applications `.h5` file).
        freeze: which layers stay frozen, as in `set_trainable`.
        head: "ray", "sdl", "embedding" or "linear" (global average pooling → Dense K).
        preprocessing: a `Preprocess` mode; the backbone's own if None.
        name: model name; the backbone's name if None.
        pooling: with `num_classes=0`: "avg" (`[B, C]` features), "max", or None (the `[B, h, w, C]`
            feature map).
        features: a model whose outputs are the backbone's feature maps by stride (timm's
            `features_only`): a dict `{"stride_4": [B, H/4, W/4, C], ...}` at every stride of
            `dermnet.backbones.feature_layers` (`num_classes`, `head` and `pooling` are unused).

    Returns:
        A `keras.Model` mapping `[B, H, W, 3]` pixels in [0, 255] to `[B, num_classes]`
        probabilities (float32), or to the features above.
    """
    spec = backbones.get(backbone)
    if not isinstance(num_classes, numbers.Integral) or num_classes == 1 or num_classes < 0:
        raise ValueError(f"num_classes must be 0 (no head) or an integer of at least 2; got {num_classes!r}.")
    if head not in HEADS:
        raise ValueError(f"Unknown head {head!r}; expected one of {HEADS}.")
    if pooling not in POOLINGS:
        raise ValueError(f"Unknown pooling {pooling!r}; expected one of {POOLINGS}.")
    input_shape = backbones.check_input_shape(spec, input_shape or spec.input_shape)
    trunk = backbones.build_trunk(spec, input_shape, "imagenet" if weights == "imagenet" else None)

    inputs = keras.Input(input_shape, name="image")
    x = Preprocess(preprocessing or spec.preprocessing, name="preprocess")(inputs)
    if features:
        # The trunk's own layers, read at each stride: its weights (ImageNet or loaded) stay in place.
        maps = keras.Model(
            trunk.input,
            {
                f"stride_{stride}": trunk.get_layer(layer).output
                for stride, layer in backbones.feature_layers(trunk).items()
            },
            name=trunk.name,
        )
        outputs = maps(x)
    elif num_classes == 0:
        outputs = {
            "avg": layers.GlobalAveragePooling2D(name="pool"),
            "max": layers.GlobalMaxPooling2D(name="pool"),
            None: lambda tensor: tensor,
        }[pooling](trunk(x))
    else:
        outputs = _head(head, trunk(x), int(num_classes))
    model = keras.Model(inputs, outputs, name=name or spec.name)
    if weights not in (None, "imagenet"):
        load_weights(model, weights)
    set_trainable(model, freeze)
    return model


class CompositeClassifier(keras.Model):
    """Base of dermnet's subclassed classifiers (SDL, the triplet classifier). They train with a
    loss of their own, yet report shapes, serve and export as a plain image → probabilities
    classifier: `inference_model()`, which subclasses define. They set `image_shape` and
    `num_classes`."""

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """The shape of one image batch."""
        return (None, *self.image_shape)

    @property
    def output_shape(self) -> tuple[None, int]:
        return (None, self.num_classes)

    def export(self, filepath: str | os.PathLike[str], **kwargs: Any) -> None:
        """Exports `inference_model()`: a SavedModel that serves image → probabilities."""
        return self.inference_model().export(filepath, **kwargs)

    def inference_model(self, name: str | None = None) -> keras.Model:
        raise NotImplementedError


def _register(card: ModelCard) -> None:
    # (the ignore: a classifier's card names its head; `ModelCard.head` is None for other models)
    def builder(
        num_classes: int = card.num_classes,
        input_shape: Sequence[int | None] = card.input_shape,
        weights: str | os.PathLike[str] | None = card.weights,
        freeze: str = "none",
        head: str = card.head,  # type: ignore[assignment]
        preprocessing: str | None = card.preprocessing,
        pooling: str | None = "avg",
        features: bool = False,
    ) -> keras.Model:
        return build_classifier(
            card.name,
            num_classes,
            input_shape,
            weights,
            freeze,
            head,
            preprocessing,
            pooling=pooling,
            features=features,
        )

    builder.__doc__ = f"{card.description} See `build_classifier` for the arguments."
    register_model(card)(builder)


# A classifier of this module per card named after a backbone (SDL, the ensemble, ... have modules of their own).
for _card in CARDS.values():
    if _card.task == "classification" and _card.name in backbones.BACKBONES:
        _register(_card)
