"""Probability-averaging ensembles of classifiers (Ray et al.: InceptionV3 + DenseNet-201)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
from keras import layers

from dermnet._cards import CARDS
from dermnet._registry import build, register_model
from dermnet.layers import Resize
from dermnet.models.tuning import load_weights, set_trainable

_DEFAULT_MEMBERS = ("inception_v3", "densenet201")


def _area(shape: Sequence[int | None]) -> int:
    return (shape[0] or 0) * (shape[1] or 0)


@register_model(CARDS["ensemble"])
def ensemble(
    members: Sequence[str | keras.Model] = _DEFAULT_MEMBERS,
    num_classes: int = 7,
    input_shape: Sequence[int | None] | None = None,
    weights: str | os.PathLike[str] | None = "imagenet",
    freeze: str = "none",
    name: str = "ensemble",
) -> keras.Model:
    """Averages the class probabilities of several classifiers.

    Args:
        members: registered model names (built with `num_classes`, `weights`, `input_shape`
            and `freeze`; a name given twice gets suffixes `_1`, `_2`), or already built
            (trained) classifiers with distinct names, or a mix.
        num_classes: number of classes of every member.
        input_shape: the ensemble's input, and that of the members built here from names;
            by default each member's own size, and the ensemble takes the largest. A member
            whose input size differs from the ensemble's (InceptionV3 at 299 and DenseNet-201
            at 224, by default) gets a bilinear `dermnet.layers.Resize` layer in front of it.
        weights: None or "imagenet" for the members built here, or the path of a
            `.weights.h5` / `.keras` file of this whole ensemble.
        freeze: for every member, as in `dermnet.set_trainable`.
        name: model name.

    Example:
    >>> model = dermnet.build("ensemble", members=["baseline_cnn", "resnet50"], input_shape=(64, 64, 3), weights=None)
    >>> model.output_shape   # InceptionV3 + DenseNet-201 by default, as Ray et al.
    (None, 7)
    """
    if len(members) < 2:
        raise ValueError(f"An ensemble needs at least 2 members; got {list(members)}.")
    member_weights = weights if weights in (None, "imagenet") else None
    size = {"input_shape": tuple(input_shape)} if input_shape else {}
    models = [
        build(m, num_classes=num_classes, weights=member_weights, **size) if isinstance(m, str) else m
        for m in members
    ]
    for i, (member, model) in enumerate(zip(members, models)):
        if isinstance(member, str) and members.count(member) > 1:
            model.name = f"{member}_{i + 1}"  # layer names must be unique in a model
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"Ensemble members need distinct names; got {names}.")
    for m in models:
        if m.output_shape[-1] != num_classes:
            raise ValueError(f"Member {m.name} predicts {m.output_shape[-1]} classes, not {num_classes}.")

    member_shapes = [tuple(m.input_shape[1:]) for m in models]
    input_shape = tuple(input_shape or max(member_shapes, key=_area))
    inputs = keras.Input(input_shape, name="image")
    probabilities = []
    for model, shape in zip(models, member_shapes):
        x = inputs
        if shape[:2] != input_shape[:2] and None not in shape[:2]:
            x = Resize(shape[0], shape[1], name=f"{model.name}_resize")(x)
        probabilities.append(model(x))
    outputs = layers.Average(dtype="float32", name="probabilities")(probabilities)
    model = keras.Model(inputs, outputs, name=name)
    if member_weights is None and weights is not None:
        load_weights(model, weights, into_backbone=False)
    set_trainable(model, freeze)
    return model
