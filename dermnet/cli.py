"""The `dermnet` command line.

Errors print as one line and exit with status 1; `--debug` (before or after the subcommand) shows
the traceback instead. TensorFlow is loaded only by the commands that use a model, with its C++ start-up
lines (oneDNN, CUDA probing) muted; DERMNET_STARTUP_LOGS=1 shows them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dermnet.runs import Run


def _size(shape: Sequence[int | None]) -> str:
    return "×".join("any" if side is None else str(side) for side in shape[:2])


def model_table(
    pattern: str = "*", task: str | None = None, markdown: bool = False, pretrained: bool | None = None
) -> str:
    """The registry as a text (or Markdown) table: name, task, paper, parameters, input size."""
    import dermnet

    header = ("model", "task", "paper", "parameters", "input (H×W)", "outputs")
    rows: list[tuple[str, ...]] = []
    for name in dermnet.list_models(pattern, task=task, pretrained=pretrained):
        card = dermnet.model_card(name)
        paper = card.paper.split(" (")[0]
        unit = "classes" if card.task == "classification" else "masks" if card.num_classes > 1 else "mask"
        rows.append(
            (
                name,
                card.task,
                paper,
                f"{card.parameters:,}",
                _size(card.input_shape),
                f"{card.num_classes} {unit}",
            )
        )
    return _table(header, rows, markdown)


def dataset_table(markdown: bool = False) -> str:
    """The known data sets as a text (or Markdown) table: what each holds, how it is scored and got."""
    from dermnet import datasets

    header = ("data set", "what", "classes", "scored by", "files from", "licence")
    rows: list[tuple[str, ...]] = []
    for d in datasets.DATASETS.values():
        source = (
            d.manual.split(" ")[0]
            if d.manual
            else "`dermnet data download`"
            if d.archives
            else "drawn on first use"
        )
        scoring = (
            f"{d.challenge} (official)"
            if d.challenge
            else "dermnet's classification scores"
            if d.task == "classification"
            else "dermnet's mask scores"
        )
        classes = ", ".join(d.classes) or ("from --label" if d.task == "classification" else "1 mask")
        rows.append((d.name, d.description, classes, scoring, source, d.licence))
    return _table(header, rows, markdown)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows])


def _list(args: argparse.Namespace) -> None:
    print(model_table(args.pattern, args.task, args.markdown, pretrained=True if args.pretrained else None))


def _data_list(args: argparse.Namespace) -> None:
    print(dataset_table(args.markdown))


def _data_download(args: argparse.Namespace) -> None:
    from dermnet.data.download import download

    print(f"{args.name}: ready in {download(args.name, args.root)}")


def _train(args: argparse.Namespace) -> None:
    if args.deterministic:  # read when JAX starts, which importing dermnet.training does with that backend
        os.environ["XLA_FLAGS"] = (
            f"{os.environ.get('XLA_FLAGS', '')} --xla_gpu_deterministic_ops=true".strip()
        )
    from dermnet.evaluation.scoring import headline
    from dermnet.training import run

    out = args.out or f"runs/{args.model}"
    scores = run(
        args.model,
        args.dataset,
        args.root,
        label=args.label,
        recipe=args.recipe,
        backbone=args.backbone,
        out=out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        image_size=args.image_size,
        weights=_weights(args.weights),
        seed=args.seed,
        mixed_precision=args.mixed_precision,
        jit_compile=True if args.jit else "auto",
        deterministic=args.deterministic,
        distribute=args.distribute,
        coordinator=args.coordinator,
        num_processes=args.num_processes,
        process_id=args.process_id,
        overwrite=args.overwrite,
        verbose=1 if sys.stdout.isatty() else 2,
    )  # a progress bar, or a line per epoch in a log
    print("held-out scores: " + ", ".join(f"{name} {value:.4f}" for name, value in headline(scores).items()))
    _warn_if_collapsed(scores)
    print(f"model, history, scores (per category too) and config in {out}/")


def _predict(args: argparse.Namespace) -> None:
    from dermnet import portable, runs
    from dermnet._io import check_target, write_csv
    from dermnet.inference import predict_images

    if portable.is_exported(args.model):  # an ONNX or LiteRT export, run in its own runtime, to check it
        exported = portable.load(args.model)
        out = check_target(args.out or runs.PREDICTIONS, args.overwrite, keep=[exported.path])
        model, size, classes = exported, None, None  # its dermnet.json says them
    else:
        run = runs.load(args.model)
        out = check_target(args.out or run.output(runs.PREDICTIONS), args.overwrite, keep=[run.model_path])
        model, size, classes = run.model, run.prediction_size, run.classes
    table = predict_images(
        model, args.images, size, classes, args.tta, args.batch_size, args.masks, args.postprocess
    )
    write_csv(out, table)
    print(f"{len(table)} images: predictions in {out}" + (f", masks in {args.masks}/" if args.masks else ""))


def _export(args: argparse.Namespace) -> None:
    from dermnet import runs, serving

    if args.format == "tflite":  # --out was a file; a LiteRT export is a folder with its dermnet.json
        raise ValueError(
            "--format tflite is now --format litert: a folder with model.tflite and its dermnet.json "
            "(what it takes, its check in ai-edge-litert), for classifiers and segmentors alike"
        )
    if args.quantize and args.format == "saved_model":
        raise ValueError("--quantize is for --format onnx or litert (a SavedModel is served as trained)")
    run = runs.load(args.model)
    model = run.model
    start = time.perf_counter()
    # no bar: tracing and saving report no steps, so a line says it has begun
    print(
        f"dermnet: exporting {model.name} to {args.out} (tracing and saving its graph)",
        file=sys.stderr,
        flush=True,
    )
    if args.format == "saved_model":
        serving.export_saved_model(
            model,
            args.out,
            run.prediction_size,
            run.classes,
            max_pixels=args.max_pixels,
            max_request_pixels=args.max_request_pixels,
            keep=[run.model_path],
            overwrite=args.overwrite,
        )
    else:
        from dermnet import portable

        described = portable.export_run(
            run,
            args.out,
            args.format,
            quantize=args.quantize,
            max_drop=args.max_drop,
            score_on=args.score_on,
            calibration_images=args.calibration_images,
            overwrite=args.overwrite,
        )
        print(portable.summary(described))
    print(f"{model.name}: {args.format} in {args.out} ({time.perf_counter() - start:.0f} s)")


def _publish(args: argparse.Namespace) -> None:
    from dermnet import runs

    where = runs.publish(args.source, args.dest, overwrite=args.overwrite, licence=args.license)
    print(f"{args.source}: published to {where} (load it with dermnet.load({str(args.dest)!r}))")


def _trained_on(run: Run, dataset: str | None, root: str | None) -> tuple[str, str | None]:
    """(data set, root) to evaluate on: the flags, or what the run trained on; the run's root only
    goes with the run's own data set."""
    if dataset is None and run.dataset is None:
        raise ValueError(
            f"{run.source}: no run config says which data set it was trained on: give --dataset (and --root)"
        )
    if dataset is None or dataset == run.dataset:
        # (the ignore: the check above leaves the flag or the run's data set set, which mypy cannot tell)
        return run.dataset or dataset, root or run.root  # type: ignore[return-value]
    return dataset, root


