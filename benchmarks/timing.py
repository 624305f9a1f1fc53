"""Paired timing of compiled steps with an A/A control, shared by the benchmarks.

``time_steps`` runs one step ``steps`` times and waits for its last result.
``paired`` times our step against its twin, and, given ``control`` (a second,
independently built copy of the twin), the twin against itself, all in one run:

- Rounds are short and interleaved in mirrored (ABBA) order: with ours O, twin
  T and control C, round 0 runs the blocks O T C C T O, round 1 T C O O C T,
  round 2 C O T T O C, and so on; each block is ``steps`` calls. Every side
  gets the same share of each position, and a load that rises or falls
  steadily through a round cancels out of that round's ratio.
- A round's ratio is sum(ours) / sum(twin) over its two blocks each, in wall
  seconds and in CPU seconds of this process (``time.process_time``, all
  threads: less disturbed than the wall clock by other processes on a shared
  machine, and on a CPU backend it shows whether a faster wall time only came
  from more cores).
- The estimate is the median of the per-round ratios with a 95% bootstrap
  interval of that median (rounds resampled with replacement, fixed seed).
- The control's ratio C / T is the same estimate for two steps that compute
  the same thing: how far from 1.00 this run puts a ratio that is 1.00 by
  construction (position, build order, memory layout, the machine's noise).

``Estimate.contains(1.0)`` says that the run cannot tell a ratio from 1.00. The
benchmarks' target stays on the median ratio alone (ratio <= target); the
interval and the control are printed beside it, never instead of it.

``same_program`` says whether two steps compute the same program: under XLA
the optimised HLO modules are compared with names and metadata stripped, in a
plain graph the kinds of the traced ops (forward and gradient, before
Grappler). Rows whose programs are the same can differ only by noise.

``median_call`` is the median of repeated single calls (the vanishing benchmark).

Run a benchmark, not this module: ``.venv/bin/python benchmarks/losses.py``.
"""

from __future__ import annotations

import collections
import re
import statistics
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

__all__ = ["Timing", "Estimate", "Paired", "time_steps", "estimate", "paired", "same_program", "median_call"]


@dataclass(frozen=True)
class Timing:
    """Seconds per step of one timed loop: wall clock and this process's CPU time."""

    wall: float
    cpu: float


