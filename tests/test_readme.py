"""Every Python and shell block of the README runs as written, at tiny sizes (```sh blocks are the
commands that need several machines: `tests/test_multihost.py` runs their code path).

The blocks run in README order in one folder whose `~` holds small data sets in their published
layouts (`~/data/isic2016`, ...), one namespace for the Python blocks, so that each block finds what
the ones before it made. What this test changes is listed here and nowhere else: sizes, epochs,
backbones and weights (ImageNet weights cannot be downloaded here). Every replacement must still
find its text in the README, so that an edit of the README cannot slip past it.
"""

import contextlib
import os
import re
import shlex
import subprocess
import sys
import time
import warnings
from importlib import resources
from pathlib import Path

import cv2
import keras
import numpy as np
import pandas as pd
import pytest

import dermnet
from dermnet import cli, data

README = Path(__file__).resolve().parents[1] / "README.md"
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("tensorflow_only")]

# (as the README writes it, as this test runs it)
TINY_PYTHON = [
    ('dermnet.build("segan", weights="imagenet"', 'dermnet.build("segan", input_shape=(32, 32, 3), weights=None'),
    # VGG16 has DenseNet-201's head, recipe and unfreeze point ("top") and traces in a fifth of its time.
    ('dermnet.build("densenet201", num_classes=7, weights="imagenet"',
     'dermnet.build("vgg16", num_classes=7, weights=None'),
    ('dermnet.build("densenet201", input_shape=recipe.input_shape', 'dermnet.build("vgg16", input_shape=recipe.input_shape'),
    ('weights="imagenet"', "weights=None"),
    ('input_shape=(192, 256, 3), head="ray"', 'input_shape=(32, 32, 3), head="ray"'),
    ('members=["inception_v3", "densenet201"]', 'members=["baseline_cnn", "resnet50"], input_shape=(32, 32, 3), weights=None'),
    ('backbone="resnet50", num_classes=2, synergic_weight=3.0',
     'backbone="baseline_cnn", num_classes=2, synergic_weight=3.0, input_shape=(32, 32, 3), weights=None'),
    ("pair_dataset(train_df, 224,", "pair_dataset(train_df, 32,"),
    ('out="lambda.csv", epochs=50)', 'out="lambda.csv", epochs=1, backbone="baseline_cnn", image_size=32)'),
    ('out="n.csv")', 'out="n.csv", epochs=1, backbone="baseline_cnn", image_size=32)'),
    ('out="runs/sdl_api")', 'out="runs/sdl_api", epochs=1, image_size=32, weights=None)'),
    ("epochs=50", "epochs=1"),
    ('dermnet.build("unet", input_shape=(None, None, 3))', 'dermnet.build("unet", input_shape=(None, None, 3), depth=2, filters=4)'),
    ("segmentation_dataset(lesions_df, 128,", "segmentation_dataset(lesions_df, 32,"),
    ("input_shape=recipe.input_shape, **recipe.model_kwargs)", "input_shape=(32, 32, 3), **recipe.model_kwargs, weights=None)"),
    ("classification_dataset(train_df, recipe.input_shape[:2], recipe.batch_size)",
     "classification_dataset(train_df, 32, recipe.batch_size)"),
    ("epochs=phase.epochs,", "epochs=1,"),
    ('df[df.split == "train"], 224, batch_size=64', 'df[df.split == "train"].iloc[:64], 32, batch_size=64'),
    ('df[df.split == "validation"], 224, batch_size=64', 'df[df.split == "validation"].iloc[:32], 32, batch_size=64'),
    ("epochs=10,", "epochs=1,"),
]
# Appended to these commands (replacing the README's own values of these options).
TINY_OPTIONS = {"train": {"--epochs": "1", "--image-size": "32", "--weights": "none"},
                "sweep": {"--epochs": "1", "--image-size": "32", "--weights": "none", "--backbone": "baseline_cnn"},
                "evaluate": {"--tta": "2"}, "predict": {"--tta": "2"}}
# Models of the shell blocks: VGG16 takes DenseNet-201's recipe (ray2020, two phases, the same head).
TINY_SHELL = [(" densenet201 ", " vgg16 ")]


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def tiny(code):
    """`code` with the replacements of TINY_PYTHON that apply to it, in their order."""
    for written, run in TINY_PYTHON:
        code = code.replace(written, run)
    return code


