"""The paper's setting on real text (chapter 11): BBC News with frozen MiniLM embeddings, every
method tuned by one protocol and budget, and the shipped records of
`benchmarks/record_text.py`.

Records: "text_tuning" (validation accuracies of every candidate setting), "text_bbc_k{k}" for k
in `LABELS_PER_CLASS` (the tuned methods on test, with LabelSpreading as a reference row), and
"text_weak_bbc_news", "text_weak_rotten_tomatoes" (weak labels, then self-training, beside the
clean-label baseline).
"""

from __future__ import annotations

from dataclasses import replace

from ..core.methods import Method, get_method
from ..data.datasets import load_data
from ..data.splits import SemiSupervisedData
from ..experiments.records import Record

LABELS_PER_CLASS = (1, 2, 5)
"""Labels per class of the test records ("text_bbc_k1", "_k2", "_k5")."""
GRIDS = {
    "alternating": ("threshold", (0.7, 0.9, 0.95)),
    "mean_teacher": ("alpha", (0.5, 0.8, 0.95)),
    "drift": ("alpha", (0.5, 0.8, 0.95)),
}
"""{preset: (knob, candidate values)}: the same budget, three settings of one main knob each
(mean teacher's and DRIFT's at their presets' lam)."""
GAMMAS = (0.003, 0.01, 0.03)
"""LabelSpreading's candidate RBF widths (its default, 20, is degenerate on 384-d embeddings)."""
WEAK = ("bbc_news", "rotten_tomatoes")
"""The weakly supervised data sets of the records "text_weak_<name>"."""


def bbc(seed: int, *, labels_per_class: int = 2) -> SemiSupervisedData:
    """BBC News with frozen MiniLM embeddings (N, 384), seed s's `labels_per_class` labels."""
    return load_data("bbc_news", labels_per_class=labels_per_class, seed=seed, encoder="minilm")


def bbc_validation(seed: int) -> SemiSupervisedData:
    """The tuning split: BBC News, 2 labels per class, a quarter of seed s's unlabeled pool
    held out with its hidden labels in the test slot (`with_validation`; the test split is
    never read)."""
    return bbc(seed).with_validation(0.25, seed=seed)


def candidates() -> list[Method]:
    """Every candidate setting of `GRIDS`, named "<preset>_<knob><value>"."""
    return [
        get_method(preset, name=f"{preset}_{knob}{value:g}", **{knob: value})
        for preset, (knob, values) in GRIDS.items()
        for value in values
    ]


def chosen(record: Record) -> tuple[dict[str, Method], float]:
    """The tuned methods ({preset: its chosen Method, under the preset's name}) and
    LabelSpreading's gamma from the "text_tuning" record: the highest mean validation accuracy
    decides."""
    by_name = {m.name: m for m in candidates()}
    methods = {}
    for preset, (knob, values) in GRIDS.items():
        names = [f"{preset}_{knob}{v:g}" for v in values]
        best = max(names, key=lambda n: record.results.final(n).mean())
        methods[preset] = replace(by_name[best], name=preset)
    gamma = max(GAMMAS, key=lambda g: record.references[f"label_spreading_g{g:g}"].mean())
    return methods, gamma


def compared_methods(tuned: dict[str, Method]) -> list:
    """The methods of the test records: supervised, the three tuned ones, DRIFT's two
    ablations at DRIFT's chosen alpha and lam (so only the gradient's routing differs), cosine
    and drift_cosine at their presets."""
    shared = {"alpha": tuned["drift"].alpha, "lam": tuned["drift"].lam}
    return [
        "supervised",
        tuned["alternating"],
        tuned["mean_teacher"],
        tuned["drift"],
        get_method("drift_labels", **shared),
        get_method("drift_weights", **shared),
        "cosine",
        "drift_cosine",
    ]
