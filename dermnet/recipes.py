"""Training recipes of the papers, as plain serializable data.

A recipe says what a paper trained with: input size, augmentation preset, batch size, the model
arguments it needs, and one or more phases (which layers train, the optimizer and its schedule,
epochs, callbacks). It builds nothing until asked: `phase.make_optimizer(steps_per_epoch)` and
`phase.make_callbacks()` return fresh Keras objects; `recipe.to_config()` is JSON.

Example:
>>> recipe = dermnet.recipes.get("ray2020").for_model("densenet201")
>>> recipe.batch_size
32
>>> model = dermnet.build("densenet201", input_shape=recipe.input_shape, **recipe.model_kwargs,
...                       freeze=recipe.phases[0].freeze, weights=None)
>>> model.compile(optimizer=recipe.phases[0].make_optimizer(steps_per_epoch=100),
...               loss="sparse_categorical_crossentropy")
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import keras

from dermnet import losses
from dermnet.data.augment import get as get_augmentation


class RecipeError(ValueError):
    """A recipe that names something a recipe may not build; the message says where and what."""


# A recipe file is shared like data (another run's config.json), so it names only what the papers'
# recipes need, each argument checked: built as `getattr(keras.callbacks, name)(**config)`, a file could
# make a BackupAndRestore that deletes its backup_dir, a CSVLogger that overwrites its filename, a
# RemoteMonitor that posts every epoch to any address. Add a class here, with its arguments, when a
# recipe needs it.
class _Rule(NamedTuple):
    text: str
    test: Callable[[Any], bool]


def _number(low: float = 0, high: float = math.inf, whole: bool = False) -> _Rule:
    kind = int if whole else (int, float)
    text = (
        f"{'a whole' if whole else 'a'} number"
        + (f" from {low}" if low > -math.inf else "")
        + (f" to {high}" if high < math.inf else "")
    )
    return _Rule(text, lambda v: isinstance(v, kind) and not isinstance(v, bool) and low <= v <= high)


_FLAG = _Rule("true or false", lambda v: isinstance(v, bool))
# A metric's, preset's or backbone's name: never a path or an address.
_NAME = _Rule(
    "a name of letters, digits and underscores",
    lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_]+", v) is not None,
)


def _one_of(*options: str) -> _Rule:
    return _Rule(f"one of {', '.join(options)}", lambda v: isinstance(v, str) and v in options)


_OPTIMIZER_COMMON = {
    "weight_decay": _number(),
    "clipnorm": _number(),
    "clipvalue": _number(),
    "global_clipnorm": _number(),
}
_OPTIMIZERS = {
    "Adam": (
        keras.optimizers.Adam,
        {
            "beta_1": _number(high=1),
            "beta_2": _number(high=1),
            "epsilon": _number(),
            "amsgrad": _FLAG,
            **_OPTIMIZER_COMMON,
        },
    ),
    "RMSprop": (
        keras.optimizers.RMSprop,
        {
            "rho": _number(high=1),
            "momentum": _number(high=1),
            "epsilon": _number(),
            "centered": _FLAG,
            **_OPTIMIZER_COMMON,
        },
    ),
    "SGD": (keras.optimizers.SGD, {"momentum": _number(high=1), "nesterov": _FLAG, **_OPTIMIZER_COMMON}),
}
_DECAY = {"decay_epochs": _number(), "decay_steps": _number()}
_SCHEDULES = {
    "ExponentialDecay": (
        keras.optimizers.schedules.ExponentialDecay,
        {"decay_rate": _number(), "staircase": _FLAG, **_DECAY},
    ),
    "InverseTimeDecay": (
        keras.optimizers.schedules.InverseTimeDecay,
        {"decay_rate": _number(), "staircase": _FLAG, **_DECAY},
    ),
    "PolynomialDecay": (
        keras.optimizers.schedules.PolynomialDecay,
        {"end_learning_rate": _number(), "power": _number(), "cycle": _FLAG, **_DECAY},
    ),
    # A linear warm-up to `warmup_target`, then a cosine from there (Ha, Liu and Liu's schedule).
    "CosineDecay": (
        keras.optimizers.schedules.CosineDecay,
        {
            "alpha": _number(high=1),
            "warmup_target": _number(),
            "warmup_epochs": _number(),
            "warmup_steps": _number(),
            **_DECAY,
        },
    ),
}
_WATCHING = {
    "monitor": _NAME,
    "mode": _one_of("auto", "min", "max"),
    "min_delta": _number(),
    "patience": _number(whole=True),
    "verbose": _number(high=2, whole=True),
}
_ANY_NUMBER = _number(-math.inf)
_BASELINE = _Rule("a number or null", lambda v: v is None or _ANY_NUMBER.test(v))
_FACTOR = _Rule("a number between 0 and 1", lambda v: _ANY_NUMBER.test(v) and 0 < v < 1)
_CALLBACKS = {
    "EarlyStopping": (
        keras.callbacks.EarlyStopping,
        {
            **_WATCHING,
            "baseline": _BASELINE,
            "restore_best_weights": _FLAG,
            "start_from_epoch": _number(whole=True),
        },
    ),
    "ReduceLROnPlateau": (
        keras.callbacks.ReduceLROnPlateau,
        {**_WATCHING, "factor": _FACTOR, "cooldown": _number(whole=True), "min_lr": _number()},
    ),
}
_LOSSES = {
    "DiceLoss": (losses.DiceLoss, {"per_image": _FLAG, "smooth": _number()}),
    "BCEDiceLoss": (losses.BCEDiceLoss, {"dice_weight": _number(), "per_image": _FLAG, "smooth": _number()}),
}

# A recipe's post-processing of predicted masks: the arguments of
# `dermnet.evaluation.postprocess.postprocess_masks`.
_POSTPROCESS = {
    "threshold": _FACTOR,
    "opening": _number(whole=True),
    "closing": _number(whole=True),
    "fill_holes": _FLAG,
    "largest_component": _FLAG,
    "crf": _FLAG,
}


def _check_postprocess(options: object) -> None:
    """`options` names only `_POSTPROCESS`'s arguments, each with a value its rule allows."""
    if not isinstance(options, dict):
        raise RecipeError(
            "postprocess is {argument: value} of dermnet.evaluation.postprocess."
            f"postprocess_masks, not {options!r}"
        )
    for argument, value in options.items():
        if argument not in _POSTPROCESS:
            raise RecipeError(
                f"postprocess argument {argument!r} is not one a recipe may give "
                f"(allowed: {', '.join(_POSTPROCESS)})"
            )
        if not _POSTPROCESS[argument].test(value):
            raise RecipeError(
                f"postprocess {argument}={value!r} is refused: a recipe gives {_POSTPROCESS[argument].text}"
            )


