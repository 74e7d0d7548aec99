"""Training by a paper's recipe: the right stream for the model, then each phase's `fit()`.

`train` trains a built model; `run` is the whole job behind `dermnet train`: data set, model,
training, scores on the held-out split and the files of the run.

Example:
>>> model = dermnet.build("sdl", weights="imagenet")
>>> df = dermnet.data.load_dataset("isic2016", "~/data/isic2016")
>>> history = dermnet.training.train(model, "zhang2018", df[df.split == "train"], epochs=50)
>>> probabilities = dermnet.training.predict(model, df[df.split == "test"])
"""

import contextlib
import importlib.util
import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

import dermnet
from dermnet import data, losses, metrics, recipes
from dermnet.evaluation.masks import mask_names, mask_scores, predict_masks
from dermnet.evaluation.scoring import CHALLENGE_OF_DATASET, classifier_scores
from dermnet.models.attributes import AttributeNet
from dermnet.models.classifier import set_trainable
from dermnet.models.embedding import TripletClassifier
from dermnet.models.segan import SegAN
from dermnet.models.synergic import SynergicModel


def run(model_name, dataset="synthetic", root=None, *, recipe=None, out=None, epochs=None, batch_size=None,
        image_size=None, weights="default", seed=0, mixed_precision=None, jit_compile="auto", deterministic=False,
        distribute=None, verbose="auto"):
    """Trains `model_name` on a data set's "train" split and scores it on its held-out split.

    An interrupted run (killed at any moment) resumes when called again with the same arguments:
    from the end of its last completed epoch, with the optimizer's state, the schedule's step, the
    random-seed states and the data order, so that it ends as an uninterrupted run would.

    Args:
        model_name: a registered model (`dermnet.list_models()`): a classifier, or a segmentor
            (scored on masks: `dermnet.evaluation.mask_scores`).
        dataset: a name of `dermnet.data.DATASETS` (images under `root`) or a manifest CSV;
            "synthetic" (the default) is drawn into the dermnet cache when `root` is None.
        recipe: a recipe name, a `Recipe`, or a JSON file of one (`Recipe.to_config()`, or a run's
            `config.json`); the model card's if None.
        out: the run's folder (default `runs/<model_name>`): `model.keras`, `checkpoint.keras` (the
            model after its last epoch with a finite loss), `history.csv`, `logs/` (TensorBoard),
            `scores.json` and `config.json` (these arguments, the recipe and the class names); while
            the run is unfinished, `resume/` (its arguments and the state after its last epoch).
        mixed_precision: None (float32), "bfloat16" or "float16": Keras' `mixed_<…>` policy for
            this run (outputs, losses and metrics stay float32).
        image_size: the side of square inputs; the recipe's input size if None.
        weights: the initial weights: "imagenet", None (random), a weights file, or "default":
            the model card's (ImageNet wherever the backbone has them).
        deterministic: TensorFlow's op determinism (`tf.config.experimental.enable_op_determinism`,
            for the rest of the process): same seed, same machine, same metrics, bit for bit. Some
            GPU ops then run slower, and a few refuse to run.
        distribute: None (one device) or "mirrored": data-parallel training on every local GPU (or
            every logical CPU device where there is no GPU), `batch_size` being the global batch
            (`distribution`).
        epochs, batch_size, seed, jit_compile, verbose: as in `train`.

    Raises:
        FloatingPointError: the loss became NaN or infinite; `checkpoint.keras` holds the last good model.

    Returns:
        The scores on the held-out images: the official ones of the data set's challenge
        (`dermnet.evaluation.score`) for the ISIC data sets, else `classification_scores`.
    """
    arguments = dict(locals())
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(f"mixed_{mixed_precision}" if mixed_precision else "float32")
    try:
        return _run(model_name, dataset, root, recipe, out, epochs, batch_size, image_size, weights, seed,
                    jit_compile, deterministic, distribute, verbose, arguments)
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _run(model_name, dataset, root, recipe, out, epochs, batch_size, image_size, weights, seed, jit_compile,
         deterministic, distribute, verbose, arguments):
    keras.utils.set_random_seed(seed)
    if deterministic and keras.config.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    card = dermnet.model_card(model_name)
    recipe = recipes.load(recipe or card.recipe).for_model(model_name).at_size(image_size)
    train_df, validation_df, test_df = dataset_splits(dataset, root)
    weights = card.weights if weights == "default" else weights
    out = Path(out or Path("runs") / model_name)
    resume_dir = _start_or_resume(out, arguments, verbose)
    callbacks = [EpochCheckpoint(out / "checkpoint.keras")]
    if importlib.util.find_spec("tensorboard"):  # Keras' TensorBoard callback writes through it
        callbacks.append(keras.callbacks.TensorBoard(str(out / "logs")))
    with distribution(distribute) as replicas:
        if card.task == "classification":
            classes = data.class_names(train_df)
            model = dermnet.build(model_name, num_classes=len(classes), input_shape=recipe.input_shape,
                                  weights=weights, **recipe.model_kwargs)
        else:
            classes = mask_names(train_df)
            # Trained on crops of `resize`d images, a segmentor predicts on whole ones: any size in.
            shape = (None, None, 3) if recipe.resize else recipe.input_shape
            model = dermnet.build(model_name, input_shape=shape, weights=weights, **recipe.model_kwargs)
        if distribute and isinstance(model, SegAN) and keras.config.backend() == "tensorflow":
            raise ValueError("SegAN's alternating step (and its critic's weight clipping) runs on one device with "
                             "TensorFlow: train it without --distribute, or with KERAS_BACKEND=jax")
        if verbose and distribute:
            print(f"{model_name}: data-parallel training on {replicas} replicas")
        try:
            train(model, recipe, train_df, validation_df=validation_df, epochs=epochs, batch_size=batch_size,
                  seed=seed, callbacks=callbacks, jit_compile=jit_compile, history_csv=out / "history.csv",
                  resume_dir=resume_dir, verbose=verbose)
        except FloatingPointError as err:
            kept = out / "checkpoint.keras"
            raise FloatingPointError(f"{err} The last good model: {kept if kept.exists() else 'none (first epoch)'}.")
    write_atomically(out / "model.keras", model.save)
    if card.task == "classification":
        scores = classifier_scores(data.class_indices(test_df, classes), predict(model, test_df), classes,
                                   CHALLENGE_OF_DATASET.get(str(dataset)))
    else:
        scores = mask_scores(test_df, predict_masks(model, test_df, prediction_size(model, recipe)))
    config = {"arguments": _as_json(arguments),
              "recipe": recipe.to_config(), "classes": list(classes), "keras_backend": keras.config.backend(),
              "dermnet_version": dermnet.__version__}
    for name, content in (("scores.json", scores), ("config.json", config)):
        write_json(out / name, content)
    shutil.rmtree(resume_dir)  # finished: the same command now starts a new run
    return scores


