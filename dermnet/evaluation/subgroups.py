"""Scores by subgroup of the test set: by sex, age band, anatomic site, Fitzpatrick skin type and
source, where the manifest rows carry them (in the ISIC Archive's vocabulary, as the readers keep
them: `dermnet.data.layouts`).

Each subgroup gets its images, its positives and the headline scores of `model_scores` on its images,
with bootstrap intervals whose draws take the test set's lesion or patient groups whole, as the whole
test set's do. Positives are counted per scored category: a challenge's categories (ISIC 2016's
malignant, ISIC 2020's melanoma, ISIC 2018's seven diagnoses, ...); without a challenge the second
of two classes (the positive one) or, for several classes, each class scored.

A score needs positives and negatives of every category it averages over: a subgroup in which a
category that the whole test set has holds fewer than `MIN_COUNT` positives or negatives gets no
score but the words "too few positives (n)" (or negatives, naming the category where there are
several), in `scores.json` and in the report. Below 5, one image moves an AUC or average precision
by a fifth or more, and bootstrap draws often lack the class altogether.

Example:
>>> rows = pd.DataFrame({"sex": ["female", "male"] * 20, "age_approx": ["35", "62", "", "80"] * 10})
>>> truth = np.arange(40) % 3 == 0
>>> probabilities = np.stack([1 - 0.8 * truth, 0.2 + 0.6 * truth], axis=1)
>>> table = subgroup_scores(rows, truth.astype(int), probabilities, ["benign", "malignant"], n_resamples=0)
>>> [(row["value"], row["images"], row["too_few"]) for row in table if row["column"] == "sex"]
[('female', 20, None), ('male', 20, None)]
"""

import numpy as np
import pandas as pd

from dermnet.evaluation.intervals import RESAMPLES as WHOLE_SET_RESAMPLES
from dermnet.evaluation.intervals import SEED, resampling_groups
from dermnet.evaluation.scoring import _challenge_columns, get_challenge, headline, model_scores

MIN_COUNT = 5  # positives and negatives a subgroup needs in each scored category for a score
# A subgroup's bootstrap: fewer draws than the whole test set's 1000. A draw costs about as much in a
# small subgroup as in the whole set (the scorers' fixed work per call dominates), so k scored
# subgroups cost about k/5 of the whole set's intervals (20 of 1512 images, binary: 64 s against 20 s).
RESAMPLES = min(200, WHOLE_SET_RESAMPLES)  # and never more than the whole set's ($DERMNET_RESAMPLES)
# A column's known subgroups at most: beyond, the smallest values are pooled (an archive's many sources).
MAX_VALUES = 12
# The metadata columns, as the readers name them (the ISIC Archive's fields), and their titles.
COLUMNS = {
    "sex": "sex",
    "age_approx": "age band (age_approx)",
    "anatom_site_general": "anatomic site",
    "fitzpatrick_skin_type": "Fitzpatrick skin type",
    "dataset": "source (dataset)",
    "attribution": "source (attribution)",
}
AGE_BANDS = ((30, "<30"), (45, "30–44"), (60, "45–59"), (75, "60–74"), (np.inf, "≥75"))
UNKNOWN = "unknown"


def subgroup_values(rows: pd.DataFrame, column: str) -> pd.Series:
    """Each row's subgroup of `column`: its value as text, the age in `AGE_BANDS` for `age_approx`,
    and "unknown" where it is empty (or an age is no number)."""
    values = rows[column]
    if column == "age_approx":
        ages = pd.to_numeric(values, errors="coerce").to_numpy("float64")
        bands = np.array([name for _, name in AGE_BANDS] + [UNKNOWN], dtype=object)
        which = np.searchsorted([limit for limit, _ in AGE_BANDS], ages, side="right")
        return pd.Series(bands[np.where(np.isnan(ages), len(AGE_BANDS), which)], index=rows.index)
    text = values.astype("string").str.strip()
    return text.mask(text.isna() | (text == ""), UNKNOWN).astype(object)


