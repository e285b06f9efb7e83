"""Data: the split every trainer reads (`splits`), the built-in data sets (`datasets`), real
text with frozen encoders (`text`), data sources that stream torch Datasets (`sources`) and weak
supervision (`weak`, with labeling functions on text in `text_lfs`). Imports only the base
modules and `drift.core`."""

from . import datasets, sources, splits, text, text_lfs, weak
from .datasets import DATASETS, load_data, token_sequences
from .sources import DatasetSplits
from .splits import SemiSupervisedData
from .weak import (
    ABSTAIN,
    LFStats,
    WeakSupervision,
    add_label_noise,
    apply_lfs,
    lf_stats,
    load_weak_data,
    majority_vote,
)

__all__ = [
    "datasets",
    "sources",
    "splits",
    "text",
    "text_lfs",
    "weak",
    "DATASETS",
    "load_data",
    "token_sequences",
    "DatasetSplits",
    "SemiSupervisedData",
    "ABSTAIN",
    "LFStats",
    "WeakSupervision",
    "add_label_noise",
    "apply_lfs",
    "lf_stats",
    "load_weak_data",
    "majority_vote",
]