@contextlib.contextmanager
def distribution(distribute):
    """Builds and trains within it: None, as they are; "mirrored", data-parallel over every local GPU
    (every logical CPU device where there is none): `tf.distribute.MirroredStrategy` with TensorFlow,
    `keras.distribution.DataParallel` with JAX. Yields the number of replicas. One machine only:
    Keras 3 does not train over several workers with TensorFlow."""
    if distribute is None:
        yield 1
        return
    if distribute != "mirrored":
        raise ValueError(f"distribute={distribute!r}: None or 'mirrored'")
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([device.name for device in devices])
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    elif backend == "jax":
        before = keras.distribution.distribution()
        parallel = keras.distribution.DataParallel()
        keras.distribution.set_distribution(parallel)
        try:
            yield len(parallel.device_mesh.devices.flatten())
        finally:
            keras.distribution.set_distribution(before)
    else:
        raise ValueError(f"distribute='mirrored' needs the TensorFlow or JAX backend, not {backend}")


def _start_or_resume(out, arguments, verbose):
    """The run's `resume/` folder: kept from an interrupted run with the same arguments that saved an
    epoch, or made afresh; an interrupted run with other arguments is an error."""
    resume_dir = out / "resume"
    arguments = json.loads(json.dumps(_as_json({k: v for k, v in arguments.items() if k != "verbose"})))
    started = resume_dir / "arguments.json"
    state = load_training_state(resume_dir) if started.is_file() else None
    if state is not None:
        before = json.loads(started.read_text())
        if before != arguments:
            changed = ", ".join(f"{k}: {before.get(k)!r} then, {arguments.get(k)!r} now"
                                for k in sorted(set(before) | set(arguments)) if before.get(k) != arguments.get(k))
            raise ValueError(f"{out} holds an interrupted run with other arguments ({changed}): run its command "
                             f"again to resume it, give another --out, or delete {resume_dir} to start afresh")
        if verbose:
            print(f"{out}: resuming an interrupted run after epoch {state['epoch']}")
        return resume_dir
    # A history or checkpoint left by an earlier run would pass for this run's.
    for stale in ("history.csv", "checkpoint.keras"):
        (out / stale).unlink(missing_ok=True)
    shutil.rmtree(resume_dir, ignore_errors=True)  # a run stopped before its first epoch has nothing to keep
    write_json(started, arguments)
    return resume_dir