def primary_score(challenge: str | None) -> str:
    """The score a subgroup's figure shows: the one `challenge` ranks by, or the mean AUC without one."""
    return get_challenge(challenge).ranking if challenge else "auc"


def subgroup_scores(
    rows: pd.DataFrame,
    truth,
    probabilities,
    classes,
    challenge: str | None = None,
    scored_classes=None,
    n_resamples: int = RESAMPLES,
    seed: int = SEED,
    minimum: int = MIN_COUNT,
    progress: bool = False,
) -> list[dict]:
    """The scores of every subgroup of every metadata column (`COLUMNS`) that `rows` has with at
    least two known values; of a column with more than `MAX_VALUES`, the smallest are pooled into one
    subgroup, "other (n values)".

    Args:
        rows: the evaluated manifest rows, in the order of `truth`.
        truth: `[N]` class indices into `classes`.
        probabilities: `[N, K]`, one column per class.
        classes: the model's class names.
        challenge: the ISIC challenge that scores them, or None (`model_scores`).
        scored_classes: without a challenge, the classes scored (default all).
        n_resamples: bootstrap draws per subgroup; 0 for no intervals.
        seed: of the draws.
        minimum: the positives and negatives each category needs for a score.
        progress: show a progress bar over the subgroups scored.

    Returns:
        A row per subgroup, JSON-ready: `column`, `title`, `value`, `images`, `positives`
        (`{category: count}`), `scores` (the headline scores) and `intervals` (`{score: [low,
        high]}`), both None where `too_few` says why ("too few positives (3)"), else None.
    """
    rows = rows.reset_index(drop=True)
    truth, probabilities = np.asarray(truth, "int64"), np.asarray(probabilities, "float64")
    categories = _categories(challenge, classes, scored_classes)
    positive = np.stack([truth == k for k in categories.values()], axis=1)
    deciding = positive.any(axis=0)  # a category the whole test set lacks is undefined there too
    from dermnet._progress import progress as progress_bar

    table, members = [], []
    for column, title in COLUMNS.items():
        values = subgroup_values(rows, column) if column in rows else pd.Series([], dtype=object)
        if values[values != UNKNOWN].nunique() < 2:
            continue
        values, order = _subgroups(values, column)
        for value in order:
            chosen = (values == value).to_numpy()
            counts = positive[chosen].sum(axis=0)
            table.append(
                {
                    "column": column,
                    "title": title,
                    "value": value,
                    "images": int(chosen.sum()),
                    "positives": {name: int(n) for name, n in zip(categories, counts)},
                    "scores": None,
                    "intervals": None,
                    "too_few": _too_few(list(categories), counts, chosen.sum() - counts, deciding, minimum),
                }
            )
            members.append(chosen)
    scored = [(row, chosen) for row, chosen in zip(table, members) if row["too_few"] is None]
    groups, unit = resampling_groups(rows)  # the whole set's groups: a patient in two subgroups stays one
    shown = progress and bool(scored)
    with progress_bar(len(scored), "subgroup scores", unit="subgroup", enabled=shown) as bar:
        for row, chosen in scored:
            scores = model_scores(
                challenge,
                truth[chosen],
                probabilities[chosen],
                classes,
                scored_classes,
                None if groups is None else groups[chosen],
                unit,
                n_resamples,
                seed,
            )
            named = headline(scores)
            row["scores"] = {name: _number(value) for name, value in named.items()}
            if n_resamples:
                row["intervals"] = {
                    name: [_number(b) for b in bounds]
                    for name, bounds in scores["intervals"].items()
                    if name in named
                }
            bar.update(1)
    return table


def _subgroups(values, column):
    """`(values, order)`: the values with the smallest pooled (`MAX_VALUES`), and the subgroups in
    the table's order: age bands in age order, other values most images first; pooled, unknown last."""
    counts = values[values != UNKNOWN].value_counts()
    if column == "age_approx":
        known = [name for _, name in AGE_BANDS if name in counts]
    else:
        known = sorted(counts.index, key=lambda value: (-counts[value], value))
    if len(known) > MAX_VALUES:
        known, pooled = known[: MAX_VALUES - 1], [f"other ({len(known) - MAX_VALUES + 1} values)"]
        values = values.where(values.isin([*known, UNKNOWN]), pooled[0])
        known += pooled
    return values, known + [UNKNOWN] * (UNKNOWN in values.to_numpy())


