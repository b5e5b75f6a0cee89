"""What a surrogate model file may hold, checked before skops constructs anything from it.

skops loads without pickle, but it still imports the types a file names and calls some of
them (``ConstructorFromReduceNode`` calls ``module.name(*args)``), and some functions under
``numpy.`` or ``scipy.`` execute strings. Trusting a prefix therefore runs code from a crafted
file; the manifest's sha256 does not help, since whoever edits the model file can edit the
manifest too. So every node of the file's schema -- its type *and* the skops loader that would
build it -- must be one of the pairs that mfbench's own fits produce (``make_model`` of every
family in ``FAMILIES``, fitted and saved with the library versions pinned here); anything else
is refused with one line, before ``skops.io.load`` is called.

``tests/test_surrogate_security.py`` fits every family and checks that the files it saves
need nothing outside this list, so a library upgrade that changes a private module path fails
that test instead of refusing the user's own surrogates.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mfbench.core.errors import UsageError

#: (type, skops loader) of every node that the models of ``make_model`` are saved as
ALLOWED_NODES: frozenset[tuple[str, str]] = frozenset(
    {
        ("builtins.dict", "DictNode"),
        ("builtins.list", "ListNode"),
        ("builtins.str", "JsonNode"),
        ("builtins.str", "TypeNode"),
        ("builtins.tuple", "TupleNode"),
        ("numpy.float64", "NdArrayNode"),
        ("numpy.ndarray", "NdArrayNode"),
        ("numpy.uint64", "NdArrayNode"),
        ("numpy.random._generator.Generator", "RandomGeneratorNode"),
        ("sklearn._loss._loss.CyHalfSquaredError", "LossNode"),
        ("sklearn._loss.link.IdentityLink", "ObjectNode"),
        ("sklearn._loss.link.Interval", "ObjectNode"),
        ("sklearn._loss.loss.HalfSquaredError", "ObjectNode"),
        ("sklearn.ensemble._forest.ExtraTreesRegressor", "ObjectNode"),
        ("sklearn.ensemble._forest.RandomForestRegressor", "ObjectNode"),
        ("sklearn.ensemble._hist_gradient_boosting.binning._BinMapper", "ObjectNode"),
        ("sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor", "ObjectNode"),
        ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", "ObjectNode"),
        ("sklearn.metrics._dist_metrics.EuclideanDistance64", "ObjectNode"),
        ("sklearn.neighbors._kd_tree.KDTree", "ObjectNode"),
        ("sklearn.neighbors._regression.KNeighborsRegressor", "ObjectNode"),
        ("sklearn.pipeline.Pipeline", "ObjectNode"),
        ("sklearn.preprocessing._data.StandardScaler", "ObjectNode"),
        ("sklearn.tree._classes.DecisionTreeRegressor", "ObjectNode"),
        ("sklearn.tree._classes.ExtraTreeRegressor", "ObjectNode"),
        ("sklearn.tree._tree.Tree", "TreeNode"),
    }
)

#: the type names among ALLOWED_NODES, as ``skops.io.load(trusted=...)`` wants them
ALLOWED_TYPES: frozenset[str] = frozenset(t for t, _ in ALLOWED_NODES)


def schema_nodes(schema: Any) -> Iterator[tuple[str, str]]:
    """Every ``(module.class, loader)`` named anywhere in a skops schema (nested contents,
    reduce arguments, type references alike)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node or "__class__" in node or "__loader__" in node:
                yield (f"{node.get('__module__')}.{node.get('__class__')}", str(node.get("__loader__")))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def read_schema(path: str | Path) -> Any:
    """The ``schema.json`` of a skops file; a file that is no skops zip is a ``UsageError``."""
    try:
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise UsageError(f"{path}: not a readable skops model file ({exc})") from None


def check_model_file(path: str | Path) -> list[str]:
    """Refuse ``path`` unless every node of its schema is in ``ALLOWED_NODES``, and unless skops'
    own list of untrusted types is inside ``ALLOWED_TYPES`` (a second opinion that does not
    depend on this walker); returns the types to pass to ``skops.io.load(trusted=...)``."""
    import skops.io as sio

    foreign = sorted({n for n in schema_nodes(read_schema(path)) if n not in ALLOWED_NODES})
    if foreign:
        shown = ", ".join(f"{t} ({loader})" for t, loader in foreign[:3])
        raise UsageError(
            f"{path}: holds {len(foreign)} type(s) that mfbench's fits never produce ({shown}); refusing to load it"
        )
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001  (a schema skops itself cannot read)
        raise UsageError(f"{path}: not a readable skops model file ({exc})") from None
    outside = sorted(set(untrusted) - ALLOWED_TYPES)
    if outside:
        raise UsageError(
            f"{path}: holds types that mfbench's fits never produce ({', '.join(outside[:3])}); refusing to load it"
        )
    return list(untrusted)
