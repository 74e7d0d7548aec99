"""dermnet against what a user would otherwise write, side by side in one process.

    python bench/suite.py                      # every benchmark; writes bench/RESULTS.md
    python bench/suite.py --quick              # 32 px, one round, VGG16 for ResNet-50: checks that each runs (CI)
    python bench/suite.py --only serving,memory --out /tmp/RESULTS.md

1. training: `dermnet.build("resnet50")` against `keras.applications.ResNet50` + the same head
   written by hand: same batch, optimizer, compilation. Target ≤ 1.03×.
2. sdl: one `sdl` (n = 2) step against two plain ResNet-50 steps of as many images. Target ≤ 1.10×.
3. pipeline: dermnet's stream from its cache with its augmentation (XLA, inside tf.data) against
   `keras.utils.image_dataset_from_directory` + Keras' Random* layers, on the 557 ISIC images of
   ../shared (or synthetic images without it). Target ≥ 10×, and faster than ResNet-50 trains.
4. augmentation: a training step with `dermnet.data.RandomAugment` inside the compiled step against
   the same step with Keras' RandomFlip / RandomRotation / RandomZoom.
5. serving: the exported SavedModel (`serving_pixels`) against `model.predict`, batch 1 latency and
   batch 32 throughput.
6. memory: peak resident memory of training ResNet-50, SDL and a U-net at batch 16 (one process each).

Timed contenders take turns over several rounds (a slow spell of a shared machine hits both) and
the figures are medians. Steps are fixed uint8 batches from memory unless the benchmark is the input.
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

import dermnet
from dermnet import data, serving

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic-archive-557"


def medians(contenders, rounds, calls):
    """{name: median seconds of one call} of `contenders` ({name: function}), after one warm-up call
    each, taking turns for `rounds` rounds of `calls` calls."""
    for function in contenders.values():
        function()
    seconds = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, function in contenders.items():
            for _ in range(calls):
                start = time.perf_counter()
                function()
                seconds[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in seconds.items()}


def train_step(model, x, y):
    def step():
        logs = model.train_on_batch(x, y, return_dict=True)
        keras.ops.convert_to_numpy(logs["loss"])  # wait for the device

    return step


def batch_of(size, batch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (batch, size, size, 3), dtype="uint8"), rng.integers(0, 2, batch)


# The benchmarks time ResNet-50. The quick run, CI's check that each benchmark runs, builds VGG16 in its
# place: the same preprocessing (caffe) and head, traced in about a fifth of the time.
BACKBONE = {
    False: ("resnet50", keras.applications.ResNet50, keras.applications.resnet50.preprocess_input),
    True: ("vgg16", keras.applications.VGG16, keras.applications.vgg16.preprocess_input),
}


def hand_written(quick, shape, classes=2):
    """What a user writes: Keras' ResNet-50 (VGG16 when `quick`), its preprocess_input, the SDL head
    (dermnet's head of that backbone)."""
    _, constructor, preprocess_input = BACKBONE[quick]
    inputs = keras.Input(shape)
    x = keras.layers.Lambda(preprocess_input)(keras.ops.cast(inputs, "float32"))
    x = constructor(include_top=False, weights=None, input_shape=shape)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(1024, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))


def compiled(model, jit_compile="auto"):
    model.compile(
        optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    return model


def training(quick):
    size, batch, rounds, calls = (32, 4, 1, 2) if quick else (224, 16, 3, 5)
    shape = (size, size, 3)
    x, y = batch_of(size, batch)
    backbone, constructor, _ = BACKBONE[quick]
    ours = compiled(dermnet.build(backbone, num_classes=2, weights=None, input_shape=shape, head="sdl"))
    plain = compiled(hand_written(quick, shape))
    assert ours.count_params() == plain.count_params(), (ours.count_params(), plain.count_params())
    t = medians({"dermnet": train_step(ours, x, y), "keras": train_step(plain, x, y)}, rounds, calls)
    rows = [
        (f"dermnet.build('{backbone}'), {size} px, batch {batch}", t["dermnet"], batch / t["dermnet"]),
        (f"keras.applications.{constructor.__name__} + the same head", t["keras"], batch / t["keras"]),
    ]
    return rows, t["dermnet"] / t["keras"], "≤ 1.03", None


def sdl(quick):
    size, batch, rounds, calls = (32, 2, 1, 2) if quick else (224, 8, 3, 5)
    shape = (size, size, 3)
    (x1, y1), (x2, y2) = batch_of(size, batch, 1), batch_of(size, batch, 2)
    backbone = BACKBONE[quick][0]
    model = dermnet.build("sdl", n=2, backbone=backbone, num_classes=2, input_shape=shape, weights=None)
    model.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9))
    targets = {"labels": np.stack([y1, y2], 1), "synergic": (y1 == y2).astype("float32")[:, None]}
    plain = compiled(hand_written(quick, shape))
    t = medians(
        {"sdl": train_step(model, (x1, x2), targets), "plain": train_step(plain, x1, y1)}, rounds, calls
    )
    rows = [
        (f"sdl (n = 2, {backbone}), {size} px, {batch} pairs", t["sdl"], 2 * batch / t["sdl"]),
        (f"plain {backbone}, {batch} images (×2 below)", t["plain"], batch / t["plain"]),
    ]
    return rows, t["sdl"] / (2 * t["plain"]), "≤ 1.10", None


