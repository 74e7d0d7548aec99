"""Trained models as files: the one module that knows what a run's folder and a published bundle hold.

A **run** is the folder `dermnet train` writes (`RunFolder` writes it: its files, its lock, resume and
overwrite rules). A **bundle** is what `publish` makes of a finished run, to hand to others: the
model, its config, its scores and a model card (`README.md`, with the Hugging Face Hub's header),
and nothing that only training needs. `load(source)` opens either, from a folder, a `.keras` file or
the Hugging Face Hub (`hf://owner/name[@revision]`), and gives the model with what it was trained on.

Loading reads data only: the model with Keras' `safe_mode=True` (no code from the file runs), and
JSON. Nothing a file names is written, removed or sent.

Example:
>>> scores = dermnet.training.run("baseline_cnn", epochs=1, image_size=32, out="runs/baseline_cnn", verbose=0)
>>> run = dermnet.load("runs/baseline_cnn")                 # or "hf://owner/name[@revision]", "model.keras"
>>> run.model_name, run.prediction_size
('baseline_cnn', (32, 32))
>>> bundle = dermnet.runs.publish("runs/baseline_cnn", "published/baseline_cnn")
>>> probabilities = dermnet.load(bundle).model.predict(images, verbose=0)
"""

import contextlib
import dataclasses
import functools
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock
import keras

from dermnet import __version__, datasets, recipes
from dermnet._io import check_target, is_staging_leftover, write_atomically, write_json
from dermnet._registry import ModelCard, model_card
from dermnet.evaluation.scoring import headline
from dermnet.models import prediction_size

if TYPE_CHECKING:
    import pandas as pd

# A run's files. A bundle's config is `dermnet.json`, not `config.json`: on the Hub, Keras' own loader
# and the model pages read a repository's config.json as a Keras model config.
MODEL = "model.keras"
CONFIG = "config.json"
BUNDLE_CONFIG = "dermnet.json"
SCORES = "scores.json"
HISTORY = "history.csv"
CHECKPOINT = "checkpoint.keras"
RESUME = "resume"
LOGS = "logs"
LOCK = ".lock"
EVALUATION = "evaluation"
PREDICTIONS = "predictions.csv"
CALIBRATION = "calibration.json"
CARD = "README.md"

# What a run writes into its folder (and the commands that read it write beside it); a folder holding
# anything else is not a run's, and training refuses it.
_RUN_FILES = {
    LOCK,
    RESUME,
    MODEL,
    CHECKPOINT,
    HISTORY,
    LOGS,
    SCORES,
    CONFIG,
    EVALUATION,
    PREDICTIONS,
    CALIBRATION,
}
_FINISHED = (MODEL, SCORES, CONFIG)
# Arguments a resumed run may change: how it reports, and where its processes meet.
_NOT_COMPARED = ("verbose", "overwrite", "coordinator", "num_processes", "process_id")
_BUNDLE_FILES = (MODEL, SCORES, HISTORY, CALIBRATION)  # copied from the run, beside its config and card


