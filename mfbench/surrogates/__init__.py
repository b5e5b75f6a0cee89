"""Surrogate models of a learning-curve table: fitting, model comparison by grouped
cross-validation, quality per slice, noise and cost models, safe persistence (skops)."""

from mfbench.surrogates.data import TrainingData, table_digest, training_data
from mfbench.surrogates.encoding import Encoder
from mfbench.surrogates.fit import fit_surrogate
from mfbench.surrogates.model import FAMILIES, Surrogate
from mfbench.surrogates.store import library_versions, load_surrogate, read_manifest, save_surrogate

__all__ = [
    "FAMILIES",
    "Encoder",
    "Surrogate",
    "TrainingData",
    "fit_surrogate",
    "library_versions",
    "load_surrogate",
    "read_manifest",
    "save_surrogate",
    "table_digest",
    "training_data",
]
