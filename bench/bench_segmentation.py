"""Segmentor throughput: training and inference images/s of `unet`, `unet_fc` and `segan`.

    python bench/bench_segmentation.py [--models unet,unet_fc,segan] [--sizes 128,256] [--batch 8] [--steps 4]
    KERAS_BACKEND=jax python bench/bench_segmentation.py ...

Each model is built at its defaults (random weights) for square inputs of each size, compiled as
`dermnet train` compiles it (Adam, its loss: Dice for the U-nets, SegAN's own adversarial step)
and fed one fixed uint8 batch, so that the figure is the model's and not the data pipeline's. After
two warm-up steps (compilation), the median of `steps` training steps and of `steps` inference
batches is reported as images per second. `unet_fc` at 256 px has 2.1 billion parameters (its dense
bottleneck grows with the input): training it with Adam needs ~34 GB, so it is skipped where
`--max-parameters` (default 600 M) says so.
"""

import argparse
import time

import keras
import numpy as np

import dermnet
from dermnet.data.synthetic import synthetic
from dermnet.models import compile_arguments
from dermnet.models.unet import unet_fc_parameters


def median_seconds(step, steps):
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(step())  # wait for the device
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(name, size, batch, steps):
    keras.utils.set_random_seed(0)
    model = dermnet.build(name, input_shape=(size, size, 3), weights=None)
    images, masks, _ = synthetic(batch, image_size=size)
    masks = masks[..., None]
    recipe = dermnet.recipes.get(dermnet.model_card(name).recipe)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), **compile_arguments(model, recipe.make_loss()))

    def train_step():
        return model.train_on_batch(images, masks, return_dict=True)["loss"]

    def inference():
        return model.predict_on_batch(images)

    for step in (train_step, inference):  # compile, warm up
        median_seconds(step, 2)
    return {
        "model": name,
        "size": size,
        "parameters": model.count_params(),
        "train_img_s": batch / median_seconds(train_step, steps),
        "inference_img_s": batch / median_seconds(inference, steps),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="unet,unet_fc,segan")
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--max-parameters", type=float, default=600e6)
    args = parser.parse_args(argv)
    print(f"backend {keras.config.backend()}, batch {args.batch}, median of {args.steps} steps")
    print("| model | input | parameters | training (img/s) | inference (img/s) |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.models.split(","):
        for size in map(int, args.sizes.split(",")):
            if name == "unet_fc" and unet_fc_parameters(size, size) > args.max_parameters:
                print(
                    f"| {name} | {size}×{size} | {unet_fc_parameters(size, size):,} | not run (memory) | — |"
                )
                continue
            r = measure(name, size, args.batch, args.steps)
            print(
                f"| {name} | {size}×{size} | {r['parameters']:,} | {r['train_img_s']:.1f} | "
                f"{r['inference_img_s']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