def _allowed(table: Mapping[str, tuple[Any, Mapping[str, _Rule]]], kind: str, spec: object) -> None:
    """Checks that `spec` (`{"class_name": ..., "config": {...}}`) names a class of `table` with arguments
    its rules allow."""
    if not (
        isinstance(spec, dict) and set(spec) == {"class_name", "config"} and isinstance(spec["config"], dict)
    ):
        raise RecipeError(f'a {kind} is {{"class_name": ..., "config": {{...}}}}, not {spec!r}')
    name, config = spec["class_name"], spec["config"]
    if name not in table:
        raise RecipeError(
            f"{kind} {name!r} is not one a recipe may name (a recipe is data; allowed: "
            f"{', '.join(sorted(table))})"
        )
    rules = table[name][1]
    for argument, value in config.items():
        if argument not in rules:
            raise RecipeError(
                f"{name}'s argument {argument!r} is not one a recipe may give (allowed: {', '.join(rules)})"
            )
        if not rules[argument].test(value):
            raise RecipeError(
                f"{name}'s argument {argument}={value!r} is refused: a recipe gives {rules[argument].text}"
            )


def _check_model_kwargs(model_kwargs: Mapping[str, Any]) -> None:
    """Model arguments are numbers, flags, names and lists of them; the weights come from the run, never a
    recipe (a recipe naming a file to load would be code)."""

    def plain(value: object) -> bool:
        if isinstance(value, (list, tuple)):
            return all(map(plain, value))
        return value is None or _FLAG.test(value) or _ANY_NUMBER.test(value) or _NAME.test(value)

    for name, value in model_kwargs.items():
        if name == "weights" or not plain(value):
            raise RecipeError(
                f"model_kwargs {name}={value!r} is refused: a recipe gives a model numbers, "
                "flags and names (of letters, digits and underscores), never its weights"
            )


@contextlib.contextmanager
def _within(where: str) -> Iterator[None]:
    """A `RecipeError` raised inside says `where` first."""
    try:
        yield
    except RecipeError as err:
        raise RecipeError(f"{where}: {err}") from None


