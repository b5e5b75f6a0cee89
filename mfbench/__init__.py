"""mfbench: multi-fidelity benchmarking of hyperparameter optimizers on CNNs."""

__version__ = "0.1.0"
