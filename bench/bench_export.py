"""Which deployment is fastest on a CPU: `model.predict`, the SavedModel, ONNX Runtime and LiteRT (float32 and
int8), for resnet50 and densenet201 at 224 px and unet at its recipe size (128 px), in one process.

    python bench/bench_export.py                 # writes its section of bench/RESULTS.md
    python bench/bench_export.py --quick         # small sizes: checks that it runs

Latency: the median of `--repeats` calls at batch 1 after a warm-up call; throughput: images per second of
calls at batch 32 (the best of 2). Peak memory: the most resident memory the process held while the runtime
loaded and ran, above what it held before (sampled every 5 ms). The SavedModel is `dermnet export`'s, called
through its `serving_pixels` signature on pixels already at the model's size (its resize included).
int8 models are calibrated on random pixels: their speed, not their score, is measured here (`dermnet export
--quantize int8` measures the score). Weights are random: speed does not depend on them.
"""

import argparse
import datetime
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import keras
import numpy as np
import psutil

import dermnet
from dermnet import portable, serving

SECTION = "## Deployment runtimes (bench/bench_export.py)"


class PeakMemory:
    """The most resident memory above the start, sampled every 5 ms while inside the `with`."""

    def __enter__(self):
        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.start = self.process.memory_info().rss
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss - self.start)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


def timed(predict, size, repeats):
    one = np.random.default_rng(0).uniform(0, 255, (1, *size, 3)).astype("float32")
    batch = np.random.default_rng(1).uniform(0, 255, (32, *size, 3)).astype("float32")
    predict(one)
    latencies = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(one)
        latencies.append(time.perf_counter() - start)
    predict(batch)
    rates = []
    for _ in range(2):
        start = time.perf_counter()
        predict(batch)
        rates.append(32 / (time.perf_counter() - start))
    return statistics.median(latencies) * 1000, max(rates)


def runtimes(model, size, folder, calibration):
    """(name, a function that loads it and returns its predict) for each deployment of `model`."""
    import tensorflow as tf

    network = dermnet.models.inference_model(model)
    serving.export_saved_model(model, folder / "saved_model", size)
    files = {}
    for format in portable.FILES:  # converted once; the int8 model from it (LiteRT converts again)
        plain, quantized = (
            folder / portable.FILES[format],
            folder / f"int8.{portable.FILES[format].split('.')[1]}",
        )
        portable._convert(network, plain, format, size)
        portable._quantize(network, plain, quantized, format, "int8", size, calibration)
        files[f"{portable.RUNTIMES[format]} float32"], files[f"{portable.RUNTIMES[format]} int8"] = (
            plain,
            quantized,
        )

    def saved_model():
        served = tf.saved_model.load(str(folder / "saved_model")).signatures["serving_pixels"]
        return lambda pixels: served(pixels=tf.constant(pixels.astype("uint8")))

    return [
        ("model.predict", lambda: lambda pixels: network.predict(pixels, verbose=0, batch_size=32)),
        ("SavedModel (serving_pixels)", saved_model),
        *((name, lambda file=file: portable.load(file).predict) for name, file in files.items()),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args(argv)
    began = time.perf_counter()
    sizes = (
        {"resnet50": 224, "densenet201": 224, "unet": 128} if not args.quick else {"resnet50": 32, "unet": 32}
    )
    rows = []
    for name, side in sizes.items():
        keras.utils.set_random_seed(0)
        options = {"weights": None} if name != "unet" else {}
        model = dermnet.build(name, input_shape=(side, side, 3), **options)
        with tempfile.TemporaryDirectory() as folder:
            calibration = []
            for k in range(4):
                path = Path(folder) / f"calibration_{k}.png"
                import cv2

                cv2.imwrite(
                    str(path), np.random.default_rng(k).integers(0, 256, (side, side, 3), dtype="uint8")
                )
                calibration.append(path)
            for runtime, load in runtimes(model, (side, side), Path(folder), calibration):
                print(f"{name} {runtime} ...", flush=True)
                with PeakMemory() as memory:
                    latency, rate = timed(load(), (side, side), args.repeats)
                rows.append((f"{name}, {side} px", runtime, latency, rate, memory.peak / 2**20))
        keras.backend.clear_session()
    minutes = (time.perf_counter() - began) / 60
    load = psutil.getloadavg()[0]
    command = "python bench/bench_export.py" + (" --quick" if args.quick else "")
    lines = [
        SECTION,
        "",
        f"`{command}` on {datetime.date.today()}, {_cpu()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, in {minutes:.1f} minutes; Python "
        f"{platform.python_version()}, Keras {keras.__version__}, "
        f"{' '.join(_versions())}. The cores were shared with other "
        f"developers' jobs (load average {load:.1f} at the end): compare rows with each other, not with "
        "other machines. Latency: median of "
        f"{args.repeats} calls at batch 1; throughput: best of 2 calls at batch 32; memory: peak resident "
        "memory above the process's before the runtime loaded.",
        "",
        "| model | runtime | latency, batch 1 | throughput, batch 32 | peak memory |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {m} | {r} | {lat:,.1f} ms | {rate:,.1f} img/s | {mem:,.0f} MiB |" for m, r, lat, rate, mem in rows
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        results = args.out.read_text()
        results = re.sub(rf"\n{re.escape(SECTION)}\n.*?(?=\n## |\Z)", "", results, flags=re.S).rstrip("\n")
        args.out.write_text(results + "\n\n\n" + text)


def _cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _versions():
    import ai_edge_litert
    import onnxruntime
    import tensorflow as tf

    return [
        f"TensorFlow {tf.__version__},",
        f"onnxruntime {onnxruntime.__version__},",
        f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '?')}",
    ]


if __name__ == "__main__":
    sys.exit(main())
