"""`python -m drift train --data FILE` and `predict` on a user's .npz or .csv: round trips
(train -> save -> predict), string labels, the held-out test split, the text column with a
stand-in encoder, --force, and every bad file's message. In process (`drift.__main__.main`),
runs of a few dozen steps on small synthetic data: seconds."""

import csv
import re
import sys
import types

import numpy as np
import pytest
import torch

from drift.__main__ import main
from drift.data import files
from drift.training.saved import load_classifier

STEPS = ["--steps", "40"]


def blobs(n=150, classes=3, labeled_per_class=8, seed=0):
    """n rows of 6 features around one centre per class; y with labeled_per_class labels per
    class, -1 elsewhere; and the true classes."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % classes
    x = rng.normal(size=(n, 6)) + 4.0 * np.eye(classes, 6)[truth]
    y = np.full(n, -1)
    for c in range(classes):
        y[np.flatnonzero(truth == c)[:labeled_per_class]] = c
    return x.astype(np.float32), y, truth


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def cli(capsys, *args):
    """Run `python -m drift ARGS` in process: (exit status, stdout, stderr)."""
    try:
        status = main([str(a) for a in args])
    except SystemExit as exit:
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


def read_predictions(text):
    rows = list(csv.reader(text.splitlines()))
    return rows[0], rows[1:]


def test_npz_round_trip(tmp_path, capsys):
    x, y, truth = blobs()
    np.savez(tmp_path / "data.npz", X=x, y=y)
    status, out, err = cli(
        capsys, "train", "--data", tmp_path / "data.npz", *STEPS, "--save", tmp_path / "m.pt"
    )
    assert status == 0, err
    assert "150 rows: 24 labeled for training, 0 held out, 126 unlabeled; 3 classes" in out
    assert "on the 24 labeled rows it trained on (optimistic" in out
    saved = load_classifier(tmp_path / "m.pt")
    assert saved.method == "drift" and saved.model == "mlp" and saved.feature_shape == (6,)
    assert saved.classes == [0, 1, 2] and saved.label_names is None
    assert saved.config["steps"] == 40 and saved.reading == {"kind": "npz"}

    np.savez(tmp_path / "new.npz", X=x)  # no y: predict needs none
    status, out, err = cli(
        capsys, "predict", "--model", tmp_path / "m.pt", "--data", tmp_path / "new.npz"
    )
    assert status == 0, err
    header, rows = read_predictions(out)
    assert header == ["row", "prediction", "p_0", "p_1", "p_2"] and len(rows) == 150
    predicted = np.array([int(r[1]) for r in rows])
    proba = np.array([[float(p) for p in r[2:]] for r in rows])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-3)
    np.testing.assert_array_equal(predicted, saved.predict_proba(x).argmax(axis=1))
    assert np.mean(predicted == truth) > 0.9  # separated blobs; chance is 1/3

    status, out, err = cli(
        capsys, "predict", "--model", tmp_path / "m.pt", "--data", tmp_path / "data.npz",
        "--predict-with", "teacher",
    )  # fmt: skip
    assert status == 0, err
    teacher = np.array([int(r[1]) for r in read_predictions(out)[1]])
    np.testing.assert_array_equal(teacher, saved.predict_proba(x, which="teacher").argmax(axis=1))
    assert not np.array_equal(saved.predict_proba(x), saved.predict_proba(x, which="teacher"))


def test_the_same_seed_saves_the_same_model(tmp_path, capsys):
    x, y, _ = blobs()
    np.savez(tmp_path / "data.npz", X=x, y=y)
    for name in ("a.pt", "b.pt"):
        args = ("train", "--data", tmp_path / "data.npz", *STEPS, "--save", tmp_path / name)
        assert cli(capsys, *args)[0] == 0
    a, b = (load_classifier(tmp_path / n) for n in ("a.pt", "b.pt"))
    for key, value in a.student.state_dict().items():
        assert torch.equal(value, b.student.state_dict()[key]), key


def test_csv_with_string_labels_round_trip(tmp_path, capsys):
    x, y, truth = blobs()
    names = np.array(["cat", "dog", "eel"])
    cells = [names[c] if c >= 0 else ("" if i % 2 else "-1") for i, c in enumerate(y)]
    header = [f"f{j}" for j in range(6)]
    write_csv(tmp_path / "d.csv", [*header, "kind"], [[*r, c] for r, c in zip(x, cells)])
    args = ("--data", tmp_path / "d.csv", "--label-column", "kind", *STEPS)
    status, out, err = cli(capsys, "train", *args, "--save", tmp_path / "m.pt")
    assert status == 0, err
    saved = load_classifier(tmp_path / "m.pt")
    assert saved.classes == saved.label_names == ["cat", "dog", "eel"]
    assert saved.reading["feature_columns"] == header

    new = [[*r] for r in x[:, ::-1]]  # columns in another order, no label column: read by name
    write_csv(tmp_path / "new.csv", header[::-1], new)
    out_path = tmp_path / "p.csv"
    args = ("predict", "--model", tmp_path / "m.pt", "--data", tmp_path / "new.csv")
    status, out, err = cli(capsys, *args, "--out", out_path)
    assert status == 0, err and "wrote 150 predictions" in out
    header_out, rows = read_predictions(out_path.read_text())
    assert header_out == ["row", "prediction", "p_cat", "p_dog", "p_eel"]
    predicted = np.array([r[1] for r in rows])
    assert np.mean(predicted == names[truth]) > 0.9


def test_csv_integer_labels_and_a_held_out_test_set(tmp_path, capsys):
    x, y, _ = blobs(labeled_per_class=20)
    header = ["label", *(f"f{j}" for j in range(6))]
    write_csv(tmp_path / "d.csv", header, [[c if c >= 0 else "", *r] for r, c in zip(x, y)])
    read = files.read_file(tmp_path / "d.csv")
    assert read.label_names is None and read.classes == [0, 1, 2]
    np.testing.assert_array_equal(read.y, y)
    np.testing.assert_allclose(read.x, x, rtol=1e-6)

    data = files.split(read, test_fraction=0.25, seed=1)
    assert len(data.y_test) == 15 and len(data.y_labeled) == 45  # 25% of the 60 labeled
    assert sorted(data.y_test.tolist()) == [0] * 5 + [1] * 5 + [2] * 5  # stratified
    held = {tuple(row.tolist()) for row in data.x_test}
    rest = {tuple(row.tolist()) for row in torch.cat([data.x_labeled, data.x_unlabeled])}
    assert not held & rest and len(data.x_unlabeled) == 90  # never trained on

    status, out, err = cli(
        capsys, "train", "--data", tmp_path / "d.csv", *STEPS, "--test-fraction", "0.25"
    )
    assert status == 0, err
    assert "45 labeled for training, 15 held out, 90 unlabeled" in out
    assert "final test accuracy" in out and "on the 15 held-out rows" in out


def test_a_text_column_is_embedded_by_the_encoder(tmp_path, capsys, monkeypatch):
    calls = []

    def embed(texts, encoder="minilm"):  # a stand-in encoder: the word decides the class
        calls.append((list(texts), encoder))
        return np.array([[t.count("good"), t.count("bad"), len(t) / 50] for t in texts])

    monkeypatch.setitem(sys.modules, "drift.data.text", types.SimpleNamespace(embed=embed))
    words = ["good film, good cast", "bad plot and bad acting"] * 30
    labels = [("pos" if i % 2 == 0 else "neg") if i < 12 else "" for i in range(60)]
    rows = [[i, w, lab] for i, (w, lab) in enumerate(zip(words, labels))]
    write_csv(tmp_path / "reviews.csv", ["id", "review", "label"], rows)
    args = ("--data", tmp_path / "reviews.csv", "--text-column", "review", *STEPS)
    status, out, err = cli(capsys, "train", *args, "--save", tmp_path / "m.pt")
    assert status == 0, err
    assert calls == [(words, "minilm")]
    assert load_classifier(tmp_path / "m.pt").reading == {
        "kind": "csv", "feature_columns": [], "text_column": "review", "encoder": "minilm",
    }  # fmt: skip

    write_csv(tmp_path / "new.csv", ["review"], [["so good"], ["so bad"]])
    status, out, err = cli(
        capsys, "predict", "--model", tmp_path / "m.pt", "--data", tmp_path / "new.csv"
    )
    assert status == 0, err
    assert [r[1] for r in read_predictions(out)[1]] == ["pos", "neg"]
    assert calls[-1] == (["so good", "so bad"], "minilm")


def test_nothing_is_overwritten_without_force(tmp_path, capsys):
    x, y, _ = blobs()
    np.savez(tmp_path / "data.npz", X=x, y=y)
    model, preds = tmp_path / "m.pt", tmp_path / "p.csv"
    model.write_bytes(b"mine")
    train = ("train", "--data", tmp_path / "data.npz", *STEPS, "--save", model)
    status, out, err = cli(capsys, *train)
    assert status == 2 and f"{model} exists; pass --force" in err and out == ""  # not trained
    assert model.read_bytes() == b"mine"
    assert cli(capsys, *train, "--force")[0] == 0 and load_classifier(model).classes == [0, 1, 2]

    preds.write_text("mine")
    predict = ("predict", "--model", model, "--data", tmp_path / "data.npz", "--out", preds)
    status, _, err = cli(capsys, *predict)
    assert status == 2 and f"{preds} exists; pass --force" in err
    assert preds.read_text() == "mine"
    assert cli(capsys, *predict, "--force")[0] == 0 and preds.read_text().startswith("row,")


def npz(**arrays):
    def write(path):
        np.savez(path / "d.npz", **arrays)
        return path / "d.npz"

    return write


def csv_file(header, *rows):
    def write(path):
        return write_csv(path / "d.csv", header, rows)

    return write


X4 = np.eye(4, 3, dtype=np.float32)
BAD_FILES = {
    "missing X": (
        npz(features=X4, y=[0, 1, -1, -1]),
        "has no array 'X' \\(its arrays: features, y\\)",
    ),
    "missing y": (npz(X=X4), "has no array 'y'.*np.savez\\(path, X=X, y=y\\)"),
    "y not integer": (npz(X=X4, y=[0.0, 1.0, -1.0, 1.0]), "y must hold integers.*float64"),
    "y below -1": (npz(X=X4, y=[0, 1, -2, 1]), "holds -2; labels are class indices 0..C-1"),
    "NaN in X": (npz(X=np.where(X4 == 1, np.nan, X4), y=[0, 1, -1, 1]), "X has NaN or infinite"),
    "no labeled rows": (npz(X=X4, y=[-1, -1, -1, -1]), "has no labeled rows.*label at least one"),
    "a class unlabeled": (npz(X=X4, y=[0, 2, -1, 2]), "class 1 has no labeled row in y"),
    "one class": (csv_file(["a", "label"], [1, "x"], [2, ""]), "holds one class only \\('x'\\)"),
    "no label column": (csv_file(["a", "b"], [1, 2]), "no label column 'label' \\(its columns: a"),
    "non-numeric": (
        csv_file(["a", "colour", "label"], [1, "red", 0], [2, "blue", 1]),
        "column 'colour' is not numeric \\('red' on line 2.*--text-column",
    ),
    "empty feature": (
        csv_file(["a", "label"], [1, 0], ["", 1], [3, ""]),
        "column 'a' has a missing, NaN or infinite value on line 3",
    ),
    "nan feature": (csv_file(["a", "label"], [1, 0], ["nan", 1]), "value on line 3 \\('nan'\\)"),
    "text column missing": (
        csv_file(["a", "label"], [1, 0], [2, 1]),
        "no text column 'txt' \\(its columns: a, label\\); name the column of texts",
    ),
    "unknown extension": (
        lambda path: (path / "d.xlsx").write_text("") or path / "d.xlsx",
        "is neither a built-in data set .* nor a .npz or .csv file",
    ),
    "no such file": (lambda path: path / "nope.csv", "nope.csv: no such file"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_exit_2_naming_the_key_or_column_and_the_fix(case, tmp_path, capsys):
    make, message = BAD_FILES[case]
    extra = ["--text-column", "txt"] if case == "text column missing" else []
    status, out, err = cli(capsys, "train", "--data", make(tmp_path), *STEPS, *extra)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("python -m drift: error: ")
    assert re.search(message, err), err


def test_flags_that_do_not_fit_the_data_are_refused(tmp_path, capsys):
    x, y, _ = blobs()
    np.savez(tmp_path / "data.npz", X=x, y=y)
    status, _, err = cli(capsys, "train", "--data", "two_moons", "--save", tmp_path / "m.pt")
    assert status == 2 and "--save is for a data file of your own" in err
    status, _, err = cli(
        capsys, "train", "--data", tmp_path / "data.npz", "--labels-per-class", "3"
    )
    assert status == 2 and "--labels-per-class chooses the labeled rows of a built-in" in err
    status, _, err = cli(capsys, "train", "--data", tmp_path / "data.npz", "--test-fraction", "1")
    assert status == 2 and "test_fraction must be" in err


def test_predict_refuses_data_unlike_the_training_file(tmp_path, capsys):
    x, y, _ = blobs()
    write_csv(tmp_path / "d.csv", ["a", "b", "label"], [[*r[:2], c] for r, c in zip(x, y)])
    assert (
        cli(capsys, "train", "--data", tmp_path / "d.csv", *STEPS, "--save", tmp_path / "m.pt")[0]
        == 0
    )
    write_csv(tmp_path / "new.csv", ["a", "c"], [[1, 2]])
    status, _, err = cli(
        capsys, "predict", "--model", tmp_path / "m.pt", "--data", tmp_path / "new.csv"
    )
    assert status == 2 and "has no column 'b'" in err and "reads the feature columns a, b" in err
    np.savez(tmp_path / "new.npz", X=x[:, :2])
    status, _, err = cli(
        capsys, "predict", "--model", tmp_path / "m.pt", "--data", tmp_path / "new.npz"
    )
    assert status == 2 and "trained on a .csv file" in err
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    status, _, err = cli(
        capsys, "predict", "--model", tmp_path / "junk.pt", "--data", tmp_path / "d.csv"
    )
    assert status == 2 and "is not a classifier saved by train --save" in err
