"""The bottom floor: writing files so that an interrupted write never leaves a truncated one.

Every module may import this one; it imports nothing of dermnet.
"""

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

# The file dermnet puts in each staging folder it makes: a leftover staging folder that carries it was
# left by an interrupted write and is removed; one without it is someone else's and is never touched.
_STAGING_MARK = ".dermnet-staging"


# Inside a staging folder: the earlier version of a folder being replaced. A folder cannot be renamed over
# another, so the old one is moved aside here, the new one renamed in, and only then is the old one removed:
# a kill between the two renames leaves the old one whole here, and `recover_interrupted_write` puts it back.
_PREVIOUS = ".dermnet-previous"


def write_atomically(path, write):
    """`write(temporary path)`, then a rename onto `path`: an interrupted write never leaves a truncated
    file (or folder: a folder written replaces the earlier one whole, and a kill at any moment leaves
    one whole version, old or new, once `recover_interrupted_write` has run).

    The temporary path lies in a staging folder beside `path`, `.partial.<name>`, which a killed write
    leaves behind and the next write of `path` clears (a resumed run, say)."""
    path = Path(path)
    staging = path.with_name(f".partial.{path.name}")
    with _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        recover_interrupted_write(path)
        staging.mkdir()
        (staging / _STAGING_MARK).touch()
    try:
        partial = staging / path.name  # keeps the suffix, which Keras checks
        with _naming(path):
            write(str(partial))
        if partial.is_dir() and path.is_dir():
            # Only a folder of the same kind is replaced (an earlier export, say): one that holds anything
            # the new one does not, at any depth, would lose a user's files.
            foreign = sorted(_contents(path) - _contents(partial))
            if foreign:
                raise FileExistsError(
                    f"{path} holds files dermnet did not write there "
                    f"({', '.join(foreign[:5])}): give another folder, or empty this one"
                )
            os.replace(path, staging / _PREVIOUS)
        os.replace(partial, path)
    finally:
        recover_interrupted_write(path)  # the old folder back if the new one did not come in


@contextmanager
def _naming(path):
    """A system error while writing `path` (a read-only folder, a full disk, whose message names no file)
    says which path could not be written."""
    try:
        yield
    except OSError as err:
        if err.errno is None:  # dermnet's own refusals (FileExistsError with a message) as they are
            raise
        raise OSError(err.errno, f"cannot write {path}: {err.strerror or err}") from err


def recover_interrupted_write(path):
    """Clears what an interrupted `write_atomically(path, ...)` left beside `path`: the earlier version of
    a folder, moved aside, goes back to `path` if the new one never arrived, and the staging folder
    goes. What writes or reads a folder written atomically calls this first (an export, say).

    Raises:
        FileExistsError: `.partial.<name>` beside `path` is not dermnet's (no mark): it is never touched.
    """
    path = Path(path)
    staging = path.with_name(f".partial.{path.name}")
    if not (staging.exists() or staging.is_symlink()):
        return
    # An empty one holds nothing to lose: a kill came between making it and marking it, or the reverse.
    empty = staging.is_dir() and not staging.is_symlink() and not any(staging.iterdir())
    if not (is_staging_leftover(staging) or empty):
        raise FileExistsError(
            f"{staging} is in the way of writing {path}, and dermnet did not make it: move it or remove it"
        )
    if (staging / _PREVIOUS).exists() and not (path.exists() or path.is_symlink()):
        os.replace(staging / _PREVIOUS, path)
    # The mark goes last: a kill midway leaves a folder still marked as dermnet's (or an empty one).
    for entry in staging.iterdir():
        if entry.name != _STAGING_MARK:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    (staging / _STAGING_MARK).unlink(missing_ok=True)
    staging.rmdir()


def is_staging_leftover(path):
    """Whether `path` is a staging folder that an interrupted `write_atomically` left (dermnet's to
    remove)."""
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
    """A pandas DataFrame as CSV (no index) in `path`, written atomically, each text cell (headers too)
    escaped by `spreadsheet_text`: every CSV dermnet writes is for people (predictions.csv, masks.csv,
    history.csv, a sweep's table), who open it in a spreadsheet. Where dermnet reads one back (a
    predictions.csv given as a list of images, or compared), `read_csv` gives the values back."""
    table = table.rename(columns=spreadsheet_text).map(spreadsheet_text)
    write_atomically(path, lambda partial: table.to_csv(partial, index=False))


def read_csv(path, **options):
    """A CSV that `write_csv` wrote, as the table it was given (`pandas.read_csv` with `options`, then
    headers and text cells unescaped by `unescape_spreadsheet_text`)."""
    import pandas as pd  # here: the bottom floor stays light for what never reads a CSV

    table = pd.read_csv(path, **options)
    return table.rename(columns=unescape_spreadsheet_text).map(unescape_spreadsheet_text)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection: a label or file
# name "=HYPERLINK(...)" reaching predictions.csv). OWASP's remedy: a leading single quote, which makes the
# cell text. A text that starts with the quote itself gets one too, so that unescaping is exact.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def spreadsheet_text(value):
    """`value` with a single quote before it if it is text that a spreadsheet would run as a formula;
    anything else, numbers (negative ones too) included, as it is."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def unescape_spreadsheet_text(value):
    """The value `spreadsheet_text` escaped (anything else as it is: a user's own "'note" stays)."""
    escaped = isinstance(value, str) and value.startswith("'") and value[1:].startswith(_FORMULA_STARTS)
    return value[1:] if escaped else value


def check_target(path, overwrite=False, keep=()):
    """The one rule for what a dermnet command writes, a file or a folder, checked before its work:

    - never the working folder (or one holding it), and never one of `keep` (what the command reads,
      e.g. the model it exports) or a folder holding one;
    - a path that exists (a file, or a folder that is not empty) only when the user said so
      (`overwrite`); a folder is then replaced whole, and only if it holds nothing that the new one
      lacks (`write_atomically` checks that when it swaps them).

    Args:
        path: the file or folder to write.
        overwrite: the user's word (`--overwrite`) that an existing one may be replaced.
        keep: files and folders the command must not replace.

    Returns:
        `path`, absolute.

    Raises:
        FileExistsError: the message names the path and the way out.
        PermissionError: the folder it would be written in is read-only.
    """
    path = Path(path).expanduser().absolute()
    if Path.cwd().resolve().is_relative_to(path.resolve()):
        raise FileExistsError(
            f"{path} is the working folder (or holds it): give a new file or folder to write"
        )
    for kept in map(Path, keep):
        if kept.resolve().is_relative_to(path.resolve()):
            raise FileExistsError(
                f"{path} is (or holds) {kept}, which this command reads and must not replace: "
                "give another path"
            )
    recover_interrupted_write(path)  # a write killed midway: the earlier version back first
    occupied = path.is_file() or path.is_symlink() or (path.is_dir() and any(path.iterdir()))
    if occupied and not overwrite:
        raise FileExistsError(
            f"{path} exists: give --overwrite (overwrite=True) to replace it, or another path"
        )
    # Written beside itself (`write_atomically`): a read-only folder is refused now, not after the work.
    writable = next(folder for folder in path.parents if folder.exists())
    if not os.access(writable, os.W_OK):
        raise PermissionError(f"{path} cannot be written: {writable} is read-only; give another path")
    return path
