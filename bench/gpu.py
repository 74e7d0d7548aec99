"""Training images/s of dermnet's models on one GPU: JAX backend, mixed bfloat16, XLA.

    KERAS_BACKEND=jax python bench/gpu.py [--models resnet50,densenet201,inception_v3,sdl,unet]
                                          [--batch 256] [--steps 30] [--out bench/RESULTS.md]

Each model is built at its default input size, with random weights (the speed does not depend on
them), and trained with SGD on fixed batches held on the device, so that the figure is the model's,
not the input pipeline's (benchmark 3 of bench/suite.py measures that). The first steps compile and
are not timed; the figure is the median step time over `steps` steps, as images/s (an SDL step
counts both images of each pair). The table is appended to `--out` with the GPU's name and the date.

Published anchors for ResNet-50 training, per GPU: ≈ 2,375 img/s (TensorFlow, A100, AMP + XLA,
NVIDIA DeepLearningExamples), ≈ 2,790 img/s (PyTorch, H100, AMP), ≈ 7,000 img/s (MLPerf v3.0,
H100, MXNet + DALI). Target here: at least 3,000 img/s for ResNet-50 on one H100.
"""

import argparse
import datetime
import time
from pathlib import Path

import keras
import numpy as np

import dermnet


def device_name():
    import jax

    device = jax.devices()[0]
    return f"{device.device_kind} ({device.platform})"


def network_input(model):
    """(height, width, 3) the model takes (an SDL model: each component's)."""
    return (model.components[0] if hasattr(model, "components") else model).input_shape[1:]


def batch_for(name, model, batch):
    """(inputs, targets) of `batch` samples, placed on the device once."""
    import jax

    rng = np.random.default_rng(0)
    shape = network_input(model)
    images = rng.integers(0, 256, (batch, *shape), dtype="uint8")
    labels = rng.integers(0, 2, batch)
    if name == "sdl":
        x = (images, images[::-1].copy())
        y = {
            "labels": np.stack([labels, labels[::-1]], 1),
            "synergic": (labels == labels[::-1])[:, None] * 1.0,
        }
    elif name == "unet":
        y = (rng.random((batch, *shape[:2], 1)) > 0.5).astype("float32")
        x = images
    else:
        x, y = images, labels
    return jax.device_put(x), jax.device_put(y)


def build(name):
    if name == "unet":
        model = dermnet.build("unet")
        model.compile(
            optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
            loss=dermnet.losses.DiceLoss(),
            jit_compile=True,
        )
    elif name == "sdl":
        model = dermnet.build("sdl", weights=None)
        model.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9), jit_compile=True)
    else:
        model = dermnet.build(name, num_classes=2, weights=None)
        model.compile(
            optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            jit_compile=True,
        )
    return model


def images_per_second(name, batch, steps):
    model = build(name)
    x, y = batch_for(name, model, batch)
    for _ in range(3):  # compile, then settle
        model.train_on_batch(x, y)
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        logs = model.train_on_batch(x, y, return_dict=True)
        float(logs["loss"])  # wait for the device
        seconds.append(time.perf_counter() - start)
    images = batch * (2 if name == "sdl" else 1)
    return images / float(np.median(seconds)), network_input(model)[:2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,densenet201,inception_v3,sdl,unet")
    parser.add_argument(
        "--batch", type=int, default=256, help="per step (SDL: pairs; U-net: a quarter of it)"
    )
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args(argv)
    if keras.config.backend() != "jax":
        parser.error("run it with KERAS_BACKEND=jax")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    lines = [
        "",
        f"## On a GPU: {device_name()}",
        "",
        f"`KERAS_BACKEND=jax python bench/gpu.py` on {datetime.date.today()}, Keras {keras.__version__}, "
        "mixed bfloat16, XLA, SGD, fixed batches on the device; median of "
        f"{args.steps} steps after 3 compiling ones.",
        "",
        "| model | input | batch | images/s |",
        "| --- | --- | --- | --- |",
    ]
    for name in args.models.split(","):
        batch = args.batch // 4 if name == "unet" else args.batch // 2 if name == "sdl" else args.batch
        rate, size = images_per_second(name, batch, args.steps)
        lines.append(f"| {name} | {size[0]}×{size[1]} | {batch} | {rate:,.0f} |")
        print(lines[-1], flush=True)
    lines += ["", "Target: ResNet-50 ≥ 3,000 img/s on one H100."]
    with open(args.out, "a") as results:
        results.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