class RunFolder:
    """The folder `dermnet.training.run` trains into: locked while the run lives, resumed after a kill.

    Args:
        path: the folder (made if missing).
    """

    def __init__(self, path: "str | os.PathLike"):
        self.path = Path(path)
        self.model = self.path / MODEL
        self.checkpoint = self.path / CHECKPOINT
        self.history = self.path / HISTORY
        self.logs = self.path / LOGS
        self.resume = self.path / RESUME

    @contextlib.contextmanager
    def locked(self) -> "Iterator[RunFolder]":
        """Holds the folder's lock: a second run into it is refused. filelock's lock is the operating
        system's, so it dies with the process holding it."""
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            with filelock.FileLock(self.path / LOCK, timeout=0):
                yield self
        except filelock.Timeout:
            raise RuntimeError(
                f"{self.path}: another run is training into this folder (it holds "
                f"{self.path / LOCK}): wait for it to end, or give another --out"
            ) from None

    def start_or_resume(
        self,
        arguments: dict,
        load_state: "Callable[[Path], dict | None]",
        overwrite: bool = False,
        verbose: "int | str" = 0,
    ) -> list:
        """Readies the folder for a run of `arguments`: returns the earlier run's files to remove when
        training starts (`ClearEarlierRun`), none when an interrupted run with the same arguments
        resumes from its training state in `self.resume` (`load_state(folder)` reads it: the
        training package's, which sits above this module).

        An interrupted run with other arguments, a finished run (without `overwrite`) and a folder
        of other files are errors."""
        out, resume_dir = self.path, self.resume
        arguments = json.loads(
            json.dumps(_as_json({k: v for k, v in arguments.items() if k not in _NOT_COMPARED}))
        )
        started = resume_dir / "arguments.json"
        # The arguments are compared before the states are read: an interrupted run with other arguments
        # is refused even when its states are damaged, so that starting afresh never removes it unasked.
        if started.is_file() and any(resume_dir.glob("epoch-*")):
            try:
                before = json.loads(started.read_text())
            except ValueError as err:
                raise ValueError(
                    f"{started}: unreadable ({err}): delete {resume_dir} to start afresh"
                ) from None
            # An argument this version added and the record lacks counts as unset (None) then.
            changed = ", ".join(
                f"{k}: {before.get(k)!r} then, {arguments.get(k)!r} now"
                for k in sorted(set(before) | set(arguments))
                if before.get(k) != arguments.get(k)
            )
            if changed:
                raise ValueError(
                    f"{out} holds an interrupted run with other arguments ({changed}): run its "
                    f"command again to resume it, give another --out, or delete {resume_dir} to "
                    "start afresh"
                )
        state = load_state(resume_dir) if started.is_file() else None
        if state is not None:
            if verbose:
                print(f"{out}: resuming an interrupted run after epoch {state['epoch']}")
            return []
        foreign = sorted(
            p.name for p in out.iterdir() if p.name not in _RUN_FILES and not is_staging_leftover(p)
        )
        if foreign:
            raise FileExistsError(
                f"{out} holds files that are not a dermnet run's ({', '.join(foreign[:5])}): give "
                "a new or empty folder as --out"
            )
        finished = [name for name in _FINISHED if (out / name).exists()]
        if finished and not overwrite:
            raise FileExistsError(
                f"{out} holds a finished run ({', '.join(finished)}): give another --out, or "
                "pass --overwrite (overwrite=True) to train over it"
            )
        # An earlier run's history, checkpoint or outputs would pass for this run's: removed once this
        # one has read its data (ClearEarlierRun), not before, so that a run that fails to start loses nothing.
        earlier = [
            out / name for name in (HISTORY, CHECKPOINT, EVALUATION, PREDICTIONS, CALIBRATION, *_FINISHED)
        ]
        earlier += [p for p in out.iterdir() if is_staging_leftover(p)]  # a killed write's, whatever it wrote
        shutil.rmtree(
            resume_dir, ignore_errors=True
        )  # a run stopped before its first epoch has nothing to keep
        write_json(started, arguments)
        return earlier

    def save_model(self, model: keras.Model) -> Path:
        """Writes the trained model (atomically) and returns its path."""
        write_atomically(self.model, model.save)
        return self.model

    def finish(self, scores: dict, config: dict) -> None:
        """Writes the scores and config of a trained run, then removes what only resuming needed: the
        same command is then refused, or trains afresh with `overwrite`."""
        write_json(self.path / SCORES, scores)
        write_json(self.path / CONFIG, config)
        shutil.rmtree(self.resume)
        self.checkpoint.unlink(missing_ok=True)  # model.keras is the same model

    def config_of(
        self,
        arguments: dict,
        model_name: str,
        recipe: recipes.Recipe,
        classes: "Iterable[str]",
        data: dict,
        size: "Iterable[int]",
        preprocessing: "str | None",
    ) -> dict:
        """The run's `config.json`: its arguments, model, recipe, classes in output order, the
        data it was trained on (`describe_data`), what the model takes (at `size`, its prediction
        size, and the `preprocessing` it carries: `dermnet.layers.preprocessing_of`), and the versions."""
        return {
            "arguments": _as_json(arguments),
            "model": model_name,
            "recipe": recipe.to_config(),
            "classes": list(classes),
            "data": data,
            "input": {"size": list(size), "pixels": _PIXELS, "preprocessing": preprocessing},
            "seed": arguments.get("seed"),
            "keras_backend": keras.config.backend(),
            "dermnet_version": __version__,
        }