def _categories(challenge, classes, scored_classes):
    """{scored category: the model's class index whose images are its positives}."""
    if challenge:
        challenge = get_challenge(challenge)
        return dict(zip(challenge.categories, _challenge_columns(challenge, classes)))
    names = [str(name) for name in classes]
    scored = [name for name in names if scored_classes is None or name in scored_classes]
    if len(names) == 2 and len(scored) == 2:  # two classes: the second is the positive one (plots do alike)
        scored = scored[1:]
    return {name: names.index(name) for name in scored}


def _too_few(names, positives, negatives, deciding, minimum):
    """The words for a subgroup too small for a score, or None."""
    for kind, counts in (("positives", positives), ("negatives", negatives)):
        short = [k for k in np.flatnonzero(deciding) if counts[k] < minimum]
        if short:
            k = min(short, key=lambda k: counts[k])
            return (
                f"too few {kind} ({names[k]}: {counts[k]})"
                if len(names) > 1
                else (f"too few {kind} ({counts[k]})")
            )
    return None


def _number(value):
    """A float for JSON: None for NaN (a score undefined in the subgroup or in every draw)."""
    return None if value is None or np.isnan(value) else float(value)


def forest_rows(table: list[dict], score: str) -> list[dict]:
    """The rows of `dermnet.plots.subgroup_forest` for `score`: `section`, `label`, `value`,
    `low`, `high` (None where there is none) and `note` (the words for too few)."""
    drawn = []
    for row in table:
        value = (row["scores"] or {}).get(score)
        low, high = (row["intervals"] or {}).get(score, (None, None))
        drawn.append(
            {
                "section": row["title"],
                "label": f"{row['value']} ({row['images']})",
                "value": value,
                "low": low,
                "high": high,
                "note": row["too_few"],
            }
        )
    return drawn


def report_section(table: list[dict], score: str, figure: str, n_resamples: int = RESAMPLES) -> list[str]:
    """The report's "Subgroups" section: how they were scored, a table per column (images, positives,
    `score` with its 95 % interval, or the words for too few) and the `figure`; nothing where
    `table` is empty. `n_resamples`: the draws of `table`'s intervals, as the report says."""
    if not table:
        return []
    drawn = (
        f"95 % intervals of {n_resamples} bootstrap draws each, lesions and patients drawn whole as "
        "for the whole test set"
        if n_resamples
        else "no intervals"
    )
    lines = [
        "## Subgroups",
        "",
        f"The scores of each subgroup's images ({drawn}); a subgroup with fewer "
        f"than {MIN_COUNT} positives or negatives of a scored category gets no score. Every headline "
        "score of each subgroup is in `scores.json` (`subgroups`).",
    ]
    for column in dict.fromkeys(row["column"] for row in table):
        rows = [row for row in table if row["column"] == column]
        counted = list(rows[0]["positives"])
        positives = f"positives ({counted[0]})" if len(counted) == 1 else "positives"
        lines += [
            "",
            f"| {rows[0]['title']} | images | {positives} | {score} (95 % interval) |",
            "| --- | --- | --- | --- |",
        ]
        for row in rows:
            value = str(row["value"]).replace("|", "\\|")  # a published value must not split the table
            lines.append(
                f"| {value} | {row['images']} | {_positives(row['positives'])} | {_cell(row, score)} |"
            )
    return lines + ["", f"![Subgroups]({figure})"]


def _positives(counts):
    if len(counts) == 1:
        return str(next(iter(counts.values())))
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def _cell(row, score):
    if row["too_few"]:
        return row["too_few"]
    value = row["scores"].get(score)
    if value is None:
        return "undefined"
    bounds = (row["intervals"] or {}).get(score)
    if not bounds or None in bounds:
        return f"{value:.4f}"
    return f"{value:.4f} ({bounds[0]:.4f} to {bounds[1]:.4f})"
