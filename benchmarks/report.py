"""Writing the results: ``results.json`` (raw numbers), ``throughput.png`` and ``REPORT.md``.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``),
so an interrupted run never leaves a half-written report.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from vaelib._io import atomic_write

__all__ = ["atomic_write_text", "write_json", "write_plot", "write_report", "headline"]

THROUGHPUT_TARGET = 1.5  # fit against the example loop (pytorch/examples vae/main.py)
HAND_TARGET = 1.0  # fit against the competent hand-written loop (issue 17)
PYRO_TARGET = 1.5  # fit against pyro SVI (issue 17)
FRACTION_TARGET = 0.65  # of the step's measured matmul rate (issue 17)


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)


def atomic_write_text(path: Path, text: str) -> None:
    _atomic(path, lambda f: f.write(text.encode("utf-8")))


def _plain(value):
    """NaN and inf become None (strict JSON has neither); tuples become lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def write_json(path: Path, results: dict) -> None:
    atomic_write_text(path, json.dumps(_plain(results), indent=1, allow_nan=False, default=str) + "\n")


def headline(results: dict) -> str:
    """The last line the command prints: ``fit/hand X.XXx, fit/pyro X.XXx, fit/reference throughput: X.XXx``."""
    tp = results.get("throughput") or {}
    peers = "".join(f"fit/{p} {_f(tp.get(f'fit_over_{p}'))}x, " for p in ("hand", "pyro"))
    ratio = tp.get("fit_over_reference")
    return peers + (f"fit/reference throughput: {ratio:.2f}x" if ratio else "fit/reference throughput: n/a")


_CLOCK_NOTE = {
    "wall": "samples/s of wall time;",
    "cpu": "samples per second of the process's CPU time (`--clock cpu`: the machine was shared, and CPU time is what a "
    "run costs whatever else runs beside it; the matmul rates are timed by the same clock);",
}

PEER_ROWS = (
    ("fit", "`vaelib.train.fit(VAE(784, 20, [400]), x, epochs, batch_size=128)`"),
    ("hand", "hand-written loop: sliced float tensor, fused Adam, no per-step `.item()` (`benchmarks/peers.py`)"),
    ("pyro", "pyro SVI, `Trace_ELBO`, the pyro VAE tutorial's model/guide (`benchmarks/peers.py`)"),
    ("reference", "pytorch/examples `vae/main.py`: DataLoader of PIL images (`benchmarks/reference.py`)"),
)