_PIXELS = (
    "RGB pixels in [0, 255] (uint8 or float), [batch, height, width, 3]; the model carries its own "
    "normalisation"
)


def describe_data(
    dataset: "str | os.PathLike",
    root: "str | os.PathLike | None",
    train: "pd.DataFrame",
    validation: "pd.DataFrame | None",
    test: "pd.DataFrame",
) -> dict:
    """What a run trained and was scored on, for its config and card: the data set, the terms and
    attributions of its images (`dermnet.data.provenance`), and how many images (and groups) each
    split holds."""
    import pandas as pd

    from dermnet.data import provenance

    record = datasets.DATASETS.get(str(dataset))
    group = next((column for column in ("patient_id", "lesion_id") if column in train), None)

    def counts(df: "pd.DataFrame | None") -> "dict[str, int] | None":
        if df is None:
            return None
        return {"images": len(df), **({f"{group}s": int(df[group].nunique())} if group else {})}

    used = provenance(pd.concat([train, validation, test]))
    if str(dataset) == "isic_archive":  # the download's own texts travel with the run, into its card
        texts = provenance(root)
        used.update(attribution_text=texts.get("attribution_text"), licence_texts=texts.get("licence_texts"))
    return {
        "dataset": str(dataset),
        "description": record.description if record else "a manifest CSV",
        "licence": record.licence if record else "",
        "provenance": used,
        "grouped_by": group,
        "splits": {"train": counts(train), "validation": counts(validation), "test": counts(test)},
    }


class ClearEarlierRun(keras.callbacks.Callback):
    """Removes an earlier run's files when training starts: its data read and cached, its model built."""

    def __init__(self, paths: "Iterable[Path]"):
        super().__init__()
        self.paths = list(paths)

    def on_train_begin(self, logs: "dict | None" = None) -> None:
        for path in self.paths:
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        self.paths = []  # the first phase only


@dataclasses.dataclass(frozen=True)
class Run:
    """A trained model and what it was trained on, read from a run folder, a bundle or a `.keras` file.

    Attributes:
        source: what `load` was given.
        path: the folder the files are in.
        model_path: the model file.
        config: the run's config (`{}` for a `.keras` file on its own).
        scores: the scores on its held-out images (`{}` when there are none).
        local: False for a model from the Hub, whose folder is the download cache (not for outputs).
    """

    source: str
    path: Path
    model_path: Path
    config: dict
    scores: dict
    local: bool = True

    @functools.cached_property
    def model(self) -> keras.Model:
        """The Keras model, loaded on first use (`safe_mode=True`: no code from the file runs)."""
        return load_model(self.model_path)

    @property
    def model_name(self) -> "str | None":
        """The registered model it was built as (`dermnet.list_models()`), or None."""
        return self.config.get("model")

    @property
    def classes(self) -> "list[str] | None":
        """Class (or mask) names in the order of the model's outputs, or None."""
        return self.config.get("classes")

    @property
    def arguments(self) -> dict:
        """The arguments of `dermnet.training.run` that trained it."""
        return self.config.get("arguments", {})

    @property
    def dataset(self) -> "str | None":
        """The data set (a name or a manifest CSV) it was trained on, or None."""
        return self.arguments.get("dataset")

    @property
    def root(self) -> "str | None":
        """The folder of that data set's images when it was trained, or None."""
        return self.arguments.get("root")

    @property
    def recipe(self) -> "recipes.Recipe | None":
        """The `dermnet.recipes.Recipe` it was trained by, or None."""
        config = self.config.get("recipe")
        try:
            return recipes.Recipe.from_config(config) if config else None
        except ValueError as err:  # a shared file is data: what it may name is checked (RecipeError)
            raise type(err)(f"{self.path}: its recipe: {err}") from None

    @property
    def card(self) -> "ModelCard | None":
        """The registered model's `ModelCard`, or None."""
        return model_card(self.model_name) if self.model_name else None

    @property
    def prediction_size(self) -> "tuple[int, int]":
        """(height, width) it predicts at: the model's input size, or for one that takes any size
        the size its recipe predicted at."""
        height, width = self.model.input_shape[1:3]
        if height is not None and width is not None:
            return height, width
        if self.recipe is None:
            raise ValueError(
                f"{self.model.name} takes any image size and {self.model_path} has no run config "
                "beside it (its recipe): give its `dermnet train` run folder or bundle instead"
            )
        return prediction_size(self.model, self.recipe)

    @property
    def calibration(self) -> dict:
        """The temperature fitted on its validation split (`dermnet evaluate --calibrate`): `{"temperature",
        "fitted_on", ...}`, or {} when it has none."""
        return _read_json(self.path / CALIBRATION)

    def save_calibration(self, calibration: dict) -> None:
        """Keeps a fitted temperature with the run (a local one: a Hub download's folder is a cache)."""
        if self.local:
            write_json(self.path / CALIBRATION, calibration)

    def output(self, name: str) -> Path:
        """Where a command's default output `name` (`predictions.csv`, `evaluation`) goes: beside the
        model in a local run, in the current folder for one from the Hub (its folder is a cache)."""
        return self.path / name if self.local else Path(name)


