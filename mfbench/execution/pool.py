"""Where jobs run: worker processes on this machine, or a Dask cluster. ``collect`` (trainings)
and ``replay`` (optimizer runs) submit through the same pieces; Ray is ``ray_engine``.

Every engine yields results as jobs finish, and the driver stays the only writer. A worker that
dies is not an exception of the job: ``failure(exc, job)`` turns it into the job's result (or,
without ``failure``, the exception reaches the driver).

Two local pools, each for its reason: ``replay`` uses loky's reusable executor, whose
environment (``PYTHONHASHSEED``, one BLAS thread) is set before each worker's interpreter
starts, since a run must give the same trajectory in any process; ``collect`` uses a spawn
``ProcessPoolExecutor`` that pins each worker to a GPU slot, feeds it at most two jobs ahead
(a stopped sweep leaves little half-started work) and trains in the driver when one CPU worker
is asked for.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from mfbench.core.errors import UsageError


def exit_with(driver_pid: int) -> None:
    """End this worker when the driver is gone. A driver stopped by SIGTERM or SIGKILL cannot
    shut its pool down, and its workers would sleep on the pool's queue for good, holding their
    memory (seen: two orphans of a stopped collection, 1 GB each, 90 minutes later)."""

    def watch() -> None:
        while os.getppid() == driver_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="mfbench-driver-watch", daemon=True).start()


def result_or_failure(fut: Any, job: Any, failure: Callable[[Exception, Any], Any] | None) -> Any:
    """The result of a finished future; ``failure(exc, job)`` where its worker died."""
    if failure is None:
        return fut.result()
    try:
        return fut.result()
    except Exception as exc:  # the worker process died (not an exception of the job)
        return failure(exc, job)


def loky_results(
    call: Callable[..., Any],
    jobs: Iterable[Any],
    args_of: Callable[[Any], tuple],
    *,
    workers: int,
    env: dict[str, str],
    failure: Callable[[Exception, Any], Any] | None = None,
) -> Iterator[Any]:
    """``call(*args_of(job))`` for every job in a loky pool of ``workers`` processes started with
    ``env`` (even for one worker: a job never shares the driver's globals), as jobs finish."""
    from concurrent.futures import as_completed

    from joblib.externals.loky import get_reusable_executor

    executor = get_reusable_executor(
        max_workers=workers, env=dict(env), timeout=300, initializer=exit_with, initargs=(os.getpid(),)
    )
    futures = {executor.submit(call, *args_of(job)): job for job in jobs}
    try:
        for fut in as_completed(futures):
            yield result_or_failure(fut, futures[fut], failure)
    finally:
        for fut in futures:
            fut.cancel()


@contextmanager
def dask_client(address: Any) -> Iterator[Any]:
    """A client of the Dask scheduler at ``address`` (closed on exit), or ``address`` itself where
    it is a client the caller holds (left open)."""
    try:
        from distributed import Client
    except ImportError:
        from mfbench.core.extras import missing_message

        raise UsageError(missing_message("distributed", "--dask")) from None
    client = address if hasattr(address, "submit") else Client(address)
    try:
        yield client
    finally:
        if client is not address:
            client.close()


def dask_results(
    client: Any,
    call: Callable[..., Any],
    jobs: Iterable[Any],
    args_of: Callable[[Any], tuple],
    key_of: Callable[[Any], str],
    *,
    resources: dict[str, int] | None = None,
    failure: Callable[[Exception, Any], Any] | None = None,
) -> Iterator[Any]:
    """``call(*args_of(job))`` for every job as a Dask task named ``key_of(job)``, as tasks finish."""
    from distributed import as_completed

    futures = {
        client.submit(call, *args_of(job), resources=resources, pure=False, key=key_of(job)): job for job in jobs
    }
    for fut in as_completed(list(futures)):
        yield result_or_failure(fut, futures[fut], failure)