def _as_json(arguments):
    return {k: str(v) if isinstance(v, Path) else v.to_config() if isinstance(v, recipes.Recipe) else v
            for k, v in arguments.items()}


def write_json(path, content):
    text = json.dumps(content, indent=2)
    write_atomically(path, lambda partial: Path(partial).write_text(text))


def dataset_splits(dataset, root=None):
    """(train, validation, held-out) frames of a data set name or a manifest CSV. Held-out is the
    "test" split, or "validation" when there is no test split (validation is then None, as it is
    when the data set has no validation split)."""
    if str(dataset).endswith(".csv"):
        df = data.from_csv(dataset, root)
    elif dataset == "synthetic" and root is None:  # the embedded default, drawn on first use
        df = data.load_dataset(dataset, data.default_cache_dir() / "synthetic")
    else:
        df = data.load_dataset(dataset, root)
    splits = {name: df[df.split == name] for name in ("train", "validation", "test")}
    if splits["test"].empty:
        splits["test"], splits["validation"] = splits["validation"], splits["test"]
    if splits["train"].empty or splits["test"].empty:
        raise ValueError(f"{dataset}: needs 'train' and 'test' (or 'validation') images; the splits are "
                         f"{df.split.value_counts().to_dict()}")
    return splits["train"], None if splits["validation"].empty else splits["validation"], splits["test"]


