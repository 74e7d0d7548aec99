"""The bottom floor: writing files so that an interrupted write never leaves a truncated one.

Every module may import this one; it imports nothing of dermnet.
"""

import json
import os
import shutil
from pathlib import Path


# The file dermnet puts in each staging folder it makes: a leftover staging folder that carries it was
# left by an interrupted write and is removed; one without it is someone else's and is never touched.
_STAGING_MARK = ".dermnet-staging"


def write_atomically(path, write):
    """`write(temporary path)`, then a rename onto `path`: an interrupted write never leaves a truncated
    file (or folder: a folder written replaces the earlier one whole).

    The temporary path lies in a staging folder beside `path`, `.partial.<name>`, which a killed write
    leaves behind and the next write of `path` removes (a resumed run, say)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".partial.{path.name}")
    if staging.exists() or staging.is_symlink():
        if not is_staging_leftover(staging):
            raise FileExistsError(f"{staging} is in the way of writing {path}, and dermnet did not make it: "
                                  "move it or remove it")
        shutil.rmtree(staging)
    staging.mkdir()
    (staging / _STAGING_MARK).touch()
    try:
        partial = staging / path.name  # keeps the suffix, which Keras checks
        write(str(partial))
        if partial.is_dir() and path.is_dir():
            # Only a folder of the same kind is replaced (an earlier export, say): one that holds anything
            # the new one does not, at any depth, would lose a user's files.
            foreign = sorted(_contents(path) - _contents(partial))
            if foreign:
                raise FileExistsError(f"{path} holds files dermnet did not write there "
                                      f"({', '.join(foreign[:5])}): give another folder, or empty this one")
            shutil.rmtree(path)
        os.replace(partial, path)
    finally:
        shutil.rmtree(staging)


def is_staging_leftover(path):
    """Whether `path` is a staging folder that an interrupted `write_atomically` left (dermnet's to remove)."""
    path = Path(path)
    return path.name.startswith(".partial.") and not path.is_symlink() and (path / _STAGING_MARK).is_file()


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
