"""The ``gp`` surrogate family (``surrogates.gp.PairGP``): its predictions are scikit-learn's GP
mean, its files are plain arrays that load without running code, and a surrogate fitted with
it serves the objective like any other family."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import make_tiny_table

from mfbench.cli import main
from mfbench.core.errors import UsageError
from mfbench.objectives.surrogate import SurrogateObjective
from mfbench.surrogates import fit_surrogate, load_surrogate
from mfbench.surrogates.gp import PairGP, _to_link
from mfbench.surrogates.model import make_model
from mfbench.surrogates.store import sha256_file
from mfbench.training.space import get_space, sample_configs

POINTS = ((0.0, 0.0), (0.0, 1.0), (1.0, 1.0))  # (log epoch, log schedule) / log max, as Encoder.rows writes


def rows(n: int = 60, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Configurations at every curve point, with a constant feature that the GP must drop and
    an error that falls with the epoch."""
    rng = np.random.default_rng(seed)
    Xc = np.column_stack([rng.random((n, d)), np.full(n, 0.5)])
    X, y = [], []
    for e, s in POINTS:
        X.append(np.column_stack([Xc, np.full(n, e), np.full(n, s)]))
        y.append(np.clip(0.6 - 0.3 * e + 0.2 * np.sin(3 * Xc[:, 0]) * Xc[:, 1] + 0.02 * rng.standard_normal(n), 0, 1))
    return np.concatenate(X), np.concatenate(y)


@pytest.fixture(scope="module")
def fitted() -> tuple[PairGP, np.ndarray, np.ndarray]:
    X, y = rows()
    return PairGP("logit", 0).fit(X, y), X, y


def test_prediction_is_scikit_learns_gp_mean_with_the_kernel_fitted_on_the_anchor(fitted):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    m, X, y = fitted
    assert m.active_.tolist() == [0, 1, 2, 3]  # the constant column is not a length scale
    Xnew, _ = rows(25, seed=1)
    pred = m.predict(Xnew)
    start = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(4), (1e-2, 1e3), nu=2.5) + WhiteKernel(0.1, (1e-4, 10.0))
    anchor = (X[:, -2] == 1.0) & (X[:, -1] == 1.0)  # the largest schedule's largest epoch
    ref = GaussianProcessRegressor(start, normalize_y=True, random_state=0).fit(
        X[anchor, :4], _to_link(y[anchor], "logit")
    )
    np.testing.assert_allclose(m.length_scale_, ref.kernel_.k1.k2.length_scale, rtol=1e-12)
    for e, s in POINTS:
        tr, te = (X[:, -2] == e) & (X[:, -1] == s), (Xnew[:, -2] == e) & (Xnew[:, -1] == s)
        gp = GaussianProcessRegressor(ref.kernel_, normalize_y=True, optimizer=None).fit(
            X[tr, :4], _to_link(y[tr], "logit")
        )
        want = 1 / (1 + np.exp(-gp.predict(Xnew[te, :4])))
        np.testing.assert_allclose(pred[te], want, rtol=1e-9, atol=1e-12)
    assert ((pred > 0) & (pred < 1)).all()


def test_one_row_and_a_batch_agree_and_a_point_it_never_saw_is_refused(fitted):
    m, X, _ = fitted
    batch = m.predict(X[:40])
    np.testing.assert_allclose([m.predict(X[i : i + 1])[0] for i in range(40)], batch, rtol=1e-12)
    bad = X[:2].copy()
    bad[1, -2] = 0.5
    with pytest.raises(ValueError, match="no GP for the curve point"):
        m.predict(bad)


def test_the_link_follows_the_target():
    assert make_model("gp", 0, target="val_error").link == "logit"
    assert make_model("gp", 0, target="val_std").link == "identity"
    assert make_model("gp", 0, target="log_seconds_per_epoch").link == "identity"
    X, y = rows()
    cost = -3 + 2 * y  # a log-seconds target: outside (0, 1), modelled as it is
    pred = make_model("gp", 0, target="log_seconds_per_epoch").fit(X, cost).predict(X)
    assert pred.min() < 0 and np.corrcoef(pred, cost)[0, 1] > 0.9