@dataclasses.dataclass(frozen=True)
class Phase:
    """One stage of training.

    Attributes:
        name: "head", "finetune", ...
        freeze: what stays frozen, in `dermnet.set_trainable`'s terms.
        epochs: epochs of this phase.
        optimizer_name: "Adam", "RMSprop" or "SGD" (a recipe names only the classes and arguments
            `_OPTIMIZERS`, `_SCHEDULES` and `_CALLBACKS` allow; others raise `RecipeError`).
        optimizer_args: its arguments other than the learning rate.
        learning_rate: the initial learning rate.
        schedule: None, or `{"class_name": "ExponentialDecay" | "InverseTimeDecay" | "PolynomialDecay" |
            "CosineDecay", "config": {...}}`
            without `initial_learning_rate`; a `decay_epochs` (`warmup_epochs`) key becomes `decay_steps`
            (`warmup_steps`: epochs × steps per epoch), since recipes speak in epochs and Keras in steps.
        callbacks: `({"class_name": "EarlyStopping" | "ReduceLROnPlateau", "config": {...}}, ...)`.
    """

    name: str
    freeze: str
    epochs: int
    optimizer_name: str
    learning_rate: float
    optimizer_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    schedule: dict[str, Any] | None = None
    callbacks: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:  # what it builds by name, checked when it is made (from a file too)
        with _within(f"phase {self.name!r}"):
            optimizer = {"class_name": self.optimizer_name, "config": self.optimizer_args}
            _allowed(_OPTIMIZERS, "optimizer", optimizer)
            if self.schedule is not None:
                _allowed(_SCHEDULES, "schedule", self.schedule)
            for callback in self.callbacks:
                _allowed(_CALLBACKS, "callback", callback)

    def make_optimizer(self, steps_per_epoch: int) -> keras.optimizers.Optimizer:
        """A new Keras optimizer for this phase."""
        learning_rate = self.learning_rate
        if self.schedule is not None:
            config = dict(self.schedule["config"], initial_learning_rate=self.learning_rate)
            for key in ("decay", "warmup"):
                if f"{key}_epochs" in config:
                    config[f"{key}_steps"] = round(config.pop(f"{key}_epochs") * steps_per_epoch)
            learning_rate = _SCHEDULES[self.schedule["class_name"]][0](**config)
        return _OPTIMIZERS[self.optimizer_name][0](learning_rate=learning_rate, **self.optimizer_args)

    def make_callbacks(self) -> list[keras.callbacks.Callback]:
        """New Keras callbacks for this phase."""
        return [_CALLBACKS[c["class_name"]][0](**c["config"]) for c in self.callbacks]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Phase:
        return cls(**dict(config, callbacks=tuple(config["callbacks"])))


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A paper's training recipe.

    Attributes:
        name: registry name.
        paper: where it comes from.
        input_shape: `(height, width, 3)` the paper trained at.
        augment: name of the augmentation preset (`dermnet.data.augment`), or an `Augmentation` config.
        batch_size: images per step.
        phases: the `Phase`s, in order.
        model_kwargs: arguments to pass to `dermnet.build` (besides `freeze`): numbers, flags and names,
            never `weights`.
        resize: `(height, width)` the images are cached at when it differs from the model's input
            (the augmentation then crops them to `input_shape`); None: `input_shape`.
        loss: `{"class_name": "DiceLoss" | "BCEDiceLoss", "config": {...}}` (`dermnet.losses`), or None: the
            model's own (cross-entropy for classifiers, a Dice loss for segmentors).
        batchnorm_momentum: the momentum of every BatchNormalization layer's moving statistics while
            training (`dermnet.models.set_batchnorm_momentum`); None: the model's own (Keras' 0.99).
        postprocess: None, or how predicted masks are post-processed before they are scored:
            `dermnet.evaluation.postprocess.postprocess_masks`'s arguments (`crf`, `threshold`, `opening` and
            `closing` radii in pixels at `input_shape`'s scale, `fill_holes`, `largest_component`).
        per_model: `{model name: {field: value}}`: what differs for one model
            (`recipe.for_model(name)` applies it).
        notes: what the recipe had to choose where the paper is silent.
    """

    name: str
    paper: str
    input_shape: tuple[int, int, int]
    augment: str | dict[str, Any]
    batch_size: int
    phases: tuple[Phase, ...]
    model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    resize: tuple[int, int] | None = None
    loss: dict[str, Any] | None = None
    batchnorm_momentum: float | None = None
    postprocess: dict[str, Any] | None = None
    per_model: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    notes: str = ""

    def __post_init__(self) -> None:  # what it builds by name, checked when it is made (from a file too)
        if self.loss is not None:
            _allowed(_LOSSES, "loss", self.loss)
        if self.postprocess is not None:
            _check_postprocess(self.postprocess)
        _check_model_kwargs(self.model_kwargs)
        try:
            get_augmentation(self.augment)
        except (ValueError, TypeError) as err:
            raise RecipeError(f"augment {self.augment!r}: {err}") from None
        for model in self.per_model:
            with _within(f"per_model {model!r}"):
                self.for_model(model)

    def make_loss(self) -> keras.losses.Loss | None:
        """A new loss object, or None when the recipe leaves the loss to the model."""
        if self.loss is None:
            return None
        return _LOSSES[self.loss["class_name"]][0](**self.loss["config"])

    def for_model(self, model_name: str) -> Recipe:
        """This recipe with the overrides for `model_name` applied (and `per_model` emptied)."""
        overrides = dict(self.per_model.get(model_name, {}))
        if "model_kwargs" in overrides:
            overrides["model_kwargs"] = {**self.model_kwargs, **overrides["model_kwargs"]}
        return dataclasses.replace(self, per_model={}, **overrides)

    def at_size(self, side: int | None) -> Recipe:
        """This recipe for square inputs of `side` pixels (None: unchanged); a `resize` and an
        augmentation crop scale with it, so that a short run at a small size keeps the recipe's shape."""
        if side is None or self.input_shape == (side, side, 3):
            return self
        changes: dict[str, Any] = {"input_shape": (side, side, 3)}
        if self.resize:
            changes["resize"] = tuple(round(s * side / self.input_shape[0]) for s in self.resize)
        if self.postprocess:  # radii in pixels: they scale with the images, an element of 1 at least
            changes["postprocess"] = {
                k: max(1, round(v * side / self.input_shape[0])) if k in ("opening", "closing") and v else v
                for k, v in self.postprocess.items()
            }
        augmentation = get_augmentation(self.augment)
        if augmentation.crop:
            changes["augment"] = dataclasses.replace(augmentation, crop=(side, side)).to_config()
        return dataclasses.replace(self, **changes)

    def at_budget(self, epochs: int) -> Recipe:
        """This recipe cut to `epochs` epochs in all, for a short run on a small machine: each phase
        keeps its share of the recipe's epochs (one at least), and a schedule counted in epochs
        (`decay_epochs`, `warmup_epochs`) is cut with it, so that the learning rate ends where the
        recipe's ends. Everything else (optimizers, rates, loss, augmentation) is the recipe's.
        `per_model` phases are cut the same way. Name and notes say so.

        A recipe written for 220 epochs at Adam 1e-4 (menegola2017's U-nets) is no longer that recipe
        in 10; what such a cut costs on real images, and what recovers it, is measured in
        `bench/realdata_isic2017.py`'s table, on the Benchmarks page."""
        if epochs < 1:
            raise RecipeError(f"at_budget: epochs must be 1 or more, not {epochs}")

        def cut(phases: tuple[Phase, ...]) -> tuple[Phase, ...]:
            total = sum(phase.epochs for phase in phases)
            if total <= epochs:
                return phases
            share = epochs / total
            cut_phases = []
            for phase in phases:
                kept = max(1, round(phase.epochs * share))
                schedule = phase.schedule
                if schedule is not None:  # cut as its phase was (a phase keeps one epoch at least)
                    config = {
                        k: v * kept / phase.epochs if k in ("decay_epochs", "warmup_epochs") else v
                        for k, v in schedule["config"].items()
                    }
                    schedule = {**schedule, "config": config}
                cut_phases.append(dataclasses.replace(phase, epochs=kept, schedule=schedule))
            return tuple(cut_phases)

        return dataclasses.replace(
            self.with_phases(cut),
            name=f"{self.name}_at_{epochs}_epochs",
            notes=f"cut to about {epochs} epochs (Recipe.at_budget). {self.notes}",
        )

    def with_phases(self, change: Callable[[tuple[Phase, ...]], tuple[Phase, ...]]) -> Recipe:
        """This recipe with `change` applied to its phases and to each model's own (`per_model`)."""
        per_model = {
            name: {**fields, **({"phases": change(fields["phases"])} if "phases" in fields else {})}
            for name, fields in self.per_model.items()
        }
        return dataclasses.replace(self, phases=change(self.phases), per_model=per_model)

    def to_config(self) -> dict[str, Any]:
        """A JSON-serializable dict; `Recipe.from_config` inverts it."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Recipe:
        config = json.loads(json.dumps(config))  # a deep copy: the caller's dict stays as it was

        def fields(
            values: dict[str, Any],
        ) -> dict[str, Any]:  # JSON's lists back to the tuples and Phases the fields hold
            for name in ("input_shape", "resize"):
                if values.get(name) is not None:
                    values[name] = tuple(values[name])
            if "phases" in values:
                values["phases"] = tuple(Phase.from_config(p) for p in values["phases"])
            return values

        per_model: dict[str, dict[str, Any]] = {}
        for model, overrides in config["per_model"].items():
            with _within(f"per_model {model!r}"):
                per_model[model] = fields(overrides)
        return cls(**fields(dict(config, per_model=per_model)))


_RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    """Adds `recipe` to the registry (later issues add SDL's, Xue's, ...)."""
    if recipe.name in _RECIPES:
        raise ValueError(f"A recipe called {recipe.name!r} is already registered.")
    _RECIPES[recipe.name] = recipe
    return recipe


def get(name: str) -> Recipe:
    """The recipe called `name`."""
    if name not in _RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; known recipes: {', '.join(sorted(_RECIPES))}.")
    return _RECIPES[name]


def load(recipe: str | os.PathLike[str] | Recipe) -> Recipe:
    """A `Recipe` from a registered name, a `Recipe`, or a JSON file holding `Recipe.to_config()`
    (or a `dermnet train` run's `config.json`, whose "recipe" it takes).

    A file is data: it may name only the optimizers, schedules, callbacks and losses the papers' recipes
    use, with their arguments checked (no paths, no addresses); loading it builds nothing.

    Raises:
        RecipeError: the file names something else (the message names the file and the thing).
        ValueError: the file is not a recipe.
    """
    if isinstance(recipe, Recipe):
        return recipe
    if not str(recipe).endswith(".json"):
        # (the ignore: a name is a str; a path not ending in .json reaches `get` too, which refuses it as
        # an unknown name)
        return get(recipe)  # type: ignore[arg-type]
    try:
        config = json.loads(Path(recipe).read_text())
        with _within(str(recipe)):
            return Recipe.from_config(config.get("recipe", config))
    except RecipeError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{recipe}: not a recipe file ({type(err).__name__}: {err})") from None


def list_recipes() -> list[str]:
    """Sorted names of the registered recipes."""
    return sorted(_RECIPES)


def _ray2020(name: str, finetune_freeze: str, densenet201_epochs: int, note: str) -> Recipe:
    """Ray et al. 2020 (Methods): a new head trained on a frozen backbone, then fine-tuning from
    `finetune_freeze`, Adam throughout, the epochs the text gives per network."""
    head = Phase("head", "backbone", 3, "Adam", 1e-4)
    finetune = Phase("finetune", finetune_freeze, 20, "Adam", 1e-4)  # InceptionV3, Inception-ResNet-v2: 20
    per_model: dict[str, dict[str, Any]] = {
        "densenet201": {
            "batch_size": 32,
            "phases": (head, dataclasses.replace(finetune, epochs=densenet201_epochs)),
        },
        # "After 3 epochs, we unfroze the final convolutional block ... for 20 epochs. The learning rate
        # was set to 0.001 and Adam Optimizer was used."
        "vgg16": {"phases": tuple(dataclasses.replace(p, learning_rate=1e-3) for p in (head, finetune))},
        # "The learning rate was initialized at 0.01 and Adam Optimizer was used. The baseline model was
        # trained for a total of 35 epochs." No pretrained part: one phase.
        "baseline_cnn": {"phases": (Phase("train", "none", 35, "Adam", 0.01),)},
    }
    return Recipe(
        name=name,
        paper="Ray et al., JMIR Dermatol 2020",
        input_shape=(192, 256, 3),
        augment="ray2020",
        batch_size=64,
        phases=(head, finetune),
        per_model=per_model,
        notes=f"{note} From the text: 192×256 inputs, Adam, VGG16 at 1e-3 (3 epochs on the head, then 20 "
        'on its last block; the text\'s "total of 30 epochs" does not add up and is not followed), '
        "InceptionV3 and Inception-ResNet-v2 20 epochs, DenseNet-201 27 (last block) and 20 (all layers), "
        "the baseline CNN at 0.01 for 35 epochs. The text gives no learning-rate schedule and none is used. "
        "dermnet's choices where it is silent: Adam 1e-4 for the networks other than VGG16, the 3-epoch head "
        "phase for them too (the text describes it for VGG16), batch 64 (32 for DenseNet-201), 20 epochs "
        'for any other backbone. The baseline\'s input size is garbled in the text ("64×4"): the baseline '
        "trains at the recipe's 192×256. The paper split HAM10000 per image (7,210 / 1,803 / 1,002); "
        'dermnet\'s manifest splits by lesion: `dermnet.data.split(df, RAY2020_SPLIT, group_by="image")` '
        "gives the paper's.",
    )


register(
    _ray2020(
        "ray2020", "top", 27, "Phase 2 unfreezes from the paper's point per backbone (Table 2, 'top layers')."
    )
)
register(
    _ray2020(
        "ray2020_all",
        "none",
        20,
        "Phase 2 trains all layers (Table 3), as the paper did for InceptionV3 and DenseNet-201.",
    )
)

register(
    Recipe(
        name="menegola2017_cls",
        paper="Menegola et al., ISIC 2017 (RECOD Titans)",
        input_shape=(299, 299, 3),
        augment="menegola2017",
        batch_size=32,
        phases=(
            Phase(
                "finetune",
                "none",
                30,
                "RMSprop",
                0.01,
                # TF-slim's RMSprop: decay 0.9, momentum 0.9, epsilon 1.0. Weight decay is
                # Keras' decoupled form (TF-slim used an L2 term of the same coefficient).
                optimizer_args={"rho": 0.9, "momentum": 0.9, "epsilon": 1.0, "weight_decay": 4e-5},
                schedule={
                    "class_name": "ExponentialDecay",
                    "config": {"decay_rate": 0.94, "decay_epochs": 2, "staircase": True},
                },
            ),
        ),
        # Section II-G: Inception-v4 at 299 with per-image normalisation; ResNet-101 at the standard 224.
        per_model={
            "inception_v4": {"model_kwargs": {"preprocessing": "per_image"}},
            "resnet101": {"input_shape": (224, 224, 3)},
        },
        notes="The paper's: Inception-v4 at 299×299 with per-image mean subtraction, ResNet-101 at 224×224, "
        "test-time augmentation pooled by the average, two binary SVMs (melanoma and keratosis, each "
        "against the rest) stacking the members over 3 views per image (dermnet.evaluation.Stacker, which "
        "fits one SVM per class: a third, for nevus, that no ISIC 2017 score reads). TF-slim's RMSprop and "
        "its decay (the authors' code). dermnet's choices: 30 epochs; weight decay decoupled (AdamW-style). "
        "Not here: the authors' extra training data (the ISIC Archive, Interactive Atlas of Dermoscopy, "
        "Dermofit, PH2: their 'deploy' and 'semi' sets), which dermnet cannot fetch, and with it the 7 "
        "members they stacked (Inception-v4s trained on each set and a ResNet-101): the notebook stacks "
        "the two it trains.",
    )
)

register(
    Recipe(
        name="zhang2018",
        paper="Zhang et al., MICCAI 2018 (synergic deep learning)",
        input_shape=(224, 224, 3),
        augment="zhang2018",
        batch_size=32,
        phases=(
            Phase(
                "train",
                "none",
                # 100,000 iterations of batch 32 over ISIC 2016's 900 training images (28 steps).
                3572,
                "SGD",
                1e-4,
                # η(t) = η₀ / (1 + 10⁻⁴ t), t the iteration: Keras' InverseTimeDecay with one-step decay.
                schedule={"class_name": "InverseTimeDecay", "config": {"decay_steps": 1, "decay_rate": 1e-4}},
            ),
        ),
        notes="Mini-batch SGD without momentum (the paper names none), bicubic 224×224 inputs, "
        "λ = 3 (the model's synergic_weight). The epoch count turns the paper's 100,000 iterations "
        "into epochs of ISIC 2016; scale it for another dataset.",
    )
)

# Xue et al. 2018, tasks 2 and 3: the learning rate ×0.1 every 100 epochs.
_TENFOLD_DROP_EVERY_100_EPOCHS = {
    "class_name": "ExponentialDecay",
    "config": {"decay_rate": 0.1, "decay_epochs": 100, "staircase": True},
}


register(
    Recipe(
        name="xue2018_task3",
        paper="Xue et al., ISIC 2018 (task 3: triplet loss, nearest-class-mean)",
        # Task 3, "Data" and "Training": images resized to 360 (width) × 270 (height), random 256×256
        # crops, random flips; SGD with momentum 0.9 from 1e-3, ×0.1 every 100 epochs; batch 64; 500 epochs.
        input_shape=(256, 256, 3),
        resize=(270, 360),
        augment="xue2018_task3",
        # Batches of 64: plain images for the cross-entropy, alternating with 21 triplets (63 images)
        # for the triplet loss (dermnet.data.triplets)
        batch_size=64,
        phases=(
            Phase(
                "train",
                "none",
                500,
                "SGD",
                1e-3,
                optimizer_args={"momentum": 0.9},
                schedule=_TENFOLD_DROP_EVERY_100_EPOCHS,
            ),
        ),
        # "Triplet sampling" and "Training": anchor and positive from a minority class, the hardest
        # negative of the majority class, squared distances (eq. 3), the cross-entropy and the triplet
        # loss trained alternately, the triplets drawn anew every 10 epochs.
        model_kwargs={"triplet_weight": 1.0, "mining": "minor_major", "refresh_every": 10},
        notes="From the text: 360×270 inputs cropped to 256, flips, SGD (momentum 0.9) at 1e-3 ×0.1 every "
        "100 epochs, batch 64, 500 epochs, a 256-d embedding; cross-entropy batches alternating with "
        "triplet batches, each minority-class image an anchor with a positive of its class and the nearest "
        "majority-class image as negative (squared Euclidean distance), drawn anew from the model's "
        "embeddings every 10 epochs; prediction by the nearest class mean over 100 training images per "
        "class. dermnet's choices where the text is silent: the margin (0.2 on L2-normalised embeddings, "
        "FaceNet's, the paper's triplet reference; the hardest negative is found there too), the positive "
        "drawn at random, 21 triplets per batch of "
        "64 (an epoch: every plain batch followed by a triplet batch), the images embedded for drawing as cached and centre-cropped to 256, a resumed run drawing "
        "anew at its first epoch, and prediction at 256×256 on the whole image. The paper's 162 extra "
        "Dermofit images (65 VASC, 98 DF) are not public: trained on the ISIC 2018 images alone. "
        "mining='batch_hard' (a model argument) is dermnet's alternative: the batch-hard triplet loss "
        "summed with the cross-entropy in every step of P×K batches.",
    )
)

register(
    Recipe(
        name="xue2018_task2",
        paper="Xue et al., ISIC 2018 (task 2: attributes, multitask)",
        # Task 2, "Data" and "Training": inputs scaled to 224×224, flips, rotations, colour jitter; the
        # masks' cross-entropy and the multi-label soft-margin loss of presence (attribute_net's own
        # loss, dice_weight 0), Adam, batch 32, 300 epochs from 1e-3, ×0.1 every 100 epochs.
        input_shape=(224, 224, 3),
        augment="xue2018_task2",
        batch_size=32,
        phases=(Phase("train", "none", 300, "Adam", 1e-3, schedule=_TENFOLD_DROP_EVERY_100_EPOCHS),),
        notes="From the text: 224×224 inputs, flips, rotations and colour jitter, the two losses, Adam at 1e-3 "
        "×0.1 every 100 epochs, batch 32, 300 epochs. dermnet's: rotations as 90° turns and the jitter's "
        "ranges (task 1's); the encoder trains from the start (the text freezes nothing for task 2).",
    )
)

register(
    Recipe(
        name="menegola2017",
        paper="Menegola et al., ISIC 2017 (RECOD Titans, part 1: segmentation)",
        input_shape=(128, 128, 3),
        augment="menegola2017_seg",
        batch_size=16,
        phases=(Phase("train", "none", 100, "Adam", 1e-4),),
        loss={"class_name": "DiceLoss", "config": {"per_image": True, "smooth": 1.0}},
        per_model={
            # Section I-D: the VGG16 U-net trains 100 epochs with the ImageNet layers frozen, then 100
            # with every layer; the 8192-unit network and its BN variant 220 epochs each.
            "unet_vgg16": {
                "phases": (
                    Phase("decoder", "backbone", 100, "Adam", 1e-4),
                    Phase("finetune", "none", 100, "Adam", 1e-5),
                )
            },
            "unet_fc": {"phases": (Phase("train", "none", 220, "Adam", 1e-4),)},
            "unet_bn": {"phases": (Phase("train", "none", 220, "Adam", 1e-4),)},
        },
        notes="The paper's: 128×128 inputs, Adam, the Dice loss (RECOD's per-image soft Dice, smoothing 1), "
        "shifts up to 10 %, zoom up to 20 %, rotations up to 270° (preset menegola2017_seg), 220 epochs for "
        "unet_fc and unet_bn, 100 + 100 for unet_vgg16 (encoder frozen, then all). dermnet's choices where "
        "it is silent: Adam 1e-4 (1e-5 once the VGG16 encoder thaws), batch 16, 100 epochs for the "
        "Ronneberger unet, which the paper did not train. The final submission averages 4 unet_fc "
        "(dermnet.evaluation.average_masks).",
    )
)


def _linear(epochs: float, end: float) -> dict[str, Any]:
    """A phase's share of one linear schedule: from the phase's learning rate to `end` over `epochs`."""
    return {
        "class_name": "PolynomialDecay",
        "config": {"decay_epochs": epochs, "end_learning_rate": end, "power": 1.0},
    }


# Xue et al. 2018, task 1: Adam from 1e-3 on a linear schedule; the VGG encoder frozen for the first 50
# epochs, then everything; the fine-tuning length (50) is dermnet's, so the rate falls linearly from
# 1e-3 to 0 over 100 epochs: 1e-3 → 5e-4 in phase 1, 5e-4 → 0 in phase 2.
_XUE_TASK1 = (
    Phase("decoder", "backbone", 50, "Adam", 1e-3, schedule=_linear(50, 5e-4)),
    Phase("finetune", "none", 50, "Adam", 5e-4, schedule=_linear(50, 0.0)),
)

register(
    Recipe(
        name="xue2018",
        paper="Xue et al., ISIC 2018 (task 1: SegAN, DeepLab v3+)",
        input_shape=(224, 224, 3),
        augment="xue2018_seg",
        batch_size=25,
        resize=(296, 336),
        phases=_XUE_TASK1,
        # "For post-processing, we leverage the Conditional Random Fields (CRFs) [9] with morphological
        # operations to refine the generated segmentation masks and remove the isolated small regions":
        # a dense CRF, an opening and a closing (radii 3 at 224 px: dermnet's), the holes filled, the
        # largest region kept.
        postprocess={"crf": True, "opening": 3, "closing": 3, "fill_holes": True, "largest_component": True},
        # DeepLab v3+ (and any segmentor without a loss of its own): the pixels' cross-entropy.
        loss={"class_name": "BCEDiceLoss", "config": {"dice_weight": 0.0}},
        per_model={
            # SegAN's two alternating steps advance the optimizer's iterations twice a batch: its
            # schedule's steps are doubled so that the rate falls over the same epochs.
            # (the ignore: each phase of _XUE_TASK1 has a schedule, which mypy cannot tell)
            "segan": {
                "phases": tuple(
                    dataclasses.replace(
                        p,
                        schedule=_linear(2 * p.epochs, p.schedule["config"]["end_learning_rate"]),  # type: ignore[index]
                    )
                    for p in _XUE_TASK1
                )
            },
            # DeepLab v3+, trained from scratch, has no encoder to keep: it trains whole through both
            # phases (the same straight-line rate), where a frozen encoder would keep its random weights.
            "deeplabv3plus": {"phases": tuple(dataclasses.replace(p, freeze="none") for p in _XUE_TASK1)},
        },
        notes="The paper's: images resized to 336×296 (width × height), random 224×224 crops, flips, 90° turns "
        "and colour jitter; Adam from 1e-3 on a linear schedule, batch 25; the VGG encoder frozen for 50 epochs; "
        "SegAN's segmentor by the multi-scale L1 loss alone, DeepLab v3+ by the pixels' cross-entropy (train "
        "it from scratch, `--weights none`, as the paper did: it trains whole, nothing frozen); the final "
        "ensemble averages 4 SegANs and 2 DeepLab v3+ (dermnet.evaluation.average_masks). dermnet's choices: "
        "50 epochs of fine-tuning (the paper gives no total), the jitter's ranges, and the SE gates' width (the "
        "paper cites Hu et al., whose reduction 16 dermnet keeps, with a floor of 8 units). Post-processing "
        "(the recipe's postprocess, dermnet.evaluation.postprocess.postprocess_masks): the paper's CRF "
        "(Krähenbühl and Koltun's, through the optional pydensecrf2: pip install 'dermnet[crf]'; its kernel "
        "widths and weights are pydensecrf's example, the paper gives none) then morphological opening and "
        "closing (radius 3 at 224 px, dermnet's), hole filling and the largest region kept (the paper removes "
        "'the isolated small regions').",
    )
)


# Ha, Liu and Liu (SIIM-ISIC 2020, 1st place), their code's train.py and the README's command for their
# EfficientNet-B3 metadata model: `--kernel-type 9c_meta_b3_768_512_ext_18ep --image-size 512 --enet-type
# efficientnet_b3 --use-meta --n-epochs 18`, the rest at train.py's defaults: Adam at 3e-5 (--init-lr),
# batch 64, cross-entropy over 9 classes. The rate rises ×10 over the first epoch (GradualWarmupSchedulerV2,
# multiplier 10, total_epoch 1), then falls along a cosine over n_epochs - 1 = 17 epochs
# (CosineAnnealingWarmRestarts with T_0 = 17: one cycle in 18 epochs).
_HA2020_EPOCHS = 18

register(
    Recipe(
        name="ha2020",
        paper="Ha, Liu and Liu, SIIM-ISIC 2020 (1st place): EfficientNet with metadata",
        input_shape=(512, 512, 3),
        augment="ha2020",
        batch_size=64,
        phases=(
            Phase(
                "train",
                "none",
                _HA2020_EPOCHS,
                "Adam",
                3e-5,
                schedule={
                    "class_name": "CosineDecay",
                    "config": {
                        "warmup_target": 3e-4,
                        "warmup_epochs": 1,
                        "decay_epochs": _HA2020_EPOCHS - 1,
                        "alpha": 0.0,
                    },
                },
            ),
        ),
        model_kwargs={"backbone": "efficientnet_b3"},
        notes="From the code (train.py, dataset.py, models.py and the README's command for "
        "9c_meta_b3_768_512_ext_18ep): EfficientNet-B3 at 512 px from the 768 px copies, the metadata "
        "network (512, 128; Swish, batch norm, dropout 0.3) and 5-sample dropout 0.5 before the classifier; "
        "9 classes (dermnet.data.metadata.CLASSES, ISIC 2020 with ISIC 2019 added); Adam 3e-5, warm-up ×10 "
        "over 1 epoch then a cosine over 17, 18 epochs, batch 64, cross-entropy; 5 folds of ISIC 2020's "
        "tfrecords (grouped by patient) and 2019's; each fold's model kept at its best validation melanoma "
        "AUC; prediction: softmax averaged over 8 views (flips and transposes) and the 5 fold models, "
        "melanoma's column. dermnet's where it differs or the code is silent: keras.applications' ImageNet "
        "EfficientNet (geffnet's efficientnet_b3 there; the other metadata models used Noisy Student "
        "weights, tf_efficientnet_b*_ns); the schedule per step, not per epoch (and without the code's "
        "extra step at epoch 2); full precision (the code used apex O1 mixed precision); augmentation "
        "(preset ha2020) keeps the dihedral flips, brightness, contrast, hue and saturation, "
        "shift-scale-rotate with zero fill, and drops what dermnet's batch augmentation does not express: "
        "blur or noise, optical, grid or elastic distortion, CLAHE and Cutout, each applied with "
        "probability 0.5 to 0.85 there (always here); image size is the log of the file's bytes as dermnet "
        "reads it (the code read Deotte's resized JPEGs); dermnet's splits (by patient) stand in for the "
        "tfrecord folds. The paper and code give no weight decay, label smoothing or class weights: none "
        "are used. Other metadata models of the README: B4/B7 Noisy Student at 640/384, B5 at 384 with "
        "meta_units (128, 32), B7 at 1.5e-5.",
    )
)