def load(source: "str | os.PathLike") -> Run:
    """Opens a trained model: a `dermnet train` run folder, a published bundle (a folder, or
    `hf://owner/name[@revision]` on the Hugging Face Hub, through `huggingface_hub` and its cache),
    or a `.keras` file.

    Args:
        source: the folder, file or `hf://` name. From the Hub, `HF_HUB_OFFLINE=1` reads the local
            cache only, and `HF_TOKEN` (or `hf auth login`) opens private repositories.

    Returns:
        A `Run`: its `model` (loaded on first use), `classes`, `recipe`, `dataset`, `scores`, ...

    Raises:
        FileNotFoundError: no model there (the message names the source).
        ValueError: a file that is not a Keras model, or a config that is not JSON.
        ConnectionError: a Hub model that is neither cached nor downloadable (offline, say).
    """
    text = str(source)
    if text.startswith("hf://"):
        return _open(text, _download(text), local=False)
    if text.startswith("kaggle://"):
        raise ValueError(
            f"{text}: dermnet reads hf:// names and folders; download a Kaggle model with kagglehub "
            "(kagglehub.model_download) and give its folder"
        )
    return _open(text, Path(text).expanduser())


def evaluation_folder(source: "str | os.PathLike") -> Path:
    """The folder of a `dermnet evaluate` report: `source` itself, or the default one of a run (any
    source `load` opens)."""
    path = Path(str(source)).expanduser()
    if (path / PREDICTIONS).is_file() and (path / SCORES).is_file() and not (path / MODEL).exists():
        return path
    folder = load(source).output(EVALUATION)
    if not (folder / PREDICTIONS).is_file():
        raise FileNotFoundError(
            f"{source}: not evaluated yet (no {folder / PREDICTIONS}): run `dermnet evaluate "
            f"{source}` first, or give its evaluation folder"
        )
    return folder


def _open(source: "str | os.PathLike", path: Path, local: bool = True) -> "Run":
    if path.is_dir():
        model_path = path / MODEL
        if not model_path.is_file():
            raise FileNotFoundError(f"{source}: no {MODEL} in it (a run folder, a bundle or a .keras file)")
        config = _read_json(path / CONFIG) or _read_json(path / BUNDLE_CONFIG)
    elif path.is_file() or path.suffix == ".keras":
        model_path, path = path, path.parent
        config = _read_json(path / CONFIG)  # a run's: a model file inside a run folder
    else:
        raise FileNotFoundError(
            f"{source}: no such model file or folder (a run folder, a bundle, a .keras file "
            "or hf://owner/name)"
        )
    return Run(str(source), path, model_path, config, _read_json(path / SCORES), local)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: unreadable ({err})") from None


