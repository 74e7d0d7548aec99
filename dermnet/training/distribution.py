"""Where a run trains: on one device, or data-parallel over every local device.

Example:
>>> with distribution("mirrored") as replicas:   # build and train inside
...     model = dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3))
"""

import contextlib

import keras


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