def test_arrays_round_trip_bit_for_bit_and_inconsistent_arrays_are_refused(fitted):
    m, X, _ = fitted
    a = m.to_arrays()
    assert all(v.dtype != object for v in a.values())
    back = PairGP.from_arrays(a)
    assert np.array_equal(back.predict(X), m.predict(X))
    broken = dict(a, alpha_1=a["alpha_1"][:-1])
    with pytest.raises(ValueError, match="do not fit together"):
        PairGP.from_arrays(broken)
    with pytest.raises(ValueError, match="format"):
        PairGP.from_arrays(dict(a, format_version=np.array(99)))


def test_fit_refuses_rows_it_cannot_model():
    X, y = rows()
    with pytest.raises(ValueError, match="finite"):
        PairGP().fit(X, np.where(np.arange(len(y)) == 3, np.nan, y))
    with pytest.raises(ValueError, match="curve features"):
        PairGP().fit(X[:, :2], y)


# --- a surrogate of the gp family, saved and served --------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    table = make_tiny_table(tmp_path_factory.mktemp("t") / "cnn.sqlite", "cnn", 30, (0, 1), (1, 3, 9))
    out = tmp_path_factory.mktemp("s") / "gp"
    fit_surrogate(table, out, families=("gp",), folds=3, n_reference=100, threads=1, allow_below_gate=True)
    return out


def test_a_gp_surrogate_is_saved_as_arrays_and_serves_the_objective(saved):
    manifest = json.loads((saved / "manifest.json").read_text())
    assert {e["family"] for e in manifest["models"].values()} == {"gp"}
    assert sorted(p.name for p in saved.glob("*.npz")) == sorted(e["file"] for e in manifest["models"].values())
    assert not list(saved.glob("*.skops"))
    obj = SurrogateObjective(saved, threads=1)
    cfgs = sample_configs(get_space("cnn"), 12, 5)
    for b, mode in ((9, "scratch"), (3, "continue"), (2, "scratch")):
        one = [obj.evaluate(c, b, s, mode=mode) for s, c in enumerate(cfgs)]
        batch = obj.evaluate_batch(cfgs, b, list(range(len(cfgs))), mode=mode)
        np.testing.assert_allclose([r.val_error for r in batch], [r.val_error for r in one], rtol=1e-9, atol=1e-12)
        assert all(0 <= r.val_error <= 1 and r.cost_seconds > 0 for r in one)
    again = load_surrogate(saved)
    X = again.encoder.rows(again.encoder.encode_configs(cfgs), 9, 9)
    np.testing.assert_array_equal(again.predict_rows(X)["val_error"], obj.surrogate.predict_rows(X)["val_error"])


class _Marker:
    """Unpickling this writes a file: what a crafted pickle inside an .npz would do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_gp_file_with_pickled_objects_is_refused_without_running_them(saved, tmp_path):
    import shutil

    folder = tmp_path / "hostile"
    shutil.copytree(saved, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    f = folder / manifest["models"]["val_error"]["file"]
    marker = tmp_path / "pwned"
    with np.load(f) as z:
        arrays = dict(z)
    arrays["active"] = np.array([_Marker(marker)], dtype=object)
    with open(f, "wb") as fh:
        np.savez(fh, **arrays)
    with np.load(f, allow_pickle=True) as z:  # the payload is live: a pickle-trusting loader runs it
        z["active"]
    assert marker.exists()
    marker.unlink()
    manifest["models"]["val_error"]["sha256"] = sha256_file(f)  # as a tamperer would
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="cannot load this GP model file"):
        load_surrogate(folder)
    assert main(["info", str(folder)]) == 2  # info checks every model file the same way
    assert not marker.exists()
