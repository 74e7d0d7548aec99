"""Every Python and shell block of the README and of each page of `docs/` runs as written, at tiny sizes,
and the site builds with `mkdocs build --strict`.

A page's blocks run in its order, Python and shell alike, in one namespace and one fresh working folder
per page, whose `~` holds small data sets in their published layouts (`~/data/isic2016`, ...), so that
each block finds what the ones before it made. ```sh blocks are not run: commands that need several
machines, the network or a GPU for days (`tests/test_multihost.py` runs the multi-host code path).
Names a page uses without making them (`images_uint8`, `train_df`, `model`, ...: "your own data") are
given by `GIVEN`. What this test changes is listed here and nowhere else, page by page: sizes, epochs,
backbones and weights (ImageNet weights cannot be downloaded here), the Hub (a bundle's folder
stands in), and a `dermnet train` command an earlier page ran word for word (a copy of its run: `TRAINED`).
Every replacement must still find its text in its page, so that an edit of a page cannot
slip past it.

The fast checks (not marked slow): the replacements find their text, the generated tables and the
papers' figures on the pages are current, and the README is a landing page.
"""

import contextlib
import os
import re
import shlex
import shutil
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

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
slow = [pytest.mark.slow, pytest.mark.usefixtures("tensorflow_only")]

# (as a page writes it, as this test runs it), per page, applied in this order.
BUILD_DENSENET = [
    # VGG16 has DenseNet-201's head, recipe and unfreeze point ("top") and traces in a fifth of its time.
    (
        'dermnet.build("densenet201", num_classes=7, weights="imagenet"',
        'dermnet.build("vgg16", num_classes=7, weights=None',
    ),
    ('input_shape=(192, 256, 3), head="ray"', 'input_shape=(32, 32, 3), head="ray"'),
]
BUILD_SDL = [
    (
        'backbone="resnet50", num_classes=2, synergic_weight=3.0',
        'backbone="baseline_cnn", num_classes=2, synergic_weight=3.0, input_shape=(32, 32, 3), weights=None',
    )
]
TINY_PYTHON = {
    "README.md": BUILD_DENSENET,
    "docs/quickstart.md": BUILD_DENSENET,
    "docs/models.md": [
        (
            'dermnet.build("segan", weights="imagenet"',
            'dermnet.build("segan", input_shape=(32, 32, 3), weights=None',
        ),
        *BUILD_DENSENET,
        (
            'members=["inception_v3", "densenet201"]',
            'members=["baseline_cnn", "resnet50"], input_shape=(32, 32, 3), weights=None',
        ),
        *BUILD_SDL,
        ("pair_dataset(train_df, 224,", "pair_dataset(train_df, 32,"),
        ("epochs=50", "epochs=1"),
        (
            'dermnet.build("unet", input_shape=(None, None, 3))',
            'dermnet.build("unet", input_shape=(None, None, 3), depth=2, filters=4)',
        ),
        ("segmentation_dataset(lesions_df, 128,", "segmentation_dataset(lesions_df, 32,"),
    ],
    "docs/datasets.md": [
        (
            'df[df.split == "train"], 224, batch_size=64',
            'df[df.split == "train"].iloc[:64], 32, batch_size=64',
        ),
        (
            'df[df.split == "validation"], 224, batch_size=64',
            'df[df.split == "validation"].iloc[:32], 32, batch_size=64',
        ),
        (
            'dermnet.build("densenet201", num_classes=3, weights="imagenet")',
            'dermnet.build("baseline_cnn", num_classes=3, input_shape=(32, 32, 3), weights=None)',
        ),
        ("epochs=10,", "epochs=1,"),
    ],
    "docs/training.md": [
        (
            'out="runs/sdl_api")',
            'out="runs/sdl_api", epochs=1, image_size=32, weights=None, backbone="baseline_cnn")',
        ),
        *BUILD_SDL,
        (
            'out="lambda.csv", epochs=50)',
            'out="lambda.csv", epochs=1, backbone="baseline_cnn", image_size=32)',
        ),
        ('out="n.csv")', 'out="n.csv", epochs=1, backbone="baseline_cnn", image_size=32)'),
        ("epochs=50", "epochs=1"),
        (
            'dermnet.build("densenet201", input_shape=recipe.input_shape',
            'dermnet.build("vgg16", input_shape=recipe.input_shape',
        ),
        (
            "input_shape=recipe.input_shape, **recipe.model_kwargs)",
            "input_shape=(32, 32, 3), **recipe.model_kwargs, weights=None)",
        ),
        (
            "classification_dataset(train_df, recipe.input_shape[:2], recipe.batch_size)",
            "classification_dataset(train_df, 32, recipe.batch_size)",
        ),
        ("epochs=phase.epochs,", "epochs=1,"),
    ],
    # The Hub cannot be reached here: the same bundle, from its folder.
    "docs/sharing.md": [('"hf://your-name/dermnet-baseline-cnn"', '"published/baseline_cnn"')],
}
# Models of the shell blocks: VGG16 takes DenseNet-201's recipe (ray2020, two phases, the same head).
TINY_SHELL = {
    "docs/training.md": [(" densenet201 ", " vgg16 ")],
    "docs/prediction-export.md": [(" densenet201 ", " vgg16 ")],
}
# Appended to these commands (replacing the page's own values of these options).
TINY_OPTIONS = {
    "train": {"--epochs": "1", "--image-size": "32", "--weights": "none"},
    "sweep": {"--epochs": "1", "--image-size": "32", "--weights": "none", "--backbone": "baseline_cnn"},
    "evaluate": {"--tta": "2"},
    "predict": {"--tta": "2"},
}
# `dermnet train MODEL` of a model built on a backbone, where the page names none: SDL's ResNet-50
# components stand in as the baseline CNN, as in BUILD_SDL (1 epoch of the ISIC 2016 stand-in: 45 s
# alone with ResNet-50s, mostly tracing them).
TINY_BACKBONES = {"sdl": "baseline_cnn"}


