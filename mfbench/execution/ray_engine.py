"""Ray core as an execution engine for ``replay --ray ADDRESS``: each run one Ray task.

The driver stays the only writer (it merges what the tasks return, as with loky or Dask). Every
task runs in a worker whose environment Ray sets before the interpreter starts (``runtime_env``
``env_vars``): ``PYTHONHASHSEED`` and one BLAS thread, exactly the local job environment, so a
run gives the same trajectory on Ray as locally. ``ADDRESS`` is a cluster's ``HOST:PORT`` (``ray
start --head --port=6379``, then ``ray start --address=HOST:6379`` on each node), ``auto`` (the
cluster this machine belongs to), or ``local`` (a private Ray started for this replay, the size of
this machine). A missing ``ray`` or an unreachable cluster is one usage error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mfbench.core.errors import UsageError

#: seconds to wait for a cluster's port before calling it unreachable (``ray.init`` itself
#: retries an unreachable address for minutes)
CONNECT_TIMEOUT = 5.0


def check_engine(address: str, dask: Any = None) -> None:
    """The checks ``replay`` makes before it writes anything: Ray installed, one engine, an
    address that answers."""
    if dask is not None:
        raise UsageError("--dask and --ray are two engines: give one")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError("--ray needs Ray: pip install -e '.[ray]'") from None
    _check_reachable(address)


def _check_reachable(address: str) -> None:
    """Refuse a ``HOST:PORT`` nobody listens on, at once and in one line."""
    import socket

    if address in ("local", "auto") or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--ray {address!r}: expected HOST:PORT, auto or local")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise UsageError(f"--ray {address}: cannot reach a Ray cluster there ({exc.strerror or exc})") from None


def execute_ray(todo: list[Any], address: str, run_job: Any, child_env: dict[str, str],
                failure: Any) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Yield ``run_job(job)`` for every job of ``todo`` as Ray tasks finish; ``failure(exc, job)``
    is the result of a task whose worker was lost."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install -e '.[ray]'") from None
    started = False
    if not ray.is_initialized():
        _check_reachable(address)
        try:
            ray.init(address=None if address == "local" else address, runtime_env={"env_vars": dict(child_env)},
                     include_dashboard=False, log_to_driver=False, logging_level="ERROR")  # fmt: skip
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(f"--ray {address}: cannot reach a Ray cluster: {str(exc).splitlines()[0][:300]}") from None
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(run_job).options(runtime_env={"env_vars": dict(child_env)})
        refs = {task.remote(job): job for job in todo}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    yield ray.get(ref)
                except Exception as exc:  # the worker died (not an exception of the run)
                    yield failure(exc, refs[ref])
    finally:
        if started:
            ray.shutdown()