def _peers_section(results: dict) -> str:
    """The lead table: fit against the hand-written loop and pyro SVI (and the example loop), one run."""
    tp, q = results.get("throughput"), results.get("quality") or {}
    if not tp:
        return ""
    summary = q.get("summary") or {}
    epochs = q.get("epochs")
    out = [
        "## fit against its peers",
        "",
        f"**fit / hand-written loop: {_f(tp.get('fit_over_hand'))}x** (paired {_f(tp.get('fit_over_hand_paired'))}x); "
        f"**fit / pyro SVI: {_f(tp.get('fit_over_pyro'))}x** (paired {_f(tp.get('fit_over_pyro_paired'))}x); "
        f"fit / example loop: {_f(tp.get('fit_over_reference'))}x. Same model (784-400-20 VAE, Bernoulli likelihood), "
        f"same data, batch 128, Adam lr 1e-3, {tp['threads']} torch thread(s), the same rotated repeats; "
        f"{_CLOCK_NOTE[tp.get('clock', 'wall')]} "
        f"test -ELBO after {epochs if epochs else '?'} epochs on the whole training set, evaluated by the same code "
        f"(`benchmarks/quality.py`). The matmul fraction is the step's achieved FLOP rate over the rate of `torch.mm` "
        f"at the step's own sizes, measured in the same rotation.",
        "",
    ]
    rows = []
    for key, what in PEER_ROWS:
        v = tp["variants"].get(key)
        if v is None:
            continue
        s = summary.get(key)
        elbo = f"{s['neg_elbo']:.2f}" + (f" ± {s['neg_elbo_sd']:.2f}" if s["n"] > 1 else "") if s else "not run"
        if v["median"] is None:
            rows.append([f"`{key}`", what, f"skipped: {v['error']}", "", "", elbo, ""])
            continue
        ratio = "1.00x" if key == "fit" else f"{_f(tp['variants']['fit']['median'] / v['median'])}x"
        frac = v.get("fraction_of_step_matmul")
        rows.append(
            [
                f"`{key}`",
                what,
                f"{v['median']:,.0f}",
                f"{v['min']:,.0f}-{v['max']:,.0f}",
                ratio,
                elbo,
                f"{100 * frac:.0f}%" if frac else "n/a",
            ]
        )
    header = ["loop", "what", "samples/s", "min-max", "fit / this", "test -ELBO (nats)", "of matmul rate"]
    out += [_table(header, rows), ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# the plot
# ---------------------------------------------------------------------------------------------


def write_plot(path: Path, results: dict) -> bool:
    """Bars of samples/s per variant (min-max whiskers) and of GFLOP/s against the matmul rates."""
    tp = results.get("throughput")
    if not tp:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(k, v) for k, v in tp["variants"].items() if v["median"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 0.42 * len(rows) + 1.6), gridspec_kw={"width_ratios": [3, 2]})
    labels = [v["label"] for _, v in rows]
    medians = [v["median"] for _, v in rows]
    lo = [v["median"] - v["min"] for _, v in rows]
    hi = [v["max"] - v["median"] for _, v in rows]
    colors = ["0.55" if k == "reference" else "C0" if k == "fit" else "C9" for k, _ in rows]
    y = range(len(rows))
    ax1.barh(y, medians, xerr=[lo, hi], color=colors, capsize=3)
    ax1.set_yticks(list(y), labels)
    ax1.invert_yaxis()
    ax1.set_xlabel("training samples / s (median, min-max)")
    ref = tp["variants"]["reference"]["median"]
    for i, (m, (_, v)) in enumerate(zip(medians, rows)):
        ax1.text(v["max"], i, f"  {m / ref:.2f}x", va="center", fontsize=8)
    ax1.set_title(f"one epoch of {tp['images']:,} images, {tp['repeats']} repeats")
    ax1.set_xlim(0, max(v["max"] for _, v in rows) * 1.25)

    mm = results.get("matmul") or {}
    bars = []
    if mm.get("b128"):
        bars.append((f"mm {mm['b128']['square']}^3", mm["b128"]["square_gflops"], "0.4"))
        bars.append(("mm at the step's sizes", mm["b128"]["step_gflops_in_rotation"], "0.6"))
    for key in ("reference", "fit", "fit_fused_adam", "fit_b512"):
        row = tp["variants"].get(key)
        if row and row.get("achieved_gflops"):
            bars.append((row["label"], row["achieved_gflops"], "C0" if key.startswith("fit") else "0.55"))
    if bars:
        ax2.barh(range(len(bars)), [b[1] for b in bars], color=[b[2] for b in bars])
        ax2.set_yticks(range(len(bars)), [b[0] for b in bars])
        ax2.invert_yaxis()
        ax2.set_xlabel("fp32 GFLOP/s (training: 3x forward FLOPs)")
        ax2.set_title("achieved vs measured matmul rate")
    else:
        ax2.axis("off")
    fig.tight_layout()
    _atomic(path, lambda f: fig.savefig(f, format="png", dpi=80))
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------------------------
# the markdown report
# ---------------------------------------------------------------------------------------------


def _f(value, fmt: str = ".2f", none: str = "n/a") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    return format(value, fmt)


