"""The model contract: what every registered model declares, so that training, prediction, evaluation
and export ask the model, never its class (as keras-hub's `Task` does).

A `Contract` says:

- `task`: "classification" (image → class probabilities), "segmentation" (image → mask probabilities) or
  "attributes" (image → {"masks", "presence"});
- `stream`: what it trains on (`dermnet.data`): "images" (image, label batches), "pairs" (SDL's
  n-tuples with synergic labels; `same_class_share` None gives independent streams), "class_blocks"
  (P classes × K images for batch-hard mining), "triplets" (Xue et al.'s alternating plain and
  triplet batches, `dermnet.data.triplets`), "masks" (images with masks) or "metadata" (images with
  their rows' encoded metadata, `{"image", "metadata"}` inputs: `dermnet.data.metadata`); `stream_options`
  holds the stream's own arguments;
- its default loss and metrics (`compile_arguments`); a model with its own `compute_loss` has
  `loss=None`;
- whether TensorFlow can train it on several devices.

Functional dermnet models (the classifiers, U-nets, DeepLab, ensembles) are plain `keras.Model`s:
their contract follows from their output (probabilities `[B, K]` or masks `[B, H, W, M]`).
Subclassed models (SDL, the triplet classifier, SegAN, the attribute network) declare theirs with a
`contract()` method. `inference_model(model)` is the network that predicts and exports, for every model.

Example:
>>> model = dermnet.build("sdl", backbone="baseline_cnn", input_shape=(32, 32, 3), weights=None)
>>> contract(model).stream, contract(model).stream_options
('pairs', {'n': 2, 'same_class_share': 0.5})
>>> inference_model(model).output_shape
(None, 2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dermnet import losses, metrics

if TYPE_CHECKING:
    import keras

TASKS = ("classification", "segmentation", "attributes")
STREAMS = ("images", "pairs", "class_blocks", "triplets", "masks", "metadata")


def _accuracy() -> list[str]:
    return ["accuracy"]


def _mask_metrics() -> list[keras.metrics.Metric]:
    return [metrics.DiceCoefficient(), metrics.JaccardIndex(), metrics.ThresholdedJaccard()]


def _no_metrics() -> list[Any]:  # the model's own compute_metrics reports them
    return []


@dataclasses.dataclass(frozen=True)
class Contract:
    """What a model declares (module docstring).

    Attributes:
        task: one of `TASKS` (the word the model cards and data sets use).
        stream: one of `STREAMS`.
        stream_options: the stream's own arguments (pairs: `n`, `same_class_share`; class blocks:
            `classes`; triplets: `refresh_every`).
        loss: a zero-argument function giving the default loss (a recipe's loss replaces it), or
            None when the model computes its own (`compute_loss`).
        metrics: a zero-argument function giving fresh metrics for `compile`.
        distributes_on_tensorflow: False where the model's own train step runs on one device only
            with TensorFlow (SegAN's alternating step).
    """

    task: str
    stream: str
    stream_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    loss: Callable[[], Any] | None = None
    metrics: Callable[[], list[Any]] = _no_metrics
    distributes_on_tensorflow: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS or self.stream not in STREAMS:
            raise ValueError(
                f"a contract's task is one of {TASKS} and its stream one of {STREAMS}; "
                f"got {self.task!r}, {self.stream!r}"
            )

    @property
    def predicts_masks(self) -> bool:
        return self.task != "classification"


CLASSIFIER = Contract(
    "classification", "images", loss=lambda: "sparse_categorical_crossentropy", metrics=_accuracy
)
SEGMENTOR = Contract("segmentation", "masks", loss=losses.DiceLoss, metrics=_mask_metrics)


def contract(model: keras.Model) -> Contract:
    """The `Contract` of a dermnet model (a subclassed model's `contract()`, else read off its output).

    Raises:
        TypeError: `model` is no dermnet model: neither a declared contract nor an output of class
            probabilities or masks.
    """
    declared = getattr(model, "contract", None)
    if callable(declared):
        return declared()
    output_shape = model.output_shape
    if isinstance(output_shape, tuple) and len(output_shape) == 2:
        return CLASSIFIER
    if isinstance(output_shape, tuple) and len(output_shape) == 4:
        return SEGMENTOR
    raise TypeError(
        f"{model.name} is not a dermnet model: its output {output_shape} is neither class "
        "probabilities [batch, classes] nor masks [batch, height, width, masks]"
    )


def inference_model(model: keras.Model) -> keras.Model:
    """The network that predicts and exports: image → probabilities, or image → masks (a plain
    functional model; the model itself where it is one)."""
    own = getattr(model, "inference_model", None)
    return own() if callable(own) else model


def compile_arguments(model: keras.Model, loss: Any = None) -> dict[str, Any]:
    """`compile()`'s loss and metrics for `model`: its contract's, `loss` replacing the default loss
    (a model with its own loss takes none)."""
    declared = contract(model)
    arguments: dict[str, Any] = {}
    if declared.loss is not None:
        arguments["loss"] = loss or declared.loss()
    chosen = declared.metrics()
    if chosen:
        arguments["metrics"] = chosen
    return arguments


# `recipe`: a `dermnet.recipes.Recipe` (a module beside this package in the layers: not imported here).
def prediction_size(model: keras.Model, recipe: Any = None) -> tuple[int, int]:
    """(height, width) a model predicts at: its input size, or for a model that takes any size, the
    recipe's `resize` (trained on crops, it segments whole images) or input size."""
    height, width = model.input_shape[1:3]
    if height is not None and width is not None:
        return height, width
    if recipe is None:
        raise ValueError(f"{model.name} takes any image size; give a size, or build it with an input_shape")
    return tuple(recipe.resize or recipe.input_shape[:2])
