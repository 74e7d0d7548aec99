"""Synergic deep learning (Zhang et al., MICCAI 2018): n classifiers that learn from each other.

n DCNN components (a backbone with the `"sdl"` head each, sharing no weights) see n different
images at once. For every pair of components, a synergic network takes the two 1024-d `features`
and predicts whether the two images share a class. The paper's eq. 5 updates

    component i:       ∂lᵢ/∂θᵢ + λ · ∂l_S/∂θᵢ
    synergic network:  ∂l_S/∂θ_S           (λ weighs only what flows back into the components)

where lᵢ is component i's cross-entropy and l_S the synergic networks' binary cross-entropy. So the
loss is Σᵢ lᵢ + Σ₍ᵢ,ⱼ₎ l_S,ᵢⱼ, and the features enter the synergic networks through a layer that
is the identity forward and multiplies the gradient by λ backward (`_scale_gradient`). With λ = 0 there are no
synergic networks: the components train apart, each on its own loss and its own image stream,
which is the paper's ResNet-50² baseline (`dermnet.build("resnet50x2")`). A prediction on one image feeds
it to every component and averages their probabilities; the class is the argmax of their sum
(eq. 6, the same argmax).

Train it on `dermnet.data.pair_dataset` streams: inputs are a tuple of n image batches, targets
`{"labels": [B, n], "synergic": [B, n(n-1)/2]}`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from dermnet import backbones
from dermnet._cards import CARDS
from dermnet._registry import register_model
from dermnet.losses import per_replica
from dermnet.models.classifier import CompositeClassifier, build_classifier
from dermnet.models.task import Contract
from dermnet.models.tuning import load_weights, set_trainable


def _uniform() -> keras.initializers.RandomUniform:
    """A new U(-0.05, 0.05) initializer per layer: one made at import would draw its seed before
    `keras.utils.set_random_seed`, so the same seed would not give the same synergic networks (and
    the processes of a multi-host job would start from different ones)."""
    return keras.initializers.RandomUniform(-0.05, 0.05)


def _scale_gradient(x: Any, factor: float) -> Any:
    """`x` forward; its gradient multiplied by `factor` backward (a backend-neutral stop_gradient
    sum, as Keras has no gradient-scaling op)."""
    return ops.stop_gradient(x) + factor * (x - ops.stop_gradient(x))


@keras.saving.register_keras_serializable(package="dermnet")
class SynergicModel(CompositeClassifier):
    """n components and C(n, 2) synergic networks; see the module docstring.

    Args:
        n: number of components, at least 2.
        backbone: any classification backbone of `dermnet.backbones.BACKBONES`.
        num_classes: classes of every component.
        input_shape: `(height, width, 3)`, default the backbone's.
        synergic_weight: λ, the weight of the synergic losses (3 in the paper); 0 builds no
            synergic networks (components trained apart, as in the ResNet-50² baseline).
        synergic_units: width of the synergic network's fully connected learning layer. The
            paper does not give it; 256 keeps the synergic networks tiny next to the components.
        component_weights: None or "imagenet" for every component's backbone.
        preprocessing: a `Preprocess` mode; the backbone's own if None.
    """

    def __init__(
        self,
        n: int = 2,
        backbone: str = "resnet50",
        num_classes: int = 2,
        input_shape: Sequence[int | None] | None = None,
        synergic_weight: float = 3.0,
        synergic_units: int = 256,
        component_weights: str | None = None,
        preprocessing: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if n < 2:
            raise ValueError(f"SDL needs at least 2 components; got n={n} (n=1 is the plain classifier).")
        self.n, self.backbone, self.num_classes = int(n), backbone, int(num_classes)
        self.image_shape = tuple(input_shape or backbones.get(backbone).input_shape)
        self.synergic_weight, self.synergic_units = float(synergic_weight), int(synergic_units)
        self.preprocessing = preprocessing
        self.pairs = list(itertools.combinations(range(self.n), 2))
        self.components = []
        for i in range(self.n):
            classifier = build_classifier(
                backbone,
                num_classes,
                self.image_shape,
                component_weights,
                head="sdl",
                preprocessing=preprocessing,
                name=f"component_{i + 1}",
            )
            # Each component gives its probabilities and its 1024-d features to the synergic networks.
            self.components.append(
                keras.Model(
                    classifier.input,
                    [classifier.output, classifier.get_layer("features").output],
                    name=f"component_{i + 1}",
                )
            )
        pair_features = 2 * self.components[0].output[1].shape[-1]
        # Built here (with an Input), so that every weight exists before the first call: weight
        # loading and optimizers see the whole model.
        self.synergic_networks = (
            [
                keras.Sequential(
                    [
                        keras.Input((pair_features,)),
                        layers.Dense(
                            self.synergic_units,
                            activation="relu",
                            kernel_initializer=_uniform(),
                            name="learning",
                        ),
                        layers.Dense(1, kernel_initializer=_uniform(), name="logit"),
                        layers.Activation("sigmoid", dtype="float32", name="same_class"),
                    ],
                    name=f"synergic_{i + 1}{j + 1}",
                )
                for i, j in self.pairs
            ]
            if self.synergic_weight
            else []
        )
        self.built = True  # every sublayer is built: weights load before a first call
        self.component_accuracy = [
            keras.metrics.SparseCategoricalAccuracy(name=f"accuracy_{i + 1}") for i in range(self.n)
        ]
        self.synergic_accuracy = (
            keras.metrics.BinaryAccuracy(name="synergic_accuracy") if self.synergic_networks else None
        )

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not isinstance(inputs, (tuple, list)):  # one image batch: eq. 6, as an average
            return ops.mean(ops.stack([c(inputs, training=training)[0] for c in self.components]), axis=0)
        if len(inputs) != self.n:
            raise ValueError(
                f"SDL with n={self.n} takes a tuple of {self.n} image batches, got {len(inputs)}."
            )
        outputs = [c(x, training=training) for c, x in zip(self.components, inputs)]
        result = {"probabilities": ops.stack([p for p, _ in outputs], axis=1)}  # [B, n, K]
        if self.synergic_networks:
            features = [_scale_gradient(f, self.synergic_weight) for _, f in outputs]
            synergic = [
                net(ops.concatenate([features[i], features[j]], axis=-1), training=training)
                for net, (i, j) in zip(self.synergic_networks, self.pairs)
            ]
            result["synergic"] = ops.concatenate(synergic, axis=-1)  # [B, C(n, 2)]
        return result

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
        labels = ops.cast(y["labels"], "int32")
        classification = sum(
            ops.mean(
                keras.losses.sparse_categorical_crossentropy(labels[:, i], y_pred["probabilities"][:, i])
            )
            for i in range(self.n)
        )
        loss = classification
        if self.synergic_networks:
            synergic = ops.sum(
                ops.mean(
                    keras.losses.binary_crossentropy(
                        ops.cast(y["synergic"], "float32")[..., None], y_pred["synergic"][..., None]
                    ),
                    axis=0,
                )
            )
            loss = loss + synergic  # λ acts on the gradient into the components (call), not here
        return per_replica(loss + sum(self.losses) if self.losses else loss)

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, Any]:
        # Keras' own tracker already averages the loss; these metrics are attributes, so Keras lists them.
        for i, metric in enumerate(self.component_accuracy):
            metric.update_state(y["labels"][:, i], y_pred["probabilities"][:, i])
        if self.synergic_networks:
            # (the ignore: `synergic_accuracy` is None only where there are no synergic networks)
            self.synergic_accuracy.update_state(y["synergic"], y_pred["synergic"])  # type: ignore[union-attr]
        return self.get_metrics_result()

    def contract(self) -> Contract:
        """A classifier trained on n-tuples of images: same-class pairs half the time where there are
        synergic networks, else each component on its own shuffled stream."""
        return Contract(
            "classification",
            "pairs",
            {"n": self.n, "same_class_share": 0.5 if self.synergic_networks else None},
        )

    def inference_model(self, name: str | None = None) -> keras.Model:
        """A plain single-input classifier, image → averaged probabilities, that saves, reloads
        with `safe_mode=True` and exports as a SavedModel (it shares this model's weights)."""
        image = keras.Input(self.image_shape, name="image")
        probabilities = [c(image)[0] for c in self.components]
        outputs = layers.Average(dtype="float32", name="probabilities")(probabilities)
        return keras.Model(image, outputs, name=name or f"{self.name}_inference")

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "n": self.n,
            "backbone": self.backbone,
            "num_classes": self.num_classes,
            "input_shape": self.image_shape,
            "synergic_weight": self.synergic_weight,
            "synergic_units": self.synergic_units,
            "preprocessing": self.preprocessing,
        }


