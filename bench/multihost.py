"""Steps per second of `--distribute multi-host` training, 1 process against 2 on this machine.

    KERAS_BACKEND=jax python bench/multihost.py                 # ResNet-50 at 64 px, global batch 32
    KERAS_BACKEND=jax python bench/multihost.py --size 32 --batch 16 --model baseline_cnn

Each process has one CPU device (or a machine's GPUs); 2 processes each feed half of every global
batch over `jax.distributed` (gloo between processes on CPUs). On one machine with few cores the
processes share its cores, so this measures the cost of the collectives, not a speed-up: the figure
that matters for a cluster is the same run on 2 machines.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = """
import sys, time
import keras
import dermnet
from dermnet import data, recipes, training
process, processes, port, root, model_name, size, batch = sys.argv[1:]
processes, size, batch = int(processes), int(size), int(batch)
if processes > 1:
    training.join_processes(f"127.0.0.1:{port}", processes, int(process))


class StepRate(keras.callbacks.Callback):
    # JAX dispatches steps asynchronously: time from the end of the first step (compilation) to the
    # end of the epoch, each end waited for by reading the loss.
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            float(logs["loss"])
            self.start = time.perf_counter()
        self.steps = batch

    def on_epoch_end(self, epoch, logs=None):
        float(logs["loss"])
        self.seconds = (time.perf_counter() - self.start) / self.steps


df = data.load_dataset("synthetic", root)
recipe = recipes.Recipe("bench", "", (size, size, 3), "none", batch,
                        (recipes.Phase("train", "none", 1, "SGD", 1e-3, optimizer_args={"momentum": 0.9}),))
keras.utils.set_random_seed(0)
rate = StepRate()
with training.distribution("multi-host" if processes > 1 else None):
    model = dermnet.build(model_name, num_classes=3, input_shape=(size, size, 3), weights=None)
    training.train(model, recipe, df[df.split == "train"], model_name=model_name, callbacks=[rate], verbose=0)
print("seconds per step", rate.seconds, flush=True)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median_step(processes, root, model, size, batch):
    """The median seconds of a training step (global batch `batch`) with `processes` processes."""
    port = free_port()
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
        "DERMNET_CACHE": str(Path(root) / "cache"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(i),
                str(processes),
                str(port),
                str(root / "data"),
                model,
                str(size),
                str(batch),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    outputs = [w.communicate() for w in workers]
    for worker, (stdout, stderr) in zip(workers, outputs):
        if worker.returncode:
            raise RuntimeError(stderr[-3000:])
    return max(float(stdout.split()[-1]) for stdout, _ in outputs)  # a step ends when the slowest's does


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32, help="the global batch")
    args = parser.parse_args()
    from dermnet import data

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data.load_dataset("synthetic", root / "data")  # drawn once, before the processes read it
        rows = []
        for processes in (1, 2):
            seconds = median_step(processes, root, args.model, args.size, args.batch)
            rows.append((processes, seconds))
    print(f"| processes | {args.model}, {args.size} px, global batch {args.batch}: time per step | steps/s |")
    print("| --- | --- | --- |")
    for processes, seconds in rows:
        print(f"| {processes} | {seconds * 1000:,.0f} ms | {1 / seconds:.2f} |")
    print(f"\n2 processes / 1: {rows[0][1] / rows[1][1]:.2f}× the steps per second ({os.cpu_count()} cores).")


if __name__ == "__main__":
    main()
