import json
import subprocess
import sys

import numpy as np
import pytest

from mfbench.core.errors import UsageError
from mfbench.training.space import (
    FastValidator,
    canonical_json,
    config_id,
    get_space,
    iter_grid,
    sample_configs,
    space_from_json,
    space_to_json,
    to_config,
    validate_config,
)


def test_cnn_space_conditionals():
    cs = get_space("cnn")
    for c in sample_configs(cs, 200, seed=1, design="random"):
        assert ("momentum" in c) == (c["optimizer"] in ("sgd", "rmsprop"))
        knobs = {"resnet": "resnet_blocks", "vgg": "vgg_convs", "inception": "inception_modules"}
        for arch, knob in knobs.items():
            assert (knob in c) == (c["architecture"] == arch)
        assert all(type(v) in (int, float, str, bool) for v in c.values())


def test_grid_is_a_subset_of_cnn_and_complete():
    grid = list(iter_grid(get_space("cnn-grid")))
    assert len(grid) == 144
    assert len({config_id(g) for g in grid}) == 144
    cnn = get_space("cnn")
    for g in grid:
        assert validate_config(cnn, g) == g  # every grid point is a valid point of cnn
    assert all("momentum" in g for g in grid if g["optimizer"] == "sgd")
    assert not any("momentum" in g for g in grid if g["optimizer"] == "adam")


def test_config_id_is_canonical():
    c = sample_configs(get_space("cnn"), 1, seed=3, design="random")[0]
    shuffled = dict(reversed(list(c.items())))
    assert config_id(shuffled) == config_id(c)
    numpyish = {k: (np.float64(v) if isinstance(v, float) else v) for k, v in c.items()}
    assert config_id(numpyish) == config_id(c)
    code = f"import json; from mfbench.training.space import config_id; print(config_id(json.loads({json.dumps(c)!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == config_id(c)


def _canonical_reference(config):
    """The definition: json.dumps of the natives, floats cut to 12 significant digits."""
    cfg = {k: (float(f"{v:.12g}") if isinstance(v, float) else v) for k, v in to_config(config).items()}
    return json.dumps(cfg, sort_keys=True, separators=(",", ":"))


def test_fast_canonical_json_equals_the_definition():
    """Ids are stored in the tables: the hand-built fast path must give json.dumps's string."""
    configs = sample_configs(get_space("cnn"), 300, seed=5, design="random") + list(iter_grid(get_space("cnn-grid")))
    configs += [
        {"a": 1e-300, "b": 1e300, "c": 0.1 + 0.2, "d": -0.0, "e": 'é"\\\n', "f": None, "g": True, "h": 5e-324},
        {"x": np.float64(0.5), "y": np.int64(3)},  # numpy scalars: general path
        {"x": "True", "y": "False"},  # booleans stored as strings by ConfigSpace
        {"big": 2**70, "neg": -7, "s": ""},
    ]
    for c in configs:
        assert canonical_json(c) == _canonical_reference(c), c
    for bad in (float("inf"), float("nan"), -float("inf")):
        with pytest.raises(UsageError):
            canonical_json({"lr": bad})


def test_float_text_equals_the_round_trip_on_many_floats():
    """The fast path of canonical_json writes floats without formatting them twice."""
    from mfbench.training.space import _float_text

    rng = np.random.default_rng(0)
    vals = list(10 ** rng.uniform(-310, 308, 50_000) * rng.choice([-1, 1], 50_000)) + list(rng.uniform(0, 1, 20_000))
    vals += [i / 8 for i in range(-400, 400)] + [float(i) for i in range(-50, 50)]
    vals += [
        0.0,
        -0.0,
        1e-4,
        9.99999999999e-5,
        1e11,
        1e12,
        99999999999.95,
        999999999999.5,
        1e15,
        1e16,
        1e17,
        5e-324,
        2.2250738585072014e-308,
        1e-300,
        1.7976931348623157e308,
    ]
    assert [_float_text(float(v)) for v in vals] == [repr(float("%.12g" % float(v))) for v in vals]  # noqa: UP031


@pytest.mark.parametrize("design", ["sobol", "random"])
def test_designs_are_distinct_valid_and_seeded(design):
    cs = get_space("cnn")
    a = sample_configs(cs, 64, seed=0, design=design)
    b = sample_configs(cs, 64, seed=0, design=design)
    assert a == b and len({config_id(c) for c in a}) == 64
    for c in a:
        validate_config(cs, c)
    assert sample_configs(cs, 64, seed=1, design=design) != a
    archs = {c["architecture"] for c in a}
    assert archs == {"resnet", "vgg", "inception"}
    if design == "sobol":  # a bigger design extends a smaller one: a table grows by rerunning collect
        assert sample_configs(cs, 128, seed=0, design=design)[:64] == a


def test_bad_input_is_a_usage_error():
    with pytest.raises(UsageError):
        get_space("nope")
    with pytest.raises(UsageError):
        validate_config(get_space("cnn"), {"architecture": "resnet", "bogus": 1})
    c = to_config(get_space("cnn").get_default_configuration())
    c["optimizer"] = "adam"  # momentum is now inactive but present
    with pytest.raises(UsageError):
        validate_config(get_space("cnn"), c)


def test_space_json_round_trip():
    for name in ("cnn", "cnn-grid"):
        cs = get_space(name)
        assert space_from_json(space_to_json(cs)) == cs


def _perturbations(cs, config, rng):
    """Valid configs turned invalid (or not) in the ways an optimizer could get them wrong."""
    names = list(cs.keys())
    out = [dict(config)]
    k = rng.choice(sorted(config))
    out.append({n: v for n, v in config.items() if n != k})  # an active value missing
    inactive = [n for n in names if n not in config]
    if inactive:
        out.append({**config, inactive[0]: config.get(inactive[0], 1)})  # an inactive one present
    for n, v in config.items():
        if isinstance(v, bool):
            out.append({**config, n: int(v)})  # 1 is not True
        elif isinstance(v, int):
            out += [{**config, n: float(v)}, {**config, n: v + 10**6}, {**config, n: -(10**6)}]
        elif isinstance(v, float):
            out += [{**config, n: v * 1e6}, {**config, n: -abs(v) - 1}, {**config, n: float("nan")}]
        elif isinstance(v, str):
            out.append({**config, n: v + "x"})
    out.append({**config, "not_a_hyperparameter": 1})
    return out


@pytest.mark.parametrize("space", ["cnn", "cnn-grid"])
def test_fast_validator_never_accepts_what_configspace_refuses(space):
    """The runner trusts a True from FastValidator: it must imply ConfigSpace's verdict, and
    it must say True for the valid configs (else it would be no faster)."""
    cs = get_space(space)
    check = FastValidator(cs)
    rng = np.random.default_rng(0)
    valid = sample_configs(cs, 60, seed=2, design="random")
    assert all(check(c) for c in valid)
    n_refused = 0
    for c in valid:
        for p in _perturbations(cs, c, rng):
            if check(p):
                validate_config(cs, p)  # raises if ConfigSpace disagrees
            else:
                n_refused += 1
                if p != c:
                    with pytest.raises(UsageError):
                        validate_config(cs, p)
    assert n_refused > 100
