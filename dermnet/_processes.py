"""Which process of a multi-host run this one is (`dermnet train --distribute multi-host`): each process
reads only its share of every batch, and only the first writes the run's files.

On one process (every backend but a JAX job over `jax.distributed`) this is process 0 of 1.
"""

import contextlib

import keras


def process_share():
    """(This process's index, the number of processes of the job)."""
    if keras.config.backend() == "jax":
        import jax

        if jax.distributed.is_initialized():
            return jax.process_index(), jax.process_count()
    return 0, 1


def batch_share():
    """The function from a global batch's rows to those this process feeds (its devices' equal
    shares), or None where a stream made now feeds every row: on one process, and outside a
    distribution (process 0 scoring its saved model). A batch that does not split evenly over the
    job's devices (validation's last one) loses its remainder, fewer rows than there are devices:
    the devices of all processes must see arrays of one shape."""
    if process_share()[1] == 1 or keras.distribution.distribution() is None:
        return None
    import jax

    index, devices, local_devices = jax.process_index(), jax.device_count(), jax.local_device_count()

    def share(rows):
        per_process = len(rows) // devices * local_devices
        return rows[index * per_process : (index + 1) * per_process]

    return share


def barrier(name):
    """Every process waits here for the others (a no-op on one process)."""
    if process_share()[1] > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


@contextlib.contextmanager
def on_this_process():
    """Variables made within stay on this process: `model.save` makes a reference optimizer, whose
    variables made under a multi-process distribution would wait for the other processes, forever
    when only the first saves."""
    before = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(before)
