"""Self-training with a differentiable teacher (DRIFT; Zuo et al., Findings of NAACL 2022).

The student is the leader, the teacher (an EMA of the student) the follower. Pseudo-labels
and sample weights are differentiable functions of the teacher, so the student can descend
the total (Stackelberg) gradient. Every method here, from supervised training to DRIFT, is one
`Method` run by one `train` loop.
"""

import importlib
import warnings

from .metrics import (
    PairedTest,
    Summary,
    accuracy,
    error_bound,
    flip_rate,
    holm,
    holm_adjusted,
    oscillation,
    paired_test,
    summarize,
)
from .models import CNN, MLP, MODELS, TransformerClassifier, build_model, logits_of
from .runtime import resolve_device, seed_everything
from .tables import Table
from . import inputs, plotting  # noqa: F401 (re-exported submodules: drift.inputs, drift.plotting)
from .core import analysis  # noqa: F401 (re-exported submodule: drift.analysis)
from .core.labels import hard_labels, pseudo_labels, soft_labels, straight_through_labels
from .core.methods import EXTRA_PRESETS, METHODS, Method, get_method
from .core.objective import LeaderTerms, leader_objective, leader_terms, soft_cross_entropy
from .core.teacher import CopyTeacher, EMATeacher, make_teacher
from .core.weights import entropy, entropy_weights, sample_weights, threshold_weights
from .data import sources  # noqa: F401 (re-exported submodule: drift.sources)
from .data.datasets import DATASETS, load_data, token_sequences
from .data.sources import DatasetSplits
from .data.splits import SemiSupervisedData
from .data.weak import (
    ABSTAIN,
    LFStats,
    WeakSupervision,
    add_label_noise,
    apply_lfs,
    lf_stats,
    load_weak_data,
    majority_vote,
)
from .training import distributed  # noqa: F401 (re-exported submodule: drift.distributed)
from .training.config import PRECISIONS, TrainConfig
from .training.history import History
from .training.loop import train
from .experiments.comparison import compare, compare_after_pretraining
from .experiments.records import Pretrained, Record, load_record
from .experiments.results import Results

__version__ = "0.1.0"

__all__ = [
    "DATASETS",
    "DatasetSplits",
    "SemiSupervisedData",
    "load_data",
    "token_sequences",
    "Record",
    "Results",
    "compare",
    "load_record",
    "EXTRA_PRESETS",
    "METHODS",
    "Method",
    "get_method",
    "PairedTest",
    "Summary",
    "Table",
    "accuracy",
    "error_bound",
    "flip_rate",
    "holm",
    "holm_adjusted",
    "oscillation",
    "paired_test",
    "summarize",
    "CNN",
    "MLP",
    "MODELS",
    "TransformerClassifier",
    "build_model",
    "logits_of",
    "LeaderTerms",
    "leader_objective",
    "leader_terms",
    "soft_cross_entropy",
    "hard_labels",
    "pseudo_labels",
    "soft_labels",
    "straight_through_labels",
    "resolve_device",
    "seed_everything",
    "CopyTeacher",
    "EMATeacher",
    "make_teacher",
    "History",
    "PRECISIONS",
    "TrainConfig",
    "train",
    "entropy",
    "entropy_weights",
    "sample_weights",
    "threshold_weights",
    "ABSTAIN",
    "LFStats",
    "WeakSupervision",
    "add_label_noise",
    "apply_lfs",
    "lf_stats",
    "load_weak_data",
    "majority_vote",
    "Pretrained",
    "compare_after_pretraining",
    "DriftClassifier",
    "labeled_accuracy",
]

_MOVED = {
    "weights": "core.weights",
    "teacher": "core.teacher",
    "objectives": "core.objective",
    "methods": "core.methods",
    "weak": "data.weak",
    "config": "training.config",
    "trainer": "training.loop",
    "vectorized": "training.batched",
    "checkpoints": "training.checkpoints",
    "history": "training.history",
    "estimator": "training.estimator",
    "baselines": "experiments.baselines",
    "widgets": "book.widgets",
    "games": "book.games",
    "maps": "book.maps",
}


def __getattr__(name):
    """`drift.DriftClassifier` and `drift.labeled_accuracy` are imported on first use, as they
    import scikit-learn (1-2 s). The modules' names before the package was layered (0.1; e.g.
    `drift.maps`) still give their new modules (`drift.book.maps`), with a DeprecationWarning:
    they go in 0.3."""
    if name in ("DriftClassifier", "labeled_accuracy"):
        return getattr(importlib.import_module(f"{__name__}.training.estimator"), name)
    if name in _MOVED:
        new = f"{__name__}.{_MOVED[name]}"
        warnings.warn(
            f"drift.{name} is now {new}: import it from there (the old name goes in drift 0.3)",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(new)
    raise AttributeError(f"module 'drift' has no attribute {name!r}")