def _evaluate(args: argparse.Namespace) -> None:
    from dermnet import datasets, runs
    from dermnet._io import check_target
    from dermnet.data import class_names, load_splits
    from dermnet.evaluation import cross_dataset, evaluate
    from dermnet.evaluation.scoring import headline
    from dermnet.models import contract

    run = runs.load(args.model)
    # Before the work: the report's folder follows the one rule (an earlier report only with --overwrite).
    out = check_target(args.out or run.output(runs.EVALUATION), args.overwrite, keep=[run.model_path])
    model, trained, arguments = run.model, run.classes, run.arguments
    dataset, root = _trained_on(run, args.dataset, args.root)
    predicts_masks = contract(model).predicts_masks
    about = {
        "data set": f"{dataset} ({root})" if root else dataset,
        "model file": run.model_path.resolve() if run.local else run.source,
    }
    challenge, scored = datasets.challenge_of(str(dataset)), None
    if args.classes or _data_set_key(dataset) != _data_set_key(arguments.get("dataset", dataset)):
        if not arguments or (not trained and not predicts_masks):
            raise ValueError(
                f"{run.source}: a cross-data-set evaluation needs the model's run (its config says "
                "what it trained on and its classes): give the run folder"
            )
        explicit = cross_dataset.parse_classes(args.classes) if args.classes else None
        held_out, about["cross-data-set evaluation"], challenge, scored = cross_dataset.prepare(
            dataset, root, trained, arguments["dataset"], arguments.get("root"), explicit, predicts_masks
        )
        print(f"{model.name}: scoring on {len(held_out)} images of {dataset} (cross-data-set)")
    else:
        label = args.label or (run.arguments.get("label") if dataset == run.dataset else None)
        train, _, held_out = load_splits(dataset, root, label=label)
        if trained and not predicts_masks and list(class_names(train)) != trained:
            raise ValueError(
                f"{run.source} was trained on the classes {trained}; {dataset} has {list(class_names(train))}: "
                "score it on another data set's images with --classes LABEL=CLASS,..."
            )
        print(f"{model.name}: scoring on {len(held_out)} held-out images of {dataset}")
    temperature = _calibrate(run, args.tta) if args.calibrate else None
    scores = evaluate(
        model,
        held_out,
        out,
        run.prediction_size,
        challenge=challenge,
        tta_replicas=args.tta,
        about=about,
        scored_classes=scored,
        temperature=temperature,
    )
    print(", ".join(f"{name} {value:.4f}" for name, value in headline(scores).items()))
    _warn_if_collapsed(scores)
    print(f"all scores (per category too), predictions, figures and report.md in {out}/")


