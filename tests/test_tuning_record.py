"""The package defaults are what the recorded tuning run (benchmarks/tune_defaults.py) decided.

Changing a default without re-running the protocol, or a recorded decision the defaults do not
follow, fails here. Chapter 6 quotes the record.
"""
import inspect
import json

import drift
from book_files import ROOT, load

RECORD = json.loads((ROOT / "benchmarks" / "results" / "tuning_digits.json").read_text())
TRAIN_ARGS = ("lr", "steps", "input_noise")


def decided(method: str) -> dict:
    """The settings the record says `method` should have: its tested default, plus a preset change
    that was confirmed on fresh seeds, plus a train-argument change only if every method's best
    setting made it (train arguments are shared by all methods)."""
    r = RECORD["methods"][method]
    settings = dict(r["default"])
    confirmed = RECORD.get("confirm", {}).get(method, {})
    if confirmed.get("adopt"):
        settings.update(confirmed["change"])
    for k in TRAIN_ARGS:
        values = {json.dumps(m["best"][k]) for m in RECORD["methods"].values()}
        if len(values) == 1 and all(m["adopt"] for m in RECORD["methods"].values()):
            settings[k] = json.loads(values.pop())
    return settings


def test_every_preset_and_train_default_follows_the_record():
    train_defaults = {k: p.default for k, p in inspect.signature(drift.train).parameters.items()}
    for method in RECORD["methods"]:
        for k, v in decided(method).items():
            actual = train_defaults[k] if k in TRAIN_ARGS else getattr(drift.METHODS[method], k)
            assert actual == v, f"{method}.{k} is {actual!r} but the tuning record decided {v!r}"


def test_drift_ablations_share_drifts_settings():
    for name in ("drift_labels", "drift_weights"):
        for k in RECORD["methods"]["drift"]["default"]:
            if k not in TRAIN_ARGS:
                assert getattr(drift.METHODS[name], k) == getattr(drift.METHODS["drift"], k)


def test_chapter_6_quotes_the_record():
    text = "\n".join("".join(c["source"]) for c in load(ROOT / "book" / "06_drift.ipynb")["cells"] if c["cell_type"] == "markdown")
    for method, r in RECORD["methods"].items():
        best = max(r["accuracy"], key=lambda a: sum(a) / len(a))
        for value in (sum(r["accuracy"][0]) / len(r["accuracy"][0]), sum(best) / len(best), r["gain"]):
            assert f"{value:.2f}".lstrip("-") in text, f"chapter 6 does not quote {method}'s {value:.2f} from the tuning record"
