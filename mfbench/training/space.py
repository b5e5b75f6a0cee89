"""Search spaces (ConfigSpace) and the canonical identity of a configuration.

A configuration is a plain ``dict`` of Python natives holding exactly its *active*
hyperparameters. Its id is a hash of its canonical JSON, so that the same configuration
has the same id in every process, library and table.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from ConfigSpace import (
    Categorical,
    ConfigurationSpace,
    Constant,
    EqualsCondition,
    Float,
    InCondition,
    Integer,
    OrdinalHyperparameter,
)
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    NumericalHyperparameter,
)

from mfbench.core.errors import UsageError

ARCHITECTURES = ("resnet", "vgg", "inception")
DEPTH_KNOB = {"resnet": "resnet_blocks", "vgg": "vgg_convs", "inception": "inception_modules"}
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")
OPTIMIZERS = ("sgd", "adam", "rmsprop")
SCHEDULES = ("constant", "cosine")
AUGMENTATIONS = ("none", "standard")

#: Budget-independent LR schedules: one training to the largest budget serves every budget.
BUDGET_INDEPENDENT_SCHEDULES = frozenset({"constant"})

DEFAULT_LADDER = (1, 3, 9, 27)


def _add_family_conditions(cs: ConfigurationSpace) -> None:
    arch = cs["architecture"]
    for family, knob in DEPTH_KNOB.items():
        cs.add(EqualsCondition(cs[knob], arch, family))
    with_momentum = [o for o in ("sgd", "rmsprop") if o in cs["optimizer"].choices]
    if len(with_momentum) == 1:
        cs.add(EqualsCondition(cs["momentum"], cs["optimizer"], with_momentum[0]))
    else:
        cs.add(InCondition(cs["momentum"], cs["optimizer"], with_momentum))


def cnn_space(seed: int | None = None) -> ConfigurationSpace:
    """The continuous CNN space: every family's depth knob is active only for that family."""
    cs = ConfigurationSpace(name="cnn", seed=seed)
    cs.add(
        [
            Categorical("architecture", list(ARCHITECTURES)),
            Integer("resnet_blocks", (1, 3), default=2),
            Integer("vgg_convs", (1, 3), default=2),
            Integer("inception_modules", (1, 3), default=1),
            Integer("width", (4, 32), log=True, default=16),
            Categorical("kernel_size", [3, 5], default=3),
            Categorical("activation", list(ACTIVATIONS), default="relu"),
            Float("dropout", (0.0, 0.5), default=0.0),
            Categorical("batch_norm", [True, False], default=True),
            Categorical("optimizer", list(OPTIMIZERS), default="sgd"),
            Float("momentum", (0.0, 0.99), default=0.9),
            Float("learning_rate", (1e-4, 1.0), log=True, default=1e-2),
            Float("weight_decay", (1e-6, 1e-2), log=True, default=5e-4),
            Integer("batch_size", (16, 256), log=True, default=64),
            Categorical("lr_schedule", list(SCHEDULES), default="cosine"),
            Categorical("augmentation", list(AUGMENTATIONS), default="none"),
            Float("label_smoothing", (0.0, 0.2), default=0.0),
        ]
    )
    _add_family_conditions(cs)
    return cs


#: The values of the exact tabular benchmark (``cnn-grid``); every other hyperparameter is
#: a constant. 3 x 3 x 2 x 2 x 2 x 2 = 144 points, each trained in full.
GRID_VALUES: dict[str, list[Any]] = {
    "architecture": list(ARCHITECTURES),
    "learning_rate": [0.003, 0.03, 0.3],
    "optimizer": ["sgd", "adam"],
    "batch_size": [32, 128],
    "width": [8, 16],
    "lr_schedule": ["constant", "cosine"],
}
GRID_CONSTANTS: dict[str, Any] = {
    "resnet_blocks": 1,
    "vgg_convs": 2,
    "inception_modules": 1,
    "kernel_size": 3,
    "activation": "relu",
    "dropout": 0.0,
    "batch_norm": True,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "augmentation": "none",
    "label_smoothing": 0.0,
}


def cnn_grid_space(seed: int | None = None) -> ConfigurationSpace:
    """A discretized subset of ``cnn``: the space of an exact tabular benchmark.

    Numeric hyperparameters are ordinals (their order matters to optimizers); the fixed ones
    are constants, so a grid point is also a valid point of ``cnn``.
    """
    cs = ConfigurationSpace(name="cnn-grid", seed=seed)
    hps = []
    for name, values in GRID_VALUES.items():
        if isinstance(values[0], str):
            hps.append(Categorical(name, values))
        else:
            hps.append(OrdinalHyperparameter(name, values))
    for name, value in GRID_CONSTANTS.items():
        hps.append(Constant(name, value if not isinstance(value, bool) else str(value)))
    cs.add(hps)
    _add_family_conditions(cs)
    return cs


