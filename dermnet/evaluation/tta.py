"""Test-time augmentation (RECOD Titans, ISIC 2017): a classifier's probabilities pooled over the
image and augmented copies of it, as a Keras model that saves, reloads and exports."""

import keras
from keras import layers, ops

from dermnet.data.augment import augment, get


@keras.saving.register_keras_serializable(package="dermnet")
class FixedAugment(layers.Layer):
    """`augment` with a fixed integer seed: the same draw for a given batch at every call, in
    training and inference, so a TTA replica is reproducible (and a SavedModel deterministic)."""

    def __init__(self, augmentation, seed, **kwargs):
        super().__init__(**kwargs)
        self.augmentation, self.seed = get(augmentation), int(seed)

    def call(self, images):
        return augment(images, augmentation=self.augmentation, seed=self.seed)

    def get_config(self):
        return {**super().get_config(), "augmentation": self.augmentation.to_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="dermnet")
class PoolReplicas(layers.Layer):
    """Pools a list of `[B, K]` probabilities: "mean", or "max_logit" (the softmax of the per-class
    maximum of the log-probabilities, i.e. of the logits up to each replica's constant)."""

    def __init__(self, pool="mean", **kwargs):
        super().__init__(dtype="float32", **{k: v for k, v in kwargs.items() if k != "dtype"})
        if pool not in ("mean", "max_logit"):
            raise ValueError(f"Unknown pool {pool!r}; expected 'mean' or 'max_logit'.")
        self.pool = pool

    def call(self, probabilities):
        stacked = ops.stack([ops.cast(p, "float32") for p in probabilities], axis=0)
        if self.pool == "mean":
            return ops.mean(stacked, axis=0)
        return ops.softmax(ops.max(ops.log(ops.maximum(stacked, 1e-12)), axis=0), axis=-1)

    def get_config(self):
        return {**super().get_config(), "pool": self.pool}


def tta_model(model, replicas=8, augmentation="menegola2017", pool="mean", seed=0, name=None):
    """`model` (image → probabilities) wrapped to pool its predictions over `replicas` views: the
    image itself and `replicas - 1` copies augmented by `augmentation` (a preset name or an
    `Augmentation` without `crop`), each with its own fixed seed (`seed`, `seed + 1`, ...)."""
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1; got {replicas}")
    if get(augmentation).crop:
        raise ValueError(
            "test-time augmentation needs an augmentation without crop (the views must keep "
            "the model's input size)"
        )
    image = keras.Input(model.input_shape[1:], name="image")
    views = [image] + [
        FixedAugment(augmentation, seed + i, name=f"view_{i}")(image) for i in range(1, replicas)
    ]
    outputs = PoolReplicas(pool, name="pooled")([model(view) for view in views])
    return keras.Model(image, outputs, name=name or f"{model.name}_tta{replicas}")


def tta(model, images, replicas=8, augmentation="menegola2017", pool="mean", seed=0, batch_size=32):
    """The pooled probabilities `[N, K]` of `tta_model(model, ...)` for `images` (an array or a
    stream of image batches)."""
    wrapped = tta_model(model, replicas, augmentation, pool, seed)
    wrapped.run_eagerly = (
        model.run_eagerly
    )  # a model compiled to run eagerly (`training.train`) is not traced
    return wrapped.predict(images, batch_size=batch_size, verbose=0)