def tiny_options(arguments):
    options = {option: value for option, value in TINY_OPTIONS.get(arguments[0], {}).items()
               if option != "--tta" or option in arguments}  # --tta only where the README asks for it
    if "--values" in arguments:  # a sweep: its first two values
        options["--values"] = ",".join(arguments[arguments.index("--values") + 1].split(",")[:2])
    kept, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument in options:
            skip = True
        else:
            kept.append(argument)
    return kept + [item for pair in options.items() for item in pair]


def write_images(folder, ids, size=(24, 32), masks=False, seed=0):
    """Small JPEGs `<id>.jpg` (and `<id>_segmentation.png` lesion masks)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for image_id in ids:
        cv2.imwrite(str(folder / f"{image_id}.jpg"), rng.integers(60, 200, (*size, 3), dtype=np.uint8))
        if masks:
            mask = np.zeros(size, np.uint8)
            mask[size[0] // 4:3 * size[0] // 4, size[1] // 4:3 * size[1] // 4] = 255
            cv2.imwrite(str(folder / f"{image_id}_segmentation.png"), mask)


def manifest_ids(name):
    with resources.files("dermnet.data.manifests").joinpath(f"{name}.csv").open() as manifest:
        return pd.read_csv(manifest, dtype=str)["image_id"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A user's folder: `~/data/<set>` in the published layouts, files the commands name, a cwd."""
    home = tmp_path_factory.mktemp("home")
    write_images(home / "data" / "isic2016" / "ISBI2016_ISIC_Part3_Training_Data", manifest_ids("isic2016"))
    write_images(home / "data" / "ham10000" / "ISIC2018_Task3_Training_Input", manifest_ids("ham10000"), (8, 8))
    for name, split in (("isic2017_task1", "ISIC-2017_Training_Data"), ("isic2017_task1", "ISIC-2017_Test_v2_Data"),
                        ("isic2018_task1", "ISIC2018_Task1-2_Training_Input"),
                        ("isic2018_task1", "ISIC2018_Task1-2_Validation_Input")):
        start = 10 if "Test" in split or "Validation" in split else 0
        write_images(home / "data" / name / split, [f"ISIC_{i:07d}" for i in range(start, start + 8)], masks=True)
    work = home / "work"
    write_images(work / "new_images", ["a", "b"], (40, 50))
    write_images(work, ["more"], (30, 30))
    pd.DataFrame({"image": ["new_images/a.jpg"]}).to_csv(work / "list.csv", index=False)
    rows = [{"image_id": f"IMG_{i}", "label": ["nevus", "melanoma", "keratosis"][i % 3],
             "split": "train" if i < 18 else "test", "image": f"mine/IMG_{i}.jpg"} for i in range(24)]
    write_images(work / "mine", [r["image_id"] for r in rows])
    pd.DataFrame(rows).to_csv(work / "my_manifest.csv", index=False)
    return home


@pytest.fixture
def as_user(home, monkeypatch):
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home / "work")
    return home