def load_model(path: "str | os.PathLike") -> keras.Model:
    """A `.keras` file as a Keras model, with `safe_mode=True`; a file that is not one is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file (a .keras file, a run folder or a bundle)")
    if not zipfile.is_zipfile(path):  # Keras would answer "File not found"
        raise ValueError(
            f"{path}: not a Keras model file (a .keras file is a zip archive; this one is "
            f"{'empty' if path.stat().st_size == 0 else 'truncated or of another kind'}): "
            "copy it again, or train the run again"
        )
    import dermnet.models  # noqa: F401  (registers dermnet's layers, which the file names)

    return keras.saving.load_model(path, safe_mode=True)


def _download(source: str) -> Path:
    """The local folder of `hf://owner/name[@revision]`: downloaded once into the Hub's cache."""
    import huggingface_hub
    from huggingface_hub import errors

    repo, _, revision = source[len("hf://") :].partition("@")
    try:
        return Path(
            huggingface_hub.snapshot_download(
                repo, revision=revision or None, library_name="dermnet", library_version=__version__
            )
        )
    except errors.LocalEntryNotFoundError:
        raise ConnectionError(
            f"{source}: not in the local Hugging Face cache, and the Hub cannot be reached "
            "(offline, or HF_HUB_OFFLINE is set): download it once online, or give its "
            "folder"
        ) from None
    except errors.RepositoryNotFoundError:
        raise FileNotFoundError(
            f"{source}: no such model on the Hugging Face Hub (a private one needs HF_TOKEN "
            "or `hf auth login`)"
        ) from None
    except errors.RevisionNotFoundError:
        raise FileNotFoundError(f"{source}: the repository has no revision {revision!r}") from None
    except errors.HfHubHTTPError as err:
        raise ConnectionError(f"{source}: the Hugging Face Hub answered {str(err).splitlines()[0]}") from None


def publish(
    source: "str | os.PathLike",
    dest: "str | os.PathLike",
    *,
    overwrite: bool = False,
    licence: "str | None" = None,
) -> "Path | str":
    """Publishes a finished run as a bundle: `model.keras`, `dermnet.json` (its config, and where and
    when it was published), `scores.json`, `history.csv` and a model card, `README.md`.

    Args:
        source: the run (anything `load` opens that holds a config and scores).
        dest: a folder, or `hf://owner/name` to upload the bundle to the Hugging Face Hub
            (`upload`).
        overwrite: replace an earlier bundle in the folder `dest` (a folder of other files is
            still refused: `dermnet._io.check_target`, the rule of every writer).
        licence: the weights' licence on the card, a Hub licence id (e.g. "cc-by-nc-4.0"); by
            default the training data's terms.

    Returns:
        The bundle's folder, or for the Hub its URL.
    """
    run = load(source)
    unfinished = [
        name
        for name in _FINISHED
        if not (run.path / name).is_file() and not (name == CONFIG and (run.path / BUNDLE_CONFIG).is_file())
    ]
    if (run.path / RESUME).exists() or unfinished or run.model_path.name != MODEL:
        missing = f"no {', '.join(unfinished)}" if unfinished else "its training state is still there"
        raise ValueError(
            f"{source}: not a finished run ({missing}): let `dermnet train` finish it (run its command "
            "again), then publish"
        )
    config = {
        **_portable(run.config),
        "published": {"on": f"{datetime.now(timezone.utc):%Y-%m-%d}", "by": f"dermnet {__version__}"},
    }
    card = model_card_text(run, licence, dest)

    def write(folder: "str | os.PathLike") -> None:
        folder = Path(folder)
        folder.mkdir()
        for name in _BUNDLE_FILES:
            if (run.path / name).is_file():
                shutil.copy2(run.path / name, folder / name)
        (folder / BUNDLE_CONFIG).write_text(json.dumps(config, indent=2))
        (folder / CARD).write_text(card)

    if str(dest).startswith("hf://"):
        with tempfile.TemporaryDirectory() as staging:
            write(Path(staging) / "bundle")
            return upload(Path(staging) / "bundle", str(dest)[len("hf://") :])
    dest = check_target(dest, overwrite, keep=[run.path])
    write_atomically(dest, write)
    return dest


def upload(
    folder: "str | os.PathLike", repo_id: str, *, private: "bool | None" = None, token: "str | None" = None
) -> str:
    """Uploads a bundle's folder to the Hugging Face Hub (creating the repository if needed) through
    `huggingface_hub`, which reads the token from `HF_TOKEN` or `hf auth login`; returns its URL."""
    import huggingface_hub

    api = huggingface_hub.HfApi(library_name="dermnet", library_version=__version__, token=token)
    repo = api.create_repo(repo_id, exist_ok=True, private=private)
    api.upload_folder(
        repo_id=repo.repo_id,
        folder_path=str(folder),
        commit_message=f"Publish a dermnet bundle (dermnet {__version__})",
    )
    return str(repo)


