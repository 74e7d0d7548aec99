"""Grad-CAM (Selvaraju et al. 2017): which parts of the image raise a class' score, from the
gradient of that score with respect to the backbone's last feature map."""

import keras
import numpy as np

from dermnet.models import backbone_layers, inference_model, networks_with_a_backbone


def explained_network(model):
    """(the network `gradcam` explains, how many `model` holds): the model itself, or of an ensemble
    or SDL model its first member or component (of `inference_model()` for subclassed models)."""
    networks = networks_with_a_backbone(inference_model(model))
    return networks[0], len(networks)


def gradcam(model, images, class_indices=None):
    """Heat maps `[N, h, w]` in [0, 1] at the feature map's resolution (upsample to show them).

    Args:
        model: a dermnet classifier; the maps are those of `explained_network(model)`.
        images: `[N, H, W, 3]` pixels in [0, 255].
        class_indices: the class of each map; if None, the class that network predicts (give the
            whole model's prediction for an ensemble or SDL model).
    """
    classifier, _ = explained_network(model)
    (backbone,) = backbone_layers(classifier)
    cut = classifier.layers.index(backbone)
    # Our classifiers are chains (input → preprocess → backbone → head), so the same layers,
    # re-applied, split them into image → feature map and feature map → probabilities.
    x = image = keras.Input(classifier.input_shape[1:])
    for layer in classifier.layers[1 : cut + 1]:
        x = layer(x)
    trunk = keras.Model(image, x)
    y = feature_map = keras.Input(x.shape[1:])
    for layer in classifier.layers[cut + 1 :]:
        y = layer(y)
    head = keras.Model(feature_map, y)

    features = np.asarray(trunk.predict(np.asarray(images), verbose=0), dtype="float32")
    if class_indices is None:
        class_indices = np.asarray(head.predict(features, verbose=0)).argmax(axis=1)
    selector = np.eye(head.output_shape[-1], dtype="float32")[np.asarray(class_indices)]
    grads = _score_gradient(head, features, selector)
    weights = grads.mean(axis=(1, 2), keepdims=True)  # one weight per channel: its mean gradient
    maps = np.maximum((weights * features).sum(axis=-1), 0)
    return maps / np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-12)


def _score_gradient(head, features, selector):
    """d(selected class probability)/d(feature map) per image, on the active backend."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        features = tf.convert_to_tensor(features)
        with tf.GradientTape() as tape:
            tape.watch(features)
            score = tf.reduce_sum(head(features) * selector)
        return tape.gradient(score, features).numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return np.asarray(jax.grad(lambda a: jnp.sum(head(a) * selector))(features))
    raise NotImplementedError(f"Grad-CAM needs the TensorFlow or JAX backend, not {backend}")
