"""The engine of the fuzz test (tests/test_fuzz.py): argument kinds, their mutations, the verdicts.

A registry entry says how to build one valid call of a public function (``build() -> (fn,
kwargs)``) and the *kind* of each argument it fuzzes (``"tensor"``, ``"pos"``, ``"int"``, ...).
Each kind has a list of mutations: a bad value (NaN, inf, empty, out of range, a wrong type) or
an equivalent one (the same numbers as a list, a numpy array, float64; an int seed for a
generator). Each call gets one verdict:

- ``ok``: valid or equivalent input gave a finite result; or bad input raised a TypeError or
  ValueError whose message names the argument; or an empty input gave an empty/finite result.
- ``clear``: (counted inside ``ok``) the call raised such an error.
- ``silent``: bad input returned a result (``silent-nonfinite`` when that result holds NaN or
  inf), or valid input returned NaN or inf.
- ``obscure``: another exception type, or a TypeError/ValueError that does not name the argument.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor

BAD, SAME, EMPTY = "bad", "same", "empty"


@dataclass
class Entry:
    """One fuzzed call: ``build()`` returns ``(fn, kwargs)`` for a valid call; ``kinds`` maps the
    fuzzed argument names to their kinds; ``owner`` names whoever owns the function's module."""

    name: str
    build: Callable[[], tuple[Callable, dict]]
    kinds: dict[str, str]
    owner: str = "validation"
    skip: tuple[str, ...] = ()  # mutation labels that do not apply (with a comment at the entry)
    mark: object = None  # a pytest mark (xfail) for entries owned by another engineer


@dataclass
class Outcome:
    entry: str
    arg: str
    mutation: str
    verdict: str  # ok | clear | silent | silent-nonfinite | obscure
    detail: str = ""


