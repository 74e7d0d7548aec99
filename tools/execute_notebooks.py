"""Executes notebooks in place in smoke mode (their committed outputs), as the tests run them.

    python tools/execute_notebooks.py notebooks/xue2018_isic2018.ipynb [...]

Each runs top to bottom in a real Jupyter kernel (nbclient), from the notebooks' folder; a cell that
fails stops it and the file is left as it was. Prints each notebook's time.
"""

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path):
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    # The timeout catches a hung kernel, not a slow one (as tests/test_notebooks.py).
    NotebookClient(
        notebook,
        timeout=2400,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(path).parent)}},
    ).execute()
    nbformat.write(notebook, path)
    print(f"{path}: executed in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        execute(name)
