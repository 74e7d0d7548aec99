"""The papers' recipes at a small budget against plain Keras baselines, on real ISIC images.

    python bench/realdata_isic2017.py [--task segmentation|classification] [--epochs 8] [--size 96] [--out FILE]
    python bench/realdata_isic2017.py --quick        # 32 px, 1 epoch, a few images: checks that it runs

Segmentation: the 456 ISIC 2017 images of `../shared` that have their official part 1 lesion masks
(`data/isic2017-part1-masks-456/`), split once (seed 0) into 356 to train on and 100 held out. Each
segmentor family trains by its paper's recipe (`unet`, `unet_bn`, `unet_fc`, `unet_vgg16`: menegola2017;
`deeplabv3plus`, `segan`: xue2018) cut to `--epochs` by `Recipe.at_budget`, at `--size` px, from random
weights (ImageNet weights cannot be downloaded where this was first run; `--weights imagenet` where they
can), beside a plain 16-filter Keras U-net (binary cross-entropy, Adam 1e-3, flips) trained as long.
Each is scored on the held-out pairs by ISIC 2017 part 1's metric (the mean Jaccard index), and on 100 of
its own training pairs.

Classification: melanoma against benign on the 557 images' ISIC 2016 split (353 train, 131 test),
`baseline_cnn` and `resnet50` by ray2020 cut to `--epochs`, beside a plain Keras CNN (three 3x3
convolutions and max-pooling, Adam 1e-3, flips), at `--size` px; scored by ISIC 2016's average precision
and the AUC, with DeLong's 95 % interval and DeLong's paired test against the plain CNN (131 test images
separate few rows: the table says which).

`--variant CHANGE` (repeatable) trains each model by its recipe with that one change instead (`VARIANTS`:
what a change of the recipe does at this budget).

Prints a markdown table (and writes it to `--out`): one row per model, with its training time.
"""

import argparse
import dataclasses
import datetime
import platform
import tempfile
import time
from pathlib import Path

import cv2
import keras
import numpy as np
import pandas as pd

import dermnet
from dermnet import data, evaluation, recipes, reproduce, training
from dermnet.data import class_indices
from dermnet.evaluation import delong_test, predict_probabilities
from dermnet.evaluation.intervals import delong_interval
from dermnet.evaluation.scoring import challenge_scores

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SEGMENTORS = {
    "unet": "menegola2017",
    "unet_bn": "menegola2017",
    "unet_fc": "menegola2017",
    "unet_vgg16": "menegola2017",
    "deeplabv3plus": "xue2018",
    "segan": "xue2018",
}
FLIPS = data.Augmentation(flip_horizontal=True, flip_vertical=True)
# One change of a recipe: (label, change).
VARIANTS = {
    "Adam 1e-3": lambda r: dataclasses.replace(
        r, phases=tuple(dataclasses.replace(p, learning_rate=1e-3) for p in r.phases)
    ),
    "binary cross-entropy": lambda r: dataclasses.replace(
        r, loss={"class_name": "BCEDiceLoss", "config": {"dice_weight": 0.0}}
    ),
    "flips": lambda r: dataclasses.replace(r, augment=FLIPS.to_config()),
    # batch norm's moving statistics after ~100 steps: 0.99 ** 112 leaves a third of their initial values
    "batch-norm momentum 0.9": lambda r: dataclasses.replace(r, batchnorm_momentum=0.9),
    # ray2020 fine-tunes an ImageNet trunk from its top: from random weights that leaves most of it random
    "every layer trained": lambda r: dataclasses.replace(
        r, phases=tuple(dataclasses.replace(p, freeze="none") for p in r.phases)
    ),
    # ray2020 takes batches of 64: 48 steps in 8 epochs of 353 images, where the plain CNN takes 176
    "batch 16": lambda r: dataclasses.replace(r, batch_size=16),
}
# The plain CNN's training, all at once: what is left between a recipe's row and the plain CNN's is the model.
VARIANTS["Adam 1e-3, batch 16, flips"] = lambda r: VARIANTS["flips"](
    VARIANTS["batch 16"](VARIANTS["Adam 1e-3"](r))
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("segmentation", "classification"), default="segmentation")
    parser.add_argument("--images", type=Path, default=SHARED / "isic-archive-557")
    parser.add_argument("--masks", type=Path, default=SHARED / "isic2017-part1-masks-456")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument(
        "--models", help='comma-separated; default: every family of the task; "": the baseline only'
    )
    parser.add_argument(
        "--variant",
        action="append",
        choices=list(VARIANTS),
        help="train with this change of the recipe instead",
    )
    parser.add_argument("--weights", default=None, help="None (random) or imagenet")
    parser.add_argument("--quick", action="store_true", help="32 px, 1 epoch, a few images")
    parser.add_argument("--out", type=Path, help="a markdown file to write the table to")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.epochs = 32, 1
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="dermnet-realdata-") as work:
        rows = (segmentation if args.task == "segmentation" else classification)(args, Path(work))
    table = header(args, (time.time() - start) / 60) + "\n" + "\n".join(rows)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


