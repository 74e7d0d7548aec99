"""Every notebook runs top to bottom in smoke mode in a real Jupyter kernel (nbclient), as a user runs it.

Its figures and outputs go to a temporary folder; the committed notebook is not touched."""

from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow  # over a minute: `pytest -m "not slow"` is the fast loop

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_readme_links_every_notebook():
    readme = (NOTEBOOKS[0].parents[1] / "README.md").read_text()
    assert len(NOTEBOOKS) == 6
    assert [n.name for n in NOTEBOOKS if f"notebooks/{n.name}" not in readme] == []


# Xue's and Menegola's smoke runs train eleven networks between them (9.4 and about 7 minutes alone; 23 and
# 16 in CI beside the other worker, two fifths of CI's TensorFlow half): `large`, run with
# `pytest --run-large -p no:xdist -k smoke_mode`. Their recipes, models and scoring are CI's in other tests.
LONGEST = ("xue2018_isic2018", "menegola2017_isic2017")


@pytest.mark.parametrize(
    "path",
    [pytest.param(n, marks=pytest.mark.large) if n.stem in LONGEST else n for n in NOTEBOOKS],
    ids=lambda p: p.stem,
)
def test_notebook_runs_in_smoke_mode(path, tmp_path, tensorflow_only):
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: one cell tagged 'parameters'"
    assert 'MODE = "smoke"' in notebook.cells[tagged[0]].source
    # As papermill does: a cell after the parameters overrides them.
    overrides = nbformat.v4.new_code_cell(f'MODE = "smoke"\nOUT = {str(tmp_path / "out")!r}')
    notebook.cells.insert(tagged[0] + 1, overrides)
    # The timeout catches a hung kernel, not a slow one: in CI, beside the other test process and its 16 GB,
    # Xue's Table 1 cell took over 900 s (9.4 min for the whole notebook alone).
    NotebookClient(
        notebook, timeout=2400, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()  # raises on any cell's error
    first = next(output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)
    assert first.get("text") == "MODE = 'smoke'\n", first
    final = notebook.cells[-1].outputs[-1]["data"]["text/plain"]
    assert "smoke" in final and "machine" in final
    assert list((tmp_path / "out").glob("*.png")), "the notebook's plots"
    closing = tmp_path / "out" / "comparison.csv"
    if closing.exists():  # a paper's notebook: in each table judged against chance, some row beats it
        import pandas as pd

        table = pd.read_csv(closing, dtype=str, keep_default_na=False)
        assert "beats chance" in final
        judged = table[table["beats chance"] != "—"]
        assert len(judged), f"{path.name}: no figure beside its chance figure"
        learned = judged.groupby("table")["beats chance"].apply(lambda column: (column == "yes").any())
        failed = [table for table, yes in learned.items() if not yes]
        assert not failed, f"{path.name}: nothing in {failed} beats chance:\n{judged}"


def test_the_closing_table_takes_only_figures_the_paper_publishes():
    from dermnet import reproduce

    table = reproduce.comparison(
        "menegola2017",
        [
            ("Part 3", "TTA + SVM stacking", "mean AUC", 0.5),
            ("Part 3", "TTA + SVM stacking", "melanoma AUC", 0.7, 0.55),
        ],
        "smoke",
    )
    row = table[table.metric == "mean AUC"].iloc[0]
    assert (row.paper, row.dermnet, row.chance, row["beats chance"], row["mode"]) == (
        0.908,
        0.5,
        "—",
        "—",
        "smoke",
    )
    melanoma = table[table.metric == "melanoma AUC"].iloc[0]
    assert (melanoma.dermnet, melanoma.chance, melanoma["beats chance"]) == (0.7, 0.55, "yes")
    assert (table[~table.metric.isin(["mean AUC", "melanoma AUC"])].dermnet == "—").all()
    losses = reproduce.comparison("ray2020", [("Tables 2-3", "baseline CNN", "test loss", 1.2, 1.1)], "smoke")
    row = losses[(losses.row == "baseline CNN") & (losses.metric == "test loss")].iloc[0]
    assert row["beats chance"] == "no"  # a loss beats chance by being lower
    with pytest.raises(KeyError, match="publishes no figure"):
        reproduce.comparison("menegola2017", [("Part 3", "TTA + SVM stacking", "mean auc", 0.5)], "smoke")
    with pytest.raises(ValueError, match="MODE"):
        reproduce.comparison("menegola2017", [], "quick")


def test_smoke_recipes_change_the_optimizer_and_batchnorm_momentum_alone_and_chance_shuffles_predictions():
    import numpy as np

    from dermnet import recipes, reproduce

    paper = recipes.get("menegola2017")
    smoke = reproduce.smoke_recipe(paper, learning_rate=2e-3)
    for recipe in (smoke, smoke.for_model("unet_vgg16")):  # the per-model phases too
        assert {(p.optimizer_name, p.learning_rate, p.schedule, p.callbacks) for p in recipe.phases} == {
            ("Adam", 2e-3, None, ())
        }
    assert [p.freeze for p in smoke.for_model("unet_vgg16").phases] == [
        p.freeze for p in paper.for_model("unet_vgg16").phases
    ]
    assert (smoke.augment, smoke.loss, smoke.input_shape) == (paper.augment, paper.loss, paper.input_shape)
    assert (smoke.batchnorm_momentum, paper.batchnorm_momentum) == (0.9, None)
    assert reproduce.mode_recipe("menegola2017", "full") == paper
    assert reproduce.mode_recipe(paper, "smoke").phases == reproduce.smoke_recipe(paper).phases
    with pytest.raises(ValueError, match="MODE"):
        reproduce.mode_recipe(paper, "quick")
    truth = np.arange(200) % 2
    perfect = np.eye(2)[truth]
    accuracy = lambda p: float(np.mean(p.argmax(1) == truth))  # noqa: E731
    best_shuffle = reproduce.chance(accuracy, perfect)
    assert accuracy(perfect) == 1.0 and 0.5 < best_shuffle < 0.65  # the best of 20 shuffles, above their mean
    by_name = reproduce.chance(
        lambda p: {"accuracy": accuracy(p), "test loss": 1 - accuracy(p), "name": "x"}, perfect
    )
    assert by_name == {"accuracy": best_shuffle, "test loss": 1 - best_shuffle}  # a loss's best is its lowest
