"""The callbacks of a run: the last good model, the data epoch, the history, the resumable state and
step timing. Keras' own (TerminateOnNaN, TensorBoard, the recipes' ReduceLROnPlateau and
EarlyStopping) do the rest; these do what none of Keras' does: a checkpoint that a NaN epoch never
replaces, a history that a resumed run continues, and a state that includes the callbacks' counters.
"""

import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from dermnet import data
from dermnet._io import write_atomically, write_csv
from dermnet._processes import on_this_process
from dermnet._progress import LOG_INTERVAL
from dermnet.training.state import save_training_state


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the model to `path` after every epoch whose loss is finite, under a temporary name then
    renamed: a crash never leaves a truncated file, and a NaN epoch never replaces the last good model."""

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        if np.isfinite((logs or {}).get("loss", np.nan)):
            with on_this_process():  # in a multi-host run, process 0 alone saves
                write_atomically(self.path, self.model.save)


class DataEpochs(keras.callbacks.Callback):
    """Epoch e of a phase draws the stream's epoch `epochs_before + e`: the data order and augmentation
    are a function of the run's epoch, whether or not the run was resumed."""

    def __init__(self, stream, epochs_before):
        super().__init__()
        self.stream, self.epochs_before = stream, epochs_before

    def on_epoch_begin(self, epoch, logs=None):
        data.set_epoch(self.stream, self.epochs_before + epoch)


class TripletDrawing(keras.callbacks.Callback):
    """Draws the triplets of Xue et al.'s stream (`dermnet.data.triplets`) anew from the model's
    embeddings: at a run's first epoch (a resumed run's too: the embeddings of the epoch its triplets
    came from are gone) and at every `every`-th epoch of the run, as the paper does every 10 epochs.
    The images are embedded as cached, centre-cropped to the model's input (the training crops' scale)."""

    def __init__(self, stream, every, epochs_before, batch_size=64):
        super().__init__()
        self.stream, self.every, self.epochs_before, self.batch_size = (
            stream,
            every,
            epochs_before,
            batch_size,
        )

    def on_epoch_begin(self, epoch, logs=None):
        run_epoch, sampler = self.epochs_before + epoch, self.stream.triplet_sampler
        if sampler.drawn_at is None or run_epoch % self.every == 0:
            sampler.redraw(self._embeddings(), run_epoch)

    def _embeddings(self):
        embedder, cache = self.model.embedding_model(), self.stream.cache
        height, width = embedder.input_shape[1:3]
        batches = []
        for start in range(0, len(cache), self.batch_size):
            images = cache.images[cache.index[start : start + self.batch_size]]
            batches.append(
                keras.ops.convert_to_numpy(embedder.predict_on_batch(_centre(images, height, width)))
            )
        return np.concatenate(batches)


def _centre(images, height, width):
    """The central `height × width` of a batch (resized instead where an image is smaller)."""
    h, w = images.shape[1:3]
    height, width = height or h, width or w
    if h < height or w < width:
        return keras.ops.convert_to_numpy(keras.ops.image.resize(images, (height, width)))
    top, left = (h - height) // 2, (w - width) // 2
    return images[:, top : top + height, left : left + width]


class HistoryCSV(keras.callbacks.Callback):
    """Rewrites `path` after every epoch: a row per epoch of the run ("phase", "epoch" counted over all
    phases, then the logs), continuing from `rows` (those of the epochs before)."""

    def __init__(self, path, phase, epochs_before, rows):
        super().__init__()
        self.path, self.phase, self.epochs_before, self.rows = Path(path), phase, epochs_before, rows

    def on_epoch_end(self, epoch, logs=None):
        logs = {name: float(value) for name, value in (logs or {}).items()}
        self.rows.append({"phase": self.phase, "epoch": self.epochs_before + epoch + 1, **logs})
        write_csv(self.path, pd.DataFrame(self.rows))


# The recipe callbacks' counters that carry over epochs (ReduceLROnPlateau, EarlyStopping).
_CALLBACK_COUNTERS = ("wait", "best", "cooldown_counter", "stopped_epoch", "best_epoch")