def name(page):
    return page.relative_to(ROOT).as_posix()


def blocks(page, languages=("python", "bash")):
    """(language, code) of a page's fenced blocks of those languages, in its order."""
    found = re.findall(r"```(\w+)\n(.*?)```", page.read_text(), flags=re.S)
    return [(language, code) for language, code in found if language in languages]


def tiny(code, replacements):
    for written, run in replacements:
        code = code.replace(written, run)
    return code


def tiny_options(arguments):
    options = {
        option: value
        for option, value in TINY_OPTIONS.get(arguments[0], {}).items()
        if option != "--tta" or option in arguments
    }  # --tta only where the page asks for it
    if arguments[0] == "train" and arguments[1] in TINY_BACKBONES and "--backbone" not in arguments:
        options["--backbone"] = TINY_BACKBONES[arguments[1]]
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


def write_images(folder, ids, size=(24, 32), masks=None, seed=0):
    """Small JPEGs `<id>.jpg` (and `<id>_segmentation.png` lesion masks in the folder `masks`)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for image_id in ids:
        cv2.imwrite(str(folder / f"{image_id}.jpg"), rng.integers(60, 200, (*size, 3), dtype=np.uint8))
        if masks:
            masks.mkdir(parents=True, exist_ok=True)
            mask = np.zeros(size, np.uint8)
            mask[size[0] // 4 : 3 * size[0] // 4, size[1] // 4 : 3 * size[1] // 4] = 255
            cv2.imwrite(str(masks / f"{image_id}_segmentation.png"), mask)


def manifest_ids(dataset):
    with resources.files("dermnet.data.manifests").joinpath(f"{dataset}.csv").open() as manifest:
        return pd.read_csv(manifest, dtype=str)["image_id"]


def write_work_files(work):
    """The files a page's commands name, and those its evaluation examples score."""
    write_images(work / "new_images", ["a", "b"], (40, 50))
    write_images(work, ["more"], (30, 30))
    pd.DataFrame({"image": ["new_images/a.jpg"]}).to_csv(work / "list.csv", index=False)
    rows = [
        {
            "image_id": f"IMG_{i}",
            "label": ["nevus", "melanoma", "keratosis"][i % 3],
            "split": "train" if i < 14 else "validation" if i < 18 else "test",
            "image": f"mine/IMG_{i}.jpg",
        }
        for i in range(24)
    ]
    write_images(work / "mine", [r["image_id"] for r in rows])
    pd.DataFrame(rows).to_csv(work / "my_manifest.csv", index=False)
    # The challenges' file formats, for evaluation.score
    rng = np.random.default_rng(0)
    ids = [f"ISIC_{i:07d}" for i in range(30)]
    truth = rng.integers(0, 2, (30, 2))
    pd.DataFrame({"image_id": ids, "melanoma": truth[:, 0], "seborrheic_keratosis": truth[:, 1]}).to_csv(
        work / "ISIC-2017_Test_v2_Part3_GroundTruth.csv", index=False
    )
    pd.DataFrame(
        {"image_id": ids, "melanoma": rng.random(30), "seborrheic_keratosis": rng.random(30)}
    ).to_csv(work / "my_submission.csv", index=False)
    official = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    pd.DataFrame(np.eye(7)[np.arange(30) % 7], columns=official).assign(image=ids)[
        ["image", *official]
    ].to_csv(work / "task3_truth.csv", index=False)
    pd.DataFrame(rng.dirichlet(np.ones(7), 30), columns=official).assign(image=ids)[
        ["image", *official]
    ].to_csv(work / "task3_probabilities.csv", index=False)
    for folder in ("truth_masks", "predicted_masks"):
        (work / folder).mkdir()
        for image_id in ids[:4]:
            cv2.imwrite(
                str(work / folder / f"{image_id}_segmentation.png"),
                rng.integers(0, 2, (20, 20), dtype=np.uint8) * 255,
            )
    for folder in ("truth_attributes", "predicted_attributes"):
        (work / folder).mkdir()
        for image_id in ids[:2]:
            for attribute in dermnet.datasets.ATTRIBUTES:
                cv2.imwrite(
                    str(work / folder / f"{image_id}_attribute_{attribute}.png"),
                    rng.integers(0, 2, (20, 20), dtype=np.uint8) * 255,
                )


