"""Xue et al.'s ISIC 2018 task-2 network: one VGG19 encoder–decoder for the five dermoscopic
attributes, with a multi-label head that says which attributes an image shows at all.

Most images show few of the attributes, so the presence head lets the masks of absent ones be
silenced at prediction: `masks * (presence > 0.5)[:, None, None, :]`. Both heads train jointly
from the masks alone: the presence targets are whether each true mask has a pixel.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from dermnet._cards import CARDS
from dermnet._registry import register_model
from dermnet.layers import Preprocess
from dermnet.losses import BCEDiceLoss, per_replica
from dermnet.metrics import JaccardIndex
from dermnet.models.task import Contract
from dermnet.models.unet import backbone_encoder, check_image_shape, decoder, finish, mask_head


@keras.saving.register_keras_serializable(package="dermnet")
class AttributeNet(keras.Model):
    """Wraps `network` (image → {"masks": [B, H, W, A], "presence": [B, A]}) with the joint loss

        BCE (+ dice_weight · Dice) on the masks  +  presence_weight · BCE(presence, [any pixel of each true mask])

    Xue et al.'s: the pixels' cross-entropy for the masks, the multi-label soft-margin loss (the
    mean over attributes of each one's binary cross-entropy) for presence; `dice_weight=0`.
    `presence_weight=0` leaves the presence head untrained: the plain network, their baseline.

    Train it on `dermnet.data.segmentation_dataset` of a manifest with one `mask_<attribute>` column
    per attribute (`load_dataset("isic2018_task2", root)`): targets are the masks `[B, H, W, A]`.
    """

    def __init__(
        self, network: keras.Model, presence_weight: float = 1.0, dice_weight: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.network, self.presence_weight, self.dice_weight = (
            network,
            float(presence_weight),
            float(dice_weight),
        )
        self.mask_loss = BCEDiceLoss(dice_weight=self.dice_weight)
        self.jaccard = JaccardIndex(name="jaccard")
        self.presence_accuracy = keras.metrics.BinaryAccuracy(name="presence_accuracy")
        self.built = True

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        return self.network.input_shape

    @property
    def output_shape(self) -> dict[str, tuple[int | None, ...]]:
        return {name: self.network.get_layer(name).output.shape for name in ("masks", "presence")}

    def call(self, images: Any, training: bool = False) -> Any:
        return self.network(images, training=training)

    @staticmethod
    def presence(masks: Any) -> Any:
        """[B, A]: 1 where the mask of an attribute has a pixel."""
        return ops.cast(ops.max(ops.cast(masks, "float32"), axis=(1, 2)) > 0, "float32")

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        if y_pred is None:
            y_pred = self(x, training=training)
        presence = ops.mean(
            keras.losses.binary_crossentropy(self.presence(y)[..., None], y_pred["presence"][..., None])
        )
        # mask_loss is a Keras Loss, scaled for replicas already
        return self.mask_loss(y, y_pred["masks"]) + self.presence_weight * per_replica(presence)

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, Any]:
        self.jaccard.update_state(y, y_pred["masks"])
        self.presence_accuracy.update_state(self.presence(y), y_pred["presence"])
        return self.get_metrics_result()

    def contract(self) -> Contract:
        """Attribute masks and their presence, trained on images with masks by its own loss and metrics."""
        return Contract("attributes", "masks")

    def inference_model(self, name: str | None = None) -> keras.Model:
        """The network itself: image → {"masks", "presence"}; what `export` writes."""
        return self.network

    def export(self, filepath: str | os.PathLike[str], **kwargs: Any) -> None:
        return self.network.export(filepath, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "presence_weight": self.presence_weight,
            "dice_weight": self.dice_weight,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AttributeNet:
        # Keras' deserialization consumes the nested config: a copy leaves the caller's whole.
        config = copy.deepcopy(config)
        return cls(**dict(config, network=keras.saving.deserialize_keras_object(config["network"])))


@register_model(CARDS["attribute_net"])
def attribute_net(
    input_shape: Sequence[int | None] = (224, 224, 3),
    decoder_filters: Sequence[int] = (256, 128, 64, 32),
    dropout: float = 0.5,
    attributes: int = 5,
    presence_weight: float = 1.0,
    dice_weight: float = 0.0,
    weights: str | os.PathLike[str] | None = "imagenet",
    freeze: str = "none",
    preprocessing: str = "caffe",
    name: str = "attribute_net",
) -> AttributeNet:
    """Builds an `AttributeNet`: VGG19 encoder (conv1–conv5), a U-net decoder to `attributes` sigmoid
    masks (5: ISIC 2018's, in the order of `dermnet.datasets.ATTRIBUTES`), and global average pooling of
    the encoder's deepest features → Dense(`attributes`, sigmoid) for presence.

    Args:
        presence_weight, dice_weight: the loss's (`AttributeNet`); 0 and 0: the masks alone, by
            cross-entropy.
        weights: None, "imagenet" (the encoder's), or a weights file of this whole model.
        freeze: as in `dermnet.set_trainable` ("backbone": the VGG19 encoder).
    """
    input_shape = check_image_shape(name, input_shape)
    inputs = keras.Input(input_shape, name="image")
    x = Preprocess(preprocessing, name="preprocess")(inputs)
    *skips, deepest = backbone_encoder("vgg19", input_shape, weights)(x)
    masks = mask_head(decoder(deepest, skips[::-1], decoder_filters, dropout=dropout), attributes)
    pooled = layers.GlobalAveragePooling2D(name="presence_pool")(deepest)
    presence = layers.Dense(attributes, name="presence_logits")(pooled)
    presence = layers.Activation("sigmoid", dtype="float32", name="presence")(presence)
    network = keras.Model(inputs, {"masks": masks, "presence": presence}, name=f"{name}_network")
    return finish(AttributeNet(network, presence_weight, dice_weight, name=name), weights, freeze)
