"""Self-training with a differentiable teacher (DRIFT; Zuo et al., Findings of NAACL 2022).

The student is the leader, the teacher (an EMA of the student) the follower. Pseudo-labels
and sample weights are differentiable functions of the teacher, so the student can descend
the total (Stackelberg) gradient. Every method here, from supervised training to DRIFT, is one
`Method` run by one `train` loop.
"""
from .config import TrainConfig
from .data import DATASETS, SemiSupervisedData, load_data, token_sequences
from .experiments import Record, Results, compare, load_record
from .experiments import Pretrained, compare_after_pretraining
from .methods import EXTRA_PRESETS, METHODS, Method, get_method
from .metrics import PairedTest, Summary, accuracy, error_bound, flip_rate, holm, holm_adjusted, oscillation, paired_test, summarize
from .models import CNN, MLP, MODELS, TransformerClassifier, build_model, logits_of
from .objectives import LeaderTerms, leader_objective, leader_terms, soft_cross_entropy
from .pseudo_labels import hard_labels, pseudo_labels, soft_labels, straight_through_labels
from . import analysis, distributed, inputs, plotting, sources
from .runtime import resolve_device, seed_everything
from .sources import DatasetSplits
from .tables import Table
from .teacher import CopyTeacher, EMATeacher, make_teacher
from .history import History
from .trainer import PRECISIONS, train
from .weak import ABSTAIN, LFStats, WeakSupervision, add_label_noise, apply_lfs, lf_stats, load_weak_data, majority_vote
from .weights import entropy, entropy_weights, sample_weights, threshold_weights

__version__ = "0.1.0"

__all__ = [
    "DATASETS", "DatasetSplits", "SemiSupervisedData", "load_data", "token_sequences", "Record", "Results", "compare", "load_record", "EXTRA_PRESETS", "METHODS", "Method", "get_method",
    "PairedTest", "Summary", "Table", "accuracy", "error_bound", "flip_rate", "holm", "holm_adjusted", "oscillation", "paired_test", "summarize", "CNN", "MLP", "MODELS", "TransformerClassifier", "build_model", "logits_of",
    "LeaderTerms", "leader_objective", "leader_terms", "soft_cross_entropy", "hard_labels", "pseudo_labels",
    "soft_labels", "straight_through_labels", "resolve_device", "seed_everything", "CopyTeacher", "EMATeacher",
    "make_teacher", "History", "PRECISIONS", "TrainConfig", "train", "entropy", "entropy_weights", "sample_weights", "threshold_weights",
    "ABSTAIN", "LFStats", "WeakSupervision", "add_label_noise", "apply_lfs", "lf_stats", "load_weak_data",
    "majority_vote", "Pretrained", "compare_after_pretraining",
    "DriftClassifier", "labeled_accuracy",
]


def __getattr__(name):
    """`drift.DriftClassifier` and `drift.labeled_accuracy` are imported on first use, as they
    import scikit-learn (1-2 s)."""
    if name in ("DriftClassifier", "labeled_accuracy"):
        from . import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'drift' has no attribute {name!r}")