# The data sets' licences as the Hub's licence ids (the records' texts, and the ISIC Archive's per-image
# `copyright_license` values); any other, or several, is "other", each named on the card.
_HUB_LICENCES = {
    "CC0": "cc0-1.0",
    "CC-0": "cc0-1.0",
    "CC BY-NC-SA 4.0": "cc-by-nc-sa-4.0",
    "CC BY-NC 4.0": "cc-by-nc-4.0",
    "CC-BY-NC": "cc-by-nc-4.0",
    "CC-BY": "cc-by-4.0",
    "Apache-2.0": "apache-2.0",
}


def _hub_licence(terms: str) -> str:
    """The Hub's id for one licence text, or "other"."""
    return next((hub for name, hub in _HUB_LICENCES.items() if terms.startswith(name)), "other")


def model_card_text(run: Run, licence: "str | None" = None, dest: "str | os.PathLike | None" = None) -> str:
    """The model card of a run: `README.md` with the Hugging Face Hub's YAML header (library, licence,
    data set, metrics, tags, the scores as model-index results) and a body saying what it is for,
    what it was trained and scored on, its limits and how to load it."""
    from huggingface_hub import EvalResult, ModelCardData

    config, card = run.config, run.card
    data = config.get("data") or {"dataset": run.dataset, "licence": "", "splits": {}}
    used = (data.get("provenance") or {}).get("licences") or (
        {data["licence"]: None} if data.get("licence") else {}
    )
    data_licence = "; ".join(f"{terms} ({n} images)" if n else terms for terms, n in used.items())
    licence = licence or (_hub_licence(next(iter(used))) if len(used) == 1 else "other")
    task = card.task if card else "classification"
    pipeline = "image-classification" if task == "classification" else "image-segmentation"
    scores = {k: v for k, v in headline(run.scores).items() if isinstance(v, (int, float))}
    dataset = Path(str(run.dataset)).name  # a manifest's name, not the path on the machine it trained on
    name = f"{run.model_name or run.model_path.stem} on {dataset}"
    challenge = datasets.challenge_of(str(run.dataset))
    results = [
        EvalResult(
            task_type=pipeline,
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_split="test",
            metric_type=metric,
            metric_value=float(value),
            metric_name=f"{metric} ({challenge or 'dermnet'} scoring)",
        )
        for metric, value in scores.items()
    ]
    header = ModelCardData(
        library_name="keras",
        license=licence,
        datasets=[dataset],
        metrics=list(scores),
        tags=["dermnet", "dermoscopy", "skin-lesion", pipeline],
        pipeline_tag=pipeline,
        model_name=name,
        eval_results=results or None,
        # the Hub wants a slug here; the card's text names the terms in full (the ignore:
        # mypy takes a dict's values for every keyword argument, bool ones too)
        **(
            {"license_name": "training-data-terms"}  # type: ignore[arg-type]
            if licence == "other"
            else {}
        ),
    )
    paper = card.paper.split(" (")[0] if card else "a model registered with dermnet"
    input_info = config.get("input", {})
    size = "×".join(map(str, input_info.get("size", []))) or "its input size"
    where = str(dest) if str(dest).startswith("hf://") else "THIS_FOLDER"
    split_lines = [
        f"- {split}: " + ", ".join(f"{v} {k}" for k, v in counts.items())
        for split, counts in (data.get("splits") or {}).items()
        if counts
    ]
    if data.get("grouped_by"):
        split_lines.append(f"- grouped by `{data['grouped_by']}`: no group has images in two splits")
    attributions = (data.get("provenance") or {}).get("attributions") or {}
    attribution_lines = (
        ["- images by: " + "; ".join(f"{who} ({n})" for who, n in attributions.items())]
        if (attributions)
        else []
    )
    warning = run.scores.get("warning")
    backbone = run.arguments.get("backbone")  # `dermnet train --backbone`: not the one the paper built on
    lines = [
        f"# {name}",
        "",
        f"A {task} model for dermoscopy (skin-lesion) images: `{run.model_name}`"
        + (f" on a `{backbone}` backbone" if backbone else "")
        + f" ({paper}), trained with "
        f"[dermnet](https://pypi.org/project/dermnet/) {config.get('dermnet_version', '')}.",
        "",
        *([f"> **Warning: {warning}**", ""] if warning else []),
        "## Intended use",
        "",
        "Research on dermoscopy images: benchmarks, and a starting point for fine-tuning. It is **not a medical "
        "device**: it has not been validated clinically, and must not be used to diagnose, treat or triage "
        "patients.",
        "",
        "## Classes and input",
        "",
        f"- outputs, in order: {', '.join(run.classes or [])}",
        f"- input: {input_info.get('pixels', _PIXELS)}",
        f"- it predicts at {size}: `dermnet predict` stretches each image to that size (bicubic)",
        "",
        "## Training data",
        "",
        f"- data set: `{dataset}`: {data.get('description', '')}",
        f"- terms of its images and labels: {data_licence or 'not recorded'}",
        *attribution_lines,
        *split_lines,
        "",
        "## Training",
        "",
        f"- recipe `{(config.get('recipe') or {}).get('name', '?')}`, seed {config.get('seed')}, Keras backend "
        f"{config.get('keras_backend', '?')}; the whole recipe and the run's arguments are in `dermnet.json`",
        f"- licence of the weights: {licence}"
        + (f" ({data_licence})" if licence == "other" and data_licence else "")
        + ": the training data's terms, unless the publisher chose others",
        "",
        "## Evaluation",
        "",
        f"On the held-out (`test`) images of `{dataset}`, scored by "
        + (f"the ISIC `{challenge}` challenge's official metrics:" if challenge else "dermnet's scores:"),
        "",
        "| metric | value | 95 % interval |",
        "| --- | --- | --- |",
        *(
            f"| {metric} | {value:.4f} | {_interval(run.scores, metric)} |"
            for metric, value in scores.items()
        ),
        "",
        f"Intervals: {_interval_method(run.scores)}.",
        "",
        "Every score, per category too, is in `scores.json`.",
        "",
        "## Limitations",
        "",
        f"Trained on `{dataset}` alone: its cameras, clinics, populations and skin types. Expect lower scores on "
        "images from elsewhere, and check it on your own data (`dermnet evaluate`) before drawing conclusions.",
        "",
        "## How to load it",
        "",
        "```python",
        "import dermnet",
        "",
        f'run = dermnet.load("{where}")',
        f"probabilities = run.model.predict(pixels)   # [batch, {size.replace('×', ', ')}, 3] RGB pixels",
        "```",
        "",
        f"`dermnet predict {where} images/` writes a table of predictions. The network alone loads in Keras, "
        "once dermnet's layers are registered: `import dermnet.models`, then "
        '`keras.saving.load_model("model.keras", safe_mode=True)`.',
    ]
    return f"---\n{header.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n"


