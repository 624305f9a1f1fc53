"""Paired timing of two compiled steps, shared by the benchmarks.

``time_steps`` runs one step ``steps`` times and waits for its last result;
``paired`` times two steps back to back for several rounds, alternating which
goes first, so that each round's ratio sees the same machine load. The result
is the median of the per-round ratios (the figure a noisy, shared machine
disturbs least) with each side's fastest round, in wall seconds and in CPU
seconds of this process (``time.process_time``, all threads: on a CPU backend
it shows whether a faster wall time only came from more cores).

Run a benchmark, not this module: ``.venv/bin/python benchmarks/losses.py``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

__all__ = ["Timing", "Paired", "time_steps", "paired", "median_call"]


@dataclass(frozen=True)
class Timing:
    """Seconds per step of one timed loop: wall clock and this process's CPU time."""

    wall: float
    cpu: float


@dataclass(frozen=True)
class Paired:
    """The outcome of :func:`paired`: ``ours`` against ``twin``.

    Attributes:
        ratio: median over the rounds of wall(ours) / wall(twin).
        cpu_ratio: the same for CPU seconds (less disturbed by other processes on a busy machine).
        ours, twin: each side's fastest round (wall and CPU seconds per step).
        rounds: the number of rounds.
    """

    ratio: float
    cpu_ratio: float
    ours: Timing
    twin: Timing
    rounds: int


def _wait(result) -> None:
    """Block until every tensor of ``result`` is computed (copies one element of each)."""
    for t in tf.nest.flatten(result):
        np.asarray(tf.reshape(t, [-1])[:1])


def time_steps(step, args, steps: int) -> Timing:
    """Seconds per call of ``step(*args)`` over ``steps`` calls, after the last one finished."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        result = step(*args)
    _wait(result)
    return Timing((time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps)


def paired(step_ours, step_twin, args, rounds: int, steps: int, warmup: int = 5) -> Paired:
    """Time two steps on the same ``args`` in alternating order; see the module docstring."""
    for step in (step_ours, step_twin):
        time_steps(step, args, warmup)  # trace, compile and warm up
    ratios, cpu_ratios, ours, twin = [], [], [], []
    for r in range(rounds):
        if r % 2:
            b = time_steps(step_twin, args, steps)
            a = time_steps(step_ours, args, steps)
        else:
            a = time_steps(step_ours, args, steps)
            b = time_steps(step_twin, args, steps)
        ours.append(a)
        twin.append(b)
        ratios.append(a.wall / b.wall)
        cpu_ratios.append(a.cpu / b.cpu if b.cpu > 0 else float("nan"))
    fastest = lambda ts: min(ts, key=lambda t: t.wall)  # noqa: E731
    return Paired(statistics.median(ratios), statistics.median(cpu_ratios), fastest(ours), fastest(twin), rounds)


def median_call(fn, repeats: int) -> Timing:
    """Median wall and CPU seconds of ``repeats`` calls of ``fn()`` (each call waited for)."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        _wait(fn())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(statistics.median(walls), statistics.median(cpus))
