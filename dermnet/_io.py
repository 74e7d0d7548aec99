"""The bottom floor: writing files so that an interrupted write never leaves a truncated one.

Every module may import this one; it imports nothing of dermnet.
"""

import json
import os
import shutil
from pathlib import Path


def write_atomically(path, write):
    """`write(temporary path)`, then a rename onto `path`: an interrupted write never leaves a truncated
    file (or folder: a folder written replaces the earlier one whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial.{path.name}")  # keeps the suffix, which Keras checks
    shutil.rmtree(partial, ignore_errors=True)  # a folder left by an interrupted write
    write(str(partial))
    if partial.is_dir() and path.is_dir():
        # Only a folder of the same kind is replaced (an earlier export, say): one that holds anything
        # the new one does not, at any depth, would lose a user's files.
        foreign = sorted(_contents(path) - _contents(partial))
        if foreign:
            shutil.rmtree(partial)
            raise FileExistsError(f"{path} holds files dermnet did not write there ({', '.join(foreign[:5])}): "
                                  "give another folder, or empty this one")
        shutil.rmtree(path)
    os.replace(partial, path)


def _contents(folder):
    """Every file and folder under `folder`, as paths relative to it."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def write_json(path, content, indent=2):
    """`content` as JSON in `path`, written atomically."""
    text = json.dumps(content, indent=indent)
    write_atomically(path, lambda partial: Path(partial).write_text(text))


def write_csv(path, table):
    """A pandas DataFrame as CSV (no index) in `path`, written atomically."""
    write_atomically(path, lambda partial: table.to_csv(partial, index=False))
