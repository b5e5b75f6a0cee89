import json
import subprocess
import sys

import numpy as np
import pytest

from mfbench.errors import UsageError
from mfbench.space import (
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
    code = f"import json; from mfbench.space import config_id; print(config_id(json.loads({json.dumps(c)!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == config_id(c)


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
