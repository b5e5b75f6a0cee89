"""YAHPO Gym's LCBench surrogate (v1.0.2) as 34 mfbench benchmarks ``lcbench/<OpenML task id>``.

mfbench reads YAHPO's ONNX model itself with onnxruntime (the ``lcbench`` extra), because the
reference package ``yahpo-gym==1.0.2`` pins ConfigSpace <= 0.6.1 and numpy < 2. The query is
encoded exactly as ``yahpo_gym.BenchmarkSet.objective_function`` encodes it: the task's code
from ``encoding.json`` as an int32 column, and the raw values of ``epoch, batch_size,
learning_rate, momentum, weight_decay, num_layers, max_units, max_dropout`` as float32 (the
model holds its own log transforms). ``scripts/compare_lcbench_yahpo.py`` checks the answers
against ``yahpo_gym`` itself.

Semantics (why they are what they are):

- **Fidelity**: LCBench trained each configuration once, with one schedule, for 52 epochs; an
  intermediate epoch is a prefix of that one training. So ``continue`` is exact, and a
  ``scratch`` evaluation at a lower budget reads the same prefix but pays its whole cost.
- **Ladder** ``3, 6, 12, 24, 48`` (eta = 2): mfbench's Hyperband-style optimizers need a
  geometric ladder with an integer ratio; no such ladder ends at 52 with more than three
  rungs. 48 keeps 92 % of LCBench's schedule (the incumbent is scored at epoch 48), and five
  rungs give the multi-fidelity optimizers a 16x range. Epochs 49..52 are not used. (Epoch 48
  ranks configs like epoch 52 does, Spearman 0.999; epoch 27 only 0.96. keras-tuner's and
  Ray's Hyperband, which count from 1, run on it in units of 3 epochs: Hyperband's 1..16.)
- **Metrics**: the optimized ``val_error`` is ``1 - val_accuracy / 100`` (YAHPO's
  ``val_accuracy`` is in percent); ``test_error`` is ``1 - test_balanced_accuracy`` (a
  fraction; LCBench has no plain test accuracy). ``val_balanced_error``, ``val_cross_entropy``
  and ``test_cross_entropy`` are reported too. Errors are clipped to [0, 1] (the model is a
  regression and may overshoot slightly).
- **Cost**: YAHPO's ``time`` target (cumulative seconds at an epoch), which is a model's
  prediction and not always monotone in epochs; mfbench charges its running maximum over the
  ladder rungs up to the budget (and the budget itself), so that a continuation pays a
  non-negative difference and continuations add up to the scratch cost.
- **Noise**: none. The model is deterministic; seeds change only the optimizers.
- **Optimum and bounds**: from ``lcbench_reference.json``, a documented search per task
  (``scripts/lcbench_reference.py``: 100,000 uniformly random configurations at epoch 48,
  then local refinement around the best) — YAHPO's ``instance_target_statistics.csv`` gives
  min/max over its own random search but not at a fixed epoch, so it cannot serve as the
  optimum at epoch 48; it is kept in the manifest for comparison.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from ConfigSpace import ConfigurationSpace, Float, Integer

from mfbench.core.errors import UsageError
from mfbench.core.types import Result
from mfbench.objectives.base import Objective

#: the 34 OpenML task ids of YAHPO's LCBench, in the order of its config_space.json
TASKS: tuple[str, ...] = (
    "3945",
    "7593",
    "34539",
    "126025",
    "126026",
    "126029",
    "146212",
    "167104",
    "167149",
    "167152",
    "167161",
    "167168",
    "167181",
    "167184",
    "167185",
    "167190",
    "167200",
    "167201",
    "168329",
    "168330",
    "168331",
    "168335",
    "168868",
    "168908",
    "168910",
    "189354",
    "189862",
    "189865",
    "189866",
    "189873",
    "189905",
    "189906",
    "189908",
    "189909",
)
PREFIX = "lcbench/"
LADDER: tuple[int, ...] = (3, 6, 12, 24, 48)
MAX_EPOCH = 52
#: the model's outputs, in order
TARGETS = (
    "time",
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
)
#: the model's continuous inputs, in order (``epoch`` first)
INPUTS = ("epoch", "batch_size", "learning_rate", "momentum", "weight_decay", "num_layers", "max_units", "max_dropout")
HYPERPARAMETERS = INPUTS[1:]
INTEGERS = frozenset({"batch_size", "num_layers", "max_units"})
MODEL_SHA256 = "b45c0d85ae39abf8820c8bea5ac82f415763afcbaf3b725e36af452b09cb6dcd"
DATA_VERSION = "yahpo_data v1.0.2 (lcbench)"
FILES = ("model.onnx", "config_space.json", "encoding.json")
INSTALL_HINT = 'lcbench benchmarks need onnxruntime: pip install -e ".[lcbench]"'
DOWNLOAD_HINT = "python -m mfbench download lcbench"
SEMANTICS = (
    "one training per config, one schedule (52 epochs); an epoch is a prefix of it: continue is exact, "
    "scratch at a lower budget is the same prefix at full price"
)
NOISE = "none: the YAHPO model is deterministic (seeds change only the optimizers)"
OPTIMUM_SOURCE = "search: 100k random + local refinement at epoch 48"
#: scripts/compare_lcbench_yahpo.py, scripts/results/compare_lcbench_yahpo.txt
FAITHFULNESS = "= yahpo_gym 1.0.2 on 12,000 random queries (max |diff| 0)"
REFERENCE_FILE = Path(__file__).with_name("lcbench_reference.json")

_I_TIME, _I_VAL, _I_VCE, _I_VBAL, _I_TCE, _I_TBAL = range(6)
_CHUNK = 1024


def task_of(name: str) -> str:
    """``lcbench/3945`` or ``lcbench-3945`` -> ``3945``; a task YAHPO does not have is refused."""
    task = name[len(PREFIX) :] if name.startswith(PREFIX) else name[len("lcbench-") :]
    if task not in TASKS:
        raise UsageError(f"unknown LCBench task {task!r}; the 34 tasks are: {', '.join(TASKS)}")
    return task


def benchmark_names() -> list[str]:
    return [PREFIX + t for t in TASKS]


# --------------------------------------------------------------------------------------
# Data: where the files are, and the model session (one per process and data folder)
# --------------------------------------------------------------------------------------


def _cache_dir() -> Path:
    return Path(os.environ.get("MFBENCH_CACHE") or Path.home() / ".cache" / "mfbench")


def default_data_dirs() -> list[Path]:
    """Where the files are looked for, in order: ``$MFBENCH_YAHPO_DATA``, the download folder
    (``$MFBENCH_CACHE/yahpo/lcbench``), and the repository's ``../shared/data/yahpo-lcbench``
    (the copy tests and CI use)."""
    out = []
    env = os.environ.get("MFBENCH_YAHPO_DATA")
    if env:
        return [Path(env).expanduser()]
    out.append(_cache_dir() / "yahpo" / "lcbench")
    import mfbench

    out.append(Path(mfbench.__file__).resolve().parents[2] / "shared" / "data" / "yahpo-lcbench")
    return out


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    candidates = [Path(data_dir).expanduser()] if data_dir else default_data_dirs()
    for d in candidates:
        if all((d / f).is_file() for f in FILES):
            return d.resolve()
    where = ", ".join(str(d) for d in candidates)
    raise UsageError(
        f"LCBench data (model.onnx, config_space.json, encoding.json) not found in {where}; "
        f"run '{DOWNLOAD_HINT}' or point --data-dir / $MFBENCH_YAHPO_DATA at it"
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Model:
    """The ONNX session with YAHPO's encoding; one per data folder and process."""

    def __init__(self, data_dir: Path):
        try:
            import onnxruntime as rt
        except ImportError:
            raise UsageError(INSTALL_HINT) from None
        self.data_dir = data_dir
        path = data_dir / "model.onnx"
        self.sha256 = sha256_file(path)
        if self.sha256 != MODEL_SHA256:
            raise UsageError(
                f"{path} is not YAHPO's lcbench v1.0.2 model (sha256 {self.sha256[:16]}..., expected "
                f"{MODEL_SHA256[:16]}...); run '{DOWNLOAD_HINT}'"
            )
        try:
            self.codes = {
                str(k): int(v)
                for k, v in json.loads((data_dir / "encoding.json").read_text())["OpenML_task_id"].items()
            }
            cs = json.loads((data_dir / "config_space.json").read_text())
            self.hp = {h["name"]: h for h in cs["hyperparameters"]}
            tasks = tuple(self.hp["OpenML_task_id"]["choices"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{data_dir}: unreadable LCBench metadata ({exc})") from None
        if set(tasks) != set(TASKS) or any(t not in self.codes for t in TASKS):
            raise UsageError(f"{data_dir}: its tasks are not YAHPO lcbench v1.0.2's 34")
        opts = rt.SessionOptions()
        # one thread: replay runs one job per core, and a single query is fastest that way
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = rt.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._in_cat, self._in_cont = (i.name for i in self.session.get_inputs())
        self._run = self.session.run

    def predict(self, code: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``(n, 6)`` float32 outputs for int32 codes ``(n, 1)`` and float32 inputs ``(n, 8)``."""
        return self._run(None, {self._in_cat: code, self._in_cont: x})[0]

    def space(self, seed: int | None = None) -> ConfigurationSpace:
        """The search space without the task and the epoch, with YAHPO's bounds, logs and defaults."""
        cs = ConfigurationSpace(name="lcbench", seed=seed)
        for name in HYPERPARAMETERS:
            h = self.hp[name]
            cls = Integer if name in INTEGERS else Float
            cs.add(cls(name, (h["lower"], h["upper"]), default=h["default"], log=bool(h["log"])))
        return cs


_MODELS: dict[Path, Model] = {}


def model(data_dir: str | os.PathLike | None = None) -> Model:
    d = find_data_dir(data_dir)
    if d not in _MODELS:
        _MODELS[d] = Model(d)
    return _MODELS[d]


def reference() -> dict[str, Any]:
    """Per task: optimum, worst value, full-budget cost of ``scripts/lcbench_reference.py``."""
    try:
        return json.loads(REFERENCE_FILE.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{REFERENCE_FILE}: unreadable ({exc}); rerun scripts/lcbench_reference.py") from None


# --------------------------------------------------------------------------------------
# Download: the same v1.0.2 files, checked by sha256 before anything is put in place
# --------------------------------------------------------------------------------------

#: YAHPO's public data repository (yahpo_data), folder lcbench; not reachable from the machine
#: this was written on, so only the checksums below are verified, not this address
DEFAULT_URL = "https://github.com/slds-lmu/yahpo_data/raw/v1.0/lcbench"
SHA256 = {
    "model.onnx": MODEL_SHA256,
    "config_space.json": "4d1c78a91429b4a37628e13f286cf1abe15f778a09722a4c01714f2d72a8200d",
    "encoding.json": "d8af928f412bbeb07e58ecd69877fcab35fbc595333d1c1c3f76120d2f2508da",
}


def download(dest: str | os.PathLike | None = None, url: str = DEFAULT_URL, timeout: float = 60.0) -> Path:
    """Fetch ``model.onnx``, ``config_space.json`` and ``encoding.json`` into ``dest`` (default
    ``$MFBENCH_CACHE/yahpo/lcbench``). Each file's sha256 must match before the folder is
    put in place (one rename); a mismatch or a failed fetch leaves nothing behind. A ``dest``
    that already holds the right files is left as it is; one that holds anything else is
    refused (nothing is overwritten)."""
    import shutil
    import tempfile
    import urllib.error
    import urllib.request

    dest = Path(dest).expanduser() if dest else _cache_dir() / "yahpo" / "lcbench"
    if dest.exists():
        if dest.is_dir() and all((dest / f).is_file() and sha256_file(dest / f) == h for f, h in SHA256.items()):
            return dest
        raise UsageError(f"{dest} exists and does not hold YAHPO's lcbench v1.0.2 files; give another --data-dir")
    blocker = next((d for d in dest.parents if d.exists() and not d.is_dir()), None)
    if blocker is not None:
        raise UsageError(f"--data-dir {dest}: {blocker} is a file, not a folder")
    made = [d for d in [*reversed(dest.parents)] if not d.exists()]  # removed again if nothing is installed
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".lcbench-partial-", dir=dest.parent))
    try:
        for name, expected in SHA256.items():
            src = f"{url.rstrip('/')}/{name}"
            try:
                with urllib.request.urlopen(src, timeout=timeout) as resp, open(tmp / name, "wb") as out:
                    shutil.copyfileobj(resp, out)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise UsageError(
                    f"could not fetch {src} ({getattr(exc, 'reason', exc)}); offline? copy the files "
                    "into a folder and point $MFBENCH_YAHPO_DATA at it"
                ) from None
            got = sha256_file(tmp / name)
            if got != expected:
                raise UsageError(
                    f"{src}: sha256 {got[:16]}... is not the expected {expected[:16]}... "
                    "(a corrupted or different file); nothing was installed"
                )
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
        if not dest.exists():
            for d in reversed(made):
                d.rmdir()
    return dest


# --------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------


def _errors(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = out.astype(np.float64)
    return np.clip(1.0 - out[:, _I_VAL] / 100.0, 0.0, 1.0), np.clip(1.0 - out[:, _I_TBAL], 0.0, 1.0)


class LCBenchObjective(Objective):
    """One LCBench task: ``evaluate`` answers YAHPO's model at epoch ``budget`` (see the module
    docstring for the semantics of fidelity, cost, metrics and noise)."""

    kind = "yahpo"
    supports_continuation = True
    deterministic = True  # NOISE: the model's answer does not depend on the seed
    fidelity_semantics = SEMANTICS
    noise = NOISE

    def __init__(self, task: str, *, data_dir: str | os.PathLike | None = None, cache_size: int = 100_000):
        self.task = task_of(PREFIX + str(task))
        self.name = f"lcbench-{self.task}"
        self.model = model(data_dir)
        self.space = self.model.space()
        self.budgets = list(LADDER)
        self._code = np.array([[self.model.codes[self.task]]], dtype=np.int32)
        self._ladder = np.array(LADDER)
        self._cache: dict[tuple, list[float]] = {}  # (config items, epoch) -> the model's 6 outputs
        self._codes: dict[int, np.ndarray] = {}  # rows -> the task's code column
        self._cache_size = int(cache_size)

    # -- encoding ------------------------------------------------------------------------

    def _row(self, config: Mapping[str, Any]) -> list[float]:
        try:
            return [float(config[k]) for k in HYPERPARAMETERS]
        except KeyError as exc:
            raise UsageError(
                f"{self.name}: the config lacks {exc.args[0]!r} (needs {', '.join(HYPERPARAMETERS)})"
            ) from None
        except (TypeError, ValueError):
            raise UsageError(f"{self.name}: a value of {dict(config)!r} is not a number") from None

    def _matrix(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.array([self._row(c) for c in configs], dtype=np.float64).reshape(-1, len(HYPERPARAMETERS))

    def _predict(self, X: np.ndarray, epochs: Sequence[int]) -> np.ndarray:
        """Outputs ``(len(epochs), n, 6)`` for the configs ``X`` at each epoch (one model call)."""
        n = X.shape[0]
        rows = np.empty((len(epochs) * n, len(INPUTS)), dtype=np.float32)
        for k, e in enumerate(epochs):
            rows[k * n : (k + 1) * n, 0] = e
            rows[k * n : (k + 1) * n, 1:] = X
        codes = np.ascontiguousarray(np.broadcast_to(self._code, (rows.shape[0], 1)))
        if rows.shape[0] <= _CHUNK:
            out = self.model.predict(codes, rows)
        else:  # cache-sized calls: one call of 10,000 rows runs at half the rate of 1,000-row calls
            out = np.concatenate(
                [
                    self.model.predict(codes[i : i + _CHUNK], rows[i : i + _CHUNK])
                    for i in range(0, rows.shape[0], _CHUNK)
                ]
            )
        return out.reshape(len(epochs), n, len(TARGETS))

    def _cost_epochs(self, budget: int) -> list[int]:
        """The epochs whose ``time`` enters the running maximum at ``budget``: the rungs below it and itself."""
        return [*(int(b) for b in LADDER if b < budget), int(budget)]

    # -- one query -------------------------------------------------------------------------

    def _outputs_one(self, config: Mapping[str, Any], epochs: list[int]) -> list[list[float]]:
        """The 6 outputs at each epoch, cached per (config, epoch): a Hyperband run asks the
        same config again at the next rung, and the running maximum of the cost reads the lower
        rungs. Plain Python on this path: numpy's per-call overheads would double a query."""
        cache = self._cache
        try:
            items = tuple(config.items())
            hits = [cache.get((items, e)) for e in epochs]
        except TypeError:  # unhashable values: no cache
            items, hits = None, [None] * len(epochs)
        todo = [k for k, h in enumerate(hits) if h is None]
        if todo:
            vals = self._row(config)
            rows = np.array([[float(epochs[k]), *vals] for k in todo], dtype=np.float32)
            codes = self._codes.get(len(todo))
            if codes is None:
                codes = self._codes[len(todo)] = np.full((len(todo), 1), self._code[0, 0], dtype=np.int32)
            P = self.model.predict(codes, rows).tolist()
            if items is not None and len(cache) + len(todo) > self._cache_size:
                cache.clear()
            for j, k in enumerate(todo):
                hits[k] = P[j]
                if items is not None:
                    cache[(items, epochs[k])] = P[j]
        return hits

    def evaluate(self, config, budget, seed, *, mode="scratch", resume_from=None, curve=False) -> Result:
        self.check_call(budget, mode, resume_from)
        b = int(budget)
        r = int(resume_from or 0) if mode == "continue" else 0
        epochs = self._cost_epochs(b)
        if r > 0 and r not in epochs:
            epochs = sorted({*epochs, r})
        out = self._outputs_one(config, epochs)
        c, c_b, c_r = 0.0, 0.0, 0.0
        for e, o in zip(epochs, out):  # the running maximum of the cumulative time
            c = max(c, o[_I_TIME])
            if e == r:
                c_r = c
            if e == b:
                c_b = c
        o = out[epochs.index(b)]
        test = min(max(1.0 - o[_I_TBAL], 0.0), 1.0)
        res = Result(min(max(1.0 - o[_I_VAL] / 100.0, 0.0), 1.0), c_b - c_r, b - r, self._metrics(o, test))
        if curve:
            res.curve = self._curve(config, b)
        return res

    @staticmethod
    def _metrics(o: Sequence[float], test_error: float) -> dict[str, float]:
        return {
            "test_error": test_error,
            "val_balanced_error": min(max(1.0 - float(o[_I_VBAL]), 0.0), 1.0),
            "val_cross_entropy": float(o[_I_VCE]),
            "test_cross_entropy": float(o[_I_TCE]),
        }

    def _curve(self, config: Mapping[str, Any], budget: int) -> dict[str, list[float]]:
        """Every epoch 1..budget of the one training (scratch and continue read the same prefix)."""
        epochs = list(range(1, int(budget) + 1))
        P = self._predict(np.array([self._row(config)], dtype=np.float64), epochs)[:, 0, :]
        val, test = _errors(P)
        return {
            "epoch": epochs,
            "val_error": val.tolist(),
            "test_error": test.tolist(),
            "cum_seconds": np.maximum.accumulate(P[:, _I_TIME].astype(np.float64)).tolist(),
        }

    # -- many queries ----------------------------------------------------------------------

    def predict_arrays(
        self, configs: Sequence[Mapping[str, Any]], budget: int, mode: str = "scratch", resume_from: Any = None
    ) -> dict[str, np.ndarray]:
        """The vectorized core: ``val_error``, ``test_error``, ``cost_seconds``, ``cost_epochs``
        for many configs at one budget (``resume_from`` a scalar or one per config)."""
        self.check_call(budget, mode, None if np.ndim(resume_from) else resume_from)
        b = int(budget)
        X = self._matrix(configs)
        n = X.shape[0]
        r = (
            np.zeros(n, dtype=np.int64)
            if mode == "scratch" or resume_from is None
            else np.broadcast_to(np.asarray(resume_from, dtype=np.int64), (n,))
        )
        epochs = sorted({*self._cost_epochs(b), *(int(v) for v in np.unique(r) if v > 0)})
        P = self._predict(X, epochs)  # (E, n, 6)
        cum = np.maximum.accumulate(P[:, :, _I_TIME].astype(np.float64), axis=0)  # (E, n)
        c_b = cum[epochs.index(b)]
        idx = np.searchsorted(epochs, np.maximum(r, epochs[0]))
        c_r = np.where(r > 0, cum[idx, np.arange(n)], 0.0)
        o = P[epochs.index(b)]
        val, test = _errors(o)
        return {"val_error": val, "test_error": test, "cost_seconds": c_b - c_r, "cost_epochs": b - r, "outputs": o}

    def evaluate_batch(self, configs, budget, seeds, **kw) -> list[Result]:
        curve = kw.pop("curve", False)
        mode = kw.get("mode", "scratch")
        d = self.predict_arrays(configs, budget, mode, kw.get("resume_from"))
        val, test, cost = d["val_error"].tolist(), d["test_error"].tolist(), d["cost_seconds"].tolist()
        ep = d["cost_epochs"].tolist()
        outputs = d["outputs"].astype(np.float64).tolist()
        res = [Result(val[i], cost[i], int(ep[i]), self._metrics(outputs[i], test[i])) for i in range(len(val))]
        if curve:
            for x, c in zip(res, configs):
                x.curve = self._curve(c, int(budget))
        return res

    def outputs(self, configs: Sequence[Mapping[str, Any]], epoch: int) -> dict[str, np.ndarray]:
        """YAHPO's raw targets (``time`` .. ``test_balanced_accuracy``, float32) at any epoch
        1..52, unmapped and uncached: what ``yahpo_gym``'s ``objective_function`` returns."""
        if not (isinstance(epoch, (int, np.integer)) and 1 <= epoch <= MAX_EPOCH):
            raise UsageError(f"epoch must be an integer in 1..{MAX_EPOCH}, got {epoch!r}")
        P = self._predict(self._matrix(configs), [int(epoch)])[0]
        return {t: P[:, k] for k, t in enumerate(TARGETS)}

    # -- references ------------------------------------------------------------------------

    def true_value(self, config: Mapping[str, Any]) -> tuple[float, float]:
        o = self._outputs_one(config, [self.max_budget])[0]
        return min(max(1.0 - o[_I_VAL] / 100.0, 0.0), 1.0), min(max(1.0 - o[_I_TBAL], 0.0), 1.0)

    @cached_property
    def _ref(self) -> dict[str, Any]:
        ref = reference()
        if ref.get("ladder") != list(LADDER) or ref.get("model_sha256") != MODEL_SHA256:
            raise UsageError(
                f"{REFERENCE_FILE} was made for another ladder or model; rerun scripts/lcbench_reference.py"
            )
        return ref["tasks"][self.task]

    def full_budget_cost(self) -> float:
        """Median running-maximum ``time`` at epoch 48 over the reference search's random configurations."""
        return float(self._ref["full_budget_cost"])

    @property
    def optimum(self) -> dict[str, float]:
        return {
            "val_error": float(self._ref["optimum"]["val_error"]),
            "test_error": float(self._ref["optimum"]["test_error"]),
        }

    @property
    def optimum_config(self) -> dict[str, Any]:
        return dict(self._ref["optimum_config"])

    @property
    def bounds(self) -> dict[str, float]:
        return {"best": self.optimum["val_error"], "worst": float(self._ref["worst_val_error"])}

    def describe(self) -> dict[str, Any]:
        """What ``mfbench benchmarks`` prints about this benchmark."""
        return {
            "name": PREFIX + self.task,
            "kind": self.kind,
            "dimensions": len(self.space),
            "ladder": list(LADDER),
            "fidelity": SEMANTICS,
            "noise": NOISE,
            "optimum": self.optimum["val_error"],
            "optimum_source": OPTIMUM_SOURCE,
            "faithfulness": FAITHFULNESS,
            "data": f"{DATA_VERSION}, {self.model.data_dir}",
        }

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "task": self.task,
            "model_sha256": self.model.sha256,
            "data": DATA_VERSION,
            "path": str(self.model.data_dir),
            "ladder": list(LADDER),
            "fidelity": SEMANTICS,
            "noise": NOISE,
            "training_seed": None,
            "metrics": {
                "val_error": "1 - val_accuracy/100",
                "test_error": "1 - test_balanced_accuracy",
                "cost_seconds": "running max of time over the rungs up to the budget",
            },
        }


def load(name: str, **options: Any) -> LCBenchObjective:
    """``lcbench/<task>`` -> its objective (``data_dir`` is the only option)."""
    extra = set(options) - {"data_dir"}
    if extra:
        raise UsageError(f"{name}: unknown option(s) {', '.join(sorted(extra))} (only data_dir)")
    return LCBenchObjective(task_of(name), **options)
