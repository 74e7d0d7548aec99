"""Xue et al.'s ISIC 2018 task 3 classifier: a backbone, a 256-d embedding trained with a triplet
loss, and a softmax classifier on it.

Two ways to train the embedding (`mining`):

- "minor_major", the paper's: cross-entropy batches and triplet batches alternate, the triplets
  (a minority-class anchor and positive, the nearest majority-class negative) drawn anew from the
  model's embeddings every `refresh_every` epochs (`dermnet.data.triplets`; the drawing is done by
  `dermnet.training`'s `TripletDrawing` callback). Squared distances, margin 0.2 by default.
- "batch_hard", dermnet's: cross-entropy + the batch-hard triplet loss summed in every step of P×K
  batches (`dermnet.data.triplet_dataset`), no drawing between epochs. Distances, margin 0.5.

Prediction gives the classifier's probabilities; `embedding_model()` gives image → embedding for
`dermnet.evaluation.NearestClassMean`, the paper's prediction rule.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import keras

from dermnet import backbones
from dermnet._cards import CARDS
from dermnet._registry import register_model
from dermnet.losses import BatchHardTripletLoss, per_replica, sampled_triplet_loss
from dermnet.models.classifier import CompositeClassifier, build_classifier
from dermnet.models.task import Contract
from dermnet.models.tuning import load_weights, set_trainable


@keras.saving.register_keras_serializable(package="dermnet")
class TripletClassifier(CompositeClassifier):
    """A classifier with the `"embedding"` head whose embedding also learns a triplet loss.

    Args:
        backbone: a classification backbone of `dermnet.backbones.BACKBONES`.
        num_classes: 7 for HAM10000 / ISIC 2018 task 3.
        input_shape: `(height, width, 3)`, default the backbone's.
        triplet_weight: the weight of the triplet loss next to cross-entropy (0: cross-entropy only).
        margin: of the triplet loss, on L2-normalised embeddings; None: 0.2 for "minor_major"
            (FaceNet's, on squared distances: the paper gives none), 0.5 for "batch_hard".
        mining: "minor_major" (the paper's) or "batch_hard" (module docstring).
        refresh_every: "minor_major" draws its triplets anew every this many epochs (10 in the paper).
        backbone_weights: None or "imagenet".
        preprocessing: a `Preprocess` mode; the backbone's own if None.
    """

    MININGS = ("minor_major", "batch_hard")

    def __init__(
        self,
        backbone: str = "resnet101",
        num_classes: int = 7,
        input_shape: Sequence[int | None] | None = None,
        triplet_weight: float = 1.0,
        margin: float | None = None,
        mining: str = "minor_major",
        refresh_every: int = 10,
        backbone_weights: str | None = None,
        preprocessing: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mining not in self.MININGS:
            raise ValueError(f"mining is one of {self.MININGS}, not {mining!r}")
        self.backbone, self.num_classes = backbone, int(num_classes)
        self.image_shape = tuple(input_shape or backbones.get(backbone).input_shape)
        self.mining, self.refresh_every = mining, int(refresh_every)
        self.triplet_weight = float(triplet_weight)
        self.margin = float(margin if margin is not None else 0.2 if mining == "minor_major" else 0.5)
        self.preprocessing = preprocessing
        classifier = build_classifier(
            backbone,
            num_classes,
            self.image_shape,
            backbone_weights,
            head="embedding",
            preprocessing=preprocessing,
            name="network",
        )
        # One pass gives both: the probabilities and the 256-d features they come from.
        self.network = keras.Model(
            classifier.input, [classifier.output, classifier.get_layer("features").output], name="network"
        )
        self.triplet_loss = BatchHardTripletLoss(self.margin)
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.built = True

    def call(self, images: Any, training: bool = False) -> Any:
        probabilities, embedding = self.network(images, training=training)
        # Training needs the embedding for the loss; inference (predict, evaluate, export) gives
        # the probabilities alone, like every dermnet classifier.
        return {"probabilities": probabilities, "embedding": embedding} if training else probabilities

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        labels, plain = self._labels_and_plain_rows(y)
        probabilities = y_pred["probabilities"] if isinstance(y_pred, dict) else y_pred
        cross_entropy = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
        # A mean over the plain images: none in a triplet batch, which then trains the triplet loss alone
        loss = per_replica(
            keras.ops.sum(cross_entropy * plain) / keras.ops.maximum(keras.ops.sum(plain), 1.0)
        )
        if self.triplet_weight and isinstance(y_pred, dict):  # training: the embedding is there
            if self.mining == "batch_hard":  # a Keras Loss: scaled for replicas already
                loss = loss + self.triplet_weight * self.triplet_loss(labels, y_pred["embedding"])
            elif isinstance(y, dict):
                loss = loss + self.triplet_weight * per_replica(
                    sampled_triplet_loss(y_pred["embedding"], y["role"], y["triplet"], self.margin)
                )
            else:
                raise ValueError(
                    f"{self.name} (mining='minor_major') trains on batches of plain images and triplets, "
                    "y = {'labels', 'role', 'triplet'} (dermnet.data.alternating_triplet_dataset, which "
                    "dermnet.training.train gives it), not on plain labels: or build it with mining='batch_hard'"
                )
        return loss + per_replica(sum(self.losses)) if self.losses else loss

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, Any]:
        labels, plain = self._labels_and_plain_rows(y)
        self.accuracy.update_state(
            labels, y_pred["probabilities"] if isinstance(y_pred, dict) else y_pred, sample_weight=plain
        )
        return self.get_metrics_result()

    @staticmethod
    def _labels_and_plain_rows(y: Any) -> tuple[Any, Any]:
        """Labels `[B]` and 1.0 where a row is a plain image (the cross-entropy's rows): every row, but
        in the alternating stream's triplet batches none."""
        if isinstance(y, dict):
            labels, plain = y["labels"], keras.ops.equal(keras.ops.cast(y["role"], "int32"), -1)
        else:
            labels, plain = y, keras.ops.ones_like(keras.ops.reshape(y, (-1,)), dtype="bool")
        return keras.ops.reshape(keras.ops.cast(labels, "int32"), (-1,)), keras.ops.cast(plain, "float32")

    def contract(self) -> Contract:
        """ "minor_major": the alternating batches of `dermnet.data.triplets`, drawn anew every
        `refresh_every` epochs; "batch_hard": P×K batches (every class, K images each); with
        `triplet_weight` 0, plain batches."""
        if not self.triplet_weight:  # cross-entropy only: plain batches
            return Contract("classification", "images")
        if self.mining == "minor_major":
            return Contract("classification", "triplets", {"refresh_every": self.refresh_every})
        return Contract("classification", "class_blocks", {"classes": self.num_classes})

    def embedding_model(self, name: str | None = None) -> keras.Model:
        """image → 256-d embedding (shares this model's weights)."""
        image = keras.Input(self.image_shape, name="image")
        return keras.Model(image, self.network(image)[1], name=name or f"{self.name}_embedding")

    def inference_model(self, name: str | None = None) -> keras.Model:
        """image → probabilities, a plain functional model (shares this model's weights)."""
        image = keras.Input(self.image_shape, name="image")
        return keras.Model(image, self.network(image)[0], name=name or f"{self.name}_inference")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TripletClassifier:
        # Saved before `mining` existed: trained batch-hard, with a `squared` that was always False.
        config = {"mining": "batch_hard", **config}
        config.pop("squared", None)
        return cls(**config)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "backbone": self.backbone,
            "num_classes": self.num_classes,
            "input_shape": self.image_shape,
            "triplet_weight": self.triplet_weight,
            "margin": self.margin,
            "mining": self.mining,
            "refresh_every": self.refresh_every,
            "preprocessing": self.preprocessing,
        }


@register_model(CARDS["triplet_resnet101"])
def triplet_resnet101(
    num_classes: int = 7,
    input_shape: Sequence[int | None] | None = None,
    triplet_weight: float = 1.0,
    margin: float | None = None,
    mining: str = "minor_major",
    refresh_every: int = 10,
    weights: str | os.PathLike[str] | None = "imagenet",
    freeze: str = "none",
    preprocessing: str | None = None,
    backbone: str = "resnet101",
    name: str = "triplet_resnet101",
) -> TripletClassifier:
    """Builds a `TripletClassifier` (see its docstring); `weights` is None, "imagenet" (the
    backbone) or the path of a `.weights.h5` / `.keras` file of this whole model.

    Example:
    >>> model = dermnet.build("triplet_resnet101", backbone="baseline_cnn", num_classes=3, input_shape=(32, 32, 3),
    ...                       weights=None)
    >>> recipe = dermnet.recipes.get("xue2018_task3").at_size(32)  # its 360×270 resize and 256 crop, scaled
    >>> histories = dermnet.training.train(model, recipe, df, epochs=1, verbose=0)  # CE and triplet batches
    >>> ncm = dermnet.evaluation.NearestClassMean(model.embedding_model()).fit(train_images, train_labels)
    """
    model = TripletClassifier(
        backbone,
        num_classes,
        input_shape,
        triplet_weight,
        margin,
        mining,
        refresh_every,
        weights if weights in (None, "imagenet") else None,
        preprocessing,
        name=name,
    )
    if weights not in (None, "imagenet"):
        load_weights(model, weights, into_backbone=False)
    set_trainable(model, freeze)
    return model
