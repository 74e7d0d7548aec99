"""What int8 and float16 cost a trained classifier on real images: ONNX and LiteRT exports of a ResNet-50
trained on the ISIC 2016 images of the 557 real ISIC images, scored before and after on held-out ones.

    python bench/quantization_isic557.py [--images ../shared/data/isic-archive-557] [--size 128] [--epochs 8]
    python bench/quantization_isic557.py --quick      # a small run: checks that it runs

Melanoma against benign: a ResNet-50 from random weights (ImageNet weights cannot be downloaded on the
machine this was measured on; `--weights imagenet` where they can) trained on the ISIC 2016 `train`
images among them (353) by `ray2020`'s phases with Adam at 1e-3 for `--epochs`, at `--size` px. Each
export goes through `dermnet.portable.export_portable` as `dermnet export --quantize` does: int8
calibrated on 200 of the training images (onnxruntime's static QDQ quantizer, the TFLite converter's
representative data set), float16 by the runtimes' converters, and the ISIC 2016 score (average
precision, and the AUC) of the float32 export and the quantized one on the 131 `test` images (35
melanomas). Prints a markdown table and writes it to `--out` if given.
"""

import argparse
import dataclasses
import datetime
import platform
import tempfile
import time
from pathlib import Path

import keras

import dermnet
from dermnet import portable, recipes, reproduce, training
from dermnet.data import class_indices
from dermnet.evaluation import predict_probabilities
from dermnet.evaluation.scoring import challenge_scores

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic-archive-557"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=SHARED_IMAGES)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--weights", default=None, help="None (random) or imagenet")
    parser.add_argument("--quick", action="store_true", help="32 px, 1 epoch, 40 images: checks that it runs")
    parser.add_argument("--out", type=Path, help="a markdown file to write the table to")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dermnet-quantization-") as work:
        table = run(args, Path(work))
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


def run(args, work):
    start = time.time()
    train, test = reproduce.isic2016_archive(args.images)
    size = 32 if args.quick else args.size
    if args.quick:
        train, test = train.iloc[:40], test.iloc[:24]
    classes = list(train.attrs["classes"])
    recipe = recipes.get("ray2020")
    phases = tuple(
        dataclasses.replace(p, optimizer_name="Adam", learning_rate=1e-3, optimizer_args={}, schedule=None)
        for p in recipe.phases
    )
    recipe = dataclasses.replace(recipe, phases=phases, resize=None)
    keras.utils.set_random_seed(0)
    model = dermnet.build("resnet50", num_classes=2, input_shape=(size, size, 3), weights=args.weights)
    training.train(
        model,
        recipe,
        train,
        epochs=1 if args.quick else args.epochs,
        batch_size=16,
        cache_dir=work,
        verbose=0,
    )
    keras_scores = challenge_scores(
        "isic2016", class_indices(test), predict_probabilities(model, test, cache_dir=work), classes
    )
    calibration = list(train.sample(min(200, len(train)), random_state=0)["image"])
    rows = []
    for format in ("onnx", "litert"):
        for quantize in ("float16", "int8"):
            out = work / f"{format}-{quantize}"
            described = portable.export_portable(
                model,
                out,
                format,
                (size, size),
                classes,
                quantize=quantize,
                calibration=calibration,
                scoring=test,
                scored_on="the 131 ISIC 2016 test images",
                challenge="isic2016",
            )
            score = described["score"]
            megabytes = (out / portable.FILES[format]).stat().st_size / 2**20
            auc = (score["headline_before"].get("auc"), score["headline_after"].get("auc"))
            rows.append(
                f"| {format} | {quantize} | {score['before']:.4f} → {score['after']:.4f} | {score['drop']:+.4f} "
                f"| {auc[0]:.4f} → {auc[1]:.4f} | {max(described['check']['max_abs_difference'].values()):.1e} "
                f"| {megabytes:.1f} |"
            )
    minutes = (time.time() - start) / 60
    header = (
        f"`python bench/quantization_isic557.py{' --quick' if args.quick else ''}` on {datetime.date.today()}, "
        f"{platform.processor() or platform.machine()}, in {minutes:.1f} minutes; Keras {keras.__version__}. "
        f"ResNet-50 ({args.weights or 'random'} weights) trained {1 if args.quick else args.epochs} epochs at "
        f"{size} px on {len(train)} ISIC 2016 training images; its own {challenge_name(keras_scores)} on the "
        f"{len(test)} test images: {keras_scores[challenge_name(keras_scores)]:.4f}. Score: ISIC 2016's "
        "average precision of the float32 export → the quantized one (drop: before − after); AUC likewise; "
        "max |Δ|: the largest probability difference from the Keras model on the check images.\n\n"
        "| format | quantization | average precision | drop | AUC | max \\|Δ\\| | MB |\n"
        "| --- | --- | --- | --- | --- | --- | --- |"
    )
    return header + "\n" + "\n".join(rows)


def challenge_name(scores):
    return "overall" if "overall" in scores else "auc"


if __name__ == "__main__":
    main()
