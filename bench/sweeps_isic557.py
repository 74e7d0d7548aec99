"""SDL's λ and n sweeps as short CPU runs on the 557 real ISIC images (the README's sweep table).

    python bench/sweeps_isic557.py [--images ../shared/data/isic-archive-557] [--out DIR]

Melanoma against benign; trained on the ISIC 2016 `train` images among them (353; for λ, 80 % of
them, the rest choosing λ), scored on its `test` images (131, 35 melanomas). Baseline-CNN components from random weights with per-image
centring, 64×64, 20 epochs of batch 16, Adam 1e-3 in place of the paper's SGD (which needs
ImageNet weights and 100,000 iterations). The λ runs train without augmentation, as Fig. 4; the n
runs with the recipe's, as Fig. 5's right half. Writes lambda.csv and n.csv to --out.
"""

import argparse
import dataclasses
import tempfile
from pathlib import Path

from dermnet import recipes, reproduce, sweeps

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic-archive-557"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=SHARED_IMAGES)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dermnet-sweeps-") as work:
        run(args, Path(work))


def run(args, work):
    train, test = reproduce.isic2016_archive(args.images)

    recipe = recipes.get("zhang2018")
    phase = dataclasses.replace(recipe.phases[0], optimizer_name="Adam", learning_rate=1e-3, schedule=None)
    options = {
        "backbone": "baseline_cnn",
        "image_size": 64,
        "weights": None,
        "recipe": dataclasses.replace(recipe, phases=(phase,)),
        "epochs": 20,
        "batch_size": 16,
        "preprocessing": "per_image",
        "cache_dir": work,
        "challenge": "isic2016",
    }
    columns = ["ap", "accuracy", "auc", "seconds_per_step"]
    lambdas = sweeps.synergic_weight_sweep(
        train, test, values=(0, 1, 3, 10), out=args.out / "lambda.csv", **options
    )
    print(lambdas[["synergic_weight", "val_ap", *columns, "chosen"]].round(3).to_string(index=False))
    components = sweeps.components_sweep(train, test, values=(1, 2, 3, 4), out=args.out / "n.csv", **options)
    print(components[["n", *columns, "relative_step_time"]].round(3).to_string(index=False))


if __name__ == "__main__":
    main()
