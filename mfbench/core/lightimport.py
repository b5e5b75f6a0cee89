"""Imports of libraries that would otherwise drag torch (or another heavy library) in.

``import skops.io`` builds skops' list of trusted types with scikit-learn's
``all_estimators()``, which walks *every* scikit-learn subpackage, the array-API shims
included; the torch, cupy and dask shims import torch, cupy and dask.array whenever they are
installed. Loading a surrogate then cost a replay worker about 10 s and the memory of a torch
import, for nothing: no estimator lives there (``all_estimators`` skips ``externals``), and
``walk_packages`` passes over a package whose import fails. Hiding the three shims while skops
is imported leaves the list of trusted types identical (a test compares them).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

#: scikit-learn's array-API shims of heavy libraries, kept out of skops' walk
SHIMS = tuple(f"sklearn.externals.array_api_compat.{name}" for name in ("torch", "cupy", "dask"))


def skops_io() -> ModuleType:
    """``skops.io``, imported without importing torch, cupy or dask.array."""
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    hidden = [name for name in SHIMS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # an import of it raises ImportError
    try:
        return importlib.import_module("skops.io")
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
