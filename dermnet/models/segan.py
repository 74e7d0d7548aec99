"""SegAN (Xue et al.): a U-net segmentor trained against a critic with a multi-scale L1 loss.

The segmentor is a U-net whose encoder is VGG19 with a squeeze-and-excitation gate after every
block. The critic sees the image masked by a mask, `x · m`, and gives feature maps at several
scales (each stage a global-convolution block then a strided 3×3 convolution). The multi-scale L1
loss compares the critic's view of the predicted mask with its view of the true one:

    L(S, C) = mean over the critic's stages ℓ of mean |f_C^ℓ(x·S(x)) − f_C^ℓ(x·y)|

(eqs. 1–2: the average over "the total number of layers (i.e. scales) in the critic network").
`pixel_level=True` also counts the masked pixels `x·S(x)` against `x·y` as a level, as the authors'
released SegAN code does (its critic concatenates the masked input with its stages' outputs).

Every training step alternates: the critic takes one step up L (the segmentor fixed), its weights
are clipped to ±`clip_value`; then the segmentor takes one step down L (+ dice_weight · Dice loss,
an option the paper does not use), against the updated critic. Only the segmentor predicts, and `export` writes it alone.

Both steps use the one optimizer given to `compile`, each on its own network's variables; its
iteration counter therefore advances twice per batch (a schedule given in steps runs twice as fast).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import layers, ops

from dermnet._cards import CARDS
from dermnet._registry import register_model
from dermnet.layers import Preprocess
from dermnet.losses import DiceLoss
from dermnet.models.task import SEGMENTOR, Contract
from dermnet.models.unet import backbone_encoder, check_image_shape, decoder, finish, mask_head


def segmentor(
    input_shape: Sequence[int | None],
    weights: str | os.PathLike[str] | None = None,
    decoder_filters: Sequence[int] = (256, 128, 64, 32),
    dropout: float = 0.5,
    masks: int = 1,
    preprocessing: str = "caffe",
    name: str = "segmentor",
) -> keras.Model:
    """SegAN's segmentor: U-net, VGG19 + squeeze-and-excitation encoder, two 3×3 convolutions per
    decoder stage."""
    inputs = keras.Input(input_shape, name="image")
    x = Preprocess(preprocessing, name="preprocess")(inputs)
    *skips, x = backbone_encoder("vgg19", input_shape, weights, squeeze_excite=True)(x)
    x = decoder(x, skips[::-1], decoder_filters, dropout=dropout)
    return keras.Model(inputs, mask_head(x, masks), name=name)


def critic(
    input_shape: Sequence[int | None],
    filters: Sequence[int] = (64, 128, 256, 512, 512),
    kernel_size: int = 9,
    name: str = "critic",
) -> keras.Model:
    """SegAN's critic, as Xue et al. describe it: 5 global-convolution blocks (a 1×9 then 9×1 path
    beside a 9×1 then 1×9 path, summed, batch norm, ReLU), each followed by a 3×3 convolution, batch
    norm, ReLU (strided here: each stage halves the resolution, dermnet's reading of "multi-scale").
    It outputs every stage's feature map (the multi-scale features of the L1 loss)."""
    inputs = keras.Input(input_shape, name="masked_image")
    x, features = inputs, []
    for i, stage_filters in enumerate(filters, start=1):
        stage = f"stage{i}"
        wide = layers.Conv2D(stage_filters, (1, kernel_size), padding="same", name=f"{stage}_1xk_a")(x)
        wide = layers.Conv2D(stage_filters, (kernel_size, 1), padding="same", name=f"{stage}_kx1_a")(wide)
        tall = layers.Conv2D(stage_filters, (kernel_size, 1), padding="same", name=f"{stage}_kx1_b")(x)
        tall = layers.Conv2D(stage_filters, (1, kernel_size), padding="same", name=f"{stage}_1xk_b")(tall)
        x = layers.Add(name=f"{stage}_gc")([wide, tall])
        x = layers.BatchNormalization(name=f"{stage}_gc_bn")(x)
        x = layers.Activation("relu", name=f"{stage}_gc_relu")(x)
        x = layers.Conv2D(stage_filters, 3, strides=2, padding="same", name=f"{stage}_down")(x)
        x = layers.BatchNormalization(name=f"{stage}_down_bn")(x)
        x = layers.Activation("relu", name=f"{stage}_down_relu")(x)
        features.append(x)
    return keras.Model(inputs, features, name=name)


@keras.saving.register_keras_serializable(package="dermnet")
class SegAN(keras.Model):
    """A segmentor and its critic, trained adversarially by `fit()` (TensorFlow and JAX backends).

    Args:
        segmentor: image → mask probabilities (`segmentor()`).
        critic: masked image → list of feature maps (`critic()`).
        dice_weight: weight of the Dice loss beside the multi-scale L1 loss in the segmentor's step.
        clip_value: the critic's weights are clipped to [-clip_value, clip_value] after each step.
        pixel_level: also count the masked pixels as a level of the multi-scale L1 loss (the authors'
            code); False: the critic's stages alone, as eq. 2 of Xue et al. 2018 defines it.

    Calling the model runs the segmentor. Compile it with an optimizer and, optionally, metrics
    on the masks: `model.compile(optimizer="adam", metrics=[dermnet.metrics.JaccardIndex()])`.
    """

    def __init__(
        self,
        segmentor: keras.Model,
        critic: keras.Model,
        dice_weight: float = 0.0,
        clip_value: float = 0.05,
        pixel_level: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.segmentor, self.critic = segmentor, critic
        self.dice_weight, self.clip_value = float(dice_weight), float(clip_value)
        self.pixel_level = bool(pixel_level)
        self.dice_loss = DiceLoss()
        self.critic_l1 = keras.metrics.Mean(name="multiscale_l1")
        self.built = True

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        return self.segmentor.input_shape

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        return self.segmentor.output_shape

    def call(self, images: Any, training: bool = False) -> Any:
        return self.segmentor(images, training=training)

    def multiscale_l1(self, images: Any, predicted: Any, truth: Any, training: bool = False) -> Any:
        """The critic's mean absolute difference between `x · predicted` and `x · truth`, averaged
        over its stages (eq. 2), with the masked pixels themselves first if `pixel_level`."""
        pixels = ops.cast(images, "float32") / 255.0
        masked = ops.concatenate(
            [pixels * ops.cast(predicted, "float32"), pixels * ops.cast(truth, "float32")]
        )
        # one critic pass for both views
        levels = [*([masked] if self.pixel_level else []), *self.critic(masked, training=training)]
        batch = ops.shape(images)[0]
        return ops.mean(
            ops.stack([ops.mean(ops.abs(ops.cast(f[:batch] - f[batch:], "float32"))) for f in levels])
        )

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        """The segmentor's objective: multi-scale L1 + dice_weight · Dice loss."""
        if y_pred is None:
            y_pred = self(x, training=training)
        l1 = self.multiscale_l1(x, y_pred, y, training)
        if not training:  # evaluation (validation); a training step reports its critic step's L1
            self.critic_l1.update_state(l1)
        return l1 + self.dice_weight * self.dice_loss(y, y_pred) if self.dice_weight else l1

    def compile(self, *args: Any, **kwargs: Any) -> None:
        super().compile(*args, **kwargs)
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            raise ValueError(
                "SegAN's alternating step does not scale its losses: train it in float32 or under "
                "mixed_bfloat16, not mixed_float16."
            )

    def compile_from_config(self, config: dict[str, Any]) -> None:
        # Keras skips restoring the compile state (with a warning) of a model whose `compile` is its
        # own; this one only adds a check, so a loaded SegAN is compiled as it was saved.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def train_step(self, *args: Any) -> Any:
        backend = keras.config.backend()
        if backend == "tensorflow":
            return self._tensorflow_train_step(*args)
        if backend == "jax":
            return self._jax_train_step(*args)
        raise NotImplementedError(f"SegAN trains on the TensorFlow and JAX backends, not {backend}.")

    def _tensorflow_train_step(self, data: Any) -> dict[str, Any]:
        import tensorflow as tf

        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        critic_mask = self._critic_mask()
        predicted = ops.stop_gradient(self.segmentor(x, training=True))
        with tf.GradientTape() as tape:
            l1 = self.multiscale_l1(x, predicted, y, training=True)
            ascent = -l1  # inside the tape: the critic climbs L
        self._apply_to(tape.gradient(ascent, self.trainable_variables), critic_mask)
        for variable in self.critic.trainable_variables:
            variable.assign(ops.clip(variable, -self.clip_value, self.clip_value))
        with tf.GradientTape() as tape:
            predicted = self.segmentor(x, training=True)
            loss = self.compute_loss(x, y, predicted)
        self._apply_to(tape.gradient(loss, self.trainable_variables), [not c for c in critic_mask])
        return self._report(x, y, predicted, loss, l1)

    def _jax_train_step(self, state: Any, data: Any) -> tuple[dict[str, Any], tuple[Any, Any, Any, Any]]:
        import jax

        trainable, non_trainable, optimizer_variables, metrics_variables = state
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        critic_mask = self._critic_mask()

        def critic_objective(trainable: Any, non_trainable: Any) -> tuple[Any, tuple[Any, list[Any]]]:
            def forward() -> tuple[Any, Any]:
                l1 = self.multiscale_l1(
                    x, ops.stop_gradient(self.segmentor(x, training=True)), y, training=True
                )
                return -l1, l1

            return self._stateless(trainable, non_trainable, forward)

        def segmentor_objective(trainable: Any, non_trainable: Any) -> tuple[Any, tuple[Any, list[Any]]]:
            def forward() -> tuple[Any, Any]:
                predicted = self.segmentor(x, training=True)
                return self.compute_loss(x, y, predicted), predicted

            return self._stateless(trainable, non_trainable, forward)

        (_, (l1, non_trainable)), grads = jax.value_and_grad(critic_objective, has_aux=True)(
            trainable, non_trainable
        )
        trainable, optimizer_variables = self._apply_to(grads, critic_mask, optimizer_variables, trainable)
        trainable = [
            ops.clip(v, -self.clip_value, self.clip_value) if is_critic else v
            for v, is_critic in zip(trainable, critic_mask)
        ]
        (loss, (predicted, non_trainable)), grads = jax.value_and_grad(segmentor_objective, has_aux=True)(
            trainable, non_trainable
        )
        trainable, optimizer_variables = self._apply_to(
            grads, [not c for c in critic_mask], optimizer_variables, trainable
        )
        with keras.StatelessScope(
            state_mapping=list(zip(self.metrics_variables, metrics_variables))
        ) as scope:
            logs = self._report(x, y, predicted, loss, l1)
        metrics_variables = [scope.get_current_value(v) for v in self.metrics_variables]
        return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)

    def _critic_mask(self) -> list[bool]:
        critic = {id(v) for v in self.critic.trainable_variables}
        return [id(v) in critic for v in self.trainable_variables]

    def _stateless(
        self, trainable: Any, non_trainable: Any, forward: Callable[[], tuple[Any, Any]]
    ) -> tuple[Any, tuple[Any, list[Any]]]:
        """`forward()` with the model's variables set to these values (JAX): (value, (aux, non-trainable
        values after the pass: batch-norm statistics, dropout seeds))."""
        mapping = [
            *zip(self.trainable_variables, trainable),
            *zip(self.non_trainable_variables, non_trainable),
        ]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            value, aux = forward()
        return value, (aux, [scope.get_current_value(v) for v in self.non_trainable_variables])

    def _apply_to(
        self,
        grads: Sequence[Any],
        mask: Sequence[bool],
        optimizer_variables: Any = None,
        trainable: Any = None,
    ) -> Any:
        """One optimizer step on the variables where `mask` holds (the others keep their values and
        their optimizer slots): stateful on TensorFlow, stateless (returns the new values) on JAX."""
        if not self.optimizer.built:  # slots for both networks, as Keras' own step builds them
            self.optimizer.build(self.trainable_variables)
        grads = [g if selected else None for g, selected in zip(grads, mask)]
        with warnings.catch_warnings():  # Keras warns of variables without gradients: the other network's
            warnings.simplefilter("ignore", UserWarning)
            if optimizer_variables is None:
                return self.optimizer.apply(grads)
            return self.optimizer.stateless_apply(optimizer_variables, grads, trainable)

    def _report(self, x: Any, y: Any, predicted: Any, loss: Any, l1: Any) -> dict[str, Any]:
        # Keras' own loss tracker (what `fit` logs as "loss"), as its default train step updates it.
        self._loss_tracker.update_state(loss)
        self.critic_l1.update_state(l1)
        return self.compute_metrics(x, y, predicted, sample_weight=None)

    def contract(self) -> Contract:
        """A segmentor with its own loss (multi-scale L1 + Dice) whose alternating step runs on one
        device with TensorFlow."""
        return dataclasses.replace(SEGMENTOR, loss=None, distributes_on_tensorflow=False)

    def inference_model(self, name: str | None = None) -> keras.Model:
        """The segmentor: what predicts and what `export` writes."""
        return self.segmentor

    def export(self, filepath: str | os.PathLike[str], **kwargs: Any) -> None:
        return self.segmentor.export(filepath, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "segmentor": keras.saving.serialize_keras_object(self.segmentor),
            "critic": keras.saving.serialize_keras_object(self.critic),
            "dice_weight": self.dice_weight,
            "clip_value": self.clip_value,
            "pixel_level": self.pixel_level,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SegAN:
        config = copy.deepcopy(config)  # Keras' deserialization consumes the nested configs
        for part in ("segmentor", "critic"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


@register_model(CARDS["segan"])
def segan(
    input_shape: Sequence[int | None] = (224, 224, 3),
    decoder_filters: Sequence[int] = (256, 128, 64, 32),
    dropout: float = 0.0,
    critic_filters: Sequence[int] = (64, 128, 256, 512, 512),
    critic_kernel_size: int = 9,
    dice_weight: float = 0.0,
    clip_value: float = 0.05,
    masks: int = 1,
    weights: str | os.PathLike[str] | None = "imagenet",
    freeze: str = "none",
    preprocessing: str = "caffe",
    pixel_level: bool = False,
    name: str = "segan",
) -> keras.Model:
    """Builds a `SegAN` (see the module docstring).

    Args:
        input_shape: `(height, width, 3)`; sides may be None.
        decoder_filters, dropout, masks, preprocessing: the segmentor's (the paper names no dropout).
        critic_filters: the critic's stages (the paper's 5; their widths are dermnet's choice).
        critic_kernel_size: k of the global-convolution blocks (the paper's 9).
        dice_weight, clip_value: as in `SegAN`; the paper's segmentor minimises the multi-scale L1
            loss alone (`dice_weight=0`).
        pixel_level: as in `SegAN` (False: eq. 2's average over the critic's stages alone).
        weights: None, "imagenet" (the encoder's VGG19), or a weights file of this whole model.
        freeze: as in `dermnet.set_trainable`, applied to the segmentor ("backbone": its encoder).

    Example:
    >>> model = dermnet.build("segan", input_shape=(64, 64, 3), weights=None, freeze="backbone")  # imagenet: VGG19's
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=[dermnet.metrics.JaccardIndex()])
    >>> history = model.fit(dermnet.data.segmentation_dataset(df[:50], 64, batch_size=25, augment="menegola2017_seg"),
    ...                     verbose=0, shuffle=False)
    """
    input_shape = check_image_shape(name, input_shape)
    model = SegAN(
        segmentor(input_shape, weights, decoder_filters, dropout, masks, preprocessing),
        critic(input_shape, critic_filters, critic_kernel_size),
        dice_weight,
        clip_value,
        pixel_level,
        name=name,
    )
    return finish(model, weights, freeze)
