"""The model registry: `register_model`, `build`, `list_models`, `model_card`."""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from dermnet._cards import CARDS, ModelCard

if TYPE_CHECKING:
    import keras

__all__ = ["ModelCard", "build", "list_models", "model_card", "register_model", "registered_name"]

_CARDS = dict(CARDS)  # dermnet's cards, and those of models users register
_BUILDERS: dict[str, Callable[..., Any]] = {}
_Builder = TypeVar("_Builder", bound=Callable[..., Any])


def register_model(card: ModelCard) -> Callable[[_Builder], _Builder]:
    """Decorator: registers `builder(**kwargs) -> keras.Model` under `card.name`; dermnet's own models
    register under their cards in `dermnet._cards.CARDS`."""

    def decorate(builder: _Builder) -> _Builder:
        if card.name in _BUILDERS or _CARDS.get(card.name, card) is not card:
            raise ValueError(f"A model called {card.name!r} is already registered.")
        _CARDS[card.name] = card
        _BUILDERS[card.name] = builder
        return builder

    return decorate


def _card(name: str) -> ModelCard:
    if name not in _CARDS:
        close = difflib.get_close_matches(str(name), _CARDS, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} dermnet.list_models() lists all of them.")
    return _CARDS[name]


def _builder(name: str) -> Callable[..., Any]:
    _card(name)
    # The cards answer without Keras; the builders load with the models, on the first build. The
    # import is by name because the models' package sits above this module (it registers into it).
    importlib.import_module("dermnet.models")
    return _BUILDERS[name]


def build(name: str, **kwargs: Any) -> keras.Model:
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
    builder = _builder(name)
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


def backbone_models() -> list[str]:
    """Sorted names of the registered models built on a backbone of the user's choice (`build(name,
    backbone=...)`: SDL's components, the triplet and metadata networks)."""
    return [name for name in list_models() if "backbone" in inspect.signature(_builder(name)).parameters]


def registered_name(model: object) -> str | None:
    """The registered name `model` was built as by `build`, or None (a reloaded or hand-built model)."""
    return getattr(model, "dermnet_name", None)


def list_models(pattern: str = "*", task: str | None = None, pretrained: bool | None = None) -> list[str]:
    """Sorted names of the registered models matching a glob `pattern`, and `task` if given;
    `pretrained=True`: only those built with pretrained (ImageNet) weights by default, False: only
    the others (timm's `list_models(pretrained=True)`)."""
    return sorted(
        name
        for name, card in _CARDS.items()
        if fnmatch.fnmatch(name, pattern)
        and (task is None or card.task == task)
        and (pretrained is None or (card.weights is not None) == pretrained)
    )


def model_card(name: str) -> ModelCard:
    """The `ModelCard` of a registered model."""
    return _card(name)
