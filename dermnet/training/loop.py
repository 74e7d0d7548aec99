"""The phase loop: a model trained in place through every phase of a recipe, on the stream its contract
asks for, resuming after the last saved epoch of an interrupted run.

Example:
>>> df = dermnet.data.load_dataset("synthetic", "~/data/synthetic")
>>> model = dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3))
>>> histories = dermnet.training.train(model, "ray2020", df[df.split == "train"], epochs=1, verbose=0)
>>> [len(h.history["loss"]) for h in histories]
[1]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from dermnet import data, recipes
from dermnet._processes import process_share
from dermnet._registry import registered_name
from dermnet.models import compile_arguments, contract, prediction_size, set_batchnorm_momentum, set_trainable
from dermnet.training.callbacks import (
    BatchLines,
    DataEpochs,
    HistoryCSV,
    NotLearning,
    TrainingState,
    TripletDrawing,
)
from dermnet.training.state import load_training_state, restore_training_state

if TYPE_CHECKING:
    import pandas as pd


def train(
    model: keras.Model,
    recipe: str | recipes.Recipe,
    train_df: pd.DataFrame,
    *,
    model_name: str | None = None,
    validation_df: pd.DataFrame | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    augment: str | data.Augmentation | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    jit_compile: bool | str = "auto",
    run_eagerly: bool = False,
    history_csv: str | os.PathLike[str] | None = None,
    resume_dir: str | os.PathLike[str] | None = None,
    verbose: int | str = "auto",
) -> list[keras.callbacks.History]:
    """Trains `model` in place through every phase of `recipe`; returns the `History` of each phase.

    Args:
        model: a dermnet model; its contract (`dermnet.models.contract`) chooses the stream
            (images, SDL's n-tuples, P×K batches of every class with batch_size // classes images
            each, Xue et al.'s alternating plain and triplet batches, images with masks, images with
            their metadata) and the
            loss (the recipe's, else the contract's default; a model with its own `compute_loss`
            takes none). Images are cached at `recipe.resize` when the recipe has one, else at the
            model's input size (the recipe's for a model of any size).
        recipe: a `dermnet.recipes.Recipe` or its name. Its overrides for one model
            (`Recipe.per_model`) are those of `model_name`.
        model_name: the registered name the model was built as; if None, the name `dermnet.build`
            recorded on it. Overrides never follow `model.name`, which a user may change: a recipe
            with overrides and a model of unknown origin is an error.
        train_df, validation_df: validated manifests (`dermnet.data`); images are cached at the
            model's input size.
        epochs: every phase's epoch count; the recipe's if None.
        batch_size: the recipe's if None.
        augment: a preset name, an `Augmentation`, or "none"; the recipe's preset if None.
        seed: the data order and augmentation of every epoch follow from it.
        cache_dir: where the uint8 cache lives (`dermnet.data.build_cache`).
        callbacks: Keras callbacks for every phase, after the recipe's own.
        jit_compile: Keras' `compile(jit_compile=)`: "auto" (XLA where the model allows it), True, False.
        run_eagerly: Keras' `compile(run_eagerly=)`, which also holds for `predict` afterwards. Tracing
            a large graph (DenseNet-201: about 20 s per function on 2 CPU cores) costs more than it
            saves over a handful of steps, as in the notebooks' smoke mode; never for real training.
        history_csv: a CSV rewritten after every epoch: a row per epoch of the run ("phase", "epoch"
            counted over all phases, then the losses and metrics).
        verbose: Keras' `fit(verbose=)`; with 2 (a line per epoch, for logs) a line every 30 s within
            an epoch too (`BatchLines`).
        resume_dir: a folder for the training state, saved after every epoch with a finite loss
            (`save_training_state`; in a multi-host job by process 0); when it holds one, training
            resumes after that epoch (and `history_csv` continues from that epoch's row).

    Raises:
        FloatingPointError: the loss became NaN or infinite (training stops at that batch).
        ValueError: a recipe callback watches a validation metric and there is no `validation_df`.
    """
    recipe = recipes.get(recipe) if isinstance(recipe, str) else recipe
    if recipe.per_model:  # overrides by registered name, never by `model.name`
        name = model_name or registered_name(model)
        if name is None:
            raise ValueError(
                f"recipe {recipe.name!r} has overrides for {', '.join(recipe.per_model)}: give "
                f"model_name= (the registered name {model.name} was built as) or "
                "recipe.for_model(name)"
            )
        recipe = recipe.for_model(name)
    if validation_df is None:
        _check_needs_no_validation(recipe)
    batch_size = batch_size or recipe.batch_size
    augment = recipe.augment if augment is None else augment
    training_size = recipe.resize or _fixed_size(model) or recipe.input_shape[:2]
    stream = training_stream(model, train_df, training_size, batch_size, augment, seed, cache_dir)
    validation = None
    if validation_df is not None:
        validation = training_stream(
            model,
            validation_df,
            prediction_size(model, recipe),
            batch_size,
            None,
            seed,
            cache_dir,
            shuffle=False,
        )
    if recipe.batchnorm_momentum is not None:
        set_batchnorm_momentum(model, recipe.batchnorm_momentum)
    state = load_training_state(resume_dir) if resume_dir is not None else None
    history_rows = _history_rows(history_csv, state)
    histories, epochs_before = [], 0  # epochs_before: of the phases before this one
    for index, phase in enumerate(recipe.phases):
        phase_epochs = epochs or phase.epochs
        if state is not None and index < state["phase"]:  # done before the interruption
            epochs_before += phase_epochs
            continue
        set_trainable(model, phase.freeze)
        model.compile(
            optimizer=phase.make_optimizer(len(stream)),
            jit_compile=jit_compile,
            run_eagerly=run_eagerly,
            **compile_arguments(model, recipe.make_loss()),
        )
        phase_callbacks = phase.make_callbacks()
        resumed = state if state is not None and index == state["phase"] else None
        if resumed:
            restore_training_state(model, resume_dir)
        own = [
            *phase_callbacks,
            keras.callbacks.TerminateOnNaN(),
            DataEpochs(stream, epochs_before),
            *callbacks,
        ]
        if verbose:
            own.append(NotLearning())
        if hasattr(stream, "triplet_sampler"):  # Xue et al.'s triplets, drawn from the model's embeddings
            own.append(TripletDrawing(stream, contract(model).stream_options["refresh_every"], epochs_before))
        if verbose == 2:
            own.append(BatchLines())
        if history_csv is not None:
            own.append(HistoryCSV(history_csv, phase.name, epochs_before, history_rows))
        if resume_dir is not None and process_share()[0] == 0:  # multi-host: every process resumes, one saves
            own.append(
                TrainingState(resume_dir, index, epochs_before, phase_callbacks, resumed, history_rows)
            )
        # shuffle=False: the stream draws its own order each epoch (from the seed)
        history = model.fit(
            stream,
            validation_data=validation,
            epochs=phase_epochs,
            shuffle=False,
            callbacks=own,
            initial_epoch=resumed["phase_epoch"] if resumed else 0,
            verbose=verbose,
        )
        epochs_before += phase_epochs
        histories.append(history)
        losses = history.history.get("loss", [])
        if losses and not np.isfinite(losses[-1]):
            raise FloatingPointError(
                f"{model.name}: the loss became {losses[-1]} in phase {phase.name!r}, epoch "
                f"{len(losses)}; training stopped there."
            )
    return histories


def training_stream(
    model: keras.Model,
    df: pd.DataFrame,
    size: int | tuple[int, int],
    batch_size: int,
    augment: str | data.Augmentation | dict[str, Any] | None,  # a recipe's: a preset or its config
    seed: int,
    cache_dir: str | os.PathLike[str] | None,
    shuffle: bool = True,
) -> Any:
    """The batches `model` trains on, as its contract declares them (validation: `shuffle=False`)."""
    declared = contract(model)
    options = declared.stream_options
    if declared.stream == "masks":
        return data.segmentation_dataset(df, size, batch_size, augment, shuffle, cache_dir, seed=seed)
    if declared.stream == "pairs":
        return data.pair_dataset(
            df,
            size,
            batch_size,
            options["n"],
            augment,
            cache_dir,
            seed=seed,
            same_class_share=options["same_class_share"],
        )
    if declared.stream == "triplets" and shuffle:  # plain and triplet batches, alternating
        return data.alternating_triplet_dataset(df, size, batch_size, augment, cache_dir, seed=seed)
    if declared.stream == "class_blocks" and shuffle:  # P×K batches for batch-hard mining
        classes = min(options["classes"], df["label"].nunique())
        return data.triplet_dataset(
            df, size, classes, max(2, batch_size // classes), augment, cache_dir, seed=seed
        )
    return data.classification_dataset(
        df, size, batch_size, augment, shuffle, cache_dir, seed=seed, metadata=declared.stream == "metadata"
    )


def _check_needs_no_validation(recipe: recipes.Recipe) -> None:
    """Without validation data a callback watching `val_*` never acts, and Keras only warns once per
    epoch: a schedule the recipe relies on would silently not run."""
    for phase in recipe.phases:
        for callback in phase.callbacks:
            monitor = callback["config"].get("monitor", "")
            if monitor.startswith("val_"):
                raise ValueError(
                    f"recipe {recipe.name!r}, phase {phase.name!r}: {callback['class_name']} watches {monitor!r}, "
                    "and there is no validation data: give validation_df (a data set with a validation split, "
                    "or one made by dermnet.data.split), or a recipe without that callback"
                )


def _fixed_size(model: keras.Model) -> tuple[int, int] | None:
    height, width = model.input_shape[1:3]
    return (height, width) if height is not None and width is not None else None


def _history_rows(path: str | os.PathLike[str] | None, state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The rows a history continues from: a resumed run's, as its saved state holds them (so a
    deleted or cut `history.csv` comes back whole); else none."""
    return list(state.get("history", [])) if path is not None and state is not None else []
