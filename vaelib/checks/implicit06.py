"""Sheet 06, exercise 5: the implicit reparameterization gradient (Figurnov, Mohamed & Mnih 2018).

For z = F^-1(u; theta) with u fixed, differentiating F(z(theta), theta) = u gives
dz/dtheta = -(dF/dtheta) / (dF/dz). The check compares the student's gradient with closed-form
derivatives of explicit inverse CDFs (an oracle independent of the implicit formula); it is
re-exported by :mod:`vaelib.checks.sheet06`.
"""

from __future__ import annotations

import torch

from vaelib.checks import Case, Mistake, check_function

__all__ = ["check_implicit_gradient"]

F64 = torch.float64


# --------------------------------------------------------------------------- Exercise 5


def _partials(cdf, z, theta, shared: bool = False):
    """(dF/dz, dF/dtheta) per sample; ``shared``: with one theta for all samples (its gradient summed)."""
    z = z.detach().clone().requires_grad_(True)
    th = theta.detach().clone().requires_grad_(True) if shared else theta.detach().expand(z.shape).clone()
    th.requires_grad_(True)
    dF_dz, dF_dth = torch.autograd.grad(cdf(z, th).sum(), (z, th))
    return dF_dz, dF_dth


def _implicit_reference(cdf, z, theta):
    dF_dz, dF_dth = _partials(cdf, z, theta)
    return -dF_dth / dF_dz


IMPLICIT_MISTAKES = [
    Mistake(
        lambda cdf, z, th: -_implicit_reference(cdf, z, th),
        "sign error: differentiate F(z(theta), theta) = u in theta: dF/dz dz/dtheta + dF/dtheta = 0, so "
        "dz/dtheta = -(dF/dtheta) / (dF/dz).",
    ),
    Mistake(
        lambda cdf, z, th: (lambda p: -p[0] / p[1])(_partials(cdf, z, th)),
        "the ratio is upside down: dz/dtheta = -(dF/dtheta) / (dF/dz) (the density dF/dz in the denominator).",
    ),
    Mistake(
        lambda cdf, z, th: (lambda p: -p[1] / p[0])(_partials(cdf, z, th, shared=True)),
        "with one theta for all samples, autograd.grad(F.sum(), theta) adds up dF_s/dtheta over the samples: you "
        "need it for each sample. Give each sample its own copy of theta (theta.expand(z.shape).clone()), or loop.",
    ),
    Mistake(
        lambda cdf, z, th: -_partials(cdf, z, th)[1],
        "you left out the division by dF/dz (the density at z): dz/dtheta = -(dF/dtheta) / (dF/dz).",
    ),
]


def _exponential_cdf(z, rate):
    return 1 - torch.exp(-rate * z)


def _normal_scale_cdf(z, scale):
    return torch.special.ndtr((z - 0.5) / scale)


def _kumaraswamy_a_cdf(z, a):
    return 1 - (1 - z**a) ** 3.0


def _kumaraswamy_dz_da(z, a):
    """Closed form: differentiate the explicit inverse CDF z = (1 - (1 - u)^(1/3))^(1/a) in a at u = F(z)."""
    return -z * torch.log(z) / a  # z = w^(1/a) with w independent of a: dz/da = -z log(w) / a^2 = -z log z / a


def check_implicit_gradient(implicit_gradient) -> None:
    """Exercise 5: ``implicit_gradient(cdf, z, theta)``: dz/dtheta = -(dF/dtheta)/(dF/dz) per sample, shape (S,).

    The expected values are closed-form derivatives of explicit inverse CDFs (independent of the
    implicit formula): Exponential(rate) z = -log(1 - u)/rate gives -z/rate; Normal(0.5, s) gives
    (z - 0.5)/s; Kumaraswamy(a, 3) gives -z log(z)/a.
    """
    gen = torch.Generator().manual_seed(61)
    cases = []
    problems = [
        (_exponential_cdf, 2.0, lambda z, t: -z / t, "Exponential(rate = 2), one sample", 1, "exp"),
        (_exponential_cdf, 0.5, lambda z, t: -z / t, "Exponential(rate = 0.5), 5 samples", 5, "exp"),
        (_normal_scale_cdf, 1.5, lambda z, t: (z - 0.5) / t, "Normal(0.5, scale = 1.5), theta = the scale", 6, "n"),
        (_kumaraswamy_a_cdf, 2.0, _kumaraswamy_dz_da, "Kumaraswamy(a = 2, b = 3), theta = a", 6, "k"),
    ]
    for cdf, theta, exact, label, S, kind in problems:
        u = torch.rand(S, generator=gen, dtype=F64).clamp(0.02, 0.98)
        th = torch.tensor(theta, dtype=F64)
        if kind == "exp":
            z = -torch.log(1 - u) / th
        elif kind == "n":
            z = 0.5 + th * torch.special.ndtri(u)
        else:
            z = (1 - (1 - u) ** (1 / 3.0)) ** (1 / th)
        cases.append(Case((cdf, z, th), exact(z, th), label=label, atol=1e-7, rtol=1e-5))
    check_function(
        implicit_gradient,
        cases,
        exercise=5,
        name="implicit_gradient",
        hint="differentiate F(z(theta), theta) = u with respect to theta (u is fixed): dz/dtheta = "
        "-(dF/dtheta) / (dF/dz), both partial derivatives taken per sample (torch.autograd.grad).",
        mistakes=IMPLICIT_MISTAKES,
    )
