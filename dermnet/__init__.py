"""dermnet: a Keras 3 model zoo for dermoscopy (skin-lesion) images.

`import dermnet` is light: it loads no deep-learning framework, plotting or scikit-learn. The model
cards (`list_models`, `model_card`) need none either; the models (and Keras) load on the first
`build`, and every subpackage loads when first touched: `dermnet.data`, `dermnet.training`, ...

Example:
>>> import dermnet
>>> dermnet.list_models("*dense*", task="classification")
['densenet201']
>>> model = dermnet.build("densenet201", num_classes=7, weights=None, freeze="top")
"""

import importlib
import os

__version__ = "0.2.0"

# TensorFlow's C++ start-up chatter buries dermnet's own output; a user's setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The model registry's functions (it loads `dermnet.models`, the builders, on the first `build`).
_REGISTRY = ("ModelCard", "build", "list_models", "model_card", "register_model")
_MODEL_HELPERS = ("set_trainable", "load_weights")
_RUNS = ("load",)  # a trained model from a run folder, a bundle, a .keras file or hf://
SUBMODULES = (
    "backbones",
    "cli",
    "data",
    "datasets",
    "evaluation",
    "inference",
    "layers",
    "losses",
    "metrics",
    "models",
    "plots",
    "recipes",
    "reproduce",
    "runs",
    "serving",
    "sweeps",
    "training",
)

__all__ = [*_REGISTRY, *_MODEL_HELPERS, *_RUNS, *SUBMODULES, "__version__"]


def __getattr__(name):  # PEP 562: loaded on first use, then kept as a module attribute
    if name in _REGISTRY or name in _MODEL_HELPERS or name in _RUNS:
        module = (
            "dermnet._registry"
            if name in _REGISTRY
            else "dermnet.models"
            if name in _MODEL_HELPERS
            else "dermnet.runs"
        )
        value = getattr(importlib.import_module(module), name)
    elif name in SUBMODULES:
        value = importlib.import_module(f"dermnet.{name}")
    else:
        raise AttributeError(f"module 'dermnet' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__})
