"""compare() and Results: per-seed finals, summaries, paired differences, table, plot, JSON."""

import json

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import drift

TRAIN = dict(steps=20, progress=False)


@pytest.fixture(scope="module")
def results():
    data = drift.load_data("two_moons", labels_per_class=5, seed=0)
    return drift.compare(
        ["mean_teacher", "drift"], data, seeds=[0, 1], workers=1, engine="processes", **TRAIN
    )


def test_results_hold_every_method_and_seed(results):
    assert results.methods == ["mean_teacher", "drift"]
    for m in results.methods:
        runs = results.histories[m]
        assert [h.seed for h in runs] == [0, 1] and all(h.method == m for h in runs)
        assert all(h.step[-1] == 20 for h in runs)
        final = results.final(m)
        assert final.shape == (2,)
        np.testing.assert_array_equal(final, [h.final_test_accuracy for h in runs])


def test_runs_equal_single_trainings(results, moons, without_seconds):
    h = drift.train("drift", moons, seed=1, **TRAIN)
    assert without_seconds(results.histories["drift"][1].to_dict()) == without_seconds(h.to_dict())


def test_summary_and_paired_differences(results):
    for m in results.methods:
        s = results.summary(m)
        final = results.final(m)
        assert s.n == 2
        assert s.mean == pytest.approx(final.mean()) and s.std == pytest.approx(final.std(ddof=1))
        assert str(s) == f"{s.mean:.2f} ± {s.std:.2f}"
    diff = results.final("drift") - results.final("mean_teacher")
    d = results.paired("drift")  # against the default reference, mean_teacher
    assert d.mean == pytest.approx(diff.mean()) and d.std == pytest.approx(diff.std(ddof=1))
    assert d.wins == int((diff > 0).sum()) and d.n == 2
    assert results.paired("mean_teacher", "drift").mean == pytest.approx(-diff.mean())
    with pytest.raises(KeyError, match="method must be one of mean_teacher, drift"):
        results.final("alternating")


def test_table_is_markdown_with_every_method(results):
    table = results.table()
    lines = table.splitlines()
    assert len(lines) == 2 + len(results.methods)
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert set(lines[1]) <= set("|-")
    assert "mean_teacher" in lines[0]  # the reference named in the header
    for m, line in zip(results.methods, lines[2:]):
        assert line.startswith(f"| {m} | {results.summary(m)} |")
    d, t = results.paired("drift"), results.paired_stats("drift")
    assert (
        f"| {t.mean:+.2f} [{t.low:.2f}, {t.high:.2f}] | {t.p_exact:.3g} | {t.verdict} | "
        f"{d.wins}/{d.n} |" in lines[3]
    )


def test_results_round_trip_and_plot(results, tmp_path):
    d = results.to_dict()
    back = drift.Results.from_dict(json.loads(json.dumps(d)))
    assert back.to_dict() == d
    np.testing.assert_array_equal(back.final("drift"), results.final("drift"))
    results.save(tmp_path / "r.json")
    assert drift.Results.from_dict(json.loads((tmp_path / "r.json").read_text())).to_dict() == d
    assert isinstance(results.plot(), Figure)


def test_results_do_not_depend_on_workers(moons, without_seconds):
    kwargs = dict(seeds=2, engine="processes", **TRAIN)  # engine="vmap": tests/test_vectorized.py
    one = drift.compare(["drift"], moons, workers=1, **kwargs)
    two = drift.compare(["drift"], moons, workers=2, **kwargs)
    strip = lambda r: [without_seconds(h) for h in r.to_dict()["histories"]["drift"]]  # noqa: E731
    assert strip(one) == strip(two)


def test_data_may_be_a_function_of_seed():
    calls = []

    def data(seed):
        calls.append(seed)
        return drift.load_data("two_moons", labels_per_class=3, seed=seed)

    r = drift.compare(["supervised"], data, seeds=[4, 7], workers=1, **TRAIN)
    assert calls == [4, 7] and [h.seed for h in r.histories["supervised"]] == [4, 7]


