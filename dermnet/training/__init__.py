"""Training by a paper's recipe.

- `run` (`run.py`): the whole job behind `dermnet train`: data set, model, training, scores, the
  run's files, resuming an interrupted run;
- `train` (`loop.py`): a built model through every phase of a recipe, on the stream its contract asks for;
- `callbacks.py`: the last good model, the data epoch, the history, the resumable state, step timing;
- `state.py`: the training state a run resumes from;
- `distribution.py`: one device, data-parallel over every local device, or over several machines (JAX).

Example:
>>> scores = dermnet.training.run("baseline_cnn", epochs=1, image_size=32, out="runs/baseline_cnn", verbose=0)
"""

from dermnet.training.callbacks import EpochCheckpoint, StepTimer
from dermnet.training.distribution import distribution, join_processes
from dermnet.training.loop import train, training_stream
from dermnet.training.run import run
from dermnet.training.state import load_training_state, restore_training_state, save_training_state

__all__ = [
    "EpochCheckpoint",
    "StepTimer",
    "distribution",
    "join_processes",
    "load_training_state",
    "restore_training_state",
    "run",
    "save_training_state",
    "train",
    "training_stream",
]
