"""Where grading tasks run: in this process, on a local Dask cluster, or on a remote one.

* ``jobs == 1`` and no scheduler: one task after another in this process (the demo's and the
  tests' default; nothing to start);
* ``jobs > 1``: a Dask ``LocalCluster`` of ``jobs`` single-threaded worker processes on this
  machine;
* ``scheduler="tcp://host:8786"``: the workers of an existing Dask cluster (they must see the
  course directory at the same path, and a PostgreSQL gradebook).

The same function runs every task (:func:`instructor.worker.grade`). Dask retries a task whose
worker died (``distributed.scheduler.allowed-failures``, 3 by default); a task that still fails,
or raises, comes back as an exception for the caller to record. Results arrive in completion
order; nothing about a grade depends on that order.

Reference: https://distributed.dask.org/en/stable/api.html#distributed.Client.map
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def dask_client(jobs: int, scheduler: str | None = None):
    """A ``distributed.Client`` on ``scheduler``, or on a fresh local cluster of ``jobs`` workers."""
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler, timeout=60)
        try:
            yield client
        finally:
            client.close()
        return
    # One thread per worker: nbgrader's API is not thread-safe, and each task already has a
    # kernel process of its own. No memory limit: the kernels (separate processes) carry their
    # own rlimits, and the nanny must not restart a worker for memory it does not own.
    import dask

    with dask.config.set(QUIET):
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, memory_limit=0,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        try:
            with Client(cluster) as client:
                client.run(_ignore_sigint)  # Ctrl-C is the grader's to handle: it closes the cluster
                yield client
        finally:
            cluster.close()


#: Dask settings for the local cluster, whose tasks take seconds each, not milliseconds. With
#: Dask's defaults an idle 2-worker cluster took 9% of a core (the scheduler and nannies 4.8%,
#: each worker 2.2%: event-loop ticks every 20 ms, a system monitor every 500 ms), and the
#: statistical profiler sampled every task's stack every 10 ms; with these, 1.3%. One task per
#: worker at a time (saturation 1.0): none waits behind a long one while another worker is idle.
QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.disk": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.scheduler.worker-saturation": 1.0,
}


def _ignore_sigint() -> None:
    """In a local worker process: let the terminal's Ctrl-C reach only the grader process."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def run(tasks: list, fn: Callable, jobs: int = 1, scheduler: str | None = None) -> Iterator[tuple]:
    """Run ``fn(task)`` for every task; yield ``(task, result, error)`` as each one finishes.

    ``error`` is the exception a task ended with (``result`` is then None). Stopping the
    iteration early (Ctrl-C in the caller) cancels what has not run yet.
    """
    if jobs <= 1 and not scheduler:
        for task in tasks:
            try:
                yield task, fn(task), None
            except Exception as exc:  # a grader bug on one submission costs only that one
                yield task, None, exc
        return
    from distributed import as_completed

    with dask_client(jobs, scheduler) as client:
        futures = client.map(fn, tasks, key=[t.key for t in tasks], pure=False)
        by_key = {f.key: t for f, t in zip(futures, tasks)}
        try:
            for future in as_completed(futures):
                task = by_key[future.key]
                try:
                    yield task, future.result(), None
                except Exception as exc:  # KilledWorker after the retries, or fn raised
                    yield task, None, exc
        finally:
            client.cancel([f for f in futures if not f.done()])

