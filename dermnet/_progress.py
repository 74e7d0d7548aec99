"""Progress of long work (caching, downloads, drawing, predicting), on a terminal and off it.

On a terminal or in a notebook: a tqdm bar on stderr, redrawn in place. Off a terminal (a log file, a
batch job's output): the same text, a line of its own at the start, every `LOG_INTERVAL` seconds and
at the end. tqdm redraws its bar with carriage returns whatever the file, which a log shows as one
ever-growing line; `_Lines` turns each redraw into a line, the one thing tqdm does not do.

Example:
>>> with progress(3, "drawing", unit="image") as bar:
...     for _ in range(3):
...         bar.update(1)
"""

import sys

from tqdm import tqdm

LOG_INTERVAL = 30.0  # seconds between lines off a terminal


def interactive(stream=None):
    """Whether `stream` (stderr by default) shows a redrawn line: a terminal or a notebook."""
    stream = stream or sys.stderr
    return "ipykernel" in sys.modules or (hasattr(stream, "isatty") and stream.isatty())


class _Lines:
    """A file for tqdm that writes each redraw of the bar as a line."""

    def __init__(self, stream):
        self.stream, self.last = stream, None

    def write(self, text):
        text = text.replace("\r", "").strip()
        if text and text != self.last:  # closing redraws the last state once more
            self.stream.write(text + "\n")
            self.last = text

    def flush(self):
        self.stream.flush()


def progress(total, desc, unit="image", enabled=True, **options):
    """A tqdm bar "dermnet: <desc>" on stderr (see the module); `enabled=False` shows nothing.
    `options` go to tqdm (e.g. `unit_scale=True`, `initial=`)."""
    stream = sys.stderr
    redrawn = interactive(stream)
    return tqdm(
        total=total,
        desc=f"dermnet: {desc}",
        unit=unit,
        disable=not enabled,
        leave=True,
        file=stream if redrawn else _Lines(stream),
        mininterval=0.1 if redrawn else LOG_INTERVAL,
        dynamic_ncols=redrawn,
        ascii=not redrawn,
        **options,
    )


def predict(model, inputs, desc, batch_size=32, count=None, enabled=True):
    """`model.predict(inputs)` with a progress bar over its images (`count`: how many a stream
    yields; an array's length by default). Keras' own bar would go to stdout, redrawn with
    backspaces even into a log."""
    import keras  # here: the modules that only cache or download never load it

    count = len(inputs) if count is None else count

    class Images(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            bar.update(min(batch_size, count - bar.n))

    with progress(count, desc, enabled=enabled and count > 0) as bar:
        return model.predict(inputs, batch_size=batch_size, verbose=0, callbacks=[Images()])
