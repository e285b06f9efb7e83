"""scikit-learn reference rows on the same splits as `drift.compare`.

`reference_accuracy` fits a classic semi-supervised learner of scikit-learn on one
`SemiSupervisedData` split (labeled + unlabeled rows, the unlabeled ones marked -1) and returns
its test accuracy in %; `reference_accuracies` does it for every seed of a data factory, the
same factory `drift.compare` takes, so each seed sees the very labeled subset the networks saw.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..data.splits import SemiSupervisedData

REFERENCES = {
    "label_spreading": "sklearn LabelSpreading",
    "self_training": "sklearn SelfTraining (LR)",
}
"""Names accepted by `reference_accuracy`, with the labels tables give their rows."""


def _flat(x) -> np.ndarray:
    x = x.detach().cpu().numpy()
    return x.reshape(len(x), -1).astype(np.float64)  # (N, prod(feature_shape))


def _estimator(method: str, random_state: int, kwargs: dict):
    if method == "label_spreading":
        from sklearn.semi_supervised import LabelSpreading

        return LabelSpreading(**kwargs)  # scikit-learn's defaults: RBF kernel (gamma 20), alpha 0.2
    from sklearn.linear_model import LogisticRegression
    from sklearn.semi_supervised import SelfTrainingClassifier

    base = kwargs.pop("estimator", None) or LogisticRegression(
        max_iter=200, random_state=random_state
    )
    return SelfTrainingClassifier(base, **{"threshold": 0.8, "max_iter": 5, **kwargs})


def reference_accuracy(
    data: SemiSupervisedData,
    *,
    method: str = "label_spreading",
    random_state: int = 0,
    threads: int | None = 1,
    **kwargs,
) -> float:
    """Test accuracy (%) of a scikit-learn semi-supervised learner fitted on `data`.

    method: "label_spreading" (`sklearn.semi_supervised.LabelSpreading` with scikit-learn's
    defaults: RBF kernel, gamma 20, alpha 0.2) or "self_training" (`SelfTrainingClassifier`
    around a `LogisticRegression`, threshold 0.8, at most 5 rounds; pass `estimator=` for
    another base model with predict_proba, e.g. `KNeighborsClassifier()`). kwargs replace the
    estimator's settings. Features are flattened to (N, prod(feature_shape)); unlabeled rows get
    the label -1; `random_state` is fixed.
    threads: BLAS/OpenMP threads for the fit (1, like `drift.seed_everything`, is fast on shared
    small CPUs where threads contend; None leaves the libraries' default).
    """
    if method not in REFERENCES:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, REFERENCES))}; got {method!r}"
        )
    if not isinstance(data, SemiSupervisedData):
        raise TypeError(
            "data must be a drift.SemiSupervisedData (e.g. from drift.load_data); got "
            f"{type(data).__name__}"
        )
    if data.x_test is None:
        raise ValueError(
            "data must have a test set (x_test, y_test) to score the reference learner on"
        )
    x = np.concatenate([_flat(data.x_labeled), _flat(data.x_unlabeled)])  # (N_l + N_u, D)
    # (N_l + N_u,)
    y = np.concatenate([data.y_labeled.cpu().numpy(), np.full(len(data.x_unlabeled), -1)])
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        model = _estimator(method, random_state, dict(kwargs)).fit(x, y)
        predicted = model.predict(_flat(data.x_test))
    return float(100 * np.mean(predicted == data.y_test.cpu().numpy()))


def reference_accuracies(
    data: Callable[..., SemiSupervisedData],
    *,
    seeds: int | Sequence[int] = 5,
    method: str = "label_spreading",
    **kwargs,
) -> np.ndarray:
    """`reference_accuracy` on `data(seed=s)` for every seed, (seeds,) in %.

    data: a factory of seed, as for `drift.compare` (e.g.
    `functools.partial(drift.load_data, "digits", labels_per_class=5)`); seeds: a count or a list.
    """
    if not callable(data):
        raise TypeError(
            "data must be a function of seed returning a drift.SemiSupervisedData; got "
            f"{type(data).__name__}"
        )
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise ValueError("seeds must be a count >= 1 or a non-empty list of seeds")
    return np.array([reference_accuracy(data(seed=s), method=method, **kwargs) for s in seeds])
