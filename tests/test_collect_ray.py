"""``collect --ray``: each training one Ray task holding ``num_gpus`` (a fraction when several
share a GPU), the driver the only writer, the same rows as local execution, resumable."""

from __future__ import annotations

import json
import os

import pytest
from support import collect_kwargs, three_configs
from test_collect import _rows

pytest.importorskip("ray")

from mfbench.core.errors import UsageError
from mfbench.tables import collect as collect_module
from mfbench.tables.collect import DataSpec, TrainingJob, collect


@pytest.fixture
def config_file(tmp_path, tiny_config):
    p = tmp_path / "configs.json"
    p.write_text(json.dumps(three_configs(tiny_config)[:2]))
    return p


class _FakeRay:
    """``ray_engine`` without Ray: a cluster of ``cpus`` and ``gpus``, recording every request."""

    def __init__(self, monkeypatch, cpus=8.0, gpus=0.0):
        import contextlib

        from mfbench.execution import ray_engine

        self.calls: list[dict] = []
        monkeypatch.setattr(ray_engine, "connected", lambda address, env: contextlib.nullcontext())
        monkeypatch.setattr(ray_engine, "cluster_cpus", lambda: cpus)
        monkeypatch.setattr(ray_engine, "cluster_gpus", lambda: gpus)
        monkeypatch.setattr(ray_engine, "run_tasks", self.run_tasks)

    def run_tasks(self, todo, fn, args=(), **kw):
        self.calls.append({"n": len(todo), "fn": fn, "args": args, **kw})
        return iter(())


def _units():
    return [TrainingJob({"x": 1}, 0, 1)], DataSpec("digits")


@pytest.mark.parametrize(
    "device,gpus,per_gpu,want_device,want_gpus",
    [
        ("auto", 4.0, 2, "cuda", 0.5),  # two trainings share a GPU
        ("auto", 4.0, 3, "cuda", 1 / 3),
        ("cuda", 1.0, 1, "cuda", 1.0),
        ("auto", 0.0, 2, "cpu", 0),  # a cluster of CPUs: no GPU requested
        ("cpu", 4.0, 2, "cpu", 0),
    ],
)
def test_each_training_requests_its_share_of_a_gpu(monkeypatch, device, gpus, per_gpu, want_device, want_gpus):
    fake = _FakeRay(monkeypatch, gpus=gpus)
    monkeypatch.setenv("PYTHONHASHSEED", "123")
    todo, data = _units()
    list(collect_module._execute_ray(todo, data, device, "local", None, None, per_gpu))
    (call,) = fake.calls
    assert call["num_gpus"] == pytest.approx(want_gpus) and call["num_cpus"] == 1
    assert call["args"] == (data, want_device, 1) and call["fn"] is collect_module.run_job
    assert call["env"]["PYTHONHASHSEED"] == "123"  # what a local worker would inherit


def test_threads_are_the_cpus_a_task_holds_and_a_cluster_short_of_them_is_refused(monkeypatch):
    fake = _FakeRay(monkeypatch, cpus=4.0)
    todo, data = _units()
    list(collect_module._execute_ray(todo, data, "cpu", "local", 3, None, 1))
    assert fake.calls[0]["num_cpus"] == 3 and fake.calls[0]["args"][2] == 3
    with pytest.raises(UsageError, match="4 CPUs"):
        list(collect_module._execute_ray(todo, data, "cpu", "local", 5, None, 1))
    with pytest.raises(UsageError, match="declares no GPU"):
        list(collect_module._execute_ray(todo, data, "cuda", "local", None, None, 1))


def test_contradictory_options_and_an_unreachable_cluster_create_nothing(tmp_path, config_file):
    kw = collect_kwargs(config_file, budgets=[1], db=tmp_path / "t.sqlite")
    for extra, word in [
        ({"ray": "127.0.0.1:1"}, "cannot reach"),
        ({"ray": "local", "dask": "tcp://x:1"}, "two engines"),
        ({"ray": "local", "workers": 2}, "--workers"),
        ({"ray": "local", "trials_per_gpu": "auto"}, "give a number"),
    ]:
        with pytest.raises(UsageError, match=word):
            collect(**kw, **extra)
        assert not (tmp_path / "t.sqlite").exists()


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_the_job_environment_reaches_the_tasks(local_ray, monkeypatch):
    from mfbench.execution.ray_engine import run_tasks

    monkeypatch.setenv("PYTHONHASHSEED", "4321")
    env = {k: os.environ[k] for k in collect_module.WORKER_ENV if k in os.environ}

    def read_env(_job):  # defined here: Ray pickles it by value for its workers
        return os.environ.get("PYTHONHASHSEED")

    assert list(run_tasks([0, 1], read_env, env=env, num_cpus=1)) == ["4321", "4321"]


@pytest.mark.slow
def test_a_local_ray_writes_the_same_rows_and_resumes(local_ray, tmp_path, config_file):
    """Three trainings on the tiniest digits design: stopped after two on Ray, resumed on Ray,
    the table equals a local run's (configs, seeds, every epoch's metrics; timings left out)."""
    kw = collect_kwargs(config_file, threads=1, device="cpu")
    collect(db=tmp_path / "local.sqlite", **kw)
    first = collect(db=tmp_path / "ray.sqlite", ray="local", max_trials=2, **kw)
    assert first.ran == 2
    rest = collect(db=tmp_path / "ray.sqlite", ray="local", **kw)
    assert (rest.skipped, rest.ran, rest.ok) == (2, 1, 1)
    n_runs, rows = _rows(tmp_path / "ray.sqlite")
    assert n_runs == 3 and len(rows) == 2 + 1 + 2
    assert (n_runs, rows) == _rows(tmp_path / "local.sqlite")
