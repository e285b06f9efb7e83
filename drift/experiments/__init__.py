"""Experiments: methods x seeds compared (`comparison`), their `Results` and statistics
(`results`), comparisons shipped with the package (`records`) and scikit-learn reference
accuracies (`baselines`). Imports only the layers below (base, `drift.core`, `drift.data`,
`drift.training`)."""

from . import baselines, comparison, records, results
from .comparison import compare, compare_after_pretraining
from .records import RECORDS, Pretrained, Record, load_record
from .results import Results

__all__ = [
    "baselines",
    "comparison",
    "records",
    "results",
    "compare",
    "compare_after_pretraining",
    "RECORDS",
    "Pretrained",
    "Record",
    "load_record",
    "Results",
]
