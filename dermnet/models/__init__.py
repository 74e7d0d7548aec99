"""dermnet's models: one module per family, each registering its models with `dermnet.build`.

The contract every model declares (`task`), and what classifiers and segmentors share (`tuning`),
are the names other packages use: nothing outside `dermnet.models` names a model class.
"""

from dermnet.models import (  # noqa: F401
    attributes,
    classifier,
    deeplab,
    embedding,
    ensemble,
    metadata,
    segan,
    synergic,
    unet,
)
from dermnet.models.task import (
    CLASSIFIER,
    SEGMENTOR,
    Contract,
    compile_arguments,
    contract,
    inference_model,
    prediction_size,
)
from dermnet.models.tuning import (
    backbone_layers,
    load_weights,
    networks_with_a_backbone,
    set_batchnorm_momentum,
    set_trainable,
)

__all__ = [
    "CLASSIFIER",
    "SEGMENTOR",
    "Contract",
    "backbone_layers",
    "compile_arguments",
    "contract",
    "inference_model",
    "load_weights",
    "networks_with_a_backbone",
    "prediction_size",
    "set_batchnorm_momentum",
    "set_trainable",
]