def lesion_pairs(images, masks, quick):
    """(train, held out): the images that have an official mask, split once with seed 0."""
    found = sorted(masks.glob("ISIC_*_segmentation.png"))
    if not found:
        raise FileNotFoundError(f"{masks}: no ISIC_*_segmentation.png masks")
    ids = [p.name.removesuffix("_segmentation.png") for p in found]
    df = pd.DataFrame(
        {
            "image_id": ids,
            "image": [str(images / "images" / f"{i}.jpg") for i in ids],
            "mask": map(str, found),
        }
    )
    order = np.random.default_rng(0).permutation(len(df))
    held_out = np.zeros(len(df), bool)
    held_out[order[:100]] = True
    df = data.validate(df.assign(split=np.where(held_out, "test", "train")))
    train, test = df[df.split == "train"], df[df.split == "test"]
    return (train.iloc[:24], test.iloc[:12]) if quick else (train, test)


def segmentation(args, work):
    train, test = lesion_pairs(args.images, args.masks, args.quick)
    seen = train.iloc[:100]  # to show how well each fits what it trained on
    runs = [
        (name, SEGMENTORS[name], variant)
        for name in names(args, SEGMENTORS)
        for variant in args.variant or [None]
    ]
    rows = []
    for name, recipe_name, variant in runs:
        recipe = recipes.get(recipe_name).for_model(name).at_size(args.size).at_budget(args.epochs)
        if variant:
            recipe = VARIANTS[variant](recipe)
        keras.utils.set_random_seed(0)
        shape = (None, None, 3) if recipe.resize else recipe.input_shape  # trained on crops of a resize
        weights = args.weights if name in ("unet_vgg16", "deeplabv3plus", "segan") else None
        model = dermnet.build(name, input_shape=shape, weights=weights, **recipe.model_kwargs)
        began = time.time()
        training.train(model, recipe, train, model_name=name, cache_dir=work / "cache", verbose=0)
        minutes = (time.time() - began) / 60
        size = tuple(recipe.resize or recipe.input_shape[:2])
        scores = [
            evaluation.mask_scores(
                frame, evaluation.predict_masks(model, frame, size, cache_dir=work / "cache")
            )
            for frame in (test, seen)
        ]
        what = f"{name} by {recipe_name}" + (f", {variant}" if variant else "")
        rows.append(mask_row(what, sum(p.epochs for p in recipe.phases), scores, minutes))
        print(rows[-1], flush=True)  # a long run's rows as they come
        keras.backend.clear_session()
    rows.append(plain_unet(train, test, seen, args))
    return [
        "| model, recipe | epochs | held-out Jaccard | thresholded Jaccard | Dice | Jaccard on its training images | minutes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]


def mask_row(what, epochs, scores, minutes):
    test, seen = scores
    warning = " (every image the same mask)" if "warning" in test else ""
    return (
        f"| {what}{warning} | {epochs} | {test['jaccard']:.3f} | {test['threshold_jaccard']:.3f} "
        f"| {test['dice']:.3f} | {seen['jaccard']:.3f} | {minutes:.1f} |"
    )


def plain_unet(train, test, seen, args):
    """A 16-filter U-net in plain Keras: binary cross-entropy, Adam 1e-3, flips, batch 16."""
    side = args.size
    images, masks = arrays(train, side)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((side, side, 3))
    x, skips = keras.layers.Rescaling(1 / 255)(inputs), []
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    for filters, skip in zip((64, 32, 16), reversed(skips)):
        x = keras.layers.Conv2DTranspose(filters, 2, strides=2)(x)
        x = keras.layers.Concatenate()([x, skip])
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    began = time.time()
    rng = np.random.default_rng(0)
    for _ in range(args.epochs):  # flips, drawn anew each epoch
        flip = rng.integers(0, 2, (2, len(images)), dtype=bool)
        x_epoch, y_epoch = images.copy(), masks.copy()
        for axis, chosen in ((2, flip[0]), (1, flip[1])):
            x_epoch[chosen], y_epoch[chosen] = np.flip(x_epoch[chosen], axis), np.flip(y_epoch[chosen], axis)
        model.fit(x_epoch, y_epoch, batch_size=16, epochs=1, shuffle=True, verbose=0)
    minutes = (time.time() - began) / 60
    scores = [
        evaluation.mask_scores(frame, model.predict(arrays(frame, side)[0], verbose=0))
        for frame in (test, seen)
    ]
    return mask_row("plain Keras U-net, 16 filters (BCE, Adam 1e-3, flips)", args.epochs, scores, minutes)


def arrays(frame, side):
    """Images (uint8 → float32) and masks (0/1) resized to `side`, read as plain Keras code reads them."""
    images = [
        cv2.resize(cv2.imread(p)[..., ::-1], (side, side), interpolation=cv2.INTER_AREA) for p in frame.image
    ]
    masks = []
    if "mask" in frame:
        masks = [cv2.resize(cv2.imread(p, cv2.IMREAD_GRAYSCALE), (side, side)) > 127 for p in frame["mask"]]
    return np.asarray(images, "float32"), np.asarray(masks, "float32")[..., None]


def classification(args, work):
    train, test = reproduce.isic2016_archive(args.images)
    if args.quick:
        train, test = train.iloc[:40], test.iloc[:24]
    classes = list(train.attrs["classes"])
    runs = [
        (name, "ray2020", variant)
        for name in names(args, ("baseline_cnn", "resnet50"))
        for variant in args.variant or [None]
    ]
    plain_minutes, plain = plain_cnn(train, test, classes, args)
    rows = []
    for name, recipe_name, variant in runs:
        recipe = recipes.get(recipe_name).for_model(name).at_budget(args.epochs)
        recipe = dataclasses.replace(recipe, input_shape=(args.size, args.size, 3), resize=None)
        if variant:
            recipe = VARIANTS[variant](recipe)
        keras.utils.set_random_seed(0)
        model = dermnet.build(name, num_classes=2, input_shape=recipe.input_shape, weights=args.weights)
        began = time.time()
        training.train(model, recipe, train, model_name=name, cache_dir=work, verbose=0)
        minutes = (time.time() - began) / 60
        probabilities = predict_probabilities(model, test, cache_dir=work)
        what = f"{name} by {recipe_name}" + (f", {variant}" if variant else "")
        epochs = sum(p.epochs for p in recipe.phases)
        rows.append(class_row(what, epochs, probabilities, test, classes, minutes, plain))
        print(rows[-1], flush=True)
        keras.backend.clear_session()
    what = "plain Keras CNN (Adam 1e-3, flips, batch 16)"
    rows.append(class_row(what, args.epochs, plain, test, classes, plain_minutes))
    return [
        "| model, recipe | epochs | average precision | AUC (95 % CI) | AUC − the plain CNN's (p) | minutes |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
    ]


def class_row(what, epochs, probabilities, test, classes, minutes, plain=None):
    """A row of scores: the AUC with DeLong's interval and, beside the plain CNN's (`plain`: its
    probabilities), DeLong's paired test on the same test images."""
    truth = class_indices(test)
    scores = challenge_scores("isic2016", truth, probabilities, classes)
    warning = " (every image the same prediction)" if "warning" in scores else ""
    malignant = classes.index("malignant")
    auc, low, high = delong_interval(truth == malignant, probabilities[:, malignant])
    paired = "—"
    if plain is not None:
        paired_test = delong_test(truth == malignant, probabilities[:, malignant], plain[:, malignant])
        paired = f"{paired_test['difference']:+.3f} ({paired_test['p']:.2f})"
    return (
        f"| {what}{warning} | {epochs} | {scores['overall']:.3f} | {auc:.3f} ({low:.2f}–{high:.2f}) "
        f"| {paired} | {minutes:.1f} |"
    )


def plain_cnn(train, test, classes, args):
    """Three 3x3 convolutions (16, 32, 64) with max-pooling, in plain Keras: Adam 1e-3, flips, batch 16.
    Returns (minutes, the test images' probabilities)."""
    images, _ = arrays(train, args.size)
    labels = class_indices(train)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((args.size, args.size, 3)), keras.layers.Rescaling(1 / 255)])
    for filters in (16, 32, 64):
        model.add(keras.layers.Conv2D(filters, 3, padding="same", activation="relu"))
        model.add(keras.layers.MaxPooling2D())
    model.add(keras.layers.GlobalAveragePooling2D())
    model.add(keras.layers.Dense(len(classes), activation="softmax"))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    began = time.time()
    rng = np.random.default_rng(0)
    for _ in range(args.epochs):
        flip = rng.integers(0, 2, (2, len(images)), dtype=bool)
        epoch = images.copy()
        epoch[flip[0]], epoch[flip[1]] = np.flip(epoch[flip[0]], 2), np.flip(epoch[flip[1]], 1)
        model.fit(epoch, labels, batch_size=16, epochs=1, shuffle=True, verbose=0)
    minutes = (time.time() - began) / 60
    return minutes, model.predict(arrays(test, args.size)[0], verbose=0)


def names(args, known):
    chosen = list(known) if args.models is None else [m for m in args.models.split(",") if m]  # "": none
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SystemExit(f"unknown models {unknown}; known: {', '.join(known)}")
    return chosen


def header(args, minutes):
    command = "python bench/realdata_isic2017.py" + (
        " --quick" if args.quick else f" --task {args.task} --epochs {args.epochs} --size {args.size}"
    )
    return (
        f"`{command}{''.join(f' --variant {v!r}' for v in args.variant or [])}` on {datetime.date.today()}, "
        f"{platform.processor() or platform.machine()}, in {minutes:.1f} minutes; Keras {keras.__version__}, "
        f"{args.weights or 'random'} weights, {args.size} px; each recipe cut to about {args.epochs} epochs "
        "(`Recipe.at_budget`; a phase keeps one epoch at least), the baselines trained as long.\n"
    )


if __name__ == "__main__":
    main()
