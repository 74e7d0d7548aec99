"""The one error the data layer raises for bad data: it names the files and what is wrong."""


class DataError(ValueError):
    """Data that would give wrong results: a missing, corrupt or odd file, a wrong manifest, a leaking split.

    The message names the problem and the first offending files or rows, so a person can fix them.
    """


def first_rows(items, limit=5):
    """'a, b, c (and 12 more)': the first few offending rows or files of a message."""
    items = [str(item) for item in items]
    shown = ", ".join(items[:limit])
    return shown + (f" (and {len(items) - limit} more)" if len(items) > limit else "")