@pytest.fixture(scope="session")
def home(tmp_path_factory):
    """A user's folder: `~/data/<set>` in the published layouts, one per test process: `TRAINED` keeps
    runs made from it for the pages after."""
    home = tmp_path_factory.mktemp("home")
    write_images(home / "data" / "isic2016" / "ISBI2016_ISIC_Part3_Training_Data", manifest_ids("isic2016"))
    write_images(
        home / "data" / "ham10000" / "ISIC2018_Task3_Training_Input", manifest_ids("ham10000"), (8, 8)
    )
    for dataset, split, truth in (
        ("isic2017_task1", "ISIC-2017_Training_Data", "ISIC-2017_Training_Part1_GroundTruth"),
        ("isic2017_task1", "ISIC-2017_Test_v2_Data", "ISIC-2017_Test_v2_Part1_GroundTruth"),
        ("isic2018_task1", "ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth"),
        ("isic2018_task1", "ISIC2018_Task1-2_Validation_Input", "ISIC2018_Task1_Validation_GroundTruth"),
    ):
        start = 10 if "Test" in split or "Validation" in split else 0
        ids = [f"ISIC_{i:07d}" for i in range(start, start + 8)]
        write_images(home / "data" / dataset / split, ids, masks=home / "data" / dataset / truth)
    return home


@pytest.fixture
def as_user(home, monkeypatch, request):
    """`~` is `home`; the working folder is a fresh one per page, with the files its commands name."""
    work = home / f"work-{request.node.callspec.id.replace('/', '-')}"
    write_work_files(work)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return home


