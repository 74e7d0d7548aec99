"""`--distribute mirrored`: data-parallel training, on two logical CPU devices standing in for two GPUs."""

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
from harness import write_dataset

from dermnet import recipes

pytestmark = pytest.mark.slow  # over a minute: `pytest -m "not slow"` is the fast loop

# Two devices must exist before the backend starts: TensorFlow's logical CPUs, XLA's host devices.
SCRIPT = """
import sys
import keras
if keras.config.backend() == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from dermnet import training
manifest, recipe, out, distribute = sys.argv[1:]
training.run("sdl", manifest, recipe=recipe, out=out, image_size=32, batch_size=8, epochs=3, weights=None,
             distribute=None if distribute == "none" else distribute, verbose=2)
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_mirrored_training_follows_the_single_device_curve_and_saves_a_model_that_reloads(backend, tmp_path):
    # SDL: its own compute_loss must be scaled for replicas, as Keras scales its own losses.
    manifest = write_dataset(tmp_path / "data", n=40, num_classes=2, test_from=32)
    zhang = recipes.get("zhang2018")
    recipe = dataclasses.replace(
        zhang,
        model_kwargs={**zhang.model_kwargs, "backbone": "baseline_cnn"},
        phases=tuple(dataclasses.replace(p, learning_rate=1e-2, schedule=None) for p in zhang.phases),
    )
    (tmp_path / "recipe.json").write_text(json.dumps(recipe.to_config()))
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "DERMNET_CACHE": str(tmp_path / "cache"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    histories = {}
    for distribute in ("none", "mirrored"):
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                SCRIPT,
                str(manifest),
                str(tmp_path / "recipe.json"),
                str(tmp_path / distribute),
                distribute,
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        histories[distribute] = pd.read_csv(tmp_path / distribute / "history.csv")
    assert "data-parallel training on 2 replicas" in done.stdout
    # The same global batches: the same losses, up to the order of floating-point sums.
    np.testing.assert_allclose(histories["mirrored"]["loss"], histories["none"]["loss"], rtol=0.02)
    model = keras.saving.load_model(tmp_path / "mirrored" / "model.keras")
    assert model.n == 2 and np.asarray(model.predict(np.zeros((2, 32, 32, 3), "uint8"), verbose=0)).shape == (
        2,
        2,
    )
