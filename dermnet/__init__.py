"""dermnet: a Keras 3 model zoo for dermoscopy (skin-lesion) images.

Example:
>>> import dermnet
>>> dermnet.list_models("*dense*", task="classification")
['densenet201']
>>> model = dermnet.build("densenet201", num_classes=7, weights=None, freeze="top")
"""

import os

__version__ = "0.1.0"

# TensorFlow's C++ start-up chatter buries dermnet's own output; a user's setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dermnet import recipes  # noqa: E402,F401
from dermnet._registry import ModelCard, build, list_models, model_card, register_model  # noqa: E402,F401
from dermnet.models import classifier as _classifier  # noqa: E402,F401  (registers the classifiers)
from dermnet.models import embedding as _embedding  # noqa: E402,F401
from dermnet.models import ensemble as _ensemble  # noqa: E402,F401
from dermnet.models import synergic as _synergic  # noqa: E402,F401
from dermnet.models import unet as _unet  # noqa: E402,F401  (registers the segmentors)
from dermnet.models import deeplab as _deeplab  # noqa: E402,F401
from dermnet.models import segan as _segan  # noqa: E402,F401
from dermnet.models import attributes as _attributes  # noqa: E402,F401
from dermnet.models.classifier import set_trainable  # noqa: E402,F401

__all__ = ["ModelCard", "build", "list_models", "model_card", "recipes", "register_model", "set_trainable"]
