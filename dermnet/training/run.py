"""The whole job behind `dermnet train`: data set, model, training by the recipe, scores on the
held-out split, and the files of the run.

Example:
>>> scores = dermnet.training.run("baseline_cnn", epochs=1, image_size=32, out="runs/baseline_cnn", verbose=0)
>>> scores["auc"] > 0, "balanced_accuracy" in scores
(True, True)
"""

import contextlib
import importlib.util
import json
import shutil
from pathlib import Path

import filelock
import keras

from dermnet import __version__, data, datasets, recipes
from dermnet._io import is_staging_leftover, write_atomically, write_json
from dermnet._processes import barrier
from dermnet._registry import build, model_card
from dermnet.evaluation import challenge_scores, mask_names, mask_scores, predict_masks, predict_probabilities
from dermnet.models import contract, prediction_size
from dermnet.training.callbacks import EpochCheckpoint
from dermnet.training.distribution import distribution, join_processes
from dermnet.training.loop import train
from dermnet.training.state import load_training_state


def run(model_name, dataset="synthetic", root=None, *, recipe=None, out=None, epochs=None, batch_size=None,
        image_size=None, weights="default", seed=0, mixed_precision=None, jit_compile="auto", deterministic=False,
        distribute=None, coordinator=None, num_processes=None, process_id=None, overwrite=False, verbose="auto"):
    """Trains `model_name` on a data set's "train" split and scores it on its held-out split.

    An interrupted run (killed at any moment) resumes when called again with the same arguments:
    from the end of its last completed epoch, with the optimizer's state, the schedule's step, the
    random-seed states and the data order, so that it ends as an uninterrupted run would.

    Args:
        model_name: a registered model (`dermnet.list_models()`): a classifier, or a segmentor
            (scored on masks: `dermnet.evaluation.mask_scores`).
        dataset: a name of `dermnet.datasets.DATASETS` (images under `root`) or a manifest CSV;
            "synthetic" (the default) is drawn into the dermnet cache when `root` is None.
        recipe: a recipe name, a `Recipe`, or a JSON file of one (`Recipe.to_config()`, or a run's
            `config.json`); the model card's if None.
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
        (`dermnet.evaluation.challenge_scores`) for the ISIC data sets, else `classification_scores`;
        a segmentor's `mask_scores`.
    """
    # Absolute in the run's config.json, so that `dermnet evaluate RUN` finds the data from any folder.
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
        out = Path(out or Path("runs") / model_name)
        out.mkdir(parents=True, exist_ok=True)
        try:
            # filelock's lock is the operating system's: it dies with the process holding it. In a
            # multi-host job process 0 holds it for all.
            with filelock.FileLock(out / ".lock", timeout=0) if process == 0 else contextlib.nullcontext():
                return _run(model_name, dataset, root, recipe, out, epochs, batch_size, image_size, weights, seed,
                            jit_compile, deterministic, distribute, overwrite, verbose, arguments, process)
        except filelock.Timeout:
            raise RuntimeError(f"{out}: another run is training into this folder (it holds {out / '.lock'}): "
                               "wait for it to end, or give another --out") from None
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _run(model_name, dataset, root, recipe, out, epochs, batch_size, image_size, weights, seed, jit_compile,
         deterministic, distribute, overwrite, verbose, arguments, process):
    keras.utils.set_random_seed(seed)
    if deterministic and keras.config.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    card = model_card(model_name)
    recipe = recipes.load(recipe or card.recipe).for_model(model_name).at_size(image_size)
    train_df, validation_df, test_df = data.load_splits(dataset, root)
    weights = card.weights if weights == "default" else weights
    callbacks, resume_dir = [], out / "resume"
    if process == 0:  # the run's files: written by process 0 alone
        resume_dir, earlier = _start_or_resume(out, arguments, overwrite, verbose)
        callbacks = [ClearEarlierRun(earlier), EpochCheckpoint(out / "checkpoint.keras")]
        if importlib.util.find_spec("tensorboard"):  # Keras' TensorBoard callback writes through it
            callbacks.append(keras.callbacks.TensorBoard(str(out / "logs")))
    barrier("dermnet: the run folder is ready")  # the others then read its training state
    with distribution(distribute) as replicas:
        if card.task == "classification":
            classes = data.class_names(train_df)
            model = build(model_name, num_classes=len(classes), input_shape=recipe.input_shape,
                          weights=weights, **recipe.model_kwargs)
        else:
            classes = mask_names(train_df)
            # Trained on crops of `resize`d images, a segmentor predicts on whole ones: any size in.
            shape = (None, None, 3) if recipe.resize else recipe.input_shape
            model = build(model_name, input_shape=shape, weights=weights, **recipe.model_kwargs)
        declared = contract(model)
        if distribute and not declared.distributes_on_tensorflow and keras.config.backend() == "tensorflow":
            raise ValueError(f"{model_name}'s own train step runs on one device with TensorFlow: train it without "
                             "--distribute, or with KERAS_BACKEND=jax")
        if (batch_size or recipe.batch_size) % replicas:
            raise ValueError(f"--batch-size {batch_size or recipe.batch_size} does not split over {replicas} "
                             "replicas: give a multiple of their number (it is the global batch)")
        if verbose and distribute:
            print(f"{model_name}: data-parallel training on {replicas} replicas")
        try:
            train(model, recipe, train_df, model_name=model_name, validation_df=validation_df, epochs=epochs,
                  batch_size=batch_size, seed=seed, callbacks=callbacks, jit_compile=jit_compile,
                  history_csv=out / "history.csv" if process == 0 else None, resume_dir=resume_dir,
                  verbose=verbose)
        except FloatingPointError as err:
            kept = out / "checkpoint.keras"
            raise FloatingPointError(f"{err} The last good model: {kept if kept.exists() else 'none (first epoch)'}.")
    if process > 0:  # process 0 saves and scores the model; the others wait for its scores
        barrier("dermnet: scored")
        return json.loads((out / "scores.json").read_text())
    write_atomically(out / "model.keras", model.save)
    if distribute == "multi-host":  # its variables span every process: process 0 scores a copy of its own
        model = keras.saving.load_model(out / "model.keras")
    if declared.predicts_masks:
        scores = mask_scores(test_df, predict_masks(model, test_df, prediction_size(model, recipe)))
    else:
        scores = challenge_scores(datasets.challenge_of(str(dataset)), data.class_indices(test_df, classes),
                                  predict_probabilities(model, test_df), classes)
    config = {"arguments": _as_json(arguments), "model": model_name,
              "recipe": recipe.to_config(), "classes": list(classes), "keras_backend": keras.config.backend(),
              "dermnet_version": __version__}
    for name, content in (("scores.json", scores), ("config.json", config)):
        write_json(out / name, content)
    shutil.rmtree(resume_dir)  # finished: the same command is now refused, or trains afresh with overwrite
    (out / "checkpoint.keras").unlink(missing_ok=True)  # model.keras is the same model
    barrier("dermnet: scored")
    return scores


