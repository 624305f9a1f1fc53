"""Kernel start with and without the grading sandbox, measured in the same run.

Each round starts a kernel the way autograde does (jupyter_client's AsyncKernelManager, then
``instructor.sandbox.SandboxedKernelManager``: bwrap, ipc sockets, the uid drop and rlimits),
waits until it answers, runs ``--code`` (default ``import numpy``; try ``import tensorflow``) and
shuts it down. The two kinds alternate, so load on the machine hits both alike. Printed: the
median wall-seconds (start to shut down) and CPU-seconds (the grader and every process below
it, kernel and bwrap included, up to the end of ``--code``) of each, and the ratio
sandboxed / plain, which should stay near 1.

Run: .venv/bin/python benchmarks/sandbox.py [--repeats 5] [--code "import tensorflow"]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time

import psutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from jupyter_client.manager import AsyncKernelManager  # noqa: E402

from instructor import sandbox  # noqa: E402


def _cpu() -> float:
    """CPU-seconds of this process and of every live process below it (the kernel, bwrap):
    read while the kernel still runs, because bwrap's processes are never reaped by this one,
    so ``RUSAGE_CHILDREN`` would miss the sandboxed kernel."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


async def _one(km, code: str) -> tuple[float, float]:
    start, cpu = time.perf_counter(), _cpu()
    with open(os.devnull, "wb") as devnull:
        await km.start_kernel(stdout=devnull, stderr=devnull)
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=120)
        reply = await kc.execute_interactive(code, timeout=300, output_hook=lambda msg: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{code!r} failed in the kernel: {reply['content']}")
        cpu = _cpu() - cpu
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        await km.cleanup_resources()
    return time.perf_counter() - start, cpu


async def main(repeats: int, code: str) -> None:
    box = sandbox.Sandbox()
    ok, why = box.probe()
    if not ok:
        raise SystemExit(why)
    wall = {"plain": [], "sandboxed": []}
    cpu = {"plain": [], "sandboxed": []}
    for i in range(repeats):
        for kind in (("plain", "sandboxed") if i % 2 == 0 else ("sandboxed", "plain")):
            if kind == "plain":
                km = AsyncKernelManager(kernel_name="python3")
            else:
                km = sandbox.SandboxedKernelManager(kernel_name="python3", sandbox=box)
            try:
                w, c = await _one(km, code)
            finally:
                if kind == "sandboxed":
                    km.cleanup_task()
            wall[kind].append(w)
            cpu[kind].append(c)
            print(f"round {i + 1}/{repeats} {kind:9s}: {w:6.2f} s wall, {c:6.2f} s CPU", flush=True)
    print(f"\nkernel start + {code!r}, median of {repeats}:")
    print(f"{'':10s} {'wall s':>8s} {'CPU s':>8s}")
    for kind in ("plain", "sandboxed"):
        print(f"{kind:10s} {statistics.median(wall[kind]):8.2f} {statistics.median(cpu[kind]):8.2f}")
    print(f"{'ratio':10s} {statistics.median(wall['sandboxed']) / statistics.median(wall['plain']):8.2f} "
          f"{statistics.median(cpu['sandboxed']) / statistics.median(cpu['plain']):8.2f}  (sandboxed / plain)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--code", default="import numpy")
    args = parser.parse_args()
    asyncio.run(main(args.repeats, args.code))
