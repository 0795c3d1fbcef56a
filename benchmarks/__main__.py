"""``python -m benchmarks``: run the benchmarks and write the report.

Parts: ``throughput`` (fit against the reference, the speed-up variants, the matmul rate and the
fraction of it a step reaches), ``quality`` (test -ELBO and -IWAE after equal epochs, several
seeds) and ``budget`` (the notebooks under nbval and the README test command, in a clean clone).
Writes ``results.json``, ``throughput.png`` and ``REPORT.md`` into ``--out`` (default
``benchmarks/``; with ``--quick``, ``benchmarks/runs/quick/``). The last line printed is
``fit/reference throughput: X.XXx``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from benchmarks import budget, machine, quality, reference, report, throughput

PARTS = ("throughput", "quality", "budget")
HERE = Path(__file__).resolve().parent

# Settings of a full run and of a --quick smoke run; any flag given on the command line wins.
FULL = {
    "train_images": None,  # all (60000 for Fashion-MNIST)
    "test_images": None,  # all (10000)
    "steps": 200,  # 25,600 images per timing: 2-6 s per variant on an idle 2-core CPU
    "repeats": 5,
    "warmup": 5,
    "mm_repeats": 5,
    "mm_seconds": 0.05,
    "breakdown_steps": 50,
    "epochs": 10,
    "seeds": [0, 1, 2],
    "iwae_images": 500,  # k = 1000 over 500 images: ~10 s per model on an idle 2-core CPU
    "iwae_k": 1000,
    "quality_loops": ["reference", "hand", "pyro", "fit", "fit_fused_adam", "fit_b256", "fit_b512"],
    "compile": True,
    "threads": 1,  # the peers are compared at one torch thread (fit_threads1 is then the same as fit)
    "budget_collect_only": False,
    "budget_first_only": False,
}
QUICK = {
    "train_images": 384,
    "test_images": 200,
    "steps": 3,
    "repeats": 2,
    "warmup": 1,
    "mm_repeats": 2,
    "mm_seconds": 0.005,
    "breakdown_steps": 5,
    "epochs": 1,
    "seeds": [0, 1],
    "iwae_images": 20,
    "iwae_k": 50,
    "quality_loops": ["reference", "hand", "pyro", "fit"],
    "compile": False,
    "budget_collect_only": True,
    "budget_first_only": True,
    "threads": 1,  # a smoke run must stay fast on a busy machine, where several threads per process stall
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Training speed and quality of vaelib.train.fit against a reference loop, and the course's run-time budget.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (< 1 min): a few hundred images, 1 epoch, 1 torch thread, pytest --collect-only for the budget; its numbers mean nothing",
    )
    p.add_argument(
        "--only", nargs="+", choices=PARTS, metavar="PART", help=f"run only these parts ({', '.join(PARTS)})"
    )
    for part in PARTS:
        p.add_argument(f"--no-{part}", action="store_true", help=f"skip the {part} part")
    p.add_argument(
        "--out",
        type=Path,
        help="folder for REPORT.md, results.json, throughput.png (default benchmarks/, --quick: benchmarks/runs/quick/)",
    )
    p.add_argument(
        "--dataset",
        choices=("auto", "fashion-mnist", "mnist-offline"),
        default="auto",
        help="auto: full Fashion-MNIST if installed, else the 5000 offline MNIST digits",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="torch.set_num_threads for the whole run (default: 1, the peers' comparison)",
    )
    p.add_argument(
        "--clock",
        choices=sorted(machine.CLOCKS),
        default="wall",
        help="what the timings read: wall time, or the process's CPU time (for a busy machine, with --threads 1)",
    )
    g = p.add_argument_group("sizes (defaults: a full run; --quick lowers them)")
    g.add_argument("--train-images", type=int, help="training images used (default: all)")
    g.add_argument("--test-images", type=int, help="test images for the -ELBO (default: all)")
    g.add_argument("--steps", type=int, help="steps of batch 128 per throughput timing (default 200)")
    g.add_argument("--repeats", type=int, help="throughput repeats (default 5)")
    g.add_argument("--warmup", type=int, help="untimed warm-up steps per timing (default 5)")
    g.add_argument(
        "--variants",
        nargs="+",
        choices=[v.key for v in throughput.VARIANTS],
        metavar="KEY",
        help=f"throughput variants (default: all; reference and fit always): {', '.join(v.key for v in throughput.VARIANTS)}",
    )
    g.add_argument(
        "--no-compile", dest="compile", action="store_false", default=None, help="skip the torch.compile variant"
    )
    g.add_argument(
        "--compile", dest="compile", action="store_true", help="run the torch.compile variant (off with --quick)"
    )
    g.add_argument("--epochs", type=int, help="quality: epochs per run (default 10)")
    g.add_argument("--seeds", type=int, nargs="+", help="quality: seeds (default 0 1 2)")
    g.add_argument("--iwae-images", type=int, help="quality: test images for the IWAE bound (default 500)")
    g.add_argument("--iwae-k", type=int, help="quality: importance samples (default 1000)")
    g.add_argument(
        "--quality-loops",
        nargs="+",
        metavar="LOOP",
        help="quality: loops to train (default: reference fit fit_fused_adam fit_b256 fit_b512; fit_bN for batch N)",
    )
    g.add_argument(
        "--budget-timeout", type=float, default=1800.0, help="budget: seconds before one pytest call is stopped"
    )
    args = p.parse_args(argv)
    profile = QUICK if args.quick else FULL
    for key, value in profile.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.only:
        args.parts = [part for part in PARTS if part in args.only]
    else:
        args.parts = [part for part in PARTS if not getattr(args, f"no_{part}")]
    if args.out is None:
        args.out = HERE / "runs" / "quick" if args.quick else HERE
    for name in ("steps", "repeats", "epochs", "iwae_k", "iwae_images"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    for loop in args.quality_loops:
        try:
            quality.parse_loop(loop)
        except ValueError as err:
            p.error(str(err))
    for needed in ("reference", "fit"):
        if needed not in args.quality_loops:
            args.quality_loops.insert(0, needed)
    return args


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def load_data(which: str, train_images: int | None, test_images: int | None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    from vaelib import data

    name = None
    if which in ("auto", "fashion-mnist"):
        try:
            (x_train, _), (x_test, _) = data.load_fashion_mnist(download=False)
            name = "Fashion-MNIST (60000 train / 10000 test)"
        except (FileNotFoundError, OSError, ValueError, RuntimeError) as err:
            if which == "fashion-mnist":
                raise
            print(f"  Fashion-MNIST not found ({type(err).__name__}); using the 5000 offline MNIST digits")
    if name is None:
        (x_train, _), (x_test, _) = data.load_mnist()
        name = "offline MNIST digits (4000 train / 1000 test, shipped in vaelib/datasets)"
    if train_images is not None:
        x_train = x_train[:train_images]
    if test_images is not None:
        x_test = x_test[:test_images]
    info = {"name": name, "train_images": len(x_train), "test_images": len(x_test)}
    return x_train.contiguous(), x_test.contiguous(), info


def _average_mm(before: dict, after: dict) -> dict:
    out = dict(before)
    out["shapes"] = [
        {**a, "gflops": (a["gflops"] + b["gflops"]) / 2} for a, b in zip(before["shapes"], after["shapes"])
    ]
    for key in ("step_gflops", "median_gflops", "square_gflops"):
        out[key] = (before[key] + after[key]) / 2
    return out


def run_throughput(args, x_train: torch.Tensor, results: dict) -> None:
    layers = reference.layer_sizes()
    keys = args.variants or [v.key for v in throughput.VARIANTS]
    if not args.compile:
        keys = [k for k in keys if k != "fit_compile"]
    steps = args.steps
    if len(x_train) < steps * 128:
        steps = max(1, len(x_train) // 128)
        print(f"  only {len(x_train)} training images: timing {steps} steps instead of {args.steps}")
    batches = sorted({128} | {v.batch for v in throughput.VARIANTS if v.key in keys})
    load_before = machine.load_average()
    print(f"[throughput] fp32 matmul rates at the step's sizes (batches {batches}), before the repeats ...")
    mm_before = {
        b: machine.matmul_rates(layers, b, repeats=args.mm_repeats, min_seconds=args.mm_seconds) for b in batches
    }
    print(
        f"  step matmuls at batch 128: {mm_before[128]['step_gflops']:.1f} GFLOP/s; {mm_before[128]['square']}^3: {mm_before[128]['square_gflops']:.1f}"
    )
    print(f"[throughput] {len(keys)} variants x {args.repeats} repeats, {steps} steps of 128 each ...")

    def probe(batch: int):
        # The step's matmul rate once per repeat, in the same rotation as the variants (same load).
        return lambda: machine.matmul_rates(layers, batch, repeats=1, min_seconds=args.mm_seconds, square=None)[
            "step_gflops"
        ]

    probes = {f"step_matmul_gflops_b{b}": probe(b) for b in batches}
    tp = throughput.measure(x_train, steps=steps, repeats=args.repeats, warmup=args.warmup, keys=keys, probes=probes)
    print("[throughput] matmul rates after the repeats ...")
    mm_after = {
        b: machine.matmul_rates(layers, b, repeats=args.mm_repeats, min_seconds=args.mm_seconds) for b in batches
    }
    print("[throughput] step breakdown (forward / backward / Adam) ...")
    breakdown = [
        throughput.step_breakdown(x_train, batch=128, steps=args.breakdown_steps),
        throughput.step_breakdown(x_train, batch=128, steps=args.breakdown_steps, fused_adam=True),
    ]
    if 512 in batches:
        breakdown.append(throughput.step_breakdown(x_train, batch=512, steps=args.breakdown_steps))
    load_after = machine.load_average()

    mm = {"repeats": args.mm_repeats, "min_seconds": args.mm_seconds}
    for b in batches:
        mm[f"b{b}"] = _average_mm(mm_before[b], mm_after[b])
        mm[f"b{b}_before"], mm[f"b{b}_after"] = mm_before[b], mm_after[b]
    flops = {
        "layers": layers,
        "forward": machine.forward_flops_per_sample(layers),
        "train": machine.train_flops_per_sample(layers),
        "train_exact": machine.train_flops_per_sample(layers, exact=True),
    }
    for b in batches:
        # The rate the fraction is taken against: the in-rotation probes (same load as the variants).
        mm[f"b{b}"]["step_gflops_in_rotation"] = tp["probes"][f"step_matmul_gflops_b{b}"]["median"]
    for key, row in tp["variants"].items():
        rate = mm.get(f"b{row['batch']}")
        if row["median"] and rate and row["threads"] == torch.get_num_threads():
            row["achieved_gflops"] = row["median"] * flops["train"] / 1e9
            row["fraction_of_step_matmul"] = row["achieved_gflops"] / rate["step_gflops_in_rotation"]
            row["fraction_of_square"] = row["achieved_gflops"] / rate["square_gflops"]
        else:
            row["achieved_gflops"] = row["fraction_of_step_matmul"] = row["fraction_of_square"] = None
    stamp = {"measured_at": _now(), "load_before": load_before, "load_after": load_after, "clock": args.clock}
    tp.update(stamp)
    mm.update(stamp)
    results.update(throughput=tp, matmul=mm, flops=flops, breakdown=breakdown)
    for key, row in tp["variants"].items():
        if row["median"]:
            frac = (
                f", {100 * row['fraction_of_step_matmul']:.0f}% of matmul rate"
                if row["fraction_of_step_matmul"]
                else ""
            )
            print(f"  {key:>18}: {row['median']:9,.0f} samples/s  {row['ratio_to_reference']:.2f}x reference{frac}")
        else:
            print(f"  {key:>18}: skipped ({row['error']})")


def _quality_estimate(args, n_train: int, results: dict) -> float | None:
    tp = results.get("throughput")
    if not tp:
        return None
    v = tp["variants"]
    rates = {"reference": v["reference"]["median"], "fit": v["fit"]["median"]}
    seconds = 0.0
    for loop in args.quality_loops:
        rate = rates.get(loop) or (v.get(loop) or {}).get("median") or rates["fit"]
        seconds += args.epochs * n_train / rate
    # IWAE: k decodes per image, ~2x the decoder's forward FLOPs for the elementwise likelihood.
    step = (results.get("matmul") or {}).get("b128", {}).get("step_gflops", 50.0)
    iwae = args.iwae_images * args.iwae_k * 2 * 2 * (20 * 400 + 400 * 784) / (step * 1e9)
    return len(args.seeds) * (seconds + len(args.quality_loops) * iwae)


def run_quality(args, x_train: torch.Tensor, x_test: torch.Tensor, results: dict) -> None:
    estimate = _quality_estimate(args, len(x_train), results)
    loops = len(args.quality_loops)
    when = f" (estimated {estimate / 60:.1f} min from this run's throughput)" if estimate else ""
    print(
        f"[quality] {loops} loops x {len(args.seeds)} seeds, {args.epochs} epochs on {len(x_train):,} images{when} ..."
    )
    load_before = machine.load_average()
    q = quality.measure(
        x_train,
        x_test,
        epochs=args.epochs,
        seeds=args.seeds,
        iwae_images=min(args.iwae_images, len(x_test)),
        iwae_k=args.iwae_k,
        loops=tuple(args.quality_loops),
    )
    q.update(measured_at=_now(), load_before=load_before, load_after=machine.load_average())
    results["quality"] = q
    for loop, s in q["summary"].items():
        diff = (
            ""
            if loop == "reference"
            else f"  (vs reference {s['neg_elbo_minus_reference']:+.2f} ± {s['neg_elbo_diff_se']:.2f})"
        )
        print(
            f"  {loop:>9}: test -ELBO {s['neg_elbo']:.2f} ± {s['neg_elbo_sd']:.2f}, -IWAE {s['neg_iwae']:.2f} ± {s['neg_iwae_sd']:.2f}{diff}"
        )


def run_budget(args, results: dict) -> None:
    mode = " (--quick: pytest --collect-only, first notebook of each kind)" if args.quick else ""
    print(f"[budget] notebooks under nbval and the README test command, in a clean clone{mode} ...")
    load_before = machine.load_average()
    b = budget.measure(
        collect_only=args.budget_collect_only, first_only=args.budget_first_only, timeout=args.budget_timeout
    )
    b.update(measured_at=_now(), load_before=load_before, load_after=machine.load_average())
    results["budget"] = b


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines show up at once, also through a pipe
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    machine.use_clock(args.clock)
    out_dir: Path = args.out
    previous = {}
    if (out_dir / "results.json").is_file():
        try:
            previous = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
    results: dict = {
        k: previous[k]
        for k in ("throughput", "matmul", "flops", "breakdown", "quality", "budget", "data")
        if k in previous
    }
    results["machine"] = machine.machine_info()
    mode = "quick" if args.quick else "full"
    print(f"benchmarks ({mode}): {', '.join(args.parts) or 'nothing'}; output in {out_dir}")
    m = results["machine"]
    print(
        f"  machine: {m['cpu']}, {m['usable_cpus']} CPUs, {torch.get_num_threads()} torch threads, load {m['load_average']}"
    )
    if m["load_average"] and m["load_average"][0] > 0.5 * m["usable_cpus"]:
        print(
            f"  warning: the machine is busy (1-minute load {m['load_average'][0]} on {m['usable_cpus']} CPUs): timings "
            f"will be inflated and noisy; with several torch threads per process, far more so (see fit_threads1)."
        )

    if "throughput" in args.parts or "quality" in args.parts:
        x_train, x_test, info = load_data(args.dataset, args.train_images, args.test_images)
        results["data"] = info
        print(f"  data: {info['name']}, using {info['train_images']:,} train / {info['test_images']:,} test images")
        if "throughput" in args.parts:
            run_throughput(args, x_train, results)
        if "quality" in args.parts:
            run_quality(args, x_train, x_test, results)
    if "budget" in args.parts:
        run_budget(args, results)

    results["meta"] = {
        "mode": mode,
        "parts_run": args.parts,
        "finished_at": _now(),
        "seconds": time.perf_counter() - started,
        "argv": sys.argv[1:] if argv is None else argv,
    }
    command = "python -m benchmarks" + (
        "" if not results["meta"]["argv"] else " " + shlex.join(results["meta"]["argv"])
    )
    report.write_json(out_dir / "results.json", results)
    report.write_plot(out_dir / "throughput.png", results)
    report.write_report(out_dir / "REPORT.md", results, command)
    print(f"wrote {out_dir / 'REPORT.md'}, results.json, throughput.png in {time.perf_counter() - started:.0f} s")
    if "throughput" not in args.parts and results.get("throughput"):
        print(
            f"(throughput not re-run: the ratio below is from {results['throughput'].get('measured_at', 'an earlier run')})"
        )
    print(report.headline(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
