"""The training state a run resumes from: after every epoch, the variables of the model and its
optimizer and the progress (phase, epoch, the recipe callbacks' counters, the history so far), saved
in a folder that is renamed into place only once complete and on disk. The state of the epoch
before is kept beside it: a damaged newest state (a truncated file) resumes from that one."""

import json
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np

from dermnet._io import write_atomically


def _state_variables(model):
    """Everything training changes: the model's variables (with batch-norm statistics and random-seed
    states) and the optimizer's (its step, learning rate and moments)."""
    return [*model.variables, *model.optimizer.variables]


def save_training_state(folder, model, progress):
    """Writes `_state_variables(model)` and `progress` (a JSON dict with "epoch", the run's epochs
    done) into `folder/epoch-NNNN` (a folder renamed into place only once complete and flushed to
    disk: a kill or a power cut at any moment leaves the previous state whole), then removes the
    states older than the one before it."""
    final = Path(folder) / f"epoch-{progress['epoch']:04d}"

    def write(partial):
        partial = Path(partial)
        partial.mkdir()
        with open(partial / "variables.npz", "wb") as file:
            np.savez(file, *[np.asarray(v.numpy()) for v in _state_variables(model)])
            _flush(file)
        with open(partial / "progress.json", "w") as file:
            file.write(json.dumps(progress))
            _flush(file)
        _sync_folder(partial)

    write_atomically(final, write)
    _sync_folder(final.parent)  # the rename on disk before the older states go
    # Kept: this state and the newest before it. A newer one is a damaged state this run resumed before.
    earlier = sorted(s for s in final.parent.glob("epoch-*") if s.name < final.name)
    for state in final.parent.glob("epoch-*"):
        if state != final and state not in earlier[-1:]:
            shutil.rmtree(state)


def _flush(file):
    file.flush()
    os.fsync(file.fileno())


def _sync_folder(folder):
    """Puts a folder's entries (files created or renamed in it) on disk. POSIX only: Windows gives no
    handle on a folder to flush."""
    if os.name == "posix":
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _latest_state(folder):
    """The newest whole `epoch-NNNN` folder in `folder`, or None. A damaged one (a truncated or empty
    file, a stray folder) is skipped with a warning naming it: the run resumes from the one before."""
    if folder is None:
        return None
    for state in sorted(Path(folder).glob("epoch-*"), reverse=True):
        problem = _damage(state)
        if problem is None:
            return state
        warnings.warn(f"{state}: {problem}; resuming from the epoch before it, if there is one", stacklevel=3)
    return None


def _damage(state):
    """What is wrong with a state folder, or None. A zip's directory is at its end, so a truncated
    `variables.npz` fails to open; bytes changed elsewhere fail their CRC (every byte is read: the
    state chosen here is the one restored, so its progress and variables are of the same epoch)."""
    try:
        progress = json.loads((state / "progress.json").read_text())
        if not isinstance(progress, dict) or not isinstance(progress.get("epoch"), int):
            return "progress.json holds no epoch"
        with zipfile.ZipFile(state / "variables.npz") as saved:
            if not saved.namelist():
                return "variables.npz holds no variables"
            damaged = saved.testzip()
            if damaged is not None:
                return f"a damaged file (variables.npz: {damaged} fails its checksum)"
    except FileNotFoundError as err:
        return f"{Path(err.filename).name} is missing"
    except (OSError, ValueError, zipfile.BadZipFile) as err:  # JSONDecodeError is a ValueError
        return f"a damaged file ({err})"
    return None


def load_training_state(folder):
    """The progress of the latest whole state in `folder` (`save_training_state`), or None."""
    state = _latest_state(folder)
    return json.loads((state / "progress.json").read_text()) if state else None


def restore_training_state(model, folder):
    """Loads the latest whole state in `folder` into a model compiled for the state's phase."""
    state = _latest_state(folder)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    variables = _state_variables(model)
    try:
        with np.load(state / "variables.npz") as saved:
            values = [saved[f"arr_{k}"] for k in range(len(saved.files))]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"{state / 'variables.npz'}: cannot be read ({err}); delete {state} to resume from "
            f"the epoch before it, or {Path(folder)} to start afresh"
        ) from None
    mismatch = len(values) != len(variables) or any(
        tuple(v.shape) != a.shape for v, a in zip(variables, values)
    )
    if mismatch:
        raise ValueError(
            f"{state}: this training state does not fit {model.name} ({len(values)} saved variables, "
            f"{len(variables)} in the model and its optimizer); delete {Path(folder)} to start afresh"
        )
    for variable, value in zip(variables, values):
        variable.assign(value)
