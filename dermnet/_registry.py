"""The model registry: `register_model`, `build`, `list_models`, `model_card`."""

import dataclasses
import difflib
import fnmatch
import inspect
from typing import Callable, Optional

from dermnet import _papers

ZHANG2018 = "Zhang et al., MICCAI 2018 (synergic deep learning)"
RAY2020 = "Ray et al., JMIR Dermatol 2020 (fine-tuned CNNs on HAM10000)"
XUE2018 = "Xue et al., ISIC 2018 (SegAN, attributes, triplet loss)"
MENEGOLA2017 = "Menegola et al., ISIC 2017 (RECOD Titans)"
_PAPER_KEYS = {ZHANG2018: "zhang2018", RAY2020: "ray2020", XUE2018: "xue2018", MENEGOLA2017: "menegola2017"}


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What a registered model is, before building it.

    Attributes:
        name: the name `dermnet.build` takes.
        task: "classification", "segmentation", ...
        paper: the paper the model comes from.
        input_shape: default `(height, width, 3)`.
        num_classes: default number of classes (the paper's dataset).
        preprocessing: the normalisation layer the model carries (`dermnet.layers.Preprocess`).
        head: default classifier head, or None.
        recipe: name of the training recipe in `dermnet.recipes`, or None.
        weights: default `weights=` ("imagenet" where keras.applications has them, else None).
        parameters: parameters of the model built with its defaults (checked by a test).
        description: one line.

    And, derived: `paper_key` (its key in `dermnet.reproduce.PAPERS`), `training_data` (what the
    paper trained and scored it on), `reported` (the paper's figures of this model, each with its
    source) and `licence`. dermnet ships no weights trained on skin images: `weights` are ImageNet's.
    """

    name: str
    task: str
    paper: str
    input_shape: tuple
    num_classes: int
    preprocessing: str
    head: Optional[str]
    recipe: Optional[str]
    weights: Optional[str]
    parameters: int
    description: str

    @property
    def paper_key(self):
        return _PAPER_KEYS[self.paper]

    @property
    def training_data(self):
        return _papers.TRAINING_DATA[self.paper_key, self.task]

    @property
    def reported(self):
        return _papers.reported(self.name)

    @property
    def licence(self):
        weights = ("; its ImageNet weights are keras.applications', downloaded from the keras-applications "
                   "releases under their terms" if self.weights == "imagenet" else "; no pretrained weights")
        return "Apache-2.0 (dermnet's code)" + weights


_MODELS: dict = {}


def register_model(card: ModelCard):
    """Decorator: registers `builder(**kwargs) -> keras.Model` under `card.name`."""

    def decorate(builder: Callable):
        if card.name in _MODELS:
            raise ValueError(f"A model called {card.name!r} is already registered.")
        _MODELS[card.name] = (builder, card)
        return builder

    return decorate


def _lookup(name):
    if name not in _MODELS:
        close = difflib.get_close_matches(str(name), _MODELS, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} dermnet.list_models() lists all of them.")
    return _MODELS[name]


def build(name, **kwargs):
    """Builds the registered model `name` and returns a `keras.Model`.

    Args:
        name: a name from `list_models()`.
        **kwargs: the model's own arguments; `model_card(name)` gives its defaults.

    Raises:
        ValueError: unknown name (the message names the closest ones), or a bad argument value.
        TypeError: an argument the model does not take.

    Example:
    >>> model = dermnet.build("densenet201", num_classes=7, weights=None, freeze="top")
    """
    builder, _ = _lookup(name)
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"dermnet.build({name!r}) got unexpected keyword argument(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(accepted)}."
        )
    model = builder(**kwargs)
    model.dermnet_name = name  # what recipes' per-model overrides are keyed by (`registered_name`)
    return model


def registered_name(model):
    """The registered name `model` was built as by `build`, or None (a reloaded or hand-built model)."""
    return getattr(model, "dermnet_name", None)


def list_models(pattern="*", task=None, pretrained=None):
    """Sorted names of the registered models matching a glob `pattern`, and `task` if given;
    `pretrained=True`: only those built with pretrained (ImageNet) weights by default, False: only
    the others (timm's `list_models(pretrained=True)`)."""
    return sorted(
        name
        for name, (_, card) in _MODELS.items()
        if fnmatch.fnmatch(name, pattern) and (task is None or card.task == task)
        and (pretrained is None or (card.weights is not None) == pretrained)
    )


def model_card(name):
    """The `ModelCard` of a registered model."""
    return _lookup(name)[1]