def given(home):
    """What a page may use without making it: factories of stand-ins for the reader's own data and models."""
    rng = np.random.default_rng(0)
    isic2016 = data.load_dataset("isic2016", home / "data" / "isic2016")
    test = isic2016[isic2016.split == "test"]
    classifier_3 = dict(num_classes=3, input_shape=(32, 32, 3), weights=None)
    return {
        "images_uint8": lambda: rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8),
        "one_hot_labels": lambda: np.eye(7)[np.arange(8) % 7],
        "steps_per_epoch": lambda: 2,
        "train_df": lambda: isic2016[isic2016.split == "train"].iloc[:48],
        "val_df": lambda: test.iloc[:16],
        "test_df": lambda: test.iloc[16:48],
        "images": lambda: rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8),
        "labels": lambda: rng.integers(0, 2, 40),
        "malignant_confidence": lambda: rng.random(40),
        "truth_csv": lambda: "task3_truth.csv",
        "probabilities_csv": lambda: "task3_probabilities.csv",
        "model": lambda: dermnet.build("baseline_cnn", num_classes=2, input_shape=(32, 32, 3), weights=None),
        "inception_v4": lambda: dermnet.build("baseline_cnn", **classifier_3),
        "resnet101": lambda: dermnet.build("baseline_cnn", **classifier_3),
        "val_images": lambda: rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8),
        "val_labels": lambda: np.arange(24) % 3,
        "lesion_ids": lambda: np.arange(24) // 2,
        "triplet_model": lambda: dermnet.build(
            "triplet_resnet101", backbone="baseline_cnn", num_classes=3, input_shape=(32, 32, 3), weights=None
        ),
        "train_images": lambda: rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8),
        "train_labels": lambda: np.arange(12) % 3,
        "lesions_df": lambda: (lambda s: s[s.split == "train"].iloc[:16])(
            data.load_dataset("synthetic", home / "synthetic")
        ),
        "members": lambda: [
            dermnet.build("unet", input_shape=(None, None, 3), depth=2, filters=4) for _ in range(2)
        ],
    }


