"""The house rules: the import layers of pyproject.toml hold, `import dermnet` stays light, and no
module outside `dermnet/models/` names a model class (they ask the model's contract)."""

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dermnet"


def test_the_import_layers_hold():
    lint = shutil.which("lint-imports") or pytest.fail(
        "import-linter is not installed (the test extra has it)"
    )
    result = subprocess.run([lint, "--no-cache"], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_typed_modules_pass_mypy():
    # The typed public API (issue 37): pyproject's [tool.mypy] lists the modules (`files`), and every
    # function in them must keep its annotations (disallow_untyped_defs).
    pytest.importorskip("mypy", reason="mypy is not installed (the test extra has it)")
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=PACKAGE.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_the_style_is_ruffs(command):
    # Enforced, not only configured: pyproject's [tool.ruff] (`ruff format` fixes what this finds).
    pytest.importorskip("ruff", reason="ruff is not installed (the test extra has it)")
    folders = ["dermnet", "tests", "bench", "tools"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *folders], cwd=PACKAGE.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_wheel_and_sdist_build_and_pass_twine(tmp_path):
    # Release-ready (issue 37): what `python -m build` makes, `twine check --strict` accepts, and the
    # wheel holds the packaged manifests and py.typed.
    import zipfile

    pytest.importorskip("build", reason="build is not installed (the test extra has it)")
    pytest.importorskip("twine", reason="twine is not installed (the test extra has it)")
    root = PACKAGE.parent
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path), str(root)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    dists = sorted(tmp_path.glob("dermnet-*"), key=lambda d: d.suffix)
    assert [d.suffix for d in dists] == [".gz", ".whl"], dists
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = zipfile.ZipFile(dists[1]).namelist()
    assert "dermnet/py.typed" in names and "dermnet/data/manifests/ham10000.csv" in names


def test_import_dermnet_and_its_cards_load_no_framework_plotting_or_scikit_learn():
    # `dermnet list` answers from the cards: it must not wait for Keras.
    probe = (
        "import sys, json, dermnet; dermnet.list_models(pretrained=True); dermnet.model_card('sdl').reported; "
        "print(json.dumps([m for m in ('keras', 'tensorflow', 'jax', 'matplotlib', 'sklearn') if m in sys.modules]))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(loaded.splitlines()[-1]) == []


def test_the_public_api_is_reachable_after_import_dermnet():
    probe = (
        "import dermnet; print(sorted(n for n in dermnet.SUBMODULES if not hasattr(dermnet, n))); "
        "print(callable(dermnet.build), callable(dermnet.set_trainable), callable(dermnet.load_weights))"
    )
    lines = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert lines[-3:-1] == ["[]", "True True True"]


def test_plotting_leaves_the_matplotlib_backend_alone():
    probe = (
        "import matplotlib; matplotlib.use('svg'); import dermnet.plots, dermnet.evaluation; "
        "print(matplotlib.get_backend())"
    )
    backend = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert backend.split()[-1] == "svg"


def _model_classes():
    """The classes that `dermnet/models/` defines."""
    return {
        node.name
        for path in (PACKAGE / "models").glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    }


def test_no_module_outside_models_names_a_model_class():
    classes = _model_classes()
    assert {"SynergicModel", "SegAN", "AttributeNet", "TripletClassifier"} <= classes
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "models") in path.parents:
            continue
        names = {node.id for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Name)}
        names |= {
            alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        offenders += [f"{path.relative_to(PACKAGE.parent)}: {name}" for name in sorted(names & classes)]
    assert not offenders, offenders