SPACES = {"cnn": cnn_space, "cnn-grid": cnn_grid_space}


def get_space(name: str, seed: int | None = None) -> ConfigurationSpace:
    try:
        return SPACES[name](seed=seed)
    except KeyError:
        raise UsageError(f"unknown search space {name!r}; known: {', '.join(SPACES)}") from None


def space_to_json(cs: ConfigurationSpace) -> str:
    buf = io.StringIO()
    cs.to_json(buf)
    return buf.getvalue()


def space_from_json(text: str) -> ConfigurationSpace:
    return ConfigurationSpace.from_json(io.StringIO(text))


# --------------------------------------------------------------------------------------
# Configurations as Python natives
# --------------------------------------------------------------------------------------

_BOOL_STRINGS = {"True": True, "False": False}


_encode_str = json.encoder.encode_basestring_ascii  # what json.dumps uses (ensure_ascii)
# hyperparameter names and categorical values repeat across configurations: encode them once
_ENCODED_KEYS: dict[str, str] = {}
_ENCODED_VALUES: dict[str, str] = {}


def native(value: Any) -> Any:
    """A JSON-able Python native for a (possibly numpy) scalar."""
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, str) and value in _BOOL_STRINGS:
        return _BOOL_STRINGS[value]
    return value


def to_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A ConfigSpace ``Configuration`` (or any mapping) as a dict of natives, keys sorted."""
    return {str(k): native(config[k]) for k in sorted(config.keys()) if config[k] is not None}


def _float_text(v: float) -> str:
    """``repr(float("%.12g" % v))`` without the round trip: the 12 digits of ``%.12g`` are
    already the shortest repr of the float they name (two decimals of <= 15 digits never name
    the same double), so only the notation can differ: ``repr`` writes ``3.0`` for ``3`` and
    switches to exponents at 1e16, ``%g`` at 1e12. Tests compare both on many floats."""
    text = "%.12g" % v  # noqa: UP031  (printf %g: the notation the docstring compares against)
    if "e" in text:  # subnormals (below 2.2e-308) carry fewer digits: the round trip decides
        return text if "e-" in text and abs(v) >= 1e-300 else repr(float(text))
    return text if "." in text else text + ".0"


def canonical_json(config: Mapping[str, Any]) -> str:
    """``json.dumps(to_config(config), sort_keys=True, separators=(",", ":"))`` with floats cut
    to 12 significant digits (stable across libraries that round-trip through strings).

    Built by hand for dicts of natives (the runner ids every new configuration, so this is on
    its hot path: ~1.6x faster than the general path); anything else takes the general path.
    Both give the same string, which tests check: ids are stored in the tables."""
    if type(config) is dict:
        parts = []
        for k in sorted(config):
            v = config[k]
            t = type(v)
            key = _ENCODED_KEYS.get(k)
            if key is None:
                if type(k) is not str:
                    break
                key = _encode_str(k) + ":"
                if len(_ENCODED_KEYS) < 4096:
                    _ENCODED_KEYS[k] = key
            if t is float:
                if not math.isfinite(v):
                    raise UsageError(f"hyperparameter {k} is not finite: {v}")
                parts.append(key + _float_text(v))
            elif t is str:
                text = _ENCODED_VALUES.get(v)
                if text is None:
                    if v in _BOOL_STRINGS:
                        break
                    text = _encode_str(v)
                    if len(_ENCODED_VALUES) < 4096:
                        _ENCODED_VALUES[v] = text
                parts.append(key + text)
            elif t is bool:
                parts.append(key + ("true" if v else "false"))
            elif t is int:
                parts.append(key + repr(v))
            elif v is not None:
                break
        else:
            return "{" + ",".join(parts) + "}"
    cfg = to_config(config)
    for k, v in cfg.items():
        if isinstance(v, float):
            if not math.isfinite(v):
                raise UsageError(f"hyperparameter {k} is not finite: {v}")
            cfg[k] = float(f"{v:.12g}")
    return json.dumps(cfg, sort_keys=True, separators=(",", ":"))


def config_id(config: Mapping[str, Any]) -> str:
    """Stable id: the first 16 hex digits of the SHA-256 of the canonical JSON."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