class TrainingState(keras.callbacks.Callback):
    """After every epoch with a finite loss, saves what training resumes from (`save_training_state`);
    at the start of a resumed phase, gives the phase's callbacks back their counters."""

    def __init__(self, folder, phase, epochs_before, phase_callbacks, resumed=None, history_rows=()):
        super().__init__()
        self.folder, self.phase, self.epochs_before = Path(folder), phase, epochs_before
        # the rows `HistoryCSV` keeps (the same list): a resumed run rebuilds history.csv from them
        self.phase_callbacks, self.resumed, self.history_rows = phase_callbacks, resumed, history_rows

    def on_train_begin(self, logs=None):  # after the callbacks' own on_train_begin reset them
        for callback, counters in zip(self.phase_callbacks, (self.resumed or {}).get("callbacks", ())):
            for name, value in counters.items():
                setattr(callback, name, value)

    def on_epoch_end(self, epoch, logs=None):
        if not np.isfinite((logs or {}).get("loss", np.nan)):
            return
        counters = [
            {
                name: None if getattr(c, name) is None else float(getattr(c, name))
                for name in _CALLBACK_COUNTERS
                if hasattr(c, name)
            }
            for c in self.phase_callbacks
        ]
        save_training_state(
            self.folder,
            self.model,
            {
                "phase": self.phase,
                "phase_epoch": epoch + 1,
                "epoch": self.epochs_before + epoch + 1,
                "callbacks": counters,
                "history": self.history_rows,
            },
        )


class NotLearning(keras.callbacks.Callback):
    """Says in the log when, within the first `within` epochs of a phase, the training loss has not
    moved over `epochs` epochs in a row (by at most `tolerance` of itself) and the training accuracy,
    where there is one, has not changed at all: a network that gives every image the same output (a
    learning rate too high for its size and data) trains on with its accuracy fixed at the share of
    one class, and nothing else says so. Later epochs are left alone: a converged loss is flat too."""

    def __init__(self, epochs=3, within=5, tolerance=1e-3):
        super().__init__()
        self.epochs, self.within, self.tolerance = epochs, within, tolerance
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.seen, self.said = [], False

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        accuracy = next(
            (v for k, v in logs.items() if k.endswith("accuracy") and not k.startswith("val")), None
        )
        self.seen.append((float(logs.get("loss", np.nan)), None if accuracy is None else float(accuracy)))
        if self.said or len(self.seen) < self.epochs or len(self.seen) > self.within:
            return
        losses, accuracies = zip(*self.seen[-self.epochs :])
        if not (
            np.all(np.isfinite(losses))
            and np.ptp(losses) <= self.tolerance * np.max(np.abs(losses))
            and len(set(accuracies)) == 1
        ):
            return
        self.said = True
        fixed = "" if accuracies[0] is None else f" and the training accuracy stays at {accuracies[0]:.4f}"
        print(
            f"dermnet: warning: the training loss has not moved over {self.epochs} epochs "
            f"({losses[0]:.4f}, then {losses[-1]:.4f}){fixed}: the model may give every image the same "
            "prediction. The likely cause: a learning rate too high for this image size and data (try one 10 "
            "times lower).",
            flush=True,
        )


class StepTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every training step (`seconds`); the median skips compilation."""

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)

    def on_train_begin(self, logs=None):
        self.seconds = []

    @property
    def median(self):
        return float(np.median(self.seconds[1:] or self.seconds))


class BatchLines(keras.callbacks.Callback):
    """Off a terminal (Keras' `verbose=2` writes a line per epoch only): a line every `interval`
    seconds within an epoch, so a log shows that a long first epoch is under way."""

    def __init__(self, interval=LOG_INTERVAL):
        super().__init__()
        self.interval = interval

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self._start = epoch, time.perf_counter()
        self._shown = self._start

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if now - self._shown >= self.interval:
            self._shown = now
            loss = (logs or {}).get("loss")
            print(
                f"epoch {self.epoch + 1}/{self.params.get('epochs', '?')}: batch {batch + 1}/"
                f"{self.params.get('steps') or '?'}"
                + (f", loss {float(loss):.4f}" if loss is not None else "")
                + f" ({now - self._start:.0f} s)",
                flush=True,
            )