def _poison(t: Tensor, value: float) -> Tensor:
    t = t.detach().clone()
    if t.numel() == 0:
        return t
    t.view(-1)[t.numel() // 2] = value
    return t


def _empty(t: Tensor) -> Tensor:
    if t.dim() == 0:
        return t.new_empty(0)
    return t.detach()[:0].clone()


def _tensor_mutations(t: Tensor, kind: str) -> list[tuple[str, str, object]]:
    """(label, class, value) for a tensor argument of the given kind."""
    t = t.detach()
    out: list[tuple[str, str, object]] = [
        ("nan", BAD, _poison(t, math.nan)),
        ("+inf", BAD, _poison(t, math.inf)),
        ("none", BAD, None),
        ("string", BAD, "0.5"),
        ("bool", BAD, True),
        ("empty", EMPTY, _empty(t)),
        ("list", SAME, t.tolist()),
        ("numpy", SAME, t.numpy().copy()),
        ("float64", SAME, t.double()),
    ]
    if kind != "logits":  # logits may be -inf: a class of probability 0
        out.append(("-inf", BAD, _poison(t, -math.inf)))
    if kind == "pos":
        out.append(("negative", BAD, _poison(t, -1.0)))
    if kind == "prob":
        out += [("above-1", BAD, _poison(t, 1.5)), ("below-0", BAD, _poison(t, -0.5))]
    if kind == "unif":
        out += [("one", BAD, _poison(t, 1.0)), ("zero", BAD, _poison(t, 0.0))]
    if kind == "tril":
        if t.shape[-1] >= 2:
            above = t.clone()
            above[..., 0, -1] = 0.7
            out.append(("not-triangular", BAD, above))
        out.append(("negative-diagonal", BAD, _negative_diagonal(t)))
    if kind == "cov":
        out.append(("not-symmetric", BAD, _asymmetric(t)))
        out.append(("singular", BAD, torch.zeros_like(t)))
    return out


def _negative_diagonal(t: Tensor) -> Tensor:
    t = t.clone()
    t[..., 0, 0] = -abs(float(t[..., 0, 0].flatten()[0])) - 0.5
    return t


def _asymmetric(t: Tensor) -> Tensor:
    t = t.clone()
    if t.shape[-1] >= 2:
        t[..., 0, -1] = t[..., 0, -1] + 0.5
    return t


NUMBER_MUTATIONS = [
    ("nan", BAD, math.nan),
    ("+inf", BAD, math.inf),
    ("none", BAD, None),
    ("string", BAD, "1"),
    ("bool", BAD, True),
]
INT_MUTATIONS = [
    ("zero", BAD, 0),
    ("negative", BAD, -1),
    ("bool", BAD, True),
    ("float", BAD, 2.5),
    ("none", BAD, None),
    ("string", BAD, "2"),
]


def mutations(kind: str, value) -> list[tuple[str, str, object]]:
    """Every mutation of one argument of the given kind, built from its valid value."""
    if kind in ("tensor", "pos", "prob", "logits", "unif", "tril", "cov"):
        return _tensor_mutations(torch.as_tensor(value), kind)
    if kind == "num":  # a finite number > 0
        return NUMBER_MUTATIONS + [
            ("zero", BAD, 0.0),
            ("negative", BAD, -1.0),
            ("numpy-float", SAME, np.float64(value)),
        ]
    if kind == "real":  # any finite number
        return NUMBER_MUTATIONS + [("numpy-float", SAME, np.float64(value))]
    if kind == "int":
        return [m for m in INT_MUTATIONS if m[2] != value] + [("numpy-int", SAME, np.int64(value))]
    if kind == "labels":  # integer class labels
        t = torch.as_tensor(value)
        return [
            ("none", BAD, None),
            ("string", BAD, "0"),
            ("bool", BAD, True),
            ("float", BAD, t.float() + 0.5),
            ("negative", BAD, t - t.max() - 1),
            ("empty", EMPTY, t[:0].clone()),
            ("list", SAME, t.tolist()),
            ("numpy", SAME, t.numpy().copy()),
        ]
    if kind == "gen":
        return [("int-seed", SAME, 0), ("string", BAD, "seed"), ("float", BAD, 1.5)]
    if kind == "fn":
        return [("none", BAD, None), ("not-callable", BAD, 3)]
    if kind == "choice":
        return [("unknown", BAD, "bogus"), ("none", BAD, None), ("int", BAD, 3)]
    if kind == "flag":
        return [("string", BAD, "yes"), ("int", BAD, 2)]
    if kind == "shape":
        return [("negative", BAD, (-1,)), ("float", BAD, (2.5,)), ("string", BAD, "ab"), ("list", SAME, [2])]
    if kind == "dist":
        return [("none", BAD, None), ("tensor", BAD, torch.zeros(2))]
    if kind == "object":
        return [("none", BAD, None), ("string", BAD, "model")]
    raise KeyError(kind)


def nonfinite(result) -> bool:
    """True if the result holds a NaN or an infinity anywhere (tensors, numbers, containers)."""
    if isinstance(result, Tensor):
        return bool(result.is_floating_point() and not torch.isfinite(result.detach()).all())
    if isinstance(result, np.ndarray):
        return bool(result.dtype.kind == "f" and not np.isfinite(result).all())
    if isinstance(result, float):
        return not math.isfinite(result)
    if isinstance(result, (tuple, list)):
        return any(nonfinite(r) for r in result)
    if isinstance(result, dict):
        return any(nonfinite(r) for r in result.values())
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return any(nonfinite(getattr(result, f.name)) for f in dataclasses.fields(result))
    if isinstance(result, torch.nn.Module):
        return any(nonfinite(p) for p in result.parameters())
    return False


def verdict(arg: str, klass: str, call: Callable[[], object]) -> tuple[str, str]:
    """Run one call and judge it (see the module docstring)."""
    try:
        result = call()
    except (TypeError, ValueError) as err:
        msg = str(err)
        if arg in msg or arg == "-":
            return "clear", ""
        return "obscure", f"{type(err).__name__} not naming {arg!r}: {msg[:160]}"
    except Exception as err:  # noqa: BLE001 - the point is to catch every other type
        return "obscure", f"{type(err).__name__}: {str(err)[:160]}"
    if nonfinite(result):
        return "silent-nonfinite", "returned NaN or inf"
    if klass == BAD:
        return "silent", "returned a result for bad input"
    return "ok", ""


def run_entry(entry: Entry) -> list[Outcome]:
    """The baseline call and every mutation of every fuzzed argument of one entry."""
    fn, kwargs = entry.build()
    outcomes = []
    v, d = verdict("-", SAME, lambda: fn(**kwargs))
    outcomes.append(Outcome(entry.name, "-", "valid", "ok" if v == "clear" else v, d))
    if v != "ok":
        outcomes[-1].verdict, outcomes[-1].detail = "obscure", f"valid call failed: {d or v}"
    for arg, kind in entry.kinds.items():
        for label, klass, value in mutations(kind, kwargs[arg]):
            if label in entry.skip or f"{arg}:{label}" in entry.skip:
                continue
            fn, kwargs = entry.build()  # fresh objects: a call may have changed them
            bad = {**kwargs, arg: value}
            v, d = verdict(arg, klass, lambda: fn(**bad))
            outcomes.append(Outcome(entry.name, arg, label, v, d))
    return outcomes


@dataclass
class Figures:
    tried: int = 0
    clear: int = 0
    ok: int = 0
    obscure: int = 0
    silent: int = 0
    silent_nonfinite: int = 0
    failures: list[Outcome] = field(default_factory=list)

    def add(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            self.tried += 1
            if o.verdict == "clear":
                self.clear += 1
            elif o.verdict == "ok":
                self.ok += 1
            else:
                self.failures.append(o)
                if o.verdict == "obscure":
                    self.obscure += 1
                else:
                    self.silent += 1
                    self.silent_nonfinite += o.verdict == "silent-nonfinite"

    def line(self) -> str:
        return (
            f"inputs tried {self.tried}; clear errors {self.clear}; finite results {self.ok}; "
            f"obscure {self.obscure}; silent wrong {self.silent} "
            f"({self.silent_nonfinite} NaN/inf)"
        )