def _cs_value(hp: Any, value: Any) -> Any:
    """The value as ConfigSpace stores it (booleans of constants are stored as strings)."""
    if isinstance(hp, Constant) and isinstance(value, bool):
        return str(value)
    return value


def validate_config(cs: ConfigurationSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """Check that ``config`` is a valid point of ``cs`` (exactly the active hyperparameters,
    each value legal) and return it as natives; raise ``UsageError`` otherwise."""
    from ConfigSpace import Configuration

    cfg = to_config(config)
    unknown = set(cfg) - set(cs.keys())
    if unknown:
        raise UsageError(f"unknown hyperparameters {sorted(unknown)} for space {cs.name!r}")
    try:
        conf = Configuration(cs, values={k: _cs_value(cs[k], v) for k, v in cfg.items()})
        conf.check_valid_configuration()
    except Exception as exc:  # ConfigSpace raises several types; one message is enough
        raise UsageError(f"invalid configuration for space {cs.name!r}: {exc}") from None
    return to_config(conf)


def activation_scopes(cs: ConfigurationSpace) -> tuple[dict[str, list[tuple[str, list[Any]]]], list[Any]]:
    """Per child hyperparameter, the ``(parent, allowed values)`` pairs that must all hold for
    it to be active, for conditions ``==`` / ``in`` and their conjunction; and the conditions
    of any other kind (which callers refuse or hand to ConfigSpace)."""
    from ConfigSpace.conditions import AndConjunction, EqualsCondition, InCondition

    out: dict[str, list[tuple[str, list[Any]]]] = {}
    other: list[Any] = []
    for cond in cs.conditions:
        for c in list(cond.components) if isinstance(cond, AndConjunction) else [cond]:
            if isinstance(c, EqualsCondition):
                values = [c.value]
            elif isinstance(c, InCondition):
                values = list(c.values)
            else:
                other.append(c)
                continue
            out.setdefault(c.child.name, []).append((c.parent.name, [native(v) for v in values]))
    return out, other


class FastValidator:
    """A sufficient check that a dict of natives is a valid point of a space, ~30x cheaper
    than building a ConfigSpace ``Configuration`` (the runner checks every new proposal).

    It knows the common cases (categorical, ordinal, constant, uniform int/float; conditions
    ``==`` / ``in`` and their conjunction; no forbidden clauses). ``True`` means valid; ``False``
    means "not shown valid here": call ``validate_config``, which decides and says why."""

    def __init__(self, cs: ConfigurationSpace):
        from ConfigSpace.hyperparameters import (
            CategoricalHyperparameter,
            OrdinalHyperparameter,
            UniformFloatHyperparameter,
            UniformIntegerHyperparameter,
        )

        scopes, unsupported = activation_scopes(cs)
        self.usable = not cs.forbidden_clauses and not unsupported
        self.rules: list[tuple[str, Any, Any, list[tuple[str, frozenset]]]] = []
        conds = {
            child: [(parent, frozenset(_typed(v) for v in values)) for parent, values in pairs]
            for child, pairs in scopes.items()
        }
        for name in cs.keys():  # topological: parents first
            hp = cs[name]
            if isinstance(hp, Constant):
                rule: tuple[Any, Any] = ("set", frozenset([_typed(hp.value)]))
            elif isinstance(hp, CategoricalHyperparameter):
                rule = ("set", frozenset(_typed(v) for v in hp.choices))
            elif isinstance(hp, OrdinalHyperparameter):
                rule = ("set", frozenset(_typed(v) for v in hp.sequence))
            elif isinstance(hp, UniformIntegerHyperparameter):
                rule = (int, (int(hp.lower), int(hp.upper)))
            elif isinstance(hp, UniformFloatHyperparameter):
                rule = (float, (float(hp.lower), float(hp.upper)))
            else:
                self.usable = False
                rule = (None, None)
            self.rules.append((name, rule[0], rule[1], conds.get(name, [])))

    def __call__(self, config: Mapping[str, Any]) -> bool:
        if not self.usable or type(config) is not dict:
            return False
        n_active = 0
        for name, kind, data, conds in self.rules:
            active = True
            for parent, allowed in conds:
                if parent not in config or (type(config[parent]), config[parent]) not in allowed:
                    active = False
                    break
            if not active:
                if name in config:
                    return False
                continue
            if name not in config:
                return False
            v = config[name]
            if kind == "set":
                if (type(v), v) not in data:
                    return False
            elif type(v) is not kind or not data[0] <= v <= data[1]:  # also refuses NaN
                return False
            n_active += 1
        return n_active == len(config)


def _typed(value: Any) -> tuple[type, Any]:
    """Membership that tells 1, 1.0 and True apart (sets alone do not)."""
    value = native(value)
    return (type(value), value)


def sample_configs(cs: ConfigurationSpace, n: int, seed: int, design: str = "random") -> list[dict]:
    """``n`` distinct configurations, by plain random sampling or a scrambled Sobol design.

    The Sobol design fills the unit hypercube of the *vector* representation, then each
    point is mapped through ConfigSpace (inactive values dropped), so conditional spaces stay
    valid and every active dimension is low-discrepancy.
    """
    if design == "random":
        cs = _reseeded(cs, seed)
        out, seen = [], set()
        tries = 0
        while len(out) < n and tries < 100 * n:
            tries += 1
            c = to_config(cs.sample_configuration())
            cid = config_id(c)
            if cid not in seen:
                seen.add(cid)
                out.append(c)
        return out
    if design == "sobol":
        from ConfigSpace.util import deactivate_inactive_hyperparameters
        from scipy.stats import qmc

        names = list(cs.keys())
        sampler = qmc.Sobol(d=len(names), scramble=True, rng=np.random.default_rng(seed))
        m = max(1, math.ceil(math.log2(max(n, 2))))
        points = sampler.random_base2(m)
        out, seen = [], set()
        for row in points:
            values = {}
            for name, u in zip(names, row):
                hp = cs[name]
                values[name] = _unit_to_value(hp, float(u))
            conf = deactivate_inactive_hyperparameters(values, cs)
            c = to_config(conf)
            cid = config_id(c)
            if cid not in seen:
                seen.add(cid)
                out.append(c)
            if len(out) == n:
                break
        return out
    raise UsageError(f"unknown design {design!r}; known: random, sobol, grid, file")


def _unit_to_value(hp: Any, u: float) -> Any:
    """Map u in [0, 1) to the value of ``hp`` (log scale respected, categories equal-width)."""
    if isinstance(hp, Constant):
        return hp.value
    if isinstance(hp, CategoricalHyperparameter):
        return hp.choices[min(int(u * len(hp.choices)), len(hp.choices) - 1)]
    if isinstance(hp, OrdinalHyperparameter):
        seq = hp.sequence
        return seq[min(int(u * len(seq)), len(seq) - 1)]
    if isinstance(hp, NumericalHyperparameter):
        lo, hi = float(hp.lower), float(hp.upper)
        if hp.log:
            x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        else:
            x = lo + u * (hi - lo)
        if isinstance(hp.default_value, (int, np.integer)):
            # equal-width integer bins (in log space when log)
            if hp.log:
                x = math.exp(math.log(lo - 0.5 + 1e-9) + u * (math.log(hi + 0.5) - math.log(lo - 0.5 + 1e-9)))
            else:
                x = lo - 0.5 + u * (hi - lo + 1)
            return int(min(max(round(x), lo), hi))
        return float(min(max(x, lo), hi))
    raise UsageError(f"unsupported hyperparameter type {type(hp).__name__}")


def _reseeded(cs: ConfigurationSpace, seed: int) -> ConfigurationSpace:
    fresh = space_from_json(space_to_json(cs))
    fresh.seed(seed)
    return fresh


def grid_values(cs: ConfigurationSpace) -> dict[str, list[Any]]:
    """The finite value list of every hyperparameter of a discrete space."""
    values: dict[str, list[Any]] = {}
    for name in cs.keys():
        hp = cs[name]
        if isinstance(hp, Constant):
            values[name] = [native(hp.value)]
        elif isinstance(hp, CategoricalHyperparameter):
            values[name] = [native(v) for v in hp.choices]
        elif isinstance(hp, OrdinalHyperparameter):
            values[name] = [native(v) for v in hp.sequence]
        else:
            raise UsageError(f"space {cs.name!r} is not discrete: {name} is {type(hp).__name__}")
    return values


def iter_grid(cs: ConfigurationSpace) -> Iterator[dict[str, Any]]:
    """Every distinct valid point of a discrete space, in a fixed order, inactive values dropped."""
    from ConfigSpace.util import deactivate_inactive_hyperparameters

    values = grid_values(cs)
    names = list(values)
    seen: set[str] = set()
    for combo in itertools.product(*(values[n] for n in names)):
        raw = {n: _cs_value(cs[n], v) for n, v in zip(names, combo)}
        cfg = to_config(deactivate_inactive_hyperparameters(raw, cs))
        cid = config_id(cfg)
        if cid not in seen:
            seen.add(cid)
            yield cfg
