"""A user's data file, read and checked: a .npz (arrays X and y) or a .csv (a label column and
numeric feature columns, or a text column that a frozen encoder embeds).

Labels: -1 marks an unlabeled row (in a CSV, an empty cell too). Integer labels are the class
indices 0..C-1, and every class needs at least one labeled row; a CSV whose labels are not all
integers holds class names, numbered in sorted order. `read_file` reads a file for training,
`read_file(..., labels=False)` one for prediction (its labels, if any, ignored), and `split`
makes the `SemiSupervisedData` that `drift.train` reads, holding out labeled rows as a test set
if asked.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

from ..validation import check_real
from .splits import SemiSupervisedData

EXTENSIONS = (".npz", ".csv")
"""The file types `read_file` reads."""

UNLABELED = -1
"""The label of an unlabeled row (in a CSV, an empty cell is one too)."""


@dataclass
class FileData:
    """A data file's rows: x (N, *feature_shape) float32 features; y (N,) int64 class indices,
    -1 for an unlabeled row (None when read with labels=False); label_names: the C class names
    when the labels were strings (else None: the classes are 0..C-1); reading: how the features
    were read (the file type, the CSV's feature columns or text column and encoder), which
    `read_file(..., reading=...)` repeats on another file."""

    x: np.ndarray
    y: np.ndarray | None
    label_names: list[str] | None = None
    reading: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """C: the number of classes (of the label names, else the largest label + 1; a file read
        with labels only)."""
        if self.label_names is not None:
            return len(self.label_names)
        return int(self.y.max()) + 1

    @property
    def classes(self) -> list:
        """The C labels as they are in the file: the names, else the integers 0..C-1."""
        return list(self.label_names or range(self.num_classes))


def read_file(
    path,
    *,
    label_column: str = "label",
    text_column: str | None = None,
    encoder: str = "minilm",
    labels: bool = True,
    reading: dict | None = None,
) -> FileData:
    """Read a .npz or .csv file of N rows (see the module's docstring).

    .npz: arrays X (N, ...) of numbers and, when `labels`, y (N,) of integers. .csv (with a
    header): the `label_column` (when `labels`), and as features every other column (numbers,
    none missing), or, with `text_column`, that column's texts embedded by
    `drift.data.text.embed(texts, encoder=encoder)` (the other columns then unused).
    labels=False reads features only, for prediction; `reading` (a `FileData.reading`) then
    reads them as the training file's were: the same columns or the same text and encoder.
    Errors (ValueError) name the file, the key or column, and the fix.
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in EXTENSIONS:
        raise ValueError(
            f"{path}: unknown file type {extension or '(no extension)'!r}; give a .npz file "
            "(arrays X and y) or a .csv file (a header row, a label column and feature columns)"
        )
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    if reading is not None and reading.get("kind") != extension[1:]:
        raise ValueError(
            f"{path}: the model was trained on a .{reading.get('kind')} file; give a "
            f".{reading.get('kind')} file with the same features"
        )
    if extension == ".npz":
        return _read_npz(path, labels)
    if reading is not None:
        text_column, encoder = reading["text_column"], reading["encoder"]
    return _read_csv(
        path,
        label_column=label_column,
        text_column=text_column,
        encoder=encoder,
        labels=labels,
        features=None if reading is None else reading["feature_columns"],
    )


def split(
    data: FileData,
    *,
    test_fraction: float = 0.0,
    validation: int | float | None = None,
    seed: int = 0,
) -> SemiSupervisedData:
    """The `SemiSupervisedData` of a file read for training: its labeled rows are the labeled
    set and its unlabeled rows the unlabeled set (all the rows, when every row is labeled).

    test_fraction: the share of the labeled rows held out as the test set (stratified by
    class, drawn with `seed`; never trained on, not even as unlabeled rows); 0: no test set
    (the History's test accuracy is then NaN). validation: labeled training rows held out for
    model selection (`SemiSupervisedData.with_labeled_validation`, drawn with `seed`); None:
    none. Held-out rows never train, not even as unlabeled rows when every row is labeled.
    """
    test_fraction = check_real(
        "test_fraction",
        test_fraction,
        minimum=0.0,
        maximum=1.0,
        high_open=True,
        hint="the share of the labeled rows held out for testing",
    )
    labeled = np.flatnonzero(data.y != UNLABELED)
    test = np.array([], dtype=int)
    if test_fraction > 0:
        try:
            labeled, test = train_test_split(
                labeled, test_size=test_fraction, random_state=seed, stratify=data.y[labeled]
            )
        except ValueError as err:
            raise ValueError(
                f"test_fraction {test_fraction} of {len(labeled)} labeled rows in "
                f"{data.num_classes} classes cannot be held out with every class on both sides "
                f"({err}); label more rows, or lower the fraction (0: no test set)"
            ) from None
        missing = sorted(set(range(data.num_classes)) - set(data.y[labeled].tolist()))
        if missing:
            raise ValueError(
                f"test_fraction {test_fraction} leaves class {data.classes[missing[0]]!r} with "
                "no labeled row to train on; label more rows, or lower the fraction"
            )
    unlabeled = np.flatnonzero(data.y == UNLABELED)
    split = SemiSupervisedData(
        x_labeled=data.x[labeled],
        y_labeled=data.y[labeled],
        x_unlabeled=data.x[unlabeled if len(unlabeled) else labeled],
        y_unlabeled=None,
        x_test=data.x[test] if len(test) else None,
        y_test=data.y[test] if len(test) else None,
        num_classes=data.num_classes,
    )
    if validation is None:
        return split
    split = split.with_labeled_validation(validation, seed=seed)
    # every row labeled: the unlabeled set is the training rows, without the validation rows
    return split if len(unlabeled) else dataclasses.replace(split, x_unlabeled=split.x_labeled)


def _read_npz(path: str, labels: bool) -> FileData:
    with np.load(path, allow_pickle=False) as arrays:
        keys = set(arrays.files)
        wanted = ("X", "y") if labels else ("X",)
        for key in wanted:
            if key not in keys:
                raise ValueError(
                    f"{path} has no array {key!r} (its arrays: {', '.join(sorted(keys)) or 'none'})"
                    "; save the features as X (N, ...) and the labels as y (N,), -1 for an "
                    "unlabeled row: np.savez(path, X=X, y=y)"
                )
        x = arrays["X"]
        y = arrays["y"] if labels else None
    if x.dtype.kind not in "biuf" or x.ndim < 2 or len(x) == 0:
        raise ValueError(
            f"{path}: X must be an array of numbers of shape (N, ...) with N >= 1 rows; got "
            f"dtype {x.dtype} and shape {x.shape}"
        )
    x = x.astype(np.float32)
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{path}: X has NaN or infinite values ({int(bad.sum())} rows, the first row "
            f"{int(np.flatnonzero(bad)[0])}); fill them in or drop those rows"
        )
    if labels:
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(
                f"{path}: y must have shape (N,) with one label per row of X ({len(x)} rows); "
                f"got shape {y.shape}"
            )
        if y.dtype.kind not in "iu":
            raise ValueError(
                f"{path}: y must hold integers (class indices 0..C-1, -1 for an unlabeled row); "
                f"got dtype {y.dtype}: save y.astype(int), with class names mapped to 0..C-1"
            )
        y = _check_indices(path, "y", y.astype(np.int64))
    return FileData(x=x, y=y, reading={"kind": "npz"})


def _read_csv(
    path: str,
    *,
    label_column: str,
    text_column: str | None,
    encoder: str,
    labels: bool,
    features: list[str] | None,
) -> FileData:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or not any(rows[0]):
        raise ValueError(f"{path} is empty; a CSV needs a header row naming its columns")
    header, rows = rows[0], [row for row in rows[1:] if row]
    if not rows:
        raise ValueError(f"{path} has a header but no data rows")
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{path}: line {line} has {len(row)} cells, the header {len(header)} columns; "
                "give every row one cell per column"
            )
    columns = dict(zip(header, zip(*rows)))
    listed = f"(its columns: {', '.join(header)})"
    if labels and label_column not in columns:
        raise ValueError(
            f"{path} has no label column {label_column!r} {listed}; name the label column with "
            "--label-column (label_column=)"
        )
    y = names = None
    if labels:
        y, names = _csv_labels(path, label_column, columns[label_column])
    if text_column is not None:
        if text_column not in columns:
            raise ValueError(
                f"{path} has no text column {text_column!r} {listed}; name the column of texts "
                "with --text-column (text_column=)"
            )
        from .text import embed  # the encoder's packages load only when text is embedded

        x = np.asarray(embed(list(columns[text_column]), encoder=encoder), dtype=np.float32)
        reading = {"feature_columns": [], "text_column": text_column, "encoder": encoder}
    else:
        if features is None:
            features = [name for name in header if name != label_column]
        missing = [name for name in features if name not in columns]
        if missing:
            raise ValueError(
                f"{path} has no column {missing[0]!r} {listed}; the model reads the feature "
                f"columns {', '.join(features)}"
            )
        if not features:
            raise ValueError(
                f"{path} has no feature columns besides the label column {label_column!r}; add "
                "numeric feature columns, or embed a column of texts with --text-column"
            )
        x = np.stack([_csv_numbers(path, name, columns[name]) for name in features], axis=1)
        reading = {"feature_columns": list(features), "text_column": None, "encoder": None}
    return FileData(x=x, y=y, label_names=names, reading={"kind": "csv", **reading})


def _csv_numbers(path: str, name: str, cells: tuple[str, ...]) -> np.ndarray:
    """A feature column's cells as (N,) float32, every one a finite number."""
    values = []
    for line, cell in enumerate(cells, start=2):
        try:
            value = float(cell)
        except ValueError:
            if cell.strip():
                raise ValueError(
                    f"{path}: column {name!r} is not numeric ({cell!r} on line {line}); drop "
                    "it, encode it as numbers, or embed it as text with --text-column"
                ) from None
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(
                f"{path}: column {name!r} has a missing, NaN or infinite value on line {line} "
                f"({cell!r}); fill it in or drop the row (features must be finite numbers)"
            )
        values.append(value)
    return np.asarray(values, dtype=np.float32)


def _csv_labels(path: str, name: str, cells: tuple[str, ...]) -> tuple[np.ndarray, list | None]:
    """The label column as (N,) class indices, -1 for empty or -1 cells, and the class names
    (None when every label is an integer)."""
    cells = [cell.strip() for cell in cells]
    given = [cell for cell in cells if cell not in ("", str(UNLABELED))]
    try:
        codes = [UNLABELED if cell in ("", str(UNLABELED)) else int(cell) for cell in cells]
    except ValueError:  # names: numbered in sorted order
        names = sorted(set(given))
        index = {label: i for i, label in enumerate(names)}
        y = np.array([index.get(cell, UNLABELED) for cell in cells], dtype=np.int64)
        return _check_indices(path, f"column {name!r}", y, names), names
    return _check_indices(path, f"column {name!r}", np.array(codes, dtype=np.int64)), None


def _check_indices(path: str, what: str, y: np.ndarray, names: list | None = None) -> np.ndarray:
    """y (N,) int64: -1 or a class index; some rows labeled; every class 0..C-1 labeled; C >= 2."""
    if (y < UNLABELED).any():
        raise ValueError(
            f"{path}: {what} holds {int(y[y < UNLABELED][0])}; labels are class indices 0..C-1, "
            "with -1 for an unlabeled row"
        )
    labeled = y[y != UNLABELED]
    if len(labeled) == 0:
        raise ValueError(
            f"{path}: {what} has no labeled rows (every label is -1 or empty); label at least "
            "one row of each class"
        )
    num_classes = len(names) if names is not None else int(labeled.max()) + 1
    missing = sorted(set(range(num_classes)) - set(labeled.tolist()))
    if missing:
        raise ValueError(
            f"{path}: class {missing[0]} has no labeled row in {what} (the classes are "
            f"0..{num_classes - 1}); label at least one row of it, or number the classes "
            "0..C-1 without gaps"
        )
    if num_classes < 2:
        shown = names[0] if names is not None else 0
        raise ValueError(
            f"{path}: {what} holds one class only ({shown!r}); label rows of at least 2 classes"
        )
    return y