def _yes(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**yes**" if ok else "**no**")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _targets(results: dict) -> list[list[str]]:
    rows = []
    tp, q, mm, b = results.get("throughput"), results.get("quality"), results.get("matmul"), results.get("budget")
    if tp:
        for key, peer, target in (
            ("fit_over_hand", "the hand-written loop", HAND_TARGET),
            ("fit_over_pyro", "pyro SVI", PYRO_TARGET),
        ):
            r = tp.get(key)
            rows.append(
                [f"fit throughput >= {target}x {peer} (same run)", f"{_f(r)}x", _yes(r is not None and r >= target)]
            )
        r = tp["fit_over_reference"]
        rows.append(
            [
                f"fit throughput >= {THROUGHPUT_TARGET}x the reference (same run)",
                f"{_f(r)}x",
                _yes(r is not None and r >= THROUGHPUT_TARGET),
            ]
        )
    if q and "fit" in q["summary"]:
        s = q["summary"]["fit"]
        rows.append(
            [
                "... at no worse test ELBO",
                f"fit - reference: {_f(s['neg_elbo_minus_reference'], '+.2f')} nats (SE {_f(s['neg_elbo_diff_se'])}); "
                f"-IWAE {_f(s['neg_iwae_minus_reference'], '+.2f')} (SE {_f(s['neg_iwae_diff_se'])})",
                _yes(s["neg_elbo_no_worse"]),
            ]
        )
    if tp and mm:
        frac = tp["variants"]["fit"].get("fraction_of_step_matmul")
        rows.append(
            [
                f"training step >= {FRACTION_TARGET:.0%} of the measured matmul rate",
                f"fit: {_f(frac and 100 * frac, '.0f')}% of {_f(mm['b128']['step_gflops_in_rotation'], '.1f')} GFLOP/s",
                _yes(frac is not None and frac >= FRACTION_TARGET),
            ]
        )
        best = max(
            (v for v in tp["variants"].values() if v.get("fraction_of_step_matmul")),
            key=lambda v: v["fraction_of_step_matmul"],
            default=None,
        )
        if best is not None and best["label"] != tp["variants"]["fit"]["label"]:
            rows.append(
                [
                    "... best variant",
                    f"{best['label']}: {_f(100 * best['fraction_of_step_matmul'], '.0f')}%",
                    _yes(best["fraction_of_step_matmul"] >= FRACTION_TARGET),
                ]
            )
    if b:
        nbs = b.get("notebooks") or []
        if nbs and not b.get("collect_only"):
            lectures = [n for n in nbs if n["kind"] == "notebooks"]
            sheets = [n for n in nbs if n["kind"] != "notebooks"]
            for what, group in (("every lecture under 30 s", lectures), ("every exercise sheet under 30 s", sheets)):
                if group:
                    over = [n for n in group if not n["within_target"]]
                    worst = max(group, key=lambda n: n["seconds"] / n["target"])
                    rows.append(
                        [
                            f"{what} (nbval, one notebook per pytest run)",
                            f"{len(group) - len(over)}/{len(group)} within; slowest: {worst['name']} {worst['seconds']:.0f} s",
                            _yes(not over),
                        ]
                    )
            total = b.get("lectures_total")
            if total:
                rows.append(
                    [
                        f"the {len(lectures)} lectures together under {total['target']:.0f} s",
                        f"{total['seconds']:.0f} s",
                        _yes(total["within_target"]),
                    ]
                )
        tc = b.get("test_command")
        if tc and not b.get("collect_only"):
            rows.append(
                [
                    f"whole test command under {tc['target']:.0f} s after install",
                    f"{tc['seconds']:.0f} s, {tc['summary']}",
                    _yes(tc["within_target"]),
                ]
            )
    return rows


def _machine(results: dict) -> str:
    m = results["machine"]
    return (
        f"{m['cpu']}, {m['usable_cpus']} usable CPU(s), torch {m['torch']} ({m['torch_cpu_capability']}, "
        f"MKL {m['mkl']}, oneDNN {m['mkldnn']}), {m['torch_threads']} torch threads, Python {m['python']}, "
        f"{m['platform']}."
    )


def _load_note(part: dict) -> str:
    before, after = part.get("load_before"), part.get("load_after")
    if not before:
        return ""
    return f"Load average (1/5/15 min) before: {before}, after: {after}; measured {part.get('measured_at', '?')}."


def _throughput_section(results: dict) -> str:
    tp = results["throughput"]
    out = ["## Throughput", ""]
    out.append(
        f"Each variant trains the 784-400-20 VAE (Adam, lr 1e-3) for one epoch over the same "
        f"{tp['images']:,} training images ({tp['steps']} steps of 128) after {tp['warmup_steps']} untimed warm-up "
        f"steps on a fresh model; {tp['repeats']} repeats, all variants once per repeat in a rotated order (so a change "
        f'in load hits all alike). Samples/s is the median over repeats, min-max beside it. "vs base" compares '
        f"medians with the variant in the *base* column (the paired ratio, the median of within-repeat ratios, in "
        f"brackets). Data: {results['data']['name']}."
    )
    out.append("")
    rows = []
    for key, v in tp["variants"].items():
        if v["median"] is None:
            rows.append(
                [f"`{key}`", v["change"], str(v["batch"]), str(v["threads"]), f"skipped: {v['error']}", "", "", "", ""]
            )
            continue
        rows.append(
            [
                f"`{key}`",
                v["change"],
                str(v["batch"]),
                str(v["threads"]),
                f"{v['median']:,.0f}",
                f"{v['min']:,.0f}-{v['max']:,.0f}",
                f"`{v['base']}`" if v["base"] else "",
                f"{_f(v['ratio_to_base'])}x ({_f(v['paired_ratio_to_base'])}x)" if v["base"] else "",
                f"{_f(v['ratio_to_reference'])}x",
            ]
        )
    out.append(
        _table(
            [
                "variant",
                "change measured",
                "batch",
                "threads",
                "samples/s",
                "min-max",
                "base",
                "vs base",
                "vs reference",
            ],
            rows,
        )
    )
    compile_row = tp["variants"].get("fit_compile")
    if compile_row and compile_row.get("setup_seconds"):
        out += [
            "",
            f"`fit_compile`: building the compiled model and its warm-up (compilation included) took {min(compile_row['setup_seconds']):.1f}-{max(compile_row['setup_seconds']):.1f} s per repeat.",
        ]
    out += ["", "![throughput](throughput.png)", "", _load_note(tp), ""]
    return "\n".join(out)


def _matmul_section(results: dict) -> str:
    mm, tp = results["matmul"], results.get("throughput") or {}
    flops = results["flops"]
    b = mm["b128"]
    out = ["## Matmul rate and the fraction the training step reaches", ""]
    out.append(
        f"FLOPs per training sample, counted from the layer sizes {flops['layers']} (the two 400x20 heads as one "
        f"400x40 layer): forward 2 * sum(in * out) = {flops['forward']:,}; training = 3x forward = {flops['train']:,} "
        f"(the convention: backward ~ 2x forward); exactly {flops['train_exact']:,} (the first layer needs no input "
        f"gradient). The rates below are of `torch.mm` in fp32 at exactly the step's sizes and memory layouts "
        f"(batch {b['batch']}, {b['threads']} threads), each the median of {mm['repeats']} timings, measured in this run "
        f"before the throughput repeats and after them (the two are averaged)."
    )
    out.append("")
    rows = [[s["name"], f"({s['m']}, {s['k']}) @ ({s['k']}, {s['n']})", f"{s['gflops']:.1f}"] for s in b["shapes"]]
    out.append(_table(["matmul (batch 128)", "shape", "GFLOP/s"], rows))
    out.append("")
    out.append(
        f"- Rate of the step's matmuls together (their FLOPs over the sum of their times), measured once per repeat "
        f"inside the throughput rotation (so under the same load as the variants), median: "
        f"**{b['step_gflops_in_rotation']:.1f} GFLOP/s**; the fractions below are of this rate. The same measured before "
        f"the repeats: {mm['b128_before']['step_gflops']:.1f}, after: {mm['b128_after']['step_gflops']:.1f}; median over "
        f"the shapes above {b['median_gflops']:.1f}; a {b['square']}^3 matmul {b['square_gflops']:.1f} GFLOP/s."
    )
    if mm.get("b512"):
        out.append(
            f"- At batch 512: the step's matmuls together {mm['b512']['step_gflops_in_rotation']:.1f} GFLOP/s (in the rotation)."
        )
    rows = []
    for key, v in (tp.get("variants") or {}).items():
        if v.get("achieved_gflops"):
            rows.append(
                [
                    f"`{key}`",
                    str(v["batch"]),
                    f"{v['achieved_gflops']:.1f}",
                    f"{100 * v['fraction_of_step_matmul']:.0f}%",
                    f"{100 * v['fraction_of_square']:.0f}%",
                ]
            )
    if rows:
        out += [
            "",
            _table(
                [
                    "variant",
                    "batch",
                    "achieved GFLOP/s (3x fwd)",
                    "of the step's matmul rate",
                    f"of the {b['square']}^3 rate",
                ],
                rows,
            ),
        ]
    bd = results.get("breakdown")
    if bd:
        out += [
            "",
            "Where a step of `fit`'s model and loss spends its time (median ms per step, each phase timed alone):",
            "",
        ]
        rows = []
        for row in bd:
            matmul_ms = (
                1e3
                * flops["train"]
                * row["batch"]
                / (mm["b512" if row["batch"] == 512 and mm.get("b512") else "b128"]["step_gflops_in_rotation"] * 1e9)
            )
            rows.append(
                [
                    str(row["batch"]),
                    "fused" if row["fused_adam"] else "default",
                    f"{1e3 * row['forward']:.2f}",
                    f"{1e3 * row['backward']:.2f}",
                    f"{1e3 * row['optimizer']:.2f}",
                    f"{1e3 * row['total']:.2f}",
                    f"{matmul_ms:.2f}",
                ]
            )
        out.append(
            _table(
                [
                    "batch",
                    "Adam",
                    "forward + loss",
                    "backward",
                    "optimizer step",
                    "total",
                    "matmuls alone at the measured rate",
                ],
                rows,
            )
        )
    out += ["", _why_fraction(results), ""]
    return "\n".join(out)


def _why_fraction(results: dict) -> str:
    """What the fraction is made of, from this run's numbers (why the target is or is not reached)."""
    tp, mm, bd = results.get("throughput") or {}, results["matmul"], results.get("breakdown") or []
    fit = (tp.get("variants") or {}).get("fit") or {}
    frac = fit.get("fraction_of_step_matmul")
    if frac is None:
        return ""
    verdict = "meets" if frac >= FRACTION_TARGET else "misses"
    parts = [
        f"`fit` reaches {100 * frac:.0f}% of the measured rate of its step's matmuls: it {verdict} the {FRACTION_TARGET:.0%} target."
    ]
    base = next((r for r in bd if r["batch"] == 128 and not r["fused_adam"]), None)
    fused = next((r for r in bd if r["batch"] == 128 and r["fused_adam"]), None)
    if base:
        matmul_s = results["flops"]["train"] * 128 / (mm["b128"]["step_gflops_in_rotation"] * 1e9)
        other = base["total"] - matmul_s
        parts.append(
            f"At batch 128 the step's matmuls alone take {1e3 * matmul_s:.2f} ms at that rate; the whole step "
            f"(timed phase by phase, without fit's loop) takes {1e3 * base['total']:.2f} ms, so "
            f"{1e3 * max(other, 0):.2f} ms ({100 * max(other, 0) / base['total']:.0f}%) go to work that has no matmul "
            f"FLOPs: Adam's update of 652,824 parameters ({1e3 * base['optimizer']:.2f} ms; memory-bound"
            + (f", {1e3 * fused['optimizer']:.2f} ms with `fused=True`" if fused else "")
            + "), the element-wise work of the loss (sigmoid/BCE over 128 x 784 pixels and their gradients, ReLU, "
            "the KL), vaelib's input checks and per-op dispatch overhead, which a batch of 128 does not amortize."
        )
    parts.append(
        f"The ceiling itself is low for this model: its matmuls are small (the latent layers have a side of 20 or 40), "
        f"so together they run at {mm['b128']['step_gflops_in_rotation']:.0f} GFLOP/s, against {mm['b128']['square_gflops']:.0f} "
        f"GFLOP/s for a {mm['b128']['square']}^3 matmul; the fraction of the latter is {100 * fit['fraction_of_square']:.0f}%."
    )
    return " ".join(parts)


def _quality_section(results: dict) -> str:
    q = results["quality"]
    out = ["## Quality at an equal budget", ""]
    out.append(
        f"Each loop trains for {q['epochs']} epochs on {q['train_images']:,} training images, seeds {q['seeds']}; every "
        f"trained model is evaluated by the same code (`vaelib.objectives`) with the same noise: the test negative ELBO "
        f"on {q['test_images']:,} test images (one z per image, exact KL) and the negative IWAE bound with k = "
        f"{q['iwae_k']} (Burda et al. 2016) on the first {q['iwae_images']:,} of them. Lower is better (nats). "
        f'Mean ± standard deviation over seeds; "vs reference" is the difference of the means ± its standard error. '
        f'"No worse": the difference is at most two standard errors (one seed: at most 1 nat). Data: '
        f"{results['data']['name']}."
    )
    out.append("")
    rows = []
    for loop, s in q["summary"].items():
        rows.append(
            [
                f"`{loop}`",
                str(s["batch"]),
                str(s["n"]),
                f"{s['train_seconds']:.1f}",
                f"{s['samples_per_second']:,.0f}",
                f"{s['neg_elbo']:.2f} ± {_f(s['neg_elbo_sd'])}",
                f"{s['neg_iwae']:.2f} ± {_f(s['neg_iwae_sd'])}",
                "" if loop == "reference" else f"{s['neg_elbo_minus_reference']:+.2f} ± {_f(s['neg_elbo_diff_se'])}",
                "" if loop == "reference" else f"{s['neg_iwae_minus_reference']:+.2f} ± {_f(s['neg_iwae_diff_se'])}",
                "" if loop == "reference" else _yes(s["neg_elbo_no_worse"] and s["neg_iwae_no_worse"]),
                "" if loop == "reference" else f"{s['speedup_vs_reference']:.2f}x",
            ]
        )
    out.append(
        _table(
            [
                "loop",
                "batch",
                "seeds",
                "train s (mean)",
                "samples/s",
                "test -ELBO",
                f"test -IWAE (k={q['iwae_k']})",
                "-ELBO vs ref",
                "-IWAE vs ref",
                "no worse",
                "wall-clock speed-up",
            ],
            rows,
        )
    )
    out += ["", "Per run:", ""]
    rows = [
        [
            f"`{r['loop']}`",
            str(r["seed"]),
            f"{r['train_seconds']:.1f}",
            f"{r['neg_elbo']:.2f}",
            f"{r['neg_iwae']:.2f}",
            f"{r['iwae_seconds']:.1f}",
        ]
        for r in q["runs"]
    ]
    out.append(_table(["loop", "seed", "train s", "test -ELBO", "test -IWAE", "IWAE eval s"], rows))
    out += ["", _load_note(q), ""]
    return "\n".join(out)


def _budget_section(results: dict) -> str:
    b = results["budget"]
    out = ["## The course's run-time budget", ""]
    dirty = ""
    if b["dirty"]:
        shown = ", ".join(f"`{line[3:]}`" for line in b["dirty"][:6]) + (", ..." if len(b["dirty"]) > 6 else "")
        dirty = f" The working tree had {len(b['dirty'])} uncommitted change(s) ({shown}), which are not timed."
    out.append(
        f"Timed in a clean clone of commit `{b['commit'][:10]}`.{dirty} Each notebook: the wall time of "
        f"`python -m pytest <notebook>` (nbval: a fresh kernel runs every cell and compares outputs; pytest's start "
        f'included). The README test command is `{b["command"]["readme"]}`; timed "after install": its install '
        f"steps ({'; '.join(f'`{s}`' for s in b['command']['skipped_install_steps']) or 'none'}) are not re-run, the "
        f"clone uses the installed `.venv` with `PYTHONPATH` set to the clone, and the rest "
        f"(`{' && '.join(b['command']['run_steps'])}`) runs as written."
    )
    if b.get("collect_only"):
        out += [
            "",
            "**Smoke run (`--quick`): pytest only collected the tests (`--collect-only`); these are not run times.**",
        ]
    out.append("")
    rows = [
        [
            f"{n['kind']}/{n['name']}",
            f"{n['seconds']:.1f}",
            _f(n.get("pytest_seconds"), ".1f"),
            f"{n['target']:.0f}",
            _yes(n["within_target"]),
            n["summary"],
        ]
        for n in b["notebooks"]
    ]
    tc = b.get("test_command")
    if tc:
        rows.append(
            [
                "**whole test command**",
                f"{tc['seconds']:.1f} ({tc['seconds'] / 60:.1f} min)",
                _f(tc.get("pytest_seconds"), ".1f"),
                f"{tc['target']:.0f}",
                _yes(tc["within_target"]),
                tc["summary"],
            ]
        )
    header = ["what", "wall s", "pytest's own s", "target s", "within", "pytest says"]
    out.append(_table(header, rows) if rows else "No notebooks are committed yet.")
    out += [
        "",
        '"wall s" (the budget) includes starting Python and pytest; "pytest\'s own s" is the time pytest reports, without that start.',
    ]
    out += ["", _load_note(b), ""]
    return "\n".join(out)


def _adoptable(results: dict) -> str:
    tp = results.get("throughput")
    if not tp:
        return ""
    fit = tp["variants"]["fit"]["median"]
    lines = []
    for key, v in tp["variants"].items():
        if v["base"] == "fit" and v["median"] and fit and v["median"] / fit >= 1.05:
            extra = ""
            if key.startswith("fit_b") and results.get("quality"):
                s = results["quality"]["summary"].get(key)
                if s:
                    extra = f"; at equal epochs its test -ELBO is {s['neg_elbo_minus_reference']:+.2f} nats vs the reference ({'no worse' if s['neg_elbo_no_worse'] else 'worse'})"
            lines.append(f"- `{key}` ({v['change']}): {v['median'] / fit:.2f}x fit{extra}.")
    if not lines:
        return ""
    return "\n".join(["## Speed-ups on top of `fit` measured here (>= 5%)", "", *lines, ""])


def write_report(path: Path, results: dict, command: str) -> None:
    meta = results["meta"]
    out = [
        "# Benchmarks: `vaelib.train.fit` against a hand-written loop, pyro SVI and the example loop; the course's run-time budget",
        "",
        f"Written by `{command}` on {meta['finished_at']} ({meta['mode']} run). Machine: {_machine(results)} "
        f"The numbers are of this run on this machine; timings on a shared or busy machine are inflated and noisier "
        f"(the load averages are given with each part).",
        "",
        "The reference is the training loop a user would otherwise copy, written as in pytorch/examples "
        "`vae/main.py` (see `benchmarks/reference.py`): a `DataLoader` (batch 128, shuffled) over a `Dataset` that "
        "yields one image at a time as torchvision's MNIST does (uint8 -> PIL image -> `ToTensor()`), the 784-400-20 MLP with ReLU (`fc1`, `fc21`/`fc22`, `fc3`, `fc4`), Adam 1e-3, "
        "the Bernoulli loss and the KL summed, `loss.item()` every step. It is compared with "
        "`vaelib.train.fit(VAE(784, 20, [400]), x, epochs, batch_size=128, lr=1e-3)`.",
        "",
    ]
    if meta["mode"] == "quick":
        out += [
            "**Smoke run (`--quick`): a few hundred images, one epoch, one thread. It checks that the benchmark runs; its numbers mean nothing.**",
            "",
        ]
    m = results["machine"]
    if m.get("load_average") and m["load_average"][0] > 0.5 * m["usable_cpus"]:
        out += [
            f"**The machine was busy when this run started (1-minute load average {m['load_average'][0]} on "
            f"{m['usable_cpus']} CPUs): the timings below are inflated and noisy, and ratios between variants less "
            f"reliable; re-run on an idle machine for numbers to quote.**",
            "",
        ]
    peers = _peers_section(results)
    if peers:
        out.append(peers)
    targets = _targets(results)
    if targets:
        out += ["## Targets", "", _table(["target", "measured", "met"], targets), ""]
    if results.get("throughput"):
        out.append(_throughput_section(results))
    adopt = _adoptable(results)
    if adopt:
        out.append(adopt)
    if results.get("matmul"):
        out.append(_matmul_section(results))
    if results.get("quality"):
        out.append(_quality_section(results))
    if results.get("budget"):
        out.append(_budget_section(results))
    out += [
        "## Reproduce",
        "",
        "```",
        ".venv/bin/python -m benchmarks            # everything: ~20 min of training + the budget (~2x the test suite)",
        ".venv/bin/python -m benchmarks --quick    # smoke run, < 1 min; writes to benchmarks/runs/quick/",
        ".venv/bin/python -m benchmarks --only throughput quality   # skip the budget (or --no-budget)",
        ".venv/bin/python -m benchmarks --only budget",
        ".venv/bin/python -m benchmarks --help     # sizes, seeds, variants, threads, --clock",
        ".venv/bin/pip install -e '.[benchmarks]'  # pyro-ppl, for the pyro SVI peer (its rows say so when it is missing)",
        "```",
        "",
        "Parts not run keep their previous numbers from `results.json` (each part says when it was measured).",
        "",
    ]
    atomic_write_text(path, "\n".join(out))
