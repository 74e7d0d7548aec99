"""Xue et al.'s ISIC 2018 task 3 classifier: a backbone, a 256-d embedding trained with the
batch-hard triplet loss, and a softmax classifier on it, trained together.

The loss is CE(probabilities) + `triplet_weight` · BatchHardTriplet(embedding): summed in every
step (not alternated), so one `fit()` on P×K batches (`dermnet.data.triplet_dataset`) trains
both. Prediction gives the classifier's probabilities; `embedding_model()` gives image → embedding
for `dermnet.evaluation.NearestClassMean`, the paper's prediction rule.
"""

import keras

from dermnet import backbones
from dermnet._cards import CARDS
from dermnet._registry import register_model
from dermnet.losses import BatchHardTripletLoss, per_replica
from dermnet.models.classifier import CompositeClassifier, build_classifier
from dermnet.models.task import Contract
from dermnet.models.tuning import load_weights, set_trainable


@keras.saving.register_keras_serializable(package="dermnet")
class TripletClassifier(CompositeClassifier):
    """A classifier with the `"embedding"` head whose embedding also learns a triplet loss.

    Args:
        backbone: a classification backbone of `dermnet.backbones.BACKBONES`.
        num_classes: 7 for HAM10000 / ISIC 2018 task 3.
        input_shape: `(height, width, 3)`, default the backbone's.
        triplet_weight: the weight of the triplet loss next to cross-entropy.
        margin, squared: of the `BatchHardTripletLoss` (on L2-normalised embeddings).
        backbone_weights: None or "imagenet".
        preprocessing: a `Preprocess` mode; the backbone's own if None.
    """

    def __init__(self, backbone="resnet101", num_classes=7, input_shape=None, triplet_weight=1.0, margin=0.5,
                 squared=False, backbone_weights=None, preprocessing=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone, self.num_classes = backbone, int(num_classes)
        self.image_shape = tuple(input_shape or backbones.get(backbone).input_shape)
        self.triplet_weight, self.margin, self.squared = float(triplet_weight), float(margin), bool(squared)
        self.preprocessing = preprocessing
        classifier = build_classifier(backbone, num_classes, self.image_shape, backbone_weights, head="embedding",
                                      preprocessing=preprocessing, name="network")
        # One pass gives both: the probabilities and the 256-d features they come from.
        self.network = keras.Model(classifier.input, [classifier.output, classifier.get_layer("features").output],
                                   name="network")
        self.triplet_loss = BatchHardTripletLoss(margin, squared)
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.built = True

    def call(self, images, training=False):
        probabilities, embedding = self.network(images, training=training)
        # Training needs the embedding for the loss; inference (predict, evaluate, export) gives
        # the probabilities alone, like every dermnet classifier.
        return {"probabilities": probabilities, "embedding": embedding} if training else probabilities

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        labels = keras.ops.reshape(keras.ops.cast(y, "int32"), (-1,))
        probabilities = y_pred["probabilities"] if isinstance(y_pred, dict) else y_pred
        loss = per_replica(keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities)))
        if isinstance(y_pred, dict):  # a Keras Loss: scaled for replicas already
            loss = loss + self.triplet_weight * self.triplet_loss(labels, y_pred["embedding"])
        return loss + per_replica(sum(self.losses)) if self.losses else loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.accuracy.update_state(y, y_pred["probabilities"] if isinstance(y_pred, dict) else y_pred)
        return self.get_metrics_result()

    def contract(self):
        """A classifier trained on P×K batches (every class, K images each) for batch-hard mining."""
        return Contract("classifier", "class_blocks", {"classes": self.num_classes})

    def embedding_model(self, name=None):
        """image → 256-d embedding (shares this model's weights)."""
        image = keras.Input(self.image_shape, name="image")
        return keras.Model(image, self.network(image)[1], name=name or f"{self.name}_embedding")

    def inference_model(self, name=None):
        """image → probabilities, a plain functional model (shares this model's weights)."""
        image = keras.Input(self.image_shape, name="image")
        return keras.Model(image, self.network(image)[0], name=name or f"{self.name}_inference")

    def get_config(self):
        return {**super().get_config(), "backbone": self.backbone, "num_classes": self.num_classes,
                "input_shape": self.image_shape, "triplet_weight": self.triplet_weight, "margin": self.margin,
                "squared": self.squared, "preprocessing": self.preprocessing}


@register_model(CARDS["triplet_resnet101"])
def triplet_resnet101(num_classes=7, input_shape=None, triplet_weight=1.0, margin=0.5, weights="imagenet",
                      freeze="none", preprocessing=None, backbone="resnet101", name="triplet_resnet101"):
    """Builds a `TripletClassifier` (see its docstring); `weights` is None, "imagenet" (the
    backbone) or the path of a `.weights.h5` / `.keras` file of this whole model.

    Example:
    >>> model = dermnet.build("triplet_resnet101", backbone="baseline_cnn", num_classes=3, input_shape=(32, 32, 3),
    ...                       weights=None)
    >>> recipe = dermnet.recipes.get("xue2018_task3").at_size(32)  # its 360×270 resize and 256 crop, scaled
    >>> histories = dermnet.training.train(model, recipe, df, epochs=1, verbose=0)   # P×K batches
    >>> ncm = dermnet.evaluation.NearestClassMean(model.embedding_model()).fit(train_images, train_labels)
    """
    model = TripletClassifier(backbone, num_classes, input_shape, triplet_weight, margin, False,
                              weights if weights in (None, "imagenet") else None, preprocessing, name=name)
    if weights not in (None, "imagenet"):
        load_weights(model, weights, into_backbone=False)
    set_trainable(model, freeze)
    return model