@contextlib.contextmanager
def no_warnings():
    """The pages' flows warn of nothing: a warning a newcomer sees on the first try is a bug of ours."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # the libraries' own deprecations, not ours to fix
        yield
    seen = sorted(
        {f"{w.category.__name__} ({Path(w.filename).name}:{w.lineno}): {w.message}" for w in caught}
    )
    assert not seen, "\n".join(seen)


# The `dermnet train` commands pages repeat word for word (SDL on ISIC 2016 in four pages, SegAN in two,
# SDL on the synthetic set in the README and the quickstart):
# each trains once per test process and later pages get a copy of its run as training left it. The same
# words, `~` and seed give the same run; each page still runs its own evaluate, predict and export on it.
# CI time: each such training took 90-100 s beside the other worker.
TRAINED = {}  # the command's words -> a copy of the run folder it made


def train_once(arguments):
    out = Path(arguments[arguments.index("--out") + 1] if "--out" in arguments else f"runs/{arguments[1]}")
    key = " ".join(arguments)
    if key in TRAINED and not out.exists():  # an existing folder: the command resumes or refuses, as written
        shutil.copytree(TRAINED[key], out)
        print(f"copied from an earlier page: dermnet {key}")
        return
    with no_warnings():
        assert cli.main(arguments) == 0, key
    if key not in TRAINED:
        TRAINED[key] = Path.home() / "trained" / str(len(TRAINED))
        shutil.copytree(out, TRAINED[key])


def run_shell(block, replacements):
    block = tiny(block, replacements)
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
            assert arguments[0] == "dermnet", f"a page runs {arguments[0]}: teach tests/test_docs.py about it"
            start = time.perf_counter()
            if arguments[1] == "train":
                train_once(tiny_options(arguments[1:]))
            else:
                with no_warnings():
                    assert cli.main(tiny_options(arguments[1:])) == 0, command
            print(f"{time.perf_counter() - start:.0f} s: {command.strip()}")


RUNNABLE = [page for page in PAGES if blocks(page)]


@pytest.mark.parametrize("page", RUNNABLE, ids=name)
@pytest.mark.slow
@pytest.mark.usefixtures("tensorflow_only")
def test_the_blocks_of_a_page_run(page, as_user):
    keras.utils.set_random_seed(0)
    code = "\n".join(block for language, block in blocks(page, ("python",)))
    namespace = {"dermnet": dermnet, "keras": keras, "np": np}
    for variable, make in given(as_user).items():
        if re.search(rf"\b{variable}\b", code):
            namespace[variable] = make()
    for number, (language, block) in enumerate(blocks(page), start=1):
        start = time.perf_counter()
        if language == "bash":
            run_shell(block, TINY_SHELL.get(name(page), []))
            continue
        with no_warnings():
            exec(
                compile(tiny(block, TINY_PYTHON.get(name(page), [])), f"{name(page)} block {number}", "exec"),  # noqa: S102
                namespace,
            )
        print(f"{time.perf_counter() - start:.0f} s: {name(page)} python block {number}")


@pytest.mark.slow
def test_the_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra: pip install '.[docs]'")
    pytest.importorskip("material", reason="the docs extra: pip install '.[docs]'")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra: pip install '.[docs]'")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "api" / "index.html").is_file()


def test_every_replacement_finds_its_text():
    pages = {name(page): page for page in PAGES}
    for table, languages in ((TINY_PYTHON, ("python",)), (TINY_SHELL, ("bash",))):
        for page, replacements in table.items():
            assert page in pages, f"{page} is gone: update tests/test_docs.py"
            text = "\n".join(block for _, block in blocks(pages[page], languages))
            unused = [written for written, _ in replacements if written not in text]
            assert not unused, f"{page} no longer says {unused}: update tests/test_docs.py"


def test_the_model_table_is_the_generated_one():
    assert cli.model_table(markdown=True) in (DOCS / "models.md").read_text(), (
        "docs/models.md's model table is stale: paste `dermnet list --markdown` into it"
    )


def test_the_data_set_table_is_the_generated_one():
    assert cli.dataset_table(markdown=True) in (DOCS / "datasets.md").read_text(), (
        "docs/datasets.md's data set table is stale: paste `dermnet data list --markdown` into it"
    )


def published_table(paper):
    """The Markdown table of a paper's published figures, as its page prints it."""
    from dermnet._papers import NOT_TRANSCRIBED, PAPERS

    rows = ["| table | row | metric | published |", "|---|---|---|---|"]
    rows += [
        f"| {f.table} | {f.row} | {f.metric} | {NOT_TRANSCRIBED if f.value is None else f.value} |"
        for f in PAPERS[paper].figures
    ]
    return "\n".join(rows)


def test_each_paper_page_prints_the_papers_figures():
    from dermnet._papers import PAPERS

    assert sorted(p.stem for p in (DOCS / "papers").glob("*.md")) == sorted(PAPERS)
    for paper in PAPERS:
        assert published_table(paper) in (DOCS / "papers" / f"{paper}.md").read_text(), (
            f"docs/papers/{paper}.md's figures differ from dermnet/_papers.py: paste "
            f"tests.test_docs.published_table({paper!r}) into it"
        )


def test_the_readme_is_a_landing_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    # The two commands open it: the install and the main job, then the tests (which .ci/run greps).
    install, tests = blocks(README)[0][1].strip().splitlines()
    assert install == "pip install . && dermnet train sdl --epochs 3 --image-size 64 --weights none"
    assert tests.startswith('pip install ".[test') and "docs" in tests
    linked = set(re.findall(r"\]\((docs/[^)#]+)", text))
    assert {name(page) for page in DOCS.glob("*.md")} <= linked, "the README links every page of docs/"
    assert "../shared" not in text