def _calibrate(run: Run, tta: int) -> float:
    """A temperature fitted on the run's validation split (with the same test-time views as its scores),
    kept with the run."""
    from dermnet.data import class_indices, load_splits
    from dermnet.evaluation import fit_temperature, predict_probabilities, tta_model
    from dermnet.models import contract

    if contract(run.model).predicts_masks or not run.classes:
        raise ValueError(f"{run.source}: --calibrate is for a classifier's run (its classes and data set)")
    # (the ignore: a run with classes has a config, which names its data set; mypy cannot tell)
    _, validation, _ = load_splits(run.dataset, run.root, label=run.arguments.get("label"))  # type: ignore[arg-type]
    if validation is None:
        raise ValueError(
            f"{run.dataset} has no validation split to fit a temperature on: evaluate without --calibrate"
        )
    predictor = tta_model(run.model, tta) if tta > 1 else run.model
    temperature = fit_temperature(
        class_indices(validation, run.classes), predict_probabilities(predictor, validation)
    )
    run.save_calibration(
        {
            "temperature": temperature,
            "fitted_on": f"the validation split of {run.dataset} ({len(validation)} images)",
            "tta": tta,
        }
    )
    print(f"temperature {temperature:.3f}, fitted on {len(validation)} validation images")
    return temperature


def _compare(args: argparse.Namespace) -> None:
    from dermnet import runs
    from dermnet._io import check_target, write_json
    from dermnet.evaluation import compare_evaluations

    out = check_target(args.out, args.overwrite) if args.out else None  # before the work
    folders = [runs.evaluation_folder(source) for source in (args.a, args.b)]
    # (the ignore: `folders` holds the two folders, `folder_a` and `folder_b`, which mypy cannot tell)
    result = compare_evaluations(*folders, n_resamples=args.resamples, seed=args.seed)  # type: ignore[misc, arg-type]
    print("\n".join(result["sentences"]))
    if out:
        write_json(out, result)
        print(f"every score's difference, interval and test in {out}")


