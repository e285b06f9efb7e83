"""`DriftClassifier`: `drift.train` as a scikit-learn classifier.

`fit(X, y)` follows scikit-learn's semi-supervised convention (`sklearn.semi_supervised`):
rows whose label is the integer -1 are unlabeled. The labeled rows are the labeled set, the
unlabeled rows the unlabeled set, and no test set is needed, so the estimator fits into
`Pipeline`, `clone`, `cross_val_score` and `GridSearchCV`. Its `score` counts only labeled
rows, which makes those searches meaningful on semi-supervised folds.
"""

from __future__ import annotations

import copy
import numbers
import time

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data
from torch import nn

from .config import TrainConfig
from ..data import files
from .history import WHICH
from ..core.methods import get_method
from .loop import train

_CONFIG_PARAMS = (
    "steps",
    "batch_size",
    "unlabeled_batch_size",
    "lr",
    "input_noise",
    "precision",
    "eval_every",
    "patience",
    "restore_best",
)
"""DriftClassifier's parameters that are `drift.TrainConfig` settings (scikit-learn wants them
as parameters of its own, for get_params and grid search); `random_state` gives the seed."""

UNLABELED = -1
"""The label that marks an unlabeled row of y, as in `sklearn.semi_supervised`."""


class DriftClassifier(ClassifierMixin, BaseEstimator):
    """A semi-supervised classifier trained by `drift.train`; y == -1 marks unlabeled rows.

    method: a preset name (`drift.METHODS`: "drift", "mean_teacher", ...) or a `drift.Method`;
        method_options: a dict of its settings to replace, e.g. {"alpha": 0.99}, or None.
    model: "mlp", "cnn", a factory `factory(feature_shape, num_classes)` or an `nn.Module`
        (copied at every fit: its weights are the starting point, the module itself is never
        trained). steps, batch_size, unlabeled_batch_size, lr, input_noise, device, precision,
        eval_every: as in `drift.train` (which checks them at fit).
    random_state: the seed of the fit (`drift.train`'s `seed`: the initial model, the batches,
        the noise; like `train`, fit seeds torch's global generator with it), as scikit-learn
        estimators take it: an int in [0, 2**32 - 1] is the seed itself (the same int, the same
        predictions; the default 0 makes every fit repeatable); None draws the seed from NumPy's
        global RandomState (repeatable after `np.random.seed`); a `np.random.RandomState` draws
        it from that generator, so successive fits differ. A `np.random.Generator` is refused,
        as scikit-learn's `check_random_state` refuses it: pass an int drawn from it.
    validation_size, patience, restore_best: model selection on labeled rows held out of the fit
        (`SemiSupervisedData.with_labeled_validation`: a fraction in (0, 1) or a count of the
        labeled rows, stratified, drawn from the fit's seed; never trained on, not even as
        unlabeled rows): stop after `patience` evaluations without a better validation
        accuracy, and with restore_best keep the student and teacher of the best one (as in
        `drift.train`). None, None, False (the defaults): every labeled row trains.
    verbose: when truthy, fit shows `drift.train`'s progress bar and prints a one-line summary
        (the method, the rows, the seed, the time); silent when 0 or False (the default).
    predict_with: "student" (the trained student) or "teacher" (its teacher, see
        `History.teacher_module`) serves `predict_proba` and `predict`.

    Labels: y (N,) may hold any labels, numbers or strings; unlabeled rows carry the integer
    -1. As in `SelfTrainingClassifier`, string labels with unlabeled rows need an object array
    (`y = y.astype(object); y[mask] = -1`); a str array (NumPy dtype U) is read as all labeled,
    and the string "-1" is refused rather than guessed at. Every class must have at least one
    labeled row (the classes are those of the labeled rows), and there must be two or more.
    When no row is -1, X serves as the unlabeled set too (the unlabeled loss then regularises
    the student towards its teacher on the labeled rows).

    Attributes: classes_ (C,) the sorted labels of the labeled rows, the order of
    `predict_proba`'s columns; n_features_in_; history_ the `drift.History` of the fit (its
    series and the trained student `history_.model`).
    """

    def __init__(
        self,
        method="drift",
        *,
        model="mlp",
        steps=1000,
        batch_size=64,
        unlabeled_batch_size=None,
        lr=1e-3,
        input_noise=0.1,
        method_options=None,
        random_state=0,
        device="auto",
        precision="fp32",
        eval_every=None,
        validation_size=None,
        patience=None,
        restore_best=False,
        verbose=0,
        predict_with="student",
    ):
        self.method = method
        self.model = model
        self.steps = steps
        self.batch_size = batch_size
        self.unlabeled_batch_size = unlabeled_batch_size
        self.lr = lr
        self.input_noise = input_noise
        self.method_options = method_options
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.eval_every = eval_every
        self.validation_size = validation_size
        self.patience = patience
        self.restore_best = restore_best
        self.verbose = verbose
        self.predict_with = predict_with

    def fit(self, X, y):
        """Train on X (N, D) and labels y (N,), -1 for an unlabeled row; returns self."""
        X = validate_data(self, X, dtype=np.float32)  # (N, D)
        y, labeled = _labels(y, len(X))
        if not labeled.any():
            raise ValueError(
                "y has no labeled rows (every label is -1); label at least one row of each class"
            )
        check_classification_targets(y[labeled])
        classes, codes = np.unique(y[labeled], return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"the labeled rows of y hold one class only ({classes[0]!r}); DriftClassifier "
                "needs labeled rows of at least 2 classes"
            )
        _check_predict_with(self.predict_with)
        if not isinstance(self.method_options, (dict, type(None))):
            raise TypeError(
                "method_options must be a dict of Method settings (e.g. {'alpha': 0.99}) or "
                f"None; got {type(self.method_options).__name__}"
            )
        method = get_method(self.method, **(self.method_options or {}))
        seed = _seed(self.random_state)
        if self.validation_size is None and (self.patience is not None or self.restore_best):
            raise ValueError(
                "patience and restore_best select on held-out labeled rows: set validation_size "
                "too, e.g. DriftClassifier(validation_size=0.2, patience=5, restore_best=True)"
            )
        codes_or_unlabeled = np.full(len(X), UNLABELED)
        codes_or_unlabeled[labeled] = codes
        data = files.split(
            files.FileData(X, codes_or_unlabeled), validation=self.validation_size, seed=seed
        )
        model = copy.deepcopy(self.model) if isinstance(self.model, nn.Module) else self.model
        config = TrainConfig(**{name: getattr(self, name) for name in _CONFIG_PARAMS}, seed=seed)
        tic = time.perf_counter()
        self.history_ = train(
            method, data, config, model=model, device=self.device, progress=bool(self.verbose)
        )
        self.classes_ = classes
        if self.verbose:
            print(
                f"DriftClassifier: {method.name} on {int(labeled.sum())} labeled and "
                f"{int((~labeled).sum())} unlabeled rows, {len(classes)} classes, "
                f"{config.steps} steps, seed {seed}: {time.perf_counter() - tic:.1f} s"
            )
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, C) float64 on X (N, D) from `predict_with`, columns in
        `classes_` order; eval mode, batched (`History.predict_proba`)."""
        check_is_fitted(self, "history_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        proba = self.history_.predict_proba(
            _tensor(X), which=_check_predict_with(self.predict_with)
        )
        return proba.double().numpy()

    def predict(self, X) -> np.ndarray:
        """Predicted labels (N,) from `classes_`: the argmax of `predict_proba`."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy on the labeled rows of y (N,), rows with y == -1 left out: see
        `labeled_accuracy` (scikit-learn's `SelfTrainingClassifier` counts them as errors). A
        scoring string such as "accuracy" bypasses this method and counts them.
        sample_weight (N,): optional weights of the rows."""
        return labeled_accuracy(self, X, y, sample_weight)


def labeled_accuracy(estimator, X, y, sample_weight=None) -> float:
    """Accuracy of `estimator.predict(X)` on the rows of y (N,) that are labeled (y != -1).

    A scorer with scikit-learn's signature, for any classifier: pass `scoring=labeled_accuracy`
    to `cross_val_score` or `GridSearchCV` so that a semi-supervised fold is measured by its
    labeled rows (`DriftClassifier.score` does this by default; `LabelSpreading.score` counts
    the unlabeled rows as errors). sample_weight (N,): optional weights of the rows.
    """
    predicted = estimator.predict(X)
    y, labeled = _labels(y, len(predicted))
    if not labeled.any():
        raise ValueError("y has no labeled rows to score on (every label is -1)")
    weight = None if sample_weight is None else np.asarray(sample_weight)[labeled]
    return float(accuracy_score(y[labeled], predicted[labeled], sample_weight=weight))


def _labels(y, n: int) -> tuple[np.ndarray, np.ndarray]:
    """y as a checked 1-D array of n labels (no NaN, no string "-1") and its (n,) bool mask
    of labeled rows (y != -1)."""
    if y is None:
        raise ValueError(
            "DriftClassifier requires y to be passed, but the target y is None; pass labels, -1 "
            "for unlabeled rows"
        )
    y = column_or_1d(check_array(y, ensure_2d=False, dtype=None, input_name="y"), warn=True)
    if len(y) != n:
        raise ValueError(
            f"y must hold one label per row of X ({n} rows; -1 for an unlabeled row); got {len(y)} "
            "labels"
        )
    if y.dtype.kind in "OUS" and np.any(y == "-1"):
        raise ValueError(
            "y holds the string '-1'; mark unlabeled rows with the integer -1 in an object array "
            "(y = y.astype(object); y[y == '-1'] = -1)"
        )
    if y.dtype.kind in "US":  # a string array cannot hold the integer -1
        return y, np.ones(n, dtype=bool)
    return y, y != UNLABELED


def _seed(random_state) -> int:
    """The seed of a fit from `random_state` (see `DriftClassifier`): an int in [0, 2**32 - 1]
    itself, else one drawn from NumPy's global RandomState (None) or the RandomState given."""
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    if (
        isinstance(random_state, numbers.Integral)
        and not isinstance(random_state, (bool, np.bool_))
        and 0 <= random_state < 2**32
    ):
        return int(random_state)
    hint = (
        "; a numpy.random.Generator is not supported (as in scikit-learn): pass an int drawn from "
        "it, random_state=int(rng.integers(2**32))"
        if isinstance(random_state, np.random.Generator)
        else ""
    )
    raise ValueError(
        "random_state must be an int in [0, 2**32 - 1], None or a numpy.random.RandomState"
        f"{hint}; got {random_state!r}"
    )


def _check_predict_with(predict_with) -> str:
    if predict_with not in WHICH:
        raise ValueError(
            f"predict_with must be one of {', '.join(map(repr, WHICH))}; got {predict_with!r}"
        )
    return predict_with


def _tensor(X: np.ndarray) -> torch.Tensor:
    """A float32 array (N, D) as a tensor (a copy only if it is read-only)."""
    return torch.from_numpy(np.require(X, requirements="W"))
