"""The machine: what it is, its measured fp32 matmul rate, and the FLOPs of a training step.

The rate that bounds a training step of a small MLP is not the peak of a large square matmul
but that of the matmuls the step actually does, at their sizes. For a Linear layer of ``in``
inputs and ``out`` outputs and a batch of B, a step does three of them:

- forward ``y = x W^T``: (B, in) @ (in, out), 2 B in out FLOPs;
- backward to the input ``dx = dy W``: (B, out) @ (out, in), 2 B in out FLOPs (not needed for
  the first layer, whose input is the data);
- backward to the weights ``dW = dy^T x``: (out, B) @ (B, in), 2 B in out FLOPs.

So a training step costs about 3x the forward's 2 * sum(in * out) FLOPs per sample (the usual
convention, e.g. Kaplan et al. 2020, section 2.1); the exact count drops the first layer's
input gradient. :func:`matmul_rates` times exactly these matmuls with ``torch.mm``.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import torch

__all__ = [
    "machine_info",
    "load_average",
    "forward_flops_per_sample",
    "train_flops_per_sample",
    "step_matmuls",
    "matmul_rates",
]


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """CPU, core counts, torch build and thread settings, the load average now."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl": torch.backends.mkl.is_available(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "load_average": load_average(),
    }


def forward_flops_per_sample(layers: list[tuple[int, int]]) -> int:
    """2 * sum(in * out) over the Linear layers: the forward matmul FLOPs of one sample."""
    return 2 * sum(n_in * n_out for n_in, n_out in layers)


def train_flops_per_sample(layers: list[tuple[int, int]], exact: bool = False) -> int:
    """FLOPs of one sample's forward and backward matmuls.

    ``exact=False``: 3x the forward (backward ~ 2x forward, the convention). ``exact=True``:
    forward + weight gradients + input gradients of every layer but the first.
    """
    forward = forward_flops_per_sample(layers)
    if not exact:
        return 3 * forward
    n_in, n_out = layers[0]
    return 3 * forward - 2 * n_in * n_out


def step_matmuls(layers: list[tuple[int, int]], batch: int) -> list[tuple[str, int, int, int, bool, bool]]:
    """The matmuls of one training step as ``(name, m, k, n, a_t, b_t)``: (m, k) @ (k, n).

    ``a_t``/``b_t`` say that the operand is a transposed view of a contiguous tensor, as in
    ``nn.Linear`` (its weight is stored (out, in): the forward multiplies by ``W.t()``, the
    weight gradient by ``dy.t()``), so the BLAS calls see the same memory layouts.
    """
    out = []
    for i, (n_in, n_out) in enumerate(layers):
        tag = f"{n_in}x{n_out}"
        out.append((f"fwd {tag}", batch, n_in, n_out, False, True))  # x (B, in) @ W.t()
        if i > 0:
            out.append((f"dx {tag}", batch, n_out, n_in, False, False))  # dy (B, out) @ W (out, in)
        out.append((f"dW {tag}", n_out, batch, n_in, True, False))  # dy.t() @ x (B, in)
    return out


def _operand(rows: int, cols: int, transposed: bool, gen: torch.Generator) -> torch.Tensor:
    if transposed:
        return torch.randn(cols, rows, generator=gen).t()
    return torch.randn(rows, cols, generator=gen)


# The clock every timing of the benchmarks reads: wall time (the default), or the process's CPU
# time (``--clock cpu``): on a shared machine, with one torch thread, the CPU seconds a run used
# are what it costs, unlike its wall time, which grows with whatever else the machine runs.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def use_clock(name: str) -> None:
    """Time everything that follows by ``CLOCKS[name]`` ("wall" or "cpu")."""
    global clock
    if name not in CLOCKS:
        raise ValueError(f"clock must be one of {sorted(CLOCKS)}; got {name!r}.")
    clock = CLOCKS[name]


def _time_mm(
    m: int, k: int, n: int, min_seconds: float, repeats: int, a_t: bool = False, b_t: bool = False
) -> list[float]:
    """Seconds per ``torch.mm`` of (m, k) @ (k, n), one value per repeat (mean of a calibrated run of calls)."""
    gen = torch.Generator().manual_seed(0)
    a = _operand(m, k, a_t, gen)
    b = _operand(k, n, b_t, gen)
    c = torch.empty(m, n)
    for _ in range(3):  # warm up (thread pool, caches)
        torch.mm(a, b, out=c)
    # Calibrate the number of calls so one repeat lasts about min_seconds.
    calls = 1
    while True:
        t0 = clock()
        for _ in range(calls):
            torch.mm(a, b, out=c)
        elapsed = clock() - t0
        if elapsed >= min_seconds / 4 or calls >= 1 << 20:
            break
        calls *= 2
    calls = max(1, int(calls * min_seconds / max(elapsed, 1e-9)))
    times = []
    for _ in range(repeats):
        t0 = clock()
        for _ in range(calls):
            torch.mm(a, b, out=c)
        times.append((clock() - t0) / calls)
    return times


def matmul_rates(
    layers: list[tuple[int, int]],
    batch: int,
    *,
    repeats: int = 5,
    min_seconds: float = 0.1,
    square: int | None = 1024,
) -> dict:
    """Measured fp32 ``torch.mm`` rates (GFLOP/s) at the sizes of one training step.

    Each matmul is timed ``repeats`` times (each repeat ``min_seconds`` of back-to-back calls);
    its rate is the median. ``step_gflops`` is the rate of the whole set: the step's matmul FLOPs
    over the sum of their median times, i.e. the fastest the step's matmuls run in isolation.
    ``median_gflops`` is the median over the shapes, and ``square_gflops`` the rate of one
    ``square`` x ``square`` matmul (closer to the machine's peak; not measured when None).

    Returns:
        a dict: ``shapes`` (name, m, k, n, gflops), ``step_gflops``, ``median_gflops``,
        ``square_gflops``, ``threads``.
    """
    shapes = []
    total_flops = 0.0
    total_seconds = 0.0
    for name, m, k, n, a_t, b_t in step_matmuls(layers, batch):
        seconds = statistics.median(_time_mm(m, k, n, min_seconds, repeats, a_t, b_t))
        flops = 2.0 * m * k * n
        total_flops += flops
        total_seconds += seconds
        shapes.append({"name": name, "m": m, "k": k, "n": n, "gflops": flops / seconds / 1e9})
    square_seconds = statistics.median(_time_mm(square, square, square, min_seconds, repeats)) if square else None
    return {
        "batch": batch,
        "threads": torch.get_num_threads(),
        "shapes": shapes,
        "step_gflops": total_flops / total_seconds / 1e9,
        "median_gflops": statistics.median(s["gflops"] for s in shapes),
        "square": square,
        "square_gflops": 2.0 * square**3 / square_seconds / 1e9 if square else None,
    }