def _warn_if_collapsed(scores: Mapping[str, Any]) -> None:
    """A model that gave every image the same prediction says so beside its scores, loudly."""
    if "warning" in scores:
        print(f"WARNING: {scores['warning']}")


def _data_set_key(dataset: str | os.PathLike[str]) -> str:
    """A data set name, or a manifest CSV's absolute path: what tells two data sets apart."""
    return str(Path(dataset).expanduser().absolute()) if str(dataset).endswith(".csv") else str(dataset)


def _weights(text: str | None) -> str | None:
    """--weights: none → None (random); absent → "default" (the model's ImageNet weights, if any)."""
    return {None: "default", "none": None}.get(text, text)


def _sweep(args: argparse.Namespace) -> None:
    from dermnet import datasets, sweeps
    from dermnet._io import check_target
    from dermnet.data import load_splits

    check_target(args.out, args.overwrite)  # before hours of training, not after the first run
    train, validation, test = load_splits(args.dataset, args.root)
    options = {
        "backbone": args.backbone,
        "image_size": args.image_size,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "weights": _weights(args.weights),
        "seed": args.seed,
        "verbose": 2,
        "challenge": datasets.challenge_of(args.dataset),
    }
    if args.augment:  # else each sweep's own default: none for λ (Fig. 4), the recipe's for n
        options["augment"] = args.augment
    if args.values:
        value = float if args.what == "synergic-weight" else int
        options["values"] = [value(v) for v in args.values.split(",")]
    if args.what == "synergic-weight":
        if validation is None:
            print(f"{args.dataset} has no validation split: λ is chosen on 20 % of its training images")
        table = sweeps.synergic_weight_sweep(train, test, out=args.out, validation_df=validation, **options)
    else:
        table = sweeps.components_sweep(train, test, out=args.out, **options)
    print(table.to_string(index=False))
    print(f"written to {args.out}")


def _add_training_arguments(
    command: argparse.ArgumentParser, epochs_help: str, image_size_default: int | None, label: bool = True
) -> None:
    command.add_argument(
        "--dataset",
        default="synthetic",
        help="a data set name or a manifest CSV (default: synthetic, embedded)",
    )
    command.add_argument("--root", help="the data set's folder (synthetic: drawn into the dermnet cache)")
    if label:
        command.add_argument(
            "--label",
            help="isic_archive: the metadata.csv column holding the labels, e.g. "
            "diagnosis_1 (an ISIC Archive download has no label column of its own)",
        )
    command.add_argument("--epochs", type=int, help=epochs_help)
    command.add_argument("--batch-size", type=int, help="default: the recipe's")
    command.add_argument(
        "--image-size",
        type=int,
        default=image_size_default,
        help=f"square input side (default: {image_size_default or 'the recipe’s'})",
    )
    command.add_argument(
        "--weights",
        help="imagenet, none (random) or a weights file (default: ImageNet where the backbone has them)",
    )
    command.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the random seed of weights, data order and augmentation (default 0)",
    )


_SOURCE_HELP = "a `dermnet train` run folder, a published bundle (a folder or hf://owner/name[@revision]) or a .keras file"