def _images(folder, count):
    """A manifest of ISIC images (../shared) or of synthetic ones written to `folder`."""
    if (SHARED_IMAGES / "metadata.csv").exists():
        metadata = pd.read_csv(SHARED_IMAGES / "metadata.csv").iloc[:count]
        table = pd.DataFrame(
            {
                "image_id": metadata["image_id"],
                "label": metadata["benign_malignant"],
                "image": [f"images/{i}.jpg" for i in metadata["image_id"]],
            }
        )
        table.to_csv(folder / "manifest.csv", index=False)
        return data.from_csv(folder / "manifest.csv", root=SHARED_IMAGES), "ISIC JPEGs of ../shared"
    return data.load_dataset("synthetic", folder / "synthetic").iloc[:count], "synthetic PNGs"


def pipeline(quick, training_rate=None):
    size, batch, count = (32, 16, 64) if quick else (224, 32, 557)
    with tempfile.TemporaryDirectory() as tmp:
        df, source = _images(Path(tmp), count)
        # Keras' way: a folder per class, decoded and resized every epoch, then its augmentation layers
        for path, label in zip(df["image"], df["label"]):
            (Path(tmp) / "by_class" / label).mkdir(parents=True, exist_ok=True)
            os.symlink(path, Path(tmp) / "by_class" / label / Path(path).name)
        augmentation = keras.Sequential(
            [keras.layers.RandomFlip(), keras.layers.RandomRotation(10 / 360), keras.layers.RandomZoom(0.1)]
        )
        plain = keras.utils.image_dataset_from_directory(
            Path(tmp) / "by_class", image_size=(size, size), batch_size=batch, verbose=False
        )
        plain = plain.map(lambda x, y: (augmentation(x, training=True), y))
        data.build_cache(df, size, cache_dir=Path(tmp) / "cache", progress=False)  # once, as dermnet does
        ours = data.classification_dataset(df, size, batch, augment="ray2020", cache_dir=Path(tmp) / "cache")

        def epoch(stream):
            return lambda: sum(len(x) for x, _ in stream)

        t = medians({"dermnet": epoch(ours), "keras": epoch(plain)}, 1 if quick else 3, 1)
    images = len(df) // batch * batch  # dermnet's epoch: full batches
    rows = [
        (
            f"dermnet stream from its cache + ray2020 augmentation, {size} px",
            t["dermnet"],
            images / t["dermnet"],
        ),
        (
            f"image_dataset_from_directory + Random* layers ({len(df)} {source})",
            t["keras"],
            len(df) / t["keras"],
        ),
    ]
    ratio = (images / t["dermnet"]) / (len(df) / t["keras"])
    note = None
    if training_rate:
        note = f"the stream feeds {images / t['dermnet'] / training_rate:.0f}× what benchmark 1's model trains on"
    return rows, ratio, "≥ 10×", note


def augmentation(quick):
    size, batch, rounds, calls = (32, 4, 1, 2) if quick else (224, 16, 3, 5)
    shape = (size, size, 3)
    x, y = batch_of(size, batch)

    def with_front(front, jit_compile):
        inputs = keras.Input(shape)
        network = dermnet.build(BACKBONE[quick][0], num_classes=2, weights=None, input_shape=shape)
        return compiled(keras.Model(inputs, network(front(inputs))), jit_compile)

    def keras_layers():
        return keras.Sequential(
            [keras.layers.RandomFlip(), keras.layers.RandomRotation(10 / 360), keras.layers.RandomZoom(0.1)]
        )

    # Keras' Random* layers say they do not support XLA: asked for jit_compile=True, Keras compiles a
    # model that holds them without it (and warns), on a GPU too.
    contenders = {
        f"dermnet.data.RandomAugment('ray2020') in the step, {size} px, batch {batch}": with_front(
            data.RandomAugment("ray2020"), True
        ),
        "the same without XLA": with_front(data.RandomAugment("ray2020"), False),
        "RandomFlip + RandomRotation + RandomZoom in the step": with_front(keras_layers(), True),
    }
    t = medians({name: train_step(model, x, y) for name, model in contenders.items()}, rounds, calls)
    rows = [
        (f"{name} (XLA: {'yes' if model.jit_compile else 'no'})", t[name], batch / t[name])
        for name, model in contenders.items()
    ]
    return rows, rows[0][1] / rows[2][1], "report", "the first row against the last"


