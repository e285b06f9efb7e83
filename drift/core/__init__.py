"""The method itself, on tensors: pseudo-labels (`labels`), sample weights (`weights`), the
teacher (`teacher`), the leader objective (`objective`), the methods as settings (`methods`)
and the gradients of the two paths in closed form (`analysis`). Imports only the base modules."""

from . import analysis, labels, methods, objective, teacher, weights
from .labels import (
    hard_labels,
    pseudo_labels,
    sharpened_labels,
    soft_labels,
    straight_through_labels,
)
from .methods import EXTRA_PRESETS, METHODS, Method, get_method
from .objective import (
    LeaderTerms,
    leader_objective,
    leader_terms,
    objective_from_logits,
    soft_cross_entropy,
)
from .teacher import CopyTeacher, EMATeacher, ema_response, make_teacher
from .weights import entropy, entropy_weights, sample_weights, threshold_weights

__all__ = [
    "analysis",
    "labels",
    "methods",
    "objective",
    "teacher",
    "weights",
    "hard_labels",
    "pseudo_labels",
    "sharpened_labels",
    "soft_labels",
    "straight_through_labels",
    "EXTRA_PRESETS",
    "METHODS",
    "Method",
    "get_method",
    "LeaderTerms",
    "leader_objective",
    "leader_terms",
    "objective_from_logits",
    "soft_cross_entropy",
    "CopyTeacher",
    "EMATeacher",
    "ema_response",
    "make_teacher",
    "entropy",
    "entropy_weights",
    "sample_weights",
    "threshold_weights",
]
