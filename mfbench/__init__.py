"""mfbench: multi-fidelity benchmarking of hyperparameter optimizers on CNNs."""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # lazy, so that ``import mfbench`` stays light (no torch, no scikit-learn)
    if name == "load_benchmark":
        from mfbench.objectives.registry import load_benchmark

        return load_benchmark
    raise AttributeError(f"module 'mfbench' has no attribute {name!r}")