@register_model(CARDS["sdl"])
def sdl(
    n: int = 2,
    backbone: str = "resnet50",
    num_classes: int = 2,
    input_shape: Sequence[int | None] | None = None,
    synergic_weight: float = 3.0,
    synergic_units: int = 256,
    weights: str | os.PathLike[str] | None = "imagenet",
    freeze: str = "none",
    preprocessing: str | None = None,
    name: str = "sdl",
) -> SynergicModel:
    """Builds a `SynergicModel` (see its docstring); `weights` is None, "imagenet" (every component's
    backbone) or the path of a `.weights.h5` / `.keras` file of this whole model.

    Example:
    >>> model = dermnet.build("sdl", n=2, backbone="baseline_cnn", num_classes=3, input_shape=(32, 32, 3),
    ...                       weights=None)   # "imagenet" for ResNet-50 components
    >>> model.compile(optimizer=dermnet.recipes.get("zhang2018").phases[0].make_optimizer(1))
    >>> history = model.fit(dermnet.data.pair_dataset(df, 32, batch_size=32, augment="zhang2018"), verbose=0,
    ...                     shuffle=False)
    """
    model = SynergicModel(
        n,
        backbone,
        num_classes,
        input_shape,
        synergic_weight,
        synergic_units,
        weights if weights in (None, "imagenet") else None,
        preprocessing,
        name=name,
    )
    if weights not in (None, "imagenet"):
        load_weights(model, weights, into_backbone=False)
    set_trainable(model, freeze)
    return model


@register_model(CARDS["resnet50x2"])
def resnet50x2(
    num_classes: int = 2,
    input_shape: Sequence[int | None] | None = None,
    weights: str | os.PathLike[str] | None = "imagenet",
    freeze: str = "none",
    preprocessing: str | None = None,
    name: str = "resnet50x2",
) -> SynergicModel:
    """SDL's ResNet-50² baseline: a `SynergicModel` with n = 2 and λ = 0, so no synergic networks.
    Trained on `pair_dataset(..., same_class_share=None)` each component sees its own shuffled
    stream and its own loss: two independently trained ResNet-50s, built and trained by the
    same recipe as `sdl`; prediction averages their probabilities."""
    return sdl(2, "resnet50", num_classes, input_shape, 0.0, 256, weights, freeze, preprocessing, name)