def _interval(scores: dict, metric: str) -> str:
    low_high = scores.get("intervals", {}).get(metric)
    return f"{low_high[0]:.4f} to {low_high[1]:.4f}" if low_high else "–"


def _interval_method(scores: dict) -> str:
    method = scores.get("interval_method")
    if not method:
        return "none computed"
    return (
        f"{method.get('method', 'bootstrap')}, {method.get('n_resamples')} draws of the test set's "
        f"{method.get('resampled', 'images')} (seed {method.get('seed')})"
    )


def _portable(config: dict) -> dict:
    """A run's config as a bundle holds it: the paths of the machine it trained on reduced to their
    names (they mean nothing elsewhere, and may name a person's folders)."""

    def name_only(value: Any) -> Any:
        return Path(value).name if isinstance(value, str) and value.startswith(("/", "~")) else value

    arguments = {key: name_only(value) for key, value in config.get("arguments", {}).items()}
    data = {**config["data"], "dataset": name_only(config["data"]["dataset"])} if "data" in config else None
    return {**config, "arguments": arguments, **({"data": data} if data else {})}


def _as_json(arguments: dict) -> dict:
    return {
        k: str(v) if isinstance(v, Path) else v.to_config() if isinstance(v, recipes.Recipe) else v
        for k, v in arguments.items()
    }