def parser() -> argparse.ArgumentParser:
    from dermnet import __version__

    p = argparse.ArgumentParser(prog="dermnet", description="Skin-lesion models for dermoscopy.")
    p.add_argument("--version", action="version", version=f"dermnet {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    # --debug after the subcommand too: its default SUPPRESS leaves the main parser's value alone
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    commands = p.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", parents=[common], help="list the registered models")
    listing.add_argument("pattern", nargs="?", default="*", help="glob on names, e.g. '*dense*'")
    listing.add_argument("--task", help="only models of this task, e.g. classification")
    listing.add_argument(
        "--pretrained", action="store_true", help="only models with ImageNet weights by default"
    )
    listing.add_argument("--markdown", action="store_true", help="a Markdown table (for the README)")
    listing.set_defaults(run=_list)

    # `dermnet data SUBCOMMAND`: a group, so that other data subcommands can sit beside `download`
    data = commands.add_parser("data", parents=[common], help="get and check data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    data_listing = data_commands.add_parser("list", parents=[common], help="list the known data sets")
    data_listing.add_argument("--markdown", action="store_true", help="a Markdown table (for the README)")
    data_listing.set_defaults(run=_data_list)
    fetch = data_commands.add_parser(
        "download", parents=[common], help="download and extract a public data set"
    )
    fetch.add_argument("name", help="the data set, e.g. isic2018_task3_test (an unknown name lists them)")
    fetch.add_argument("--root", required=True, help="the data folder; images land anywhere under it")
    fetch.set_defaults(run=_data_download)

    training = commands.add_parser(
        "train",
        parents=[common],
        help="train a model by its recipe, score it, "
        "save the run; run the same command again to resume an interrupted run",
    )
    training.add_argument("model", help="a registered model, e.g. sdl or unet_fc (see `dermnet list`)")
    _add_training_arguments(
        training, epochs_help="epochs of every phase (default: the recipe's)", image_size_default=None
    )
    training.add_argument(
        "--recipe",
        help="a recipe name or a recipe JSON file, e.g. an earlier run's config (default: the model card's)",
    )
    training.add_argument(
        "--backbone",
        help="the backbone of a model built on one, e.g. `train sdl --backbone efficientnet_b0` "
        "(default: the model's own)",
    )
    training.add_argument("--out", help="the run's folder (default runs/MODEL)")
    training.add_argument(
        "--overwrite",
        action="store_true",
        help="train over a finished run in --out (its files go when training starts)",
    )
    training.add_argument(
        "--mixed-precision",
        choices=("bfloat16", "float16"),
        help="train under Keras' mixed_bfloat16 / mixed_float16 policy (default: float32)",
    )
    training.add_argument(
        "--jit", action="store_true", help="force XLA compilation (default: where Keras can)"
    )
    training.add_argument(
        "--distribute",
        choices=("mirrored", "multi-host"),
        help="mirrored: data-parallel on every local GPU; multi-host: over the devices of "
        "several machines, with JAX (every process runs this command); --batch-size is then "
        "the global batch",
    )
    training.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="multi-host: process 0's address (default: KERAS_DISTRIBUTION_JOB_ADDRESSES, "
        "or the cluster's, e.g. SLURM's)",
    )
    training.add_argument(
        "--num-processes",
        type=int,
        help="multi-host: the number of processes (default: KERAS_DISTRIBUTION_NUM_PROCESSES)",
    )
    training.add_argument(
        "--process-id",
        type=int,
        help="multi-host: this process's index, 0 first (default: KERAS_DISTRIBUTION_PROCESS_ID)",
    )
    training.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic ops: same seed and machine, same metrics (slower on GPUs)",
    )
    training.set_defaults(run=_train)

    evaluation = commands.add_parser(
        "evaluate",
        parents=[common],
        help="score a trained model on a data set's "
        "held-out split, or on every image of another data set, with figures and a "
        "report",
    )
    evaluation.add_argument("model", help=_SOURCE_HELP)
    evaluation.add_argument(
        "--dataset",
        help="a data set name or a manifest CSV (default: the one the run was "
        "trained on, from its run's config)",
    )
    evaluation.add_argument("--root", help="the data set's folder (default: the run's, for its own data set)")
    evaluation.add_argument(
        "--label",
        help="isic_archive: the metadata.csv column holding the labels (default: "
        "the run's, for its own data set)",
    )
    evaluation.add_argument(
        "--classes",
        metavar="LABEL=CLASS,...",
        help="another data set's labels as the model's classes, e.g. melanoma=mel,"
        "common_nevus=nv (default: the data set's own mapping; labels left out are not scored)",
    )
    evaluation.add_argument(
        "--tta", type=int, default=1, help="test-time augmentation views per image (default 1)"
    )
    evaluation.add_argument(
        "--calibrate",
        action="store_true",
        help="classifiers: fit a temperature on the validation split, kept with the run, and "
        "score the calibrated probabilities (the reliability diagram shows both; `dermnet "
        "predict` gives the model's own)",
    )
    evaluation.add_argument("--out", help="the report's folder (default: evaluation/ beside the model)")
    evaluation.add_argument("--overwrite", action="store_true", help="replace an earlier report in --out")
    evaluation.set_defaults(run=_evaluate)

    prediction = commands.add_parser(
        "predict",
        parents=[common],
        help="a trained model on image files, folders "
        "or a CSV list: one row per image (probabilities and class, or mask shares "
        "and masks)",
    )
    prediction.add_argument(
        "model",
        help=_SOURCE_HELP + ", or an ONNX or LiteRT export (`dermnet export "
        "--format onnx|litert`), run in its own runtime",
    )
    prediction.add_argument(
        "images", nargs="+", help="image files, folders, or CSV files with an 'image' column"
    )
    prediction.add_argument(
        "--out", help="the CSV to write (default: predictions.csv beside the model, in its run folder)"
    )
    prediction.add_argument("--overwrite", action="store_true", help="replace the CSV if it exists")
    prediction.add_argument(
        "--tta", type=int, default=1, help="classifiers: views per image (default 1: none)"
    )
    prediction.add_argument("--masks", help="segmentors: a folder for the masks, at each image's own size")
    prediction.add_argument(
        "--postprocess",
        action="store_true",
        help="segmentors: fill holes and keep the largest component of each mask",
    )
    prediction.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
    prediction.set_defaults(run=_predict)
    exporting = commands.add_parser(
        "export",
        parents=[common],
        help="a trained model for serving: a SavedModel "
        "that takes encoded images or uint8 pixels, or an ONNX or LiteRT model on pixels, "
        "each checked in its own runtime",
    )
    exporting.add_argument("model", help=_SOURCE_HELP)
    exporting.add_argument(
        "--out", required=True, help="the folder to write (the model and its dermnet.json)"
    )
    exporting.add_argument(
        "--format",
        choices=("saved_model", "onnx", "litert", "tflite"),
        default="saved_model",
        help="saved_model (default: encoded images or pixels in, for TF Serving), onnx (for "
        "onnxruntime) or litert (a .tflite for ai-edge-litert: phones); onnx and litert take "
        "float32 pixels at the model's size, resized as dermnet.json says",
    )
    exporting.add_argument(
        "--quantize",
        choices=("float16", "int8"),
        help="onnx, litert: float16 weights, or int8 calibrated on the run's training images; "
        "the headline score before and after is measured and written in dermnet.json",
    )
    exporting.add_argument(
        "--max-drop",
        type=float,
        default=0.01,
        help="--quantize int8: refuse the model if its headline score drops by more (default 0.01)",
    )
    exporting.add_argument(
        "--score-on",
        help="--quantize: a manifest CSV to score before and after (default: the run's validation split)",
    )
    exporting.add_argument(
        "--calibration-images",
        type=int,
        default=200,
        help="--quantize int8: training images to calibrate on (default 200)",
    )
    exporting.add_argument(
        "--max-pixels",
        type=int,
        default=100_000_000,
        help="saved_model: the served model refuses larger images, from their header (default 100,000,000)",
    )
    exporting.add_argument(
        "--max-request-pixels",
        type=int,
        default=100_000_000,
        help="saved_model: the most pixels one request's images may declare together "
        "(default 100,000,000: a 2-core, 4 GB server answers it)",
    )
    exporting.add_argument("--overwrite", action="store_true", help="replace an earlier export at --out")
    exporting.set_defaults(run=_export)
    comparing = commands.add_parser(
        "compare",
        parents=[common],
        help="two runs on the same test images: each "
        "score's difference with its paired-bootstrap 95 %% interval, and DeLong's "
        "test for AUC",
    )
    comparing.add_argument(
        "a",
        metavar="RUN_A",
        help="a run (or bundle) evaluated by `dermnet evaluate`, or its evaluation folder",
    )
    comparing.add_argument("b", metavar="RUN_B", help="the other, evaluated on the same images")
    comparing.add_argument(
        "--resamples", type=int, default=1000, help="paired bootstrap draws (default 1000)"
    )
    comparing.add_argument("--seed", type=int, default=0, help="the draws' seed (default 0)")
    comparing.add_argument("--out", help="a JSON file for every score's difference, interval and test")
    comparing.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    comparing.set_defaults(run=_compare)
    publishing = commands.add_parser(
        "publish",
        parents=[common],
        help="a finished run as a bundle to share: the "
        "model, its config and scores and a model card, in a folder or on the "
        "Hugging Face Hub",
    )
    publishing.add_argument(
        "source", metavar="RUN", help="a finished `dermnet train` run folder (or a bundle)"
    )
    publishing.add_argument(
        "dest",
        help="a folder, or hf://owner/name to upload to the Hugging Face Hub (its token: "
        "HF_TOKEN or `hf auth login`)",
    )
    publishing.add_argument(
        "--overwrite", action="store_true", help="replace an earlier bundle in the folder"
    )
    publishing.add_argument(
        "--license",
        help="the weights' licence on the card, a Hub id such as cc-by-nc-4.0 "
        "(default: the training data's terms)",
    )
    publishing.set_defaults(run=_publish)
    sweep = commands.add_parser(
        "sweep", parents=[common], help="SDL's sweeps: synergic weight λ (Fig. 4) or components n (Fig. 5)"
    )
    sweep.add_argument(
        "what",
        choices=["synergic-weight", "components"],
        help="synergic-weight: λ (Zhang et al.'s Fig. 4); components: n (Fig. 5)",
    )
    sweep.add_argument("--values", help="comma-separated λ or n values (default 0,1,3,5,10 or 1,2,3,4)")
    sweep.add_argument("--backbone", default="resnet50", help="each component's backbone (default resnet50)")
    _add_training_arguments(
        sweep,
        epochs_help="epochs per run (default: the zhang2018 recipe's)",
        image_size_default=224,
        label=False,
    )
    sweep.add_argument(
        "--augment",
        help="augmentation preset (default: none for synergic-weight, as Fig. 4; the "
        "recipe's, zhang2018, for components); none for none",
    )
    sweep.add_argument("--out", required=True, help="the CSV to write (rewritten after every run)")
    sweep.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    sweep.set_defaults(run=_sweep)
    return p