def serving_latency(quick):
    import tensorflow as tf

    size = 32 if quick else 224
    model = dermnet.build(BACKBONE[quick][0], num_classes=2, weights=None, input_shape=(size, size, 3))
    rounds, calls = (1, 2) if quick else (3, 10)
    with tempfile.TemporaryDirectory() as tmp:
        serving.export_saved_model(model, Path(tmp) / "served", (size, size))
        served = tf.saved_model.load(str(Path(tmp) / "served")).signatures["serving_pixels"]
        rows, ratios = [], []
        for batch in (1, 32):
            x, _ = batch_of(size, batch)
            t = medians(
                {
                    "saved_model": lambda: served(pixels=tf.constant(x))["probabilities"].numpy(),
                    "predict": lambda: model.predict(x, verbose=0),
                },
                rounds,
                calls,
            )
            rows += [
                (
                    f"SavedModel serving_pixels, batch {batch}, {size} px",
                    t["saved_model"],
                    batch / t["saved_model"],
                ),
                (f"model.predict, batch {batch}", t["predict"], batch / t["predict"]),
            ]
            ratios.append(t["saved_model"] / t["predict"])
    return rows, ratios[0], "report", f"batch 32: {ratios[1]:.2f}× the time of model.predict"


MEMORY_SCRIPT = """
import sys, numpy as np, keras, dermnet
name, size, batch, steps, backbone = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (batch, size, size, 3), dtype="uint8")
if name == "sdl":
    model = dermnet.build("sdl", n=2, backbone=backbone, num_classes=2, input_shape=x.shape[1:], weights=None)
    model.compile(optimizer="sgd")
    y = rng.integers(0, 2, batch)
    y = {"labels": np.stack([y, y[::-1]], 1), "synergic": (y == y[::-1]).astype("float32")[:, None]}
    x = (x, x[::-1].copy())
elif name == "unet":
    model = dermnet.build("unet", input_shape=x.shape[1:])
    model.compile(optimizer="adam", loss=dermnet.losses.DiceLoss())
    y = (rng.random((batch, size, size, 1)) > 0.5).astype("float32")
else:
    model = dermnet.build(name, num_classes=2, weights=None, input_shape=x.shape[1:])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    y = rng.integers(0, 2, batch)
for _ in range(steps):
    model.train_on_batch(x, y)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec() from the forked parent
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


def memory(quick):
    size, steps = (32, 1) if quick else (224, 3)
    rows = []
    backbone = BACKBONE[quick][0]
    for name in (backbone, "sdl", "unet"):
        done = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, name, str(size), "16", str(steps), backbone],
            capture_output=True,
            text=True,
            check=True,
        )
        kib = int(done.stdout.split()[-1])
        rows.append((f"{name}, {size} px, batch 16, {steps} training steps", None, kib / 1024**2))
    return rows, None, "report", None


BENCHMARKS = {
    "training": training,
    "sdl": sdl,
    "pipeline": pipeline,
    "augmentation": augmentation,
    "serving": serving_latency,
    "memory": memory,
}


def machine():
    model = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{model}, {os.cpu_count()} cores, {memory_gib:.0f} GiB; Python {platform.python_version()}, "
        f"Keras {keras.__version__} on {keras.config.backend()} "
        f"{__import__(keras.config.backend()).__version__}"
    )


def report(results, quick, seconds):
    lines = [
        "# dermnet benchmarks",
        "",
        f"Made by `python bench/suite.py{' --quick' if quick else ''}` on {datetime.date.today()}, "
        f"in {seconds / 60:.1f} minutes, on {machine()}. "
        + (
            "Quick mode: small sizes, few steps; the figures show that the benchmarks run, not how fast."
            if quick
            else "Medians of interleaved rounds."
        ),
        "",
    ]
    for name, (rows, ratio, target, note) in results.items():
        lines += [f"## {name}", "", "| what | time per call | throughput |", "| --- | --- | --- |"]
        for what, seconds_per_call, rate in rows:
            timing = "" if seconds_per_call is None else f"{seconds_per_call * 1000:,.1f} ms"
            throughput = f"{rate:,.2f} GiB peak RSS" if seconds_per_call is None else f"{rate:,.1f} img/s"
            lines.append(f"| {what} | {timing} | {throughput} |")
        lines.append("")
        if ratio is not None:
            lines.append(
                f"Ratio (dermnet / the plain path{' time' if name != 'pipeline' else ' throughput'}): "
                f"**{ratio:.2f}** (target {target})."
            )
        if note:
            lines.append(f"{note[0].upper()}{note[1:]}.")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and few steps: checks that they run"
    )
    parser.add_argument("--only", help=f"comma-separated, of {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}; known: {', '.join(BENCHMARKS)}")
    keras.utils.set_random_seed(0)
    start, results = time.perf_counter(), {}
    for name in names:
        print(f"{name} ...", flush=True)
        if name == "pipeline" and "training" in results:  # its model's images/s, to compare
            results[name] = pipeline(args.quick, training_rate=results["training"][0][0][2])
        else:
            results[name] = BENCHMARKS[name](args.quick)
    text = report(results, args.quick, time.perf_counter() - start)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
