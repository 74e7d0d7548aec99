"""The training state a run resumes from: after every epoch, the variables of the model and its
optimizer and the progress (phase, epoch, the recipe callbacks' counters), saved in a folder that is
renamed into place only once complete."""

import json
import shutil
from pathlib import Path

import numpy as np

from dermnet._io import write_atomically


def _state_variables(model):
    """Everything training changes: the model's variables (with batch-norm statistics and random-seed
    states) and the optimizer's (its step, learning rate and moments)."""
    return [*model.variables, *model.optimizer.variables]


def save_training_state(folder, model, progress):
    """Writes `_state_variables(model)` and `progress` (a JSON dict with "epoch", the run's epochs
    done) into `folder/epoch-NNNN` (a folder renamed into place only once complete: a kill at any
    moment leaves the previous state whole), then removes the older states."""
    final = Path(folder) / f"epoch-{progress['epoch']:04d}"

    def write(partial):
        Path(partial).mkdir()
        np.savez(Path(partial) / "variables.npz", *[np.asarray(v.numpy()) for v in _state_variables(model)])
        (Path(partial) / "progress.json").write_text(json.dumps(progress))

    write_atomically(final, write)
    for older in final.parent.glob("epoch-*"):
        if older != final:
            shutil.rmtree(older)


def _latest_state(folder):
    """The newest `epoch-NNNN` folder in `folder`, or None."""
    return max(Path(folder).glob("epoch-*"), default=None) if folder is not None else None


def load_training_state(folder):
    """The progress of the latest state in `folder` (`save_training_state`), or None."""
    state = _latest_state(folder)
    return json.loads((state / "progress.json").read_text()) if state else None


def restore_training_state(model, folder):
    """Loads the latest state in `folder` into a model compiled for the state's phase."""
    state = _latest_state(folder)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    variables = _state_variables(model)
    with np.load(state / "variables.npz") as saved:
        values = [saved[f"arr_{k}"] for k in range(len(saved.files))]
    mismatch = len(values) != len(variables) or any(tuple(v.shape) != a.shape for v, a in zip(variables, values))
    if mismatch:
        raise ValueError(f"{state}: this training state does not fit {model.name} ({len(values)} saved variables, "
                         f"{len(variables)} in the model and its optimizer); delete {Path(folder)} to start afresh")
    for variable, value in zip(variables, values):
        variable.assign(value)
