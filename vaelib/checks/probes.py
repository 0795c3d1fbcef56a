"""Probes of the noise (the answer must use the noise it is given) and of the gradients (every
input that should carry one does, with the right values)."""

from __future__ import annotations

import copy
import inspect
from typing import Any, Callable

import torch

from vaelib.checks.cases import Case
from vaelib.checks.running import call, explain
from vaelib.checks.values import compare


def _other_noise(noise: torch.Tensor) -> torch.Tensor:
    """Different noise of the same kind: uniforms stay in (0, 1), Gaussian noise stays real."""
    if noise.numel() and bool(((noise > 0) & (noise < 1)).all()):
        return (noise + 0.3137) % 1.0
    return 1.7 * noise + 0.41


def draws_own_noise(fn: Callable, case: Case, noise: int, got: Any, exercise: int, name: str, label: str) -> str | None:
    again = call(fn, case.args, case.kwargs, exercise=exercise, name=name, label=label)
    if compare(again, got, 1e-12, 1e-10) is not None:
        return (
            "two calls with the same noise gave different answers: your function draws its own noise "
            "(torch.randn, torch.rand, rsample, sample) instead of using the noise argument it is given"
        )
    return None


def ignores_noise(fn: Callable, case: Case, noise: int, got: Any, exercise: int, name: str, label: str) -> str | None:
    args = list(case.args)
    args[noise] = _other_noise(case.args[noise])
    other = call(fn, tuple(args), case.kwargs, exercise=exercise, name=name, label=label)
    if compare(other, got, 1e-12, 1e-10) is None:
        return "your answer does not change when the noise changes: it ignores the noise argument"
    return None


def _with_grad(case: Case) -> tuple[tuple, list[torch.Tensor]]:
    args = list(copy.deepcopy(case.args))
    leaves = []
    for i in case.grad:
        args[i] = args[i].detach().clone().requires_grad_(True)
        leaves.append(args[i])
    return tuple(args), leaves


def _outputs(value: Any) -> list[torch.Tensor]:
    items = value if isinstance(value, (tuple, list)) else (value,)
    return [v for v in items if isinstance(v, torch.Tensor) and v.is_floating_point()]


def _gradients(value: Any, leaves: list[torch.Tensor]) -> tuple[torch.Tensor | None, ...] | str:
    """d/d leaves of a fixed random weighting of every tensor output, or a sentence why not."""
    outs = [o for o in _outputs(value) if o.requires_grad]
    if not outs:
        return "no gradient"
    g = torch.Generator().manual_seed(12345)
    total = sum((o * (torch.rand(o.shape, generator=g, dtype=o.dtype) + 0.5)).sum() for o in outs)
    return torch.autograd.grad(total, leaves, allow_unused=True)


def gradient_problem(fn: Callable, reference: Callable, case: Case, exercise: int, name: str, label: str) -> str | None:
    names = _arg_names(reference, len(case.args))
    args, leaves = _with_grad(case)
    got = call(fn, args, copy.deepcopy(case.kwargs), exercise=exercise, name=name, label=label, copy_inputs=False)
    try:
        mine = _gradients(got, leaves)
    except RuntimeError as err:  # backpropagating through the student's graph failed
        first = str(err).split(". Hint:")[0]
        return f"backpropagating through your result failed ({first}): {explain(err) or 'see the error above'}"
    if isinstance(mine, str):
        return (
            f"the values are right but no gradient reaches {', '.join(names[i] for i in case.grad)} (the result does "
            f"not require grad): the graph is cut by .detach(), .item(), float(), numpy, torch.tensor(...) of a "
            f"result, or torch.no_grad()"
        )
    ref_args, ref_leaves = _with_grad(case)
    right = _gradients(reference(*ref_args, **copy.deepcopy(case.kwargs)), ref_leaves)
    for i, m, r in zip(case.grad, mine, right):
        if m is None and r is not None:
            return (
                f"the values are right but no gradient reaches {names[i]}: part of the computation is cut from the "
                f"graph (.detach(), .item(), .data, torch.tensor(...) of an intermediate result)"
            )
        if r is not None and not torch.allclose(m.to(torch.float64), r.to(torch.float64), atol=1e-6, rtol=1e-4):
            diff = (m.to(torch.float64) - r.to(torch.float64)).abs().max().item()
            return (
                f"the values are right but the gradient with respect to {names[i]} is wrong (largest difference "
                f"{diff:.3g}): part of the computation is detached, or computed from a copy of the input"
            )
    return None


def _arg_names(fn: Callable, n: int) -> list[str]:
    try:
        names = [p.name for p in inspect.signature(fn).parameters.values()]
    except (TypeError, ValueError):
        names = []
    return (names + [f"argument {i + 1}" for i in range(len(names), n)])[: max(n, len(names))]