def _import_keras_quietly() -> None:
    """Imports Keras (and its backend) with the C++ start-up lines muted: TensorFlow 2.21 writes
    them (oneDNN notices, "Could not find cuda drivers") to file descriptor 2 while it loads,
    before any log level applies (TF_CPP_MIN_LOG_LEVEL does not reach them), and "failed call to
    cuInit" on a machine without a GPU when it first looks for devices, which it does here. So
    descriptor 2 points to a temporary file meanwhile, whose text is shown if the import fails."""
    if "keras" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # what TensorFlow logs later, below errors
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # (it loads its backend)

            if keras.config.backend() == "tensorflow":
                import tensorflow as tf

                tf.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.buffer.write(captured.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # `list` and `data list` read the keras-free model cards and data set records
    loads_keras = args.command != "list" and getattr(args, "data_command", None) != "list"
    if loads_keras and not os.environ.get("DERMNET_STARTUP_LOGS"):
        _import_keras_quietly()
    try:
        args.run(args)
    except KeyboardInterrupt:  # Ctrl-C: one line, not Keras' traceback
        if args.debug:
            raise
        again = " (run the same command again to resume it)" if args.command == "train" else ""
        print(f"dermnet {args.command}: interrupted{again}", file=sys.stderr)
        return 130
    except Exception as err:  # a person reads this: one line, not a traceback
        if args.debug:
            raise
        print(f"dermnet {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
