"""Every notebook runs top to bottom in smoke mode in a real Jupyter kernel (nbclient), as a user runs it.

Its figures and outputs go to a temporary folder; the committed notebook is not touched."""

from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow  # over a minute: `pytest -m "not slow"` is the fast loop

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_readme_links_every_notebook():
    readme = (NOTEBOOKS[0].parents[1] / "README.md").read_text()
    assert len(NOTEBOOKS) == 5
    assert [n.name for n in NOTEBOOKS if f"notebooks/{n.name}" not in readme] == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(path, tmp_path, tensorflow_only):
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: one cell tagged 'parameters'"
    assert 'MODE = "smoke"' in notebook.cells[tagged[0]].source
    # As papermill does: a cell after the parameters overrides them.
    overrides = nbformat.v4.new_code_cell(f'MODE = "smoke"\nOUT = {str(tmp_path / "out")!r}')
    notebook.cells.insert(tagged[0] + 1, overrides)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # raises on any cell's error
    first = next(output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)
    assert first.get("text") == "MODE = 'smoke'\n", first
    final = notebook.cells[-1].outputs[-1]["data"]["text/plain"]
    assert "smoke" in final and "machine" in final
    assert list((tmp_path / "out").glob("*.png")), "the notebook's plots"


def test_the_closing_table_takes_only_figures_the_paper_publishes():
    from dermnet import reproduce

    table = reproduce.comparison("menegola2017", [("Part 3", "TTA + SVM stacking", "mean AUC", 0.5)], "smoke")
    row = table[table.metric == "mean AUC"].iloc[0]
    assert (row.paper, row.dermnet, row["mode"]) == (0.908, 0.5, "smoke")
    assert (table[table.metric != "mean AUC"].dermnet == "—").all()
    with pytest.raises(KeyError, match="publishes no figure"):
        reproduce.comparison("menegola2017", [("Part 3", "TTA + SVM stacking", "mean auc", 0.5)], "smoke")
    with pytest.raises(ValueError, match="MODE"):
        reproduce.comparison("menegola2017", [], "quick")
