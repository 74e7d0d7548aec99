"""Ha, Liu and Liu's SIIM-ISIC 2020 winner (arXiv 2010.05351): EfficientNet image features and a small
network on the patient's metadata, concatenated, then a 9-class head trained with multi-sample dropout.

`image (raw RGB, [0, 255]) → Preprocess → <efficientnet>_backbone → global average pooling ┐
metadata [F] → Dense 512 → BN → Swish → Dropout 0.3 → Dense 128 → BN → Swish ─────────┴→ concatenate
→ 5 × (Dropout 0.5 → the one Dense "logits") averaged → softmax`

as `Effnet_Melanoma` of the winners' `models.py` (github.com/haqishen/SIIM-ISIC-Melanoma-Classification-
1st-Place-Solution) builds it. The metadata vector is `dermnet.data.metadata.encode_metadata`'s; the
model's inputs are the dict `{"image": pixels, "metadata": features}`, and its contract's stream is
"metadata", so that training and prediction feed both. Melanoma's probability (class "melanoma") is
the ISIC 2020 score.

Example:
>>> model = dermnet.build("ha2020_effnet", backbone="efficientnet_b0", input_shape=(64, 64, 3), weights=None)
>>> model.predict({"image": np.zeros((2, 64, 64, 3)), "metadata": np.zeros((2, 11))}, verbose=0).shape
(2, 9)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from dermnet import backbones
from dermnet._cards import CARDS
from dermnet._registry import register_model
from dermnet.data.metadata import CLASSES, FEATURES
from dermnet.layers import Preprocess
from dermnet.models.task import CLASSIFIER, Contract
from dermnet.models.tuning import load_weights, set_trainable

METADATA = Contract("classification", "metadata", loss=CLASSIFIER.loss, metrics=CLASSIFIER.metrics)


def _batchnorm(name: str) -> keras.layers.BatchNormalization:
    # PyTorch's BatchNorm1d defaults, which the winners kept: momentum 0.1 (Keras' 0.9), epsilon 1e-5.
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


@keras.saving.register_keras_serializable(package="dermnet")
class MetadataClassifier(keras.Model):
    """A functional model of two inputs, `{"image": [B, H, W, 3], "metadata": [B, metadata_features]}`,
    giving class probabilities `[B, num_classes]` (float32).

    Args:
        backbone: an EfficientNet of `dermnet.backbones.BACKBONES` (`efficientnet_b0` ... `b7`; any
            trunk there builds).
        num_classes: 9, the winners' diagnoses (`dermnet.data.metadata.CLASSES`).
        metadata_features: length of the metadata vector (`len(dermnet.data.metadata.FEATURES)`: 11).
        input_shape: `(height, width, 3)`; the backbone's default if None.
        meta_units: widths of the metadata network's two layers ((512, 128); one model of the
            winners' took (128, 32)).
        dropout: rate of each of the `dropout_samples` dropouts before the shared classifier.
        dropout_samples: how many dropout masks the classifier averages over (5).
        meta_dropout: between the metadata network's two layers (0.3).
        trunk_weights: None or "imagenet", for the trunk when the model is built; not part of the
            config (a reloaded model gets its saved weights).
        trunk: the trunk's serialized config, as `get_config` gives it (a reload rebuilds the trunk from it,
            keeping the names Keras numbered its unnamed layers with: their weights' paths); None builds it.

    `input_shape` is the image input's, as for every dermnet classifier (sizes, caches and exports read
    it); `metadata_features` gives the other input's width.
    """

    def __init__(
        self,
        backbone: str = "efficientnet_b3",
        num_classes: int = len(CLASSES),
        metadata_features: int = len(FEATURES),
        input_shape: Sequence[int | None] | None = None,
        meta_units: Sequence[int] = (512, 128),
        dropout: float = 0.5,
        dropout_samples: int = 5,
        meta_dropout: float = 0.3,
        trunk_weights: str | None = None,
        trunk: dict[str, Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        spec = backbones.get(backbone)
        if num_classes < 2:
            raise ValueError(f"num_classes must be an integer of at least 2; got {num_classes!r}.")
        image_shape = backbones.check_input_shape(spec, input_shape or spec.input_shape)
        if trunk is None:
            trunk = backbones.build_trunk(spec, image_shape, trunk_weights)
        else:
            trunk = keras.saving.deserialize_keras_object(trunk)
        image = keras.Input(image_shape, name="image")
        metadata = keras.Input((metadata_features,), name="metadata")
        features = layers.GlobalAveragePooling2D(name="pool")(
            trunk(Preprocess(spec.preprocessing, name="preprocess")(image))
        )
        m = metadata
        for i, units in enumerate(meta_units):
            if i:
                m = layers.Dropout(meta_dropout, name=f"meta_dropout_{i}")(m)
            m = layers.Dense(units, name=f"meta_dense_{i}")(m)
            m = layers.Activation("swish", name=f"meta_swish_{i}")(_batchnorm(f"meta_bn_{i}")(m))
        x = layers.Concatenate(name="features")([features, m])
        # Multi-sample dropout: one classifier on several dropout masks, its logits averaged (the
        # winners' `myfc` over `self.dropouts`); at inference every mask is the identity.
        classify = layers.Dense(num_classes, name="logits")
        logits = [classify(layers.Dropout(dropout, name=f"dropout_{k}")(x)) for k in range(dropout_samples)]
        logits = layers.Average(name="mean_logits")(logits) if dropout_samples > 1 else logits[0]
        probabilities = layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
        super().__init__(
            {"image": image, "metadata": metadata}, probabilities, name=name or "ha2020_effnet", **kwargs
        )
        self.backbone, self.num_classes = backbone, int(num_classes)
        self.metadata_features = int(metadata_features)
        self.image_shape, self.meta_units = tuple(image_shape), tuple(meta_units)
        self.dropout, self.dropout_samples, self.meta_dropout = dropout, int(dropout_samples), meta_dropout
        self.trunk = trunk

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """The shape of one image batch (the metadata's is `(None, metadata_features)`)."""
        return (None, *self.image_shape)

    def contract(self) -> Contract:
        return METADATA

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": self.backbone,
            "num_classes": self.num_classes,
            "metadata_features": self.metadata_features,
            "input_shape": list(self.image_shape),
            "meta_units": list(self.meta_units),
            "dropout": self.dropout,
            "dropout_samples": self.dropout_samples,
            "meta_dropout": self.meta_dropout,
            "trunk": keras.saving.serialize_keras_object(self.trunk),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MetadataClassifier:
        config = dict(config)
        config["input_shape"] = tuple(config["input_shape"])
        return cls(**config)


_CARD = CARDS["ha2020_effnet"]


@register_model(_CARD)
def ha2020_effnet(
    backbone: str = "efficientnet_b3",
    num_classes: int = _CARD.num_classes,
    input_shape: Sequence[int | None] = _CARD.input_shape,
    weights: str | os.PathLike[str] | None = _CARD.weights,
    freeze: str = "none",
    metadata_features: int = len(FEATURES),
    meta_units: Sequence[int] = (512, 128),
) -> MetadataClassifier:
    """Ha, Liu and Liu's EfficientNet with metadata (SIIM-ISIC 2020, 1st place); `MetadataClassifier`
    gives the arguments. `weights`: None, "imagenet" (the trunk's, from keras.applications: the winners
    started most models from Noisy Student weights, `tf_efficientnet_b*_ns`, which keras.applications
    lacks), or a weights file of this model or its backbone. `freeze`: as `set_trainable`."""
    model = MetadataClassifier(
        backbone,
        num_classes,
        metadata_features,
        input_shape,
        meta_units,
        trunk_weights="imagenet" if weights == "imagenet" else None,
    )
    if weights not in (None, "imagenet"):
        load_weights(model, weights)
    set_trainable(model, freeze)
    return model
