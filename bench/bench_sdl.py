"""SDL training-step benchmark: one `sdl` (n = 2) step against two `resnet50` classifier steps.

    python bench/bench_sdl.py [--size 224] [--batch 8] [--steps 5] [--rounds 3]
    KERAS_BACKEND=jax python bench/bench_sdl.py ...

Both models take the zhang2018 recipe's optimizer (SGD, inverse-time decay) and Keras' default
compilation (XLA where the backend allows it). The batches are fixed uint8 arrays, so only the
training step is timed, not the data pipeline. An SDL step sees `batch` pairs, 2 × batch images, as
two ResNet-50 steps of `batch` images do. After a warm-up (compilation), the two models take turns
for `rounds` rounds of `steps` steps each, so that a slow spell of the machine hits both; the
figures are medians over all timed steps. Target: SDL step ≤ 1.10 × two ResNet-50 steps.
"""

import argparse
import time

import keras
import numpy as np

import dermnet


def step_times(model, x, y, steps):
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        logs = model.train_on_batch(x, y, return_dict=True)
        keras.ops.convert_to_numpy(logs["loss"])  # wait for the device
        times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    shape = (args.size, args.size, 3)
    phase = dermnet.recipes.get("zhang2018").phases[0]
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (args.batch, *shape), dtype="uint8") for _ in range(2)]
    labels = rng.integers(0, 2, (args.batch, 2))

    sdl = dermnet.build("sdl", n=2, input_shape=shape, weights=None)
    sdl.compile(optimizer=phase.make_optimizer(100))
    sdl_batch = (tuple(images), {"labels": labels, "synergic": (labels[:, :1] == labels[:, 1:]).astype("float32")})
    resnet = dermnet.build("resnet50", input_shape=shape, weights=None)
    resnet.compile(optimizer=phase.make_optimizer(100), loss="sparse_categorical_crossentropy")
    resnet_batch = (images[0], labels[:, 0])

    for model, batch in ((sdl, sdl_batch), (resnet, resnet_batch)):  # compile and warm up
        step_times(model, *batch, 2)
    timed = {"sdl": [], "resnet50": []}
    for _ in range(args.rounds):
        timed["sdl"] += step_times(sdl, *sdl_batch, args.steps)
        timed["resnet50"] += step_times(resnet, *resnet_batch, args.steps)
    sdl_step, resnet_step = np.median(timed["sdl"]), np.median(timed["resnet50"])

    print(f"backend {keras.config.backend()}, {args.size} px, batch {args.batch}, "
          f"{args.rounds}×{args.steps} timed steps each")
    print(f"sdl (n=2) step:       {sdl_step * 1000:8.1f} ms  ({2 * args.batch / sdl_step:6.1f} img/s)")
    print(f"resnet50 step:        {resnet_step * 1000:8.1f} ms  ({args.batch / resnet_step:6.1f} img/s)")
    print(f"sdl / 2 × resnet50:   {sdl_step / (2 * resnet_step):8.3f}  (target ≤ 1.10)")


if __name__ == "__main__":
    main()