@contextlib.contextmanager
def no_warnings():
    """The README's flows warn of nothing: a warning a newcomer sees on the first try is a bug of ours."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)  # the libraries' own deprecations, not ours to fix
        yield
    seen = sorted({f"{w.category.__name__} ({Path(w.filename).name}:{w.lineno}): {w.message}" for w in caught})
    assert not seen, "\n".join(seen)


def test_the_readme_shell_blocks_run(as_user):
    unused = [written for written, _ in TINY_SHELL if written not in "\n".join(blocks("bash"))]
    assert not unused, f"README no longer says {unused}: update TINY_SHELL"
    for block in blocks("bash"):
        for written, run in TINY_SHELL:
            block = block.replace(written, run)
        for line in block.splitlines():
            for command in line.split("#")[0].split("&&"):
                arguments = [os.path.expanduser(a) for a in shlex.split(command)]
                # The install and this very suite: .ci/run runs them, in a fresh virtual environment.
                if not arguments or arguments[0] == "pip" or "pytest" in arguments:
                    continue
                if arguments[0] in ("saved_model_cli", "python"):
                    script = Path(sys.executable).with_name(arguments[0])
                    subprocess.run([str(script), *arguments[1:]], check=True, capture_output=True)
                    continue
                assert arguments[0] == "dermnet", f"README runs {arguments[0]}: teach tests/test_readme.py about it"
                start = time.perf_counter()
                with no_warnings():
                    assert cli.main(tiny_options(arguments[1:])) == 0, command
                print(f"{time.perf_counter() - start:.0f} s: {command.strip()}")


def test_the_readme_python_blocks_run(as_user):
    keras.utils.set_random_seed(0)
    home = as_user
    rng = np.random.default_rng(0)
    isic2016 = data.load_dataset("isic2016", home / "data" / "isic2016")
    train_df = isic2016[isic2016.split == "train"].iloc[:48]
    test = isic2016[isic2016.split == "test"]
    val_df, test_df = test.iloc[:16], test.iloc[16:48]
    synthetic = data.load_dataset("synthetic", home / "synthetic")
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    classifier_3 = dict(num_classes=3, input_shape=(32, 32, 3), weights=None)
    # The files the evaluation block scores, in the challenges' formats
    ids = [f"ISIC_{i:07d}" for i in range(30)]
    truth = rng.integers(0, 2, (30, 2))
    pd.DataFrame({"image_id": ids, "melanoma": truth[:, 0], "seborrheic_keratosis": truth[:, 1]}).to_csv(
        "ISIC-2017_Test_v2_Part3_GroundTruth.csv", index=False)
    pd.DataFrame({"image_id": ids, "melanoma": rng.random(30), "seborrheic_keratosis": rng.random(30)}).to_csv(
        "my_submission.csv", index=False)
    official = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    pd.DataFrame(np.eye(7)[np.arange(30) % 7], columns=official).assign(image=ids)[["image", *official]].to_csv(
        "task3_truth.csv", index=False)
    pd.DataFrame(rng.dirichlet(np.ones(7), 30), columns=official).assign(image=ids)[["image", *official]].to_csv(
        "task3_probabilities.csv", index=False)
    for folder in ("truth_masks", "predicted_masks"):
        os.makedirs(folder)
        for image_id in ids[:4]:
            cv2.imwrite(f"{folder}/{image_id}_segmentation.png", rng.integers(0, 2, (20, 20), dtype=np.uint8) * 255)
    for folder in ("truth_attributes", "predicted_attributes"):
        os.makedirs(folder)
        for image_id in ids[:2]:
            for attribute in dermnet.datasets.ATTRIBUTES:
                cv2.imwrite(f"{folder}/{image_id}_attribute_{attribute}.png",
                            rng.integers(0, 2, (20, 20), dtype=np.uint8) * 255)
    namespace = {
        "dermnet": dermnet, "keras": keras, "np": np,
        "images_uint8": rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8),
        "one_hot_labels": np.eye(7)[np.arange(8) % 7],
        "steps_per_epoch": 2, "train_df": train_df, "val_df": val_df, "test_df": test_df, "images": images,
        "labels": rng.integers(0, 2, 40), "malignant_confidence": rng.random(40),
        "truth_csv": "task3_truth.csv", "probabilities_csv": "task3_probabilities.csv",
        "inception_v4": dermnet.build("baseline_cnn", **classifier_3),
        "resnet101": dermnet.build("baseline_cnn", **classifier_3),
        "val_images": rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8), "val_labels": np.arange(24) % 3,
        "lesion_ids": np.arange(24) // 2,
        "triplet_model": dermnet.build("triplet_resnet101", backbone="baseline_cnn", num_classes=3,
                                       input_shape=(32, 32, 3), weights=None),
        "train_images": rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8), "train_labels": np.arange(12) % 3,
        "lesions_df": synthetic[synthetic.split == "train"].iloc[:16],
        "members": [dermnet.build("unet", input_shape=(None, None, 3), depth=2, filters=4) for _ in range(2)],
    }
    readme = "\n".join(blocks("python"))
    unused = [written for written, _ in TINY_PYTHON if written not in readme]
    assert not unused, f"README no longer says {unused}: update TINY_PYTHON"
    for number, block in enumerate(blocks("python"), start=1):
        code = tiny(block)
        start = time.perf_counter()
        with no_warnings():
            exec(compile(code, f"README python block {number}", "exec"), namespace)  # noqa: S102
        print(f"{time.perf_counter() - start:.0f} s: README python block {number}")