@dataclass(frozen=True)
class Estimate:
    """The median of per-round ratios and its 95% bootstrap interval [low, high]."""

    median: float
    low: float
    high: float

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the 95% interval."""
        return self.low <= value <= self.high

    def __format__(self, spec: str) -> str:
        """``median [low, high]`` to three decimals, aligned and padded by ``spec`` (e.g. ``<21``)."""
        return format(f"{self.median:.3f} [{self.low:.3f}, {self.high:.3f}]", spec)


@dataclass(frozen=True)
class Paired:
    """The outcome of :func:`paired`: ``ours`` against ``twin``, and the twin against its copy.

    Attributes:
        wall, cpu: ratio ours / twin per round, wall and CPU seconds (:class:`Estimate`).
        control, control_cpu: the same for control / twin (the A/A ratio), or None without a control.
        ours, twin: each side's fastest round (wall and CPU seconds per step).
        rounds: the number of rounds.
        ratio, cpu_ratio: ``wall.median`` and ``cpu.median``.
    """

    wall: Estimate
    cpu: Estimate
    control: Estimate | None
    control_cpu: Estimate | None
    ours: Timing
    twin: Timing
    rounds: int

    @property
    def ratio(self) -> float:
        return self.wall.median

    @property
    def cpu_ratio(self) -> float:
        return self.cpu.median


def _wait(result) -> None:
    """Block until every tensor of ``result`` is computed.

    A CPU tensor is read in place (NumPy shares its buffer: no copy, ~1 us); of
    any other, one element is copied to the host. The eager reshape and slice
    that a CPU tensor would need cost ~0.1-1.5 ms on a loaded machine, which in
    a short block would be added to both sides and pull every ratio towards 1.
    """
    for t in tf.nest.flatten(result):
        if "CPU" in getattr(t, "device", "CPU"):
            np.asarray(t)
        else:
            np.asarray(tf.reshape(t, [-1])[:1])


def time_steps(step, args, steps: int) -> Timing:
    """Seconds per call of ``step(*args)`` over ``steps`` calls, after the last one finished."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        result = step(*args)
    _wait(result)
    return Timing((time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps)


def estimate(ratios, resamples: int = 2000, seed: int = 0) -> Estimate:
    """Median of ``ratios`` and the 2.5th and 97.5th percentiles of its bootstrap distribution."""
    values = np.asarray([r for r in ratios if np.isfinite(r)], dtype=float)
    if values.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(values, size=(resamples, values.size), replace=True), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return Estimate(float(np.median(values)), float(low), float(high))


def paired(step_ours, step_twin, args, rounds: int, steps: int, warmup: int = 5, control=None) -> Paired:
    """Time ``step_ours`` against ``step_twin`` (and ``control`` against it) on the same ``args``.

    See the module docstring for the order of the blocks and the estimate.

    Args:
        step_ours, step_twin: the compiled steps, called as ``step(*args)``.
        args: their arguments.
        rounds: the number of rounds; each runs every step in two blocks.
        steps: calls per block.
        warmup: untimed calls of each step first (tracing, compiling, caches).
        control: an optional second, independently built copy of ``step_twin``.

    Returns:
        A :class:`Paired`.
    """
    sides = [step_ours, step_twin] + ([control] if control is not None else [])
    for step in sides:
        time_steps(step, args, warmup)  # trace, compile and warm up
    per_round = []  # per round: one (wall, cpu) total per side, seconds over its 2 * steps calls
    for r in range(rounds):
        order = [(i + r) % len(sides) for i in range(len(sides))]
        totals = [[0.0, 0.0] for _ in sides]
        for i in order + order[::-1]:
            t = time_steps(sides[i], args, steps)
            totals[i][0] += t.wall
            totals[i][1] += t.cpu
        per_round.append(totals)

    def ratios(i, j, k):
        return [t[i][k] / t[j][k] if t[j][k] > 0 else float("nan") for t in per_round]

    def fastest(i):
        best = min(per_round, key=lambda t: t[i][0])[i]
        return Timing(best[0] / 2, best[1] / 2)

    has_control = control is not None
    return Paired(
        wall=estimate(ratios(0, 1, 0)),
        cpu=estimate(ratios(0, 1, 1)),
        control=estimate(ratios(2, 1, 0)) if has_control else None,
        control_cpu=estimate(ratios(2, 1, 1)) if has_control else None,
        ours=fastest(0),
        twin=fastest(1),
        rounds=rounds,
    )


_NOT_KERNELS = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}


def _hlo_summary(step, args):
    """(canonical text, instruction count, top-level kernel count) of ``step``'s optimised HLO."""
    hlo = step.experimental_get_compiler_ir(*args)(stage="optimized_hlo")
    lines, instructions, kernels, entry = [], 0, 0, False
    for line in hlo.splitlines():
        line = re.sub(r",? (metadata|frontend_attributes|backend_config)=\{.*?\}(?=,|$| )", "", line)
        line = re.sub(r"%[\w.\-]+", "%", re.sub(r"HloModule \S+", "HloModule", line)).strip()
        lines.append(line)
        if line.startswith("ENTRY"):
            entry = True
        elif line == "}":
            entry = False
        match = re.search(r"= \S+ ([a-z][\w-]*)\(", line)
        if match:
            instructions += 1
            kernels += entry and match.group(1) not in _NOT_KERNELS
    return "\n".join(lines), instructions, kernels


def same_program(step_a, step_b, args, jit: bool) -> str:
    """A short note on whether ``step_a`` and ``step_b`` compute the same program on ``args``.

    Under XLA (``jit``): "same HLO" when the optimised HLO modules are equal
    after names and metadata are removed, else the number of top-level kernels
    (fusions, dots, ...) and of all instructions of each, ``a/b``. In a plain
    graph: "same ops" when the traced graphs hold the same kinds of ops in the
    same numbers, else their op counts ``a/b``.
    """
    if jit:
        (text_a, n_a, k_a), (text_b, n_b, k_b) = _hlo_summary(step_a, args), _hlo_summary(step_b, args)
        return "same HLO" if text_a == text_b else f"kernels {k_a}/{k_b}, instr {n_a}/{n_b}"
    kinds = [collections.Counter(op.type for op in s.get_concrete_function(*args).graph.get_operations())
             for s in (step_a, step_b)]
    return "same ops" if kinds[0] == kinds[1] else f"ops {sum(kinds[0].values())}/{sum(kinds[1].values())}"


def median_call(fn, repeats: int) -> Timing:
    """Median wall and CPU seconds of ``repeats`` calls of ``fn()`` (each call waited for)."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        _wait(fn())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(statistics.median(walls), statistics.median(cpus))
