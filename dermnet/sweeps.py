"""The sweeps of Zhang et al. 2018: the synergic weight λ (Fig. 4) and the number of components n
with its relative training time (Fig. 5). Each run trains a fresh model by the recipe on `train_df`
(the λ runs without augmentation, as Fig. 4) and scores it on `test_df` (λ also on a validation
split, where it is chosen, as Fig. 4 does); the table is rewritten after every run, so an interrupted
sweep keeps the runs it finished.

Example (also `dermnet sweep synergic-weight --dataset isic2016 --root DIR --out lambda.csv`):
>>> df = dermnet.data.load_dataset("synthetic", "~/data/synthetic")   # ISIC 2016 in the paper
>>> table = dermnet.sweeps.synergic_weight_sweep(df[df.split == "train"], df[df.split == "test"], values=(0, 3),
...                                              backbone="baseline_cnn", image_size=32, epochs=1, out="lambda.csv")
>>> table["synergic_weight"].tolist()
[0.0, 3.0]
"""

import time

import keras
import numpy as np
import pandas as pd

from dermnet import backbones
from dermnet._io import write_csv
from dermnet._registry import build
from dermnet.data import class_indices, class_names, split
from dermnet.evaluation import challenge_scores, predict_probabilities
from dermnet.models.classifier import build_classifier
from dermnet.training import StepTimer, train


def synergic_weight_sweep(
    train_df, test_df, values=(0, 1, 3, 5, 10), n=2, out=None, validation_df=None, augment="none", **options
):
    """One SDL run per λ in `values` (λ = 0 is ResNet-50²: components trained apart), scored on a
    validation split, where λ is chosen (Fig. 4 (a)), and on the test split (Fig. 4 (b)).

    Args:
        validation_df: the images λ is chosen on; None takes 20 % of `train_df` (`dermnet.data.split`,
            stratified, grouped by lesion and patient, the sweep's `seed`) and trains on the rest.
        augment: "none", as Fig. 4 (the SDL model without augmentation); None: the recipe's preset.
        options: `challenge` as in `train_and_score`; `backbone`, `image_size`, `weights`, `recipe`,
            `epochs`, `batch_size`, `preprocessing`, `seed`, `cache_dir`, `verbose`, as in
            `train_and_predict`.
    Returns:
        A DataFrame, a row per λ: `synergic_weight`, `train_and_score`'s columns (the test scores,
        and the validation ones prefixed `val_`) and `chosen`, True on the row of the best
        validation score (the challenge's `overall`, else the mean `auc`); written to `out` if given.
    """
    if validation_df is None:
        carved = split(train_df, {"train": 0.8, "validation": 0.2}, seed=options.get("seed", 0))
        train_df, validation_df = carved[carved.split == "train"], carved[carved.split == "validation"]
    rows = []
    for value in values:
        rows.append(
            {
                "synergic_weight": float(value),
                **train_and_score(
                    n, value, train_df, test_df, validation_df=validation_df, augment=augment, **options
                ),
            }
        )
        ranking = "val_overall" if "val_overall" in rows[0] else "val_auc"
        best = max(
            range(len(rows)), key=lambda i: np.nan_to_num(rows[i][ranking], nan=-np.inf)
        )  # NaN never wins
        for i, row in enumerate(rows):
            row["chosen"] = i == best
        table = _write(rows, out)
    return table


def components_sweep(train_df, test_df, values=(1, 2, 3, 4), synergic_weight=3.0, out=None, **options):
    """One run per number of components n in `values` (n = 1: the backbone alone with the SDL head),
    with the recipe's augmentation unless `augment` says otherwise (Fig. 5 shows both: `augment="none"`
    for its left half).

    Returns:
        A DataFrame, a row per n: `n`, `train_and_score`'s columns and `relative_step_time`, the median step
        time over that of the first row (Fig. 5's relative training time when `values` starts at 1).
    """
    rows = []
    for n in values:
        rows.append({"n": int(n), **train_and_score(n, synergic_weight, train_df, test_df, **options)})
        for row in rows:
            row["relative_step_time"] = row["seconds_per_step"] / rows[0]["seconds_per_step"]
        table = _write(rows, out)
    return table


def train_and_score(n, synergic_weight, train_df, test_df, challenge=None, validation_df=None, **options):
    """Trains one model (SDL with `n` components, or the plain classifier when n = 1) and scores it.

    Args:
        challenge: the ISIC challenge whose official scores to report ("isic2016" for Zhang et
            al.'s data); None for `dermnet.evaluation.classification_scores`.
        validation_df: also scored, if given, under the same names prefixed `val_`.
        options: as in `train_and_predict`.

    Returns:
        `dermnet.evaluation.challenge_scores` of the test images, plus `train_seconds` (all of
        training, compilation included), `seconds_per_step` (median) and `steps`.
    """
    model, probabilities, timing = train_and_predict(n, synergic_weight, train_df, test_df, **options)
    classes = class_names(train_df)
    scores = challenge_scores(challenge, class_indices(test_df, classes), probabilities, classes)
    if validation_df is not None:
        validation = predict_probabilities(model, validation_df, cache_dir=options.get("cache_dir"))
        scores.update(
            {
                f"val_{name}": value
                for name, value in challenge_scores(
                    challenge, class_indices(validation_df, classes), validation, classes
                ).items()
            }
        )
    return {**scores, **timing}


def train_and_predict(
    n,
    synergic_weight,
    train_df,
    test_df,
    *,
    backbone="resnet50",
    image_size=224,
    weights="default",
    recipe="zhang2018",
    epochs=None,
    batch_size=None,
    augment=None,
    preprocessing=None,
    seed=0,
    cache_dir=None,
    verbose=0,
):
    """`train_and_score`'s training: returns (the trained model, its test probabilities `[len(test_df), K]`, timing:
    `train_seconds`, `seconds_per_step`, `steps`).

    Args:
        image_size: the side of the square inputs.
        weights: the backbones' initial weights: None, "imagenet", or "default" (ImageNet where
            the backbone has them).
        preprocessing: a `dermnet.layers.Preprocess` mode; the backbone's own if None.
        recipe, epochs, batch_size, augment, seed, cache_dir, verbose: as in `dermnet.training.train`.
    """
    keras.utils.set_random_seed(seed)  # the same initial weights for every run of a sweep
    if weights == "default":
        weights = "imagenet" if backbones.get(backbone).imagenet_file else None
    classes = class_names(train_df)
    shape = (image_size, image_size, 3)
    if n == 1:
        model = build_classifier(
            backbone, len(classes), shape, weights, head="sdl", preprocessing=preprocessing, name=backbone
        )
    else:
        model = build(
            "sdl",
            n=n,
            backbone=backbone,
            num_classes=len(classes),
            input_shape=shape,
            synergic_weight=synergic_weight,
            weights=weights,
            preprocessing=preprocessing,
        )
    timer = StepTimer()
    start = time.perf_counter()
    train(
        model,
        recipe,
        train_df,
        model_name=backbone if n == 1 else "sdl",
        epochs=epochs,
        batch_size=batch_size,
        augment=augment,
        seed=seed,
        cache_dir=cache_dir,
        callbacks=[timer],
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    timing = {"train_seconds": seconds, "seconds_per_step": timer.median, "steps": len(timer.seconds)}
    return model, predict_probabilities(model, test_df, cache_dir=cache_dir), timing


def _write(rows, out):
    table = pd.DataFrame(rows)
    if out is not None:
        write_csv(out, table)
    return table
