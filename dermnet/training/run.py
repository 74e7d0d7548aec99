"""The whole job behind `dermnet train`: data set, model, training by the recipe, scores on the
held-out split, and the files of the run.

Example:
>>> scores = dermnet.training.run("baseline_cnn", epochs=1, image_size=32, out="runs/baseline_cnn", verbose=0)
>>> scores["auc"] > 0, "balanced_accuracy" in scores
(True, True)
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import keras

from dermnet import backbones, data, datasets, recipes
from dermnet._processes import barrier
from dermnet._registry import backbone_models, build, model_card
from dermnet.evaluation import mask_names, mask_scores, predict_masks, predict_probabilities
from dermnet.evaluation.intervals import resampling_groups
from dermnet.evaluation.scoring import model_scores
from dermnet.layers import preprocessing_of
from dermnet.models import contract, prediction_size
from dermnet.runs import ClearEarlierRun, RunFolder, describe_data, load
from dermnet.training.callbacks import EpochCheckpoint
from dermnet.training.distribution import distribution, join_processes
from dermnet.training.loop import train
from dermnet.training.state import load_training_state


def run(
    model_name: str,
    dataset: str | os.PathLike[str] = "synthetic",
    root: str | os.PathLike[str] | None = None,
    *,
    label: str | None = None,
    recipe: str | recipes.Recipe | os.PathLike[str] | None = None,
    backbone: str | None = None,
    out: str | os.PathLike[str] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    image_size: int | None = None,
    weights: str | None = "default",
    seed: int = 0,
    mixed_precision: str | None = None,
    jit_compile: bool | str = "auto",
    deterministic: bool = False,
    distribute: str | None = None,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    overwrite: bool = False,
    verbose: int | str = "auto",
) -> dict[str, Any]:
    """Trains `model_name` on a data set's "train" split and scores it on its held-out split.

    An interrupted run (killed at any moment) resumes when called again with the same arguments:
    from the end of its last completed epoch, with the optimizer's state, the schedule's step, the
    random-seed states and the data order, so that it ends as an uninterrupted run would.

    Args:
        model_name: a registered model (`dermnet.list_models()`): a classifier, or a segmentor
            (scored on masks: `dermnet.evaluation.mask_scores`).
        dataset: a name of `dermnet.datasets.DATASETS` (images under `root`) or a manifest CSV;
            "synthetic" (the default) is drawn into the dermnet cache when `root` is None.
        label: for an `"isic_archive"` download, the `metadata.csv` column holding the labels
            (e.g. "diagnosis_1"); None for every other data set.
        recipe: a recipe name, a `Recipe`, or a JSON file of one (`Recipe.to_config()`, or a run's
            `config.json`); the model card's if None.
        backbone: the backbone of a model built on one (SDL's components, the triplet and metadata
            networks: those whose builder takes `backbone`), e.g. "efficientnet_b0"; None: the
            recipe's or the model's own.
        out: the run's folder (default `runs/<model_name>`): `model.keras`, `history.csv`, `logs/`
            (TensorBoard), `scores.json` and `config.json` (these arguments, the recipe and the class
            names); while the run is unfinished, `checkpoint.keras` (the model after its last epoch
            with a finite loss) and `resume/` (its arguments and the state after its last epoch).
            The folder is locked while the run lives (`.lock`): a second run into it is refused.
        overwrite: train into a folder that holds a finished run. Its files are removed only once
            this run has read its data and starts its first epoch; without it, such a folder (or
            one of files that are not a run's) is refused.
        mixed_precision: None (float32), "bfloat16" or "float16": Keras' `mixed_<…>` policy for
            this run (outputs, losses and metrics stay float32).
        image_size: the side of square inputs; the recipe's input size if None.
        weights: the initial weights: "imagenet", None (random), a weights file, or "default":
            the model card's (ImageNet wherever the backbone has them).
        deterministic: TensorFlow's op determinism (`tf.config.experimental.enable_op_determinism`,
            for the rest of the process): same seed, same machine, same metrics, bit for bit. Some
            GPU ops then run slower, and a few refuse to run.
        distribute: None (one device); "mirrored": data-parallel training on every local GPU (or
            every logical CPU device where there is no GPU); "multi-host" (JAX): data-parallel over
            the devices of several processes, each of which runs this same call. `batch_size` is the
            global batch (`distribution`).
        coordinator, num_processes, process_id: a multi-host job (`join_processes`): process 0's
            `HOST:PORT`, the number of processes, this one's index; None: from the environment.
            Only process 0 writes the run's folder, which must be on a file system that every
            process reads (it resumes from the training state there); each returns the scores.
        epochs, batch_size, seed, jit_compile, verbose: as in `train`.

    Raises:
        FloatingPointError: the loss became NaN or infinite; `checkpoint.keras` holds the last good model.

    Returns:
        The scores on the held-out images: the official ones of the data set's challenge
        (`dermnet.evaluation.challenge_scores`) for the ISIC data sets, else `classification_scores`,
        with their 95 % bootstrap intervals (`dermnet.evaluation.scoring.model_scores`);
        a segmentor's `mask_scores`.
    """
    if backbone is not None:  # refused before the run's folder is touched
        if model_name not in backbone_models():
            raise ValueError(
                f"{model_name} is not built on a backbone; --backbone is for {', '.join(backbone_models())}"
            )
        backbones.get(backbone)  # an unknown name: the error names the known ones
    # Absolute in the run's config, so that `dermnet evaluate RUN` finds the data from any folder.
    root = None if root is None else Path(root).expanduser().absolute()
    if str(dataset).endswith(".csv"):
        dataset = Path(dataset).expanduser().absolute()
    arguments = dict(locals())
    process = 0
    if distribute == "multi-host":  # before anything runs on JAX
        process, _ = join_processes(coordinator, num_processes, process_id)
        verbose = verbose if process == 0 else 0
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(f"mixed_{mixed_precision}" if mixed_precision else "float32")
    try:
        folder = RunFolder(out or Path("runs") / model_name)
        # In a multi-host job process 0 holds the folder's lock for all.
        with folder.locked() if process == 0 else contextlib.nullcontext():
            return _run(
                model_name,
                dataset,
                root,
                label,
                recipe,
                backbone,
                folder,
                epochs,
                batch_size,
                image_size,
                weights,
                seed,
                jit_compile,
                deterministic,
                distribute,
                overwrite,
                verbose,
                arguments,
                process,
            )
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _run(
    model_name: str,
    dataset: str | os.PathLike[str],
    root: Path | None,
    label: str | None,
    recipe: str | recipes.Recipe | os.PathLike[str] | None,
    backbone: str | None,
    folder: RunFolder,
    epochs: int | None,
    batch_size: int | None,
    image_size: int | None,
    weights: str | None,
    seed: int,
    jit_compile: bool | str,
    deterministic: bool,
    distribute: str | None,
    overwrite: bool,
    verbose: int | str,
    arguments: dict[str, Any],
    process: int,
) -> dict[str, Any]:
    keras.utils.set_random_seed(seed)
    if deterministic and keras.config.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    card = model_card(model_name)
    # (the ignore: `ModelCard.recipe` is Optional by its type; every registered model's card names one)
    recipe = recipes.load(recipe or card.recipe).for_model(model_name).at_size(image_size)  # type: ignore[arg-type]
    train_df, validation_df, test_df = data.load_splits(dataset, root, label=label)
    model_kwargs = recipe.model_kwargs if backbone is None else {**recipe.model_kwargs, "backbone": backbone}
    if weights == "default":  # ImageNet where the backbone has them (the card's, for its own)
        weights = card.weights if backbone is None or backbones.get(backbone).imagenet_file else None
    callbacks = []
    if process == 0:  # the run's files: written by process 0 alone
        earlier = folder.start_or_resume(arguments, load_training_state, overwrite, verbose)
        callbacks = [ClearEarlierRun(earlier), EpochCheckpoint(folder.checkpoint)]
        if importlib.util.find_spec("tensorboard"):  # Keras' TensorBoard callback writes through it
            callbacks.append(keras.callbacks.TensorBoard(str(folder.logs)))
    barrier("dermnet: the run folder is ready")  # the others then read its training state
    with distribution(distribute) as replicas:
        if card.task == "classification":
            classes = data.class_names(train_df)
            model = build(
                model_name,
                num_classes=len(classes),
                input_shape=recipe.input_shape,
                weights=weights,
                **model_kwargs,
            )
        else:
            classes = mask_names(train_df)
            # Trained on crops of `resize`d images, a segmentor predicts on whole ones: any size in.
            shape = (None, None, 3) if recipe.resize else recipe.input_shape
            model = build(model_name, input_shape=shape, weights=weights, **model_kwargs)
        declared = contract(model)
        if distribute and not declared.distributes_on_tensorflow and keras.config.backend() == "tensorflow":
            raise ValueError(
                f"{model_name}'s own train step runs on one device with TensorFlow: train it without "
                "--distribute, or with KERAS_BACKEND=jax"
            )
        if (batch_size or recipe.batch_size) % replicas:
            raise ValueError(
                f"--batch-size {batch_size or recipe.batch_size} does not split over {replicas} "
                "replicas: give a multiple of their number (it is the global batch)"
            )
        if verbose and distribute:
            print(f"{model_name}: data-parallel training on {replicas} replicas")
        try:
            train(
                model,
                recipe,
                train_df,
                model_name=model_name,
                validation_df=validation_df,
                epochs=epochs,
                batch_size=batch_size,
                seed=seed,
                callbacks=callbacks,
                jit_compile=jit_compile,
                history_csv=folder.history if process == 0 else None,
                resume_dir=folder.resume,
                verbose=verbose,
            )
        except FloatingPointError as err:
            kept = folder.checkpoint
            raise FloatingPointError(
                f"{err} The last good model: {kept if kept.exists() else 'none (first epoch)'}."
            )
    if process > 0:  # process 0 saves and scores the model; the others wait for its scores
        barrier("dermnet: scored")
        return load(folder.path).scores
    saved = folder.save_model(model)
    if distribute == "multi-host":  # its variables span every process: process 0 scores a copy of its own
        model = keras.saving.load_model(saved)
    size = prediction_size(model, recipe)
    if declared.predicts_masks:
        scores = mask_scores(test_df, predict_masks(model, test_df, size))
    else:
        groups, unit = resampling_groups(test_df)  # a lesion's (or patient's) images resampled together
        scores = model_scores(
            datasets.challenge_of(str(dataset)),
            data.class_indices(test_df, classes),
            predict_probabilities(model, test_df),
            classes,
            groups=groups,
            unit=unit,
        )
    folder.finish(
        scores,
        folder.config_of(
            arguments,
            model_name,
            recipe,
            classes,
            describe_data(dataset, root, train_df, validation_df, test_df),
            size,
            preprocessing_of(model),  # the card's is its own backbone's: not that of a --backbone
        ),
    )
    barrier("dermnet: scored")
    return scores
