"""What every dermnet model shares, classifiers and segmentors alike: which layers train
(`set_trainable`), loading a weights file into it or its backbone (`load_weights`), and finding its
backbones (`backbone_layers`).
"""

from __future__ import annotations

import os
import warnings

import keras

from dermnet import backbones
from dermnet.backbones import inception_v4
from dermnet.layers import SqueezeExcite, nested_layers


def load_weights(model: keras.Model, path: str | os.PathLike[str], into_backbone: bool = True) -> None:
    """Loads `path` into `model`, or, if it holds a backbone's weights only, into its backbone.

    Args:
        model: a dermnet model.
        path: a `.weights.h5` or `.keras` file of `model`, or (with `into_backbone`) a
            `.weights.h5` file of its backbone, a keras.applications `.h5` file, or TF-slim's
            Inception-v4 checkpoint (`inception_v4.ckpt`) for an `inception_v4` backbone.
        into_backbone: whether a backbone's file is welcome (not for ensembles: which member
            would it be for?).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file fits neither the model nor its backbone; says why for each.
    """
    path = os.fspath(path)
    if inception_v4.is_tf_checkpoint(path):  # TF-slim's published Inception-v4 (RECOD's ImageNet weights)
        trunks = [t for t in backbone_layers(model) if t.name == f"inception_v4{backbones.TRUNK_SUFFIX}"]
        if not into_backbone or len(trunks) != 1:
            raise ValueError(
                f"{path} is a TensorFlow checkpoint: dermnet reads TF-slim's Inception-v4 ones, into a "
                f"model with one inception_v4 backbone; {model.name} has {len(trunks)}"
            )
        return inception_v4.load_tf_slim_checkpoint(trunks[0], path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Weights file {path} does not exist.")
    # A keras.applications .h5 file (such as the ImageNet weights) only fits a backbone.
    legacy_h5 = path.endswith(".h5") and not path.endswith(".weights.h5")
    targets = [] if legacy_h5 else [model]
    if into_backbone:
        targets += backbone_layers(model)
    errors: list[str] = []
    for target in targets:
        try:
            # Keras only warns when part of a file fits ("... will retain their freshly-
            # initialized weights"): a half-loaded model must fail here, not train quietly.
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                target.load_weights(path)
            return
        except Exception as err:  # ValueError, KeyError, OSError or the warning, by format
            errors.append(f"- as {target.name}: {str(err).splitlines()[0]}")
    what = "nor its backbone" if into_backbone else "(a whole-model file is needed)"
    raise ValueError(f"The weights in {path} do not fit {model.name} {what}:\n" + "\n".join(errors))


def networks_with_a_backbone(model: keras.Model) -> list[keras.Model]:
    """The networks inside `model` that hold a backbone trunk: itself, or its ensemble members, SDL
    components, a segmentor's encoder-decoder. The one place that finds backbones
    (`dermnet.backbones.trunk_spec`)."""
    if any(backbones.trunk_spec(layer) for layer in model.layers):
        return [model]
    return [
        n for layer in model.layers if isinstance(layer, keras.Model) for n in networks_with_a_backbone(layer)
    ]


def backbone_layers(model: keras.Model) -> list[keras.Model]:
    """The backbone trunks (nested models `<backbone>_backbone`) of every network in `model`."""
    return [
        layer
        for network in networks_with_a_backbone(model)
        for layer in network.layers
        if backbones.trunk_spec(layer)
    ]


def set_trainable(model: keras.Model, freeze: str = "none") -> None:
    """Chooses which layers train, for every classifier in `model`, without rebuilding it.

    Args:
        model: a dermnet classifier, a model made of them (an ensemble), or a segmentor (its
            encoder is its backbone; a U-net without one only takes "none" / "all").
        freeze: what stays frozen:
            - "none" or "all": nothing frozen, all layers train ("all" reads as "train all");
            - "backbone": the backbone is frozen, the head trains (and the squeeze-and-excitation
              gates inside SegAN's encoder, which are not pretrained);
            - "top": the backbone is frozen up to the paper's unfreeze point
              (`dermnet.backbones.BACKBONES[name].top_doc`), the rest trains;
            - a layer name: every layer before it is frozen, it and what follows train.

    Frozen BatchNormalization layers run in inference mode (Keras 3 semantics). Call
    `model.compile(...)` again afterwards: Keras reads trainability when it compiles.

    Example:
    >>> model = dermnet.build("densenet201", weights=None, freeze="top")
    >>> dermnet.set_trainable(model, "all")
    >>> model.compile(optimizer="adam", loss="categorical_crossentropy")
    """
    classifiers = networks_with_a_backbone(model)
    if not classifiers and freeze in ("none", "all"):  # a model without a backbone (a U-net): all trains
        _set_trainable_deep(model, True)
        return
    if not classifiers:
        raise ValueError(
            f"{model.name} has no backbone (no `*{backbones.TRUNK_SUFFIX}` layer) for freeze={freeze!r}: "
            "it trains whole (freeze='none')."
        )
    # Resolve every member's cut first: an error leaves no member half switched.
    cuts = [(classifier, _first_trainable(classifier, freeze)) for classifier in classifiers]
    for classifier, first_trainable in cuts:
        _freeze_until(classifier, first_trainable)


def _first_trainable(classifier: keras.Model, freeze: str) -> tuple[keras.Model, int]:
    """(sub-model, index of its first trainable layer) for one classifier."""
    (backbone,) = backbone_layers(classifier)
    if freeze in ("none", "all"):
        return classifier, 0
    if freeze == "backbone":
        return classifier, classifier.layers.index(backbone) + 1
    if freeze == "top":
        # (the ignore: `backbone_layers` gives trunks alone, each with its `Backbone`, which mypy cannot tell)
        spec: backbones.Backbone = backbones.trunk_spec(backbone)  # type: ignore[assignment]
        if spec.top_after is None:
            raise ValueError(f"{spec.name} has no 'top' unfreeze point ({spec.top_doc}); use 'none'.")
        names = [layer.name for layer in backbone.layers]
        return backbone, names.index(spec.top_after) + 1
    for owner in (backbone, classifier):
        names = [layer.name for layer in owner.layers]
        if freeze in names:
            return owner, names.index(freeze)
    raise ValueError(
        f"freeze={freeze!r} is neither 'none', 'all', 'backbone', 'top' nor a layer of "
        f"{classifier.name} or {backbone.name}."
    )


def _freeze_until(classifier: keras.Model, first_trainable: tuple[keras.Model, int]) -> None:
    owner, index = first_trainable  # owner: the classifier itself or its backbone
    _set_trainable_deep(classifier, True)
    for layer in owner.layers[:index]:
        _set_trainable_deep(layer, False)
    # A freeze fixes pretrained weights only. Gates dermnet adds inside a trunk (SegAN's squeeze-and-
    # excitation) are new: Xue et al. fix "the weights of the pre-trained VGG net" and train the rest.
    for layer in (sublayer for trunk in backbone_layers(classifier) for sublayer in trunk.layers):
        if isinstance(layer, SqueezeExcite):
            _set_trainable_deep(layer, True)


def set_batchnorm_momentum(model: keras.layers.Layer, momentum: float) -> None:
    """Sets the momentum of every BatchNormalization layer in `model`, at any depth, in place: how
    much of its moving mean and variance each training step keeps (Keras' default 0.99)."""
    for layer in nested_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def _set_trainable_deep(layer: keras.layers.Layer, value: bool) -> None:
    # Set every nested layer's own flag, whatever Keras' propagation does, so that
    # `layer.trainable` anywhere in the model tells the truth.
    layer.trainable = value
    for sublayer in getattr(layer, "layers", ()):
        _set_trainable_deep(sublayer, value)