def write_atomically(path, write):
    """`write(temporary path)`, then a rename onto `path`: an interrupted write never leaves a truncated
    file (or folder: a folder written replaces the earlier one whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial.{path.name}")  # keeps the suffix, which Keras checks
    shutil.rmtree(partial, ignore_errors=True)  # a folder left by an interrupted write
    write(str(partial))
    if partial.is_dir() and path.is_dir():
        shutil.rmtree(path)
    os.replace(partial, path)


def train(model, recipe, train_df, *, validation_df=None, epochs=None, batch_size=None, augment=None, seed=0,
          cache_dir=None, callbacks=(), jit_compile="auto", run_eagerly=False, history_csv=None, resume_dir=None,
          verbose="auto"):
    """Trains `model` in place through every phase of `recipe`; returns the `History` of each phase.

    Args:
        model: a dermnet classifier, a `SynergicModel` (fed pairs: `same_class_share` 0.5, or
            independent streams when it has no synergic networks), a `TripletClassifier`
            (fed P×K batches: every class of the data, batch_size // classes images each), or a
            segmentor (fed images and masks; the recipe's loss, or a Dice loss; SegAN and the
            attribute network bring their own). Images are cached at `recipe.resize` when the
            recipe has one, else at the model's input size (the recipe's for a model of any size).
        recipe: a `dermnet.recipes.Recipe` or its name; `recipe.for_model(model.name)` is applied.
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
        resume_dir: a folder for the training state, saved after every epoch with a finite loss
            (`save_training_state`); when it holds one, training resumes after that epoch (and
            `history_csv` continues from that epoch's row).

    Raises:
        FloatingPointError: the loss became NaN or infinite (training stops at that batch).
    """
    recipe = (recipes.get(recipe) if isinstance(recipe, str) else recipe).for_model(model.name)
    batch_size = batch_size or recipe.batch_size
    augment = recipe.augment if augment is None else augment
    stream = _stream(model, train_df, recipe.resize or _image_size(model, recipe), batch_size, augment, seed,
                     cache_dir)
    validation = None
    if validation_df is not None:
        validation = _stream(model, validation_df, prediction_size(model, recipe), batch_size, None, seed,
                             cache_dir, shuffle=False)
    state = load_training_state(resume_dir) if resume_dir is not None else None
    history_rows = _history_rows(history_csv, state)
    histories, epochs_before = [], 0  # epochs_before: of the phases before this one
    for index, phase in enumerate(recipe.phases):
        phase_epochs = epochs or phase.epochs
        if state is not None and index < state["phase"]:  # done before the interruption
            epochs_before += phase_epochs
            continue
        set_trainable(model, phase.freeze)
        model.compile(optimizer=phase.make_optimizer(len(stream)), jit_compile=jit_compile, run_eagerly=run_eagerly,
                      **_loss_and_metrics(model, recipe))
        phase_callbacks = phase.make_callbacks()
        resumed = state if state is not None and index == state["phase"] else None
        if resumed:
            restore_training_state(model, resume_dir)
        own = [*phase_callbacks, keras.callbacks.TerminateOnNaN(), _DataEpochs(stream, epochs_before), *callbacks]
        if history_csv is not None:
            own.append(_HistoryCSV(history_csv, phase.name, epochs_before, history_rows))
        if resume_dir is not None:
            own.append(TrainingState(resume_dir, index, epochs_before, phase_callbacks, resumed))
        # shuffle=False: the stream draws its own order each epoch (from the seed)
        history = model.fit(stream, validation_data=validation, epochs=phase_epochs, shuffle=False, callbacks=own,
                            initial_epoch=resumed["phase_epoch"] if resumed else 0, verbose=verbose)
        epochs_before += phase_epochs
        histories.append(history)
        losses = history.history.get("loss", [])
        if losses and not np.isfinite(losses[-1]):
            raise FloatingPointError(f"{model.name}: the loss became {losses[-1]} in phase {phase.name!r}, epoch "
                                     f"{len(losses)}; training stopped there.")
    return histories


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the model to `path` after every epoch whose loss is finite, under a temporary name then
    renamed: a crash never leaves a truncated file, and a NaN epoch never replaces the last good model."""

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        if np.isfinite((logs or {}).get("loss", np.nan)):
            write_atomically(self.path, self.model.save)


class _DataEpochs(keras.callbacks.Callback):
    """Epoch e of a phase draws the stream's epoch `epochs_before + e`: the data order and augmentation
    are a function of the run's epoch, whether or not the run was resumed."""

    def __init__(self, stream, epochs_before):
        super().__init__()
        self.stream, self.epochs_before = stream, epochs_before

    def on_epoch_begin(self, epoch, logs=None):
        data.set_epoch(self.stream, self.epochs_before + epoch)


def _history_rows(path, state):
    """The rows a history continues from: a resumed run's, up to its saved state; else none."""
    if path is None or state is None or not Path(path).is_file():
        return []
    return pd.read_csv(path).iloc[:state["epoch"]].to_dict("records")


class _HistoryCSV(keras.callbacks.Callback):
    def __init__(self, path, phase, epochs_before, rows):
        super().__init__()
        self.path, self.phase, self.epochs_before, self.rows = Path(path), phase, epochs_before, rows

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({"phase": self.phase, "epoch": self.epochs_before + epoch + 1, **(logs or {})})
        write_atomically(self.path, lambda partial: pd.DataFrame(self.rows).to_csv(partial, index=False))


# The recipe callbacks' counters that carry over epochs (ReduceLROnPlateau, EarlyStopping).
_CALLBACK_COUNTERS = ("wait", "best", "cooldown_counter", "stopped_epoch", "best_epoch")


class TrainingState(keras.callbacks.Callback):
    """After every epoch with a finite loss, saves what training resumes from (`save_training_state`);
    at the start of a resumed phase, gives the phase's callbacks back their counters."""

    def __init__(self, folder, phase, epochs_before, phase_callbacks, resumed=None):
        super().__init__()
        self.folder, self.phase, self.epochs_before = Path(folder), phase, epochs_before
        self.phase_callbacks, self.resumed = phase_callbacks, resumed

    def on_train_begin(self, logs=None):  # after the callbacks' own on_train_begin reset them
        for callback, counters in zip(self.phase_callbacks, (self.resumed or {}).get("callbacks", ())):
            for name, value in counters.items():
                setattr(callback, name, value)

    def on_epoch_end(self, epoch, logs=None):
        if not np.isfinite((logs or {}).get("loss", np.nan)):
            return
        counters = [{name: None if getattr(c, name) is None else float(getattr(c, name))
                     for name in _CALLBACK_COUNTERS if hasattr(c, name)} for c in self.phase_callbacks]
        save_training_state(self.folder, self.model, {"phase": self.phase, "phase_epoch": epoch + 1,
                                                      "epoch": self.epochs_before + epoch + 1, "callbacks": counters})


def _state_variables(model):
    """Everything training changes: the model's variables (with batch-norm statistics and random-seed
    states) and the optimizer's (its step, learning rate and moments)."""
    return [*model.variables, *model.optimizer.variables]


def save_training_state(folder, model, progress):
    """Writes `_state_variables(model)` and `progress` (a JSON dict with "epoch", the run's epochs
    done) into `folder/epoch-NNNN` (a folder renamed into place only once complete: a kill at any
    moment leaves the previous state whole), then removes the older states."""
    final = Path(folder) / f"epoch-{progress['epoch']:04d}"

    def write(partial):
        Path(partial).mkdir()
        np.savez(Path(partial) / "variables.npz", *[np.asarray(v.numpy()) for v in _state_variables(model)])
        (Path(partial) / "progress.json").write_text(json.dumps(progress))

    write_atomically(final, write)
    for older in final.parent.glob("epoch-*"):
        if older != final:
            shutil.rmtree(older)


def _latest_state(folder):
    """The newest `epoch-NNNN` folder in `folder`, or None."""
    return max(Path(folder).glob("epoch-*"), default=None) if folder is not None else None


def load_training_state(folder):
    """The progress of the latest state in `folder` (`save_training_state`), or None."""
    state = _latest_state(folder)
    return json.loads((state / "progress.json").read_text()) if state else None


def restore_training_state(model, folder):
    """Loads the latest state in `folder` into a model compiled for the state's phase."""
    state = _latest_state(folder)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    variables = _state_variables(model)
    with np.load(state / "variables.npz") as saved:
        values = [saved[f"arr_{k}"] for k in range(len(saved.files))]
    mismatch = len(values) != len(variables) or any(tuple(v.shape) != a.shape for v, a in zip(variables, values))
    if mismatch:
        raise ValueError(f"{state}: this training state does not fit {model.name} ({len(values)} saved variables, "
                         f"{len(variables)} in the model and its optimizer); delete {Path(folder)} to start afresh")
    for variable, value in zip(variables, values):
        variable.assign(value)


def predict(model, df, batch_size=32, cache_dir=None):
    """Class probabilities `[len(df), K]` for the images of `df`, in its row order (an SDL model
    averages its components', eq. 6)."""
    stream = data.classification_dataset(df, _image_size(model), batch_size, shuffle=False, cache_dir=cache_dir)
    return np.asarray(model.predict(stream, verbose=0))


class StepTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every training step (`seconds`); the median skips compilation."""

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)

    def on_train_begin(self, logs=None):
        self.seconds = []

    @property
    def median(self):
        return float(np.median(self.seconds[1:] or self.seconds))


def prediction_size(model, recipe):
    """(height, width) a model predicts at: its input size, or for a model that takes any size, the
    recipe's `resize` (trained on crops, it segments whole images) or input size."""
    height, width = model.input_shape[1:3]
    if height is not None and width is not None:
        return height, width
    return tuple(recipe.resize or recipe.input_shape[:2])


def _image_size(model, recipe=None):
    height, width = model.input_shape[1:3]
    if height is not None and width is not None:
        return height, width
    if recipe is not None:
        return tuple(recipe.input_shape[:2])
    raise ValueError(f"{model.name} takes any image size; give a size, or build it with an input_shape")


def is_segmentor(model):
    """Whether `model` outputs masks (a segmentor, SegAN, the attribute network)."""
    return isinstance(model, (SegAN, AttributeNet)) or len(model.output_shape) == 4


def _stream(model, df, size, batch_size, augment, seed, cache_dir, shuffle=True):
    if is_segmentor(model):
        return data.segmentation_dataset(df, size, batch_size, augment, shuffle, cache_dir, seed=seed)
    if isinstance(model, SynergicModel):
        share = 0.5 if model.synergic_networks else None
        return data.pair_dataset(df, size, batch_size, model.n, augment, cache_dir, seed=seed,
                                 same_class_share=share)
    if isinstance(model, TripletClassifier) and shuffle:  # P×K batches for batch-hard mining
        classes = min(model.num_classes, df["label"].nunique())
        return data.triplet_dataset(df, size, classes, max(2, batch_size // classes), augment, cache_dir, seed=seed)
    return data.classification_dataset(df, size, batch_size, augment, shuffle, cache_dir, seed=seed)


def _loss_and_metrics(model, recipe):
    if isinstance(model, (SynergicModel, TripletClassifier, AttributeNet)):
        return {}  # their own compute_loss and compute_metrics
    if is_segmentor(model):
        mask_metrics = [metrics.DiceCoefficient(), metrics.JaccardIndex(), metrics.ThresholdedJaccard()]
        if isinstance(model, SegAN):  # its own loss (multi-scale L1 + Dice)
            return {"metrics": mask_metrics}
        return {"loss": recipe.make_loss() or losses.DiceLoss(), "metrics": mask_metrics}
    return {"loss": recipe.make_loss() or "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
