"""Where a run trains: on one device, data-parallel over every local device, or over the devices of
several processes (machines) on JAX.

Example:
>>> with distribution("mirrored") as replicas:   # build and train inside
...     model = dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3))
"""

import contextlib

import keras

DISTRIBUTE = ("mirrored", "multi-host")


def join_processes(coordinator=None, num_processes=None, process_id=None):
    """Joins this process to a multi-host JAX job: `keras.distribution.initialize`, over
    `jax.distributed`. Every process calls it first, before JAX has run anything.

    Args:
        coordinator: `HOST:PORT` of process 0 (or every process's address, comma-separated).
        num_processes, process_id: this job's size and this process's place in it. Where None,
            Keras reads `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `KERAS_DISTRIBUTION_NUM_PROCESSES` and
            `KERAS_DISTRIBUTION_PROCESS_ID`, and JAX a cluster's own (SLURM's, say).

    Returns:
        (this process's index, the number of processes).
    """
    if keras.config.backend() != "jax":
        raise ValueError(
            "--distribute multi-host trains across machines with the JAX backend: run every process "
            f"with KERAS_BACKEND=jax (this one runs {keras.config.backend()}; Keras 3 does not train "
            "over several TensorFlow workers)"
        )
    import jax

    if not jax.distributed.is_initialized():
        keras.distribution.initialize(coordinator, num_processes, process_id)
    return jax.process_index(), jax.process_count()


@contextlib.contextmanager
def distribution(distribute):
    """Builds and trains within it, and yields the number of replicas:

    - None: as they are, on one device.
    - "mirrored": data-parallel over every local GPU (every logical CPU device where there is none):
      `tf.distribute.MirroredStrategy` with TensorFlow, `keras.distribution.DataParallel` with JAX.
    - "multi-host": `DataParallel` over the devices of every process of the job (`join_processes`
      first). Each process feeds its share of every global batch (`dermnet.data` shards the streams).
    """
    if distribute is None:
        yield 1
        return
    if distribute not in DISTRIBUTE:
        raise ValueError(f"distribute={distribute!r}: None or one of {DISTRIBUTE}")
    backend = keras.config.backend()
    if distribute == "mirrored" and backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([device.name for device in devices])
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    elif backend == "jax":
        import jax

        if distribute == "multi-host" and not jax.distributed.is_initialized():
            raise RuntimeError("distribute='multi-host': call join_processes() first, in every process")
        # The streams shard themselves by process, deterministically: Keras' own sharding takes tf.data only.
        parallel = keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
        with parallel.scope():
            yield jax.device_count()
    else:
        raise ValueError(
            f"distribute={distribute!r} needs the JAX backend"
            + ("" if distribute == "multi-host" else " or TensorFlow")
            + f", not {backend}"
        )