def test_compare_refuses_a_module_instance(moons):
    with pytest.raises(TypeError, match="model must be a name or a factory in compare"):
        drift.compare(["drift"], moons, seeds=1, model=torch.nn.Linear(2, 2), workers=1, **TRAIN)


def test_compare_bad_arguments(moons):
    with pytest.raises(ValueError, match="methods must have distinct names"):
        drift.compare(["drift", "drift"], moons, seeds=1, workers=1, **TRAIN)
    with pytest.raises(ValueError, match="seeds must be a count >= 1"):
        drift.compare(["drift"], moons, seeds=[], workers=1, **TRAIN)
    with pytest.raises(ValueError, match="method must be one of .*mean_teacher"):
        drift.compare(["dirft"], moons, seeds=1, workers=1, **TRAIN)
    with pytest.raises(TypeError, match="data must be a drift.SemiSupervisedData"):
        drift.compare(["drift"], "digits", seeds=1, workers=1, **TRAIN)


def test_unpicklable_data_with_workers_names_the_fix(moons):
    with pytest.raises(TypeError, match="picklable.*functools.partial"):
        drift.compare(
            ["supervised"], lambda seed: moons, seeds=2, steps=5, workers=2, progress=False
        )


def test_plot_histories_draws_any_listed_series(moons):
    h = drift.train("alternating", moons, steps=20, eval_every=5, refresh_every=10, progress=False)
    from drift.plotting import plot_histories

    fig = plot_histories({"alt": [h]}, metrics=["label_flip_rate", "loss"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["teacher label flip rate", "leader objective F"]
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="metrics must be among"):
        plot_histories({"alt": [h]}, metrics=["nope"])


def test_table_adds_reference_rows_paired_by_seed(moons):
    r = drift.compare(
        ["mean_teacher", "drift"], moons, seeds=2, steps=10, workers=1, progress=False
    )
    accs = r.final("mean_teacher") + np.array([1.0, 3.0])
    # d = (1, 3): 2 of 4 sign vectors reach |4|
    row = r.table(references={"other": accs}).splitlines()[-1]
    assert (
        row.startswith("| other | ")
        and "| +2.00 [-10.71, 14.71] | 0.5 | inconclusive | 2/2 | - | - |" in row
    )
    with pytest.raises(ValueError, match="one accuracy per seed"):
        r.table(references={"other": [1.0]})


def test_results_load_reads_what_save_wrote_nan_included(results, tmp_path):
    results = drift.Results.from_dict(results.to_dict())  # a copy: the fixture is shared
    results.histories["drift"][0].pseudo_label_accuracy[0] = float("nan")
    results.save(tmp_path / "r.json")
    back = drift.Results.load(tmp_path / "r.json")
    assert np.isnan(back.histories["drift"][0].pseudo_label_accuracy[0])
    np.testing.assert_array_equal(back.final("mean_teacher"), results.final("mean_teacher"))


def test_record_round_trip_and_unknown_name(results, tmp_path, monkeypatch):
    record = drift.Record(
        results, {"sklearn X": np.array([50.0, 60.0])}, command="python x.py", setting="two moons"
    )
    monkeypatch.setattr(drift.experiments.records, "RECORDS", tmp_path)
    record.save(tmp_path / "mine.json")
    back = drift.load_record("mine")
    assert (back.command, back.setting) == ("python x.py", "two moons")
    np.testing.assert_array_equal(back.references["sklearn X"], [50.0, 60.0])
    np.testing.assert_array_equal(back.results.final("drift"), results.final("drift"))
    with pytest.raises(ValueError, match="'mine'"):
        drift.load_record("nope")


def test_shipped_mnist1d_record_is_the_recorded_comparison():
    record = drift.load_record("mnist1d_cnn")
    assert record.command.startswith("python benchmarks/record_mnist1d.py")
    assert record.results.methods == ["supervised", "mean_teacher", "drift"]
    n = len(record.results.final("drift"))
    assert n >= 5 and all(len(v) == n for v in record.references.values())
    assert [h.seed for h in record.results.histories["drift"]] == list(range(n))