# What a run writes into its folder; a folder holding anything else is not a run's.
_RUN_FILES = {".lock", "resume", "model.keras", "checkpoint.keras", "history.csv", "logs", "scores.json",
              "config.json", "evaluation"}  # and the staging folders a killed write of any of them left
_FINISHED = ("model.keras", "scores.json", "config.json")
# Arguments a resumed run may change: how it reports, and where its processes meet.
_NOT_COMPARED = ("verbose", "overwrite", "coordinator", "num_processes", "process_id")


def _start_or_resume(out, arguments, overwrite, verbose):
    """(The run's `resume/` folder, the earlier run's files to remove when training starts): the
    folder kept from an interrupted run with the same arguments that saved an epoch, or made afresh.
    An interrupted run with other arguments, a finished run (without `overwrite`) and a folder of
    other files are errors."""
    resume_dir = out / "resume"
    arguments = json.loads(json.dumps(_as_json({k: v for k, v in arguments.items() if k not in _NOT_COMPARED})))
    started = resume_dir / "arguments.json"
    # The arguments are compared before the states are read: an interrupted run with other arguments
    # is refused even when its states are damaged, so that starting afresh never removes it unasked.
    if started.is_file() and any(resume_dir.glob("epoch-*")):
        try:
            before = json.loads(started.read_text())
        except ValueError as err:
            raise ValueError(f"{started}: unreadable ({err}): delete {resume_dir} to start afresh") from None
        if before != arguments:
            changed = ", ".join(f"{k}: {before.get(k)!r} then, {arguments.get(k)!r} now"
                                for k in sorted(set(before) | set(arguments)) if before.get(k) != arguments.get(k))
            raise ValueError(f"{out} holds an interrupted run with other arguments ({changed}): run its command "
                             f"again to resume it, give another --out, or delete {resume_dir} to start afresh")
    state = load_training_state(resume_dir) if started.is_file() else None
    if state is not None:
        if verbose:
            print(f"{out}: resuming an interrupted run after epoch {state['epoch']}")
        return resume_dir, []
    foreign = sorted(p.name for p in out.iterdir() if p.name not in _RUN_FILES and not is_staging_leftover(p))
    if foreign:
        raise FileExistsError(f"{out} holds files that are not a dermnet run's ({', '.join(foreign[:5])}): give a "
                              "new or empty folder as --out")
    finished = [name for name in _FINISHED if (out / name).exists()]
    if finished and not overwrite:
        raise FileExistsError(f"{out} holds a finished run ({', '.join(finished)}): give another --out, or pass "
                              "--overwrite (overwrite=True) to train over it")
    # A history or checkpoint left by an earlier run would pass for this run's: removed once this one
    # has read its data (ClearEarlierRun), not before, so that a run that fails to start loses nothing.
    earlier = [out / name for name in ("history.csv", "checkpoint.keras", "evaluation", *_FINISHED)]
    earlier += [p for p in out.iterdir() if is_staging_leftover(p)]  # a killed write's, whatever it wrote
    shutil.rmtree(resume_dir, ignore_errors=True)  # a run stopped before its first epoch has nothing to keep
    write_json(started, arguments)
    return resume_dir, earlier


class ClearEarlierRun(keras.callbacks.Callback):
    """Removes an earlier run's files when training starts: its data read and cached, its model built."""

    def __init__(self, paths):
        super().__init__()
        self.paths = list(paths)

    def on_train_begin(self, logs=None):
        for path in self.paths:
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        self.paths = []  # the first phase only


def _as_json(arguments):
    return {k: str(v) if isinstance(v, Path) else v.to_config() if isinstance(v, recipes.Recipe) else v
            for k, v in arguments.items()}
