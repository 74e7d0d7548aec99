"""`--distribute multi-host`: two real JAX processes on 127.0.0.1, one CPU device each, joined over
`jax.distributed` (CPU collectives: gloo), against one process training the same global batches."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from harness import write_dataset

from dermnet import recipes

pytestmark = pytest.mark.slow  # over a minute: `pytest -m "not slow"` is the fast loop

# One process of a job, or the single-process reference (n == 1). After every epoch each process
# writes a digest of its copy of the weights: the processes must agree, epoch after epoch.
SCRIPT = """
import hashlib, importlib, sys
import keras, numpy as np
manifest, recipe, out, model_name, process_id, n, port, epochs = sys.argv[1:]
run_module = importlib.import_module("dermnet.training.run")

class Digest(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        digest = hashlib.sha256(b"".join(np.asarray(v.value).tobytes() for v in self.model.variables))
        with open(f"{out}.digests-{process_id}", "a") as file:
            file.write(digest.hexdigest() + "\\n")

train = run_module.train
run_module.train = lambda *args, callbacks=(), **kwargs: train(*args, callbacks=[*callbacks, Digest()], **kwargs)
job = {} if n == "1" else {"distribute": "multi-host", "coordinator": f"127.0.0.1:{port}",
                           "num_processes": int(n), "process_id": int(process_id)}
scores = run_module.run(model_name, manifest, recipe=recipe, out=out, image_size=32, batch_size=8,
                        epochs=int(epochs), weights=None, verbose=2, **job)
print("scores", sorted(scores.items())[:2], flush=True)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A data set, recipes without augmentation (one process draws a batch's augmentation at once,
    a job per process: the same distribution, other draws), and a runner of jobs."""
    folder = tmp_path_factory.mktemp("multihost")
    manifest = write_dataset(folder / "data", n=56, num_classes=2)
    table = pd.read_csv(manifest)
    table.loc[40:47, "split"], table.loc[48:, "split"] = "validation", "test"
    table.to_csv(manifest, index=False)
    for name in ("ray2020", "zhang2018"):
        recipe = recipes.get(name)
        phases = tuple(dataclasses.replace(p, learning_rate=1e-2, schedule=None) for p in recipe.phases)
        backbone = {"backbone": "baseline_cnn"} if name == "zhang2018" else {}  # SDL of small components
        recipe = dataclasses.replace(
            recipe, augment="none", phases=phases, model_kwargs={**recipe.model_kwargs, **backbone}
        )
        (folder / f"{name}.json").write_text(json.dumps(recipe.to_config()))
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
        "DERMNET_CACHE": str(folder / "cache"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }

    def start(model, recipe, out, processes, epochs):
        port = free_port()
        return [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    SCRIPT,
                    str(manifest),
                    str(folder / f"{recipe}.json"),
                    str(folder / out),
                    model,
                    str(i),
                    str(processes),
                    str(port),
                    str(epochs),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(processes)
        ]

    def finish(processes, timeout=600):
        outputs = [p.communicate(timeout=timeout) for p in processes]
        for p, (stdout, stderr) in zip(processes, outputs):
            assert p.returncode == 0, stderr[-3000:]
        return [stdout for stdout, _ in outputs]

    done = {}

    def run(model, recipe, processes, epochs):
        """A finished job (each made once per test worker: the tests share them)."""
        out = f"{model}-{processes}-{epochs}"
        if out not in done:
            stdout = finish(start(model, recipe, out, processes, epochs))
            digests = [(folder / f"{out}.digests-{i}").read_text().split() for i in range(processes)]
            done[out] = pd.read_csv(folder / out / "history.csv"), digests, stdout
        return done[out]

    return folder, start, finish, run


@pytest.mark.parametrize("model, recipe", [("baseline_cnn", "ray2020"), ("sdl", "zhang2018")])
def test_two_processes_agree_and_follow_the_single_process_curve(job, model, recipe):
    folder, _, _, run = job
    single, _, _ = run(model, recipe, 1, epochs=3)
    history, digests, stdout = run(model, recipe, 2, epochs=3)
    assert "data-parallel training on 2 replicas" in stdout[0] and "data-parallel" not in stdout[1]
    assert len(digests[0]) == 3 and digests[0] == digests[1]  # the same weights after every epoch
    # The same global batches, each process feeding half: the losses of one process, up to the order
    # of floating-point sums over the two devices.
    np.testing.assert_allclose(history["loss"], single["loss"], rtol=1e-4)
    assert "val_loss" in history
    # Process 0 wrote the run; process 1 wrote nothing and returned process 0's scores.
    assert sorted(p.name for p in (folder / f"{model}-2-3").iterdir()) == [
        ".lock",
        "config.json",
        "history.csv",
        "logs",
        "model.keras",
        "scores.json",
    ]
    assert stdout[0].splitlines()[-1] == stdout[1].splitlines()[-1]


def test_a_killed_process_and_a_restart_of_both_resume_to_the_same_end(job):
    folder, start, finish, run = job
    reference, _, _ = run("baseline_cnn", "ray2020", 2, epochs=3)
    processes = start("baseline_cnn", "ray2020", "killed", 2, epochs=3)
    deadline = time.monotonic() + 300
    while not list((folder / "killed" / "resume").glob("epoch-*")):  # an epoch saved
        assert time.monotonic() < deadline and processes[0].poll() is None, processes[0].communicate()[1][
            -3000:
        ]
        time.sleep(0.05)
    processes[1].send_signal(signal.SIGKILL)
    try:  # its peer fails at its next collective, or waits on it: killed too
        processes[0].wait(timeout=30)
    except subprocess.TimeoutExpired:
        processes[0].kill()
    for p in processes:
        p.communicate()
    saved = max(
        json.loads(f.read_text())["epoch"]
        for f in (folder / "killed" / "resume").glob("epoch-*/progress.json")
    )
    assert saved < 3, "the job finished before the kill: nothing to resume"
    stdout = finish(start("baseline_cnn", "ray2020", "killed", 2, epochs=3))
    assert "resuming an interrupted run after epoch" in stdout[0]
    resumed = pd.read_csv(folder / "killed" / "history.csv")
    assert resumed["epoch"].tolist() == [1, 2, 3]
    np.testing.assert_array_equal(resumed["loss"], reference["loss"])


def test_tensorflow_refuses_multi_host_and_names_jax(tmp_path):
    probe = (
        "from dermnet.training import join_processes\n"
        "try:\n    join_processes('127.0.0.1:1', 2, 0)\nexcept ValueError as err:\n    print(err)"
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert "with the JAX backend: run every process with KERAS_BACKEND=jax" in done.stdout, done.stderr[
        -2000:
    ]
