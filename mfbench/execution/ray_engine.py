"""Ray core as an execution engine: ``replay --ray ADDRESS`` (each run one Ray task) and
``collect --ray ADDRESS`` (each training, or fused group, one Ray task holding ``num_gpus``).

The driver stays the only writer (it merges what the tasks return, as with loky or Dask). Every
task runs in a worker whose environment Ray sets before the interpreter starts (``runtime_env``
``env_vars``): for replay ``PYTHONHASHSEED`` and one BLAS thread, exactly the local job
environment, so a run gives the same trajectory on Ray as locally; for collect what a local
worker inherits from the driver. ``ADDRESS`` is a cluster's ``HOST:PORT`` (``ray start --head
--port=6379``, then ``ray start --address=HOST:6379`` on each node), ``auto`` (the cluster this
machine belongs to), or ``local`` (a private Ray started for this command, the size of this
machine). A missing ``ray`` or an unreachable cluster is one usage error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mfbench.core.errors import UsageError

#: seconds to wait for a cluster's port before calling it unreachable (``ray.init`` itself
#: retries an unreachable address for minutes)
CONNECT_TIMEOUT = 5.0


def check_engine(address: str, dask: Any = None) -> None:
    """The checks ``replay`` and ``collect`` make before they write anything: Ray installed, one
    engine, an address that answers."""
    if dask is not None:
        raise UsageError("--dask and --ray are two engines: give one")
    require_ray()
    _check_reachable(address)


def require_ray() -> None:
    """A missing ``ray`` is one line naming the extra that installs it."""
    from mfbench.core.extras import require

    require("ray", "--ray")


def _check_reachable(address: str) -> None:
    """Refuse a ``HOST:PORT`` nobody listens on (or ``auto`` with no cluster on this machine),
    at once and in one line."""
    import socket

    if address == "local" or "://" in address:
        return
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        try:  # RAY_ADDRESS, else the cluster `ray start` last recorded on this machine
            address = canonicalize_bootstrap_address("auto") or ""
        except ConnectionError:
            raise UsageError(
                "--ray auto: no Ray cluster runs on this machine (start one with "
                "`ray start --head`, or give HOST:PORT or local)"
            ) from None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--ray {address!r}: expected HOST:PORT, auto or local")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise UsageError(f"--ray {address}: cannot reach a Ray cluster there ({exc.strerror or exc})") from None


@contextmanager
def connected(address: str, env: dict[str, str]) -> Iterator[None]:
    """Ray connected to ``address`` for the block (a Ray this process started is shut down after
    it; one the caller started is left alone). ``env`` becomes every worker's job environment."""
    try:
        import ray
    except ImportError:
        from mfbench.core.extras import missing_message

        raise UsageError(missing_message("ray", "--ray")) from None
    started = False
    if not ray.is_initialized():
        _check_reachable(address)
        try:
            ray.init(
                address=None if address == "local" else address,
                runtime_env={"env_vars": dict(env)},
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(f"--ray {address}: cannot reach a Ray cluster: {str(exc).splitlines()[0][:300]}") from None
        started = True
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def cluster_gpus() -> float:
    """The GPUs the connected cluster declares (0 for a cluster of CPUs)."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0))


def run_tasks(
    todo: list[Any],
    fn: Any,
    args: tuple = (),
    *,
    env: dict[str, str],
    num_cpus: float = 1,
    num_gpus: float = 0,
    failure: Any = None,
) -> Iterator[Any]:
    """Yield ``fn(job, *args)`` for every job of ``todo``, each one Ray task holding ``num_cpus``
    and ``num_gpus`` (a fraction packs several on one GPU; Ray sets ``CUDA_VISIBLE_DEVICES``), as
    the tasks finish, on the cluster Ray is connected to. A task whose worker was lost raises, or
    yields ``failure(exc, job)`` when given. Tasks are never retried: a training is not rerun
    behind the driver's back."""
    import ray

    task = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(fn)
    task = task.options(runtime_env={"env_vars": dict(env)})
    refs = {task.remote(job, *args): job for job in todo}
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                if failure is None:
                    yield ray.get(ref)
                    continue
                try:
                    yield ray.get(ref)
                except Exception as exc:  # noqa: BLE001  (the worker died: not an exception of the run)
                    yield failure(exc, refs[ref])
    finally:
        for ref in pending:  # a stopped driver leaves no training running on the cluster
            ray.cancel(ref, force=True)


def execute_ray(
    todo: list[Any], address: str, run_job: Any, child_env: dict[str, str], failure: Any
) -> Iterator[dict[str, Any]]:
    """Yield ``run_job(job)`` for every job of ``todo`` as one-CPU Ray tasks finish (``replay``);
    ``failure(exc, job)`` is the result of a task whose worker was lost."""
    with connected(address, child_env):
        yield from run_tasks(todo, run_job, env=child_env, failure=failure)


def cluster_cpus() -> float:
    """The CPUs the connected cluster declares."""
    import ray

    return float(ray.cluster_resources().get("CPU", 0))
