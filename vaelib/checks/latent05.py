"""Sheet 05, exercises 4 and 5: straight latent paths (AE vs VAE) and posterior collapse.

Exercise 4 measures how evenly a decoder morphs along the straight path z(t) = (1 - t) z_a + t z_b:
the largest step's share of the path's total change (lecture 05's ``max_step_share``, checked
against :func:`vaelib.latent_metrics.path_metrics`). Exercise 5 reports, per latent dimension,
the KL to the prior and the activity Var_x(mu_k(x)) of Burda et al. (2016, section 5.2), checked
against :func:`vaelib.kl.diag_gaussian_to_std_normal_per_dim` and a variance over the batch.
Re-exported by :mod:`vaelib.checks.sheet05`.
"""

from __future__ import annotations

import torch

from vaelib import kl, latent_metrics
from vaelib.checks import Case, CheckFailed, Mistake, call, check_function
from vaelib.checks.predictions import prediction_value

__all__ = ["check_largest_step_share", "check_path_prediction", "check_collapse_report", "classmate_statistics"]

F64 = torch.float64
CHOICES = ("AE", "VAE", "neither")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- Exercise 4


def _path(z_a, z_b, steps):
    t = torch.linspace(0.0, 1.0, steps, dtype=z_a.dtype)[:, None]  # (S, 1)
    return (1 - t) * z_a + t * z_b  # (S, K)


def _share(decoder, z_a, z_b, steps, path=_path, change=lambda d: d.abs().mean(-1), ratio=lambda s: s.max() / s.sum()):
    x = decoder(path(z_a, z_b, steps))  # (S, D)
    return ratio(change(x[1:] - x[:-1]))


STEP_MISTAKES = [
    Mistake(
        lambda dec, a, b, S: _share(dec, a, b, S, change=lambda d: d.mean(-1).abs()),
        "you averaged the signed pixel changes (pixels that brighten cancel pixels that darken): take the mean "
        "ABSOLUTE change, (x_{j+1} - x_j).abs().mean(-1).",
    ),
    Mistake(
        lambda dec, a, b, S: _share(dec, a, b, S, ratio=lambda s: s.max()),
        "that is the largest step itself; the exercise asks for its SHARE of the path's total change (divide by "
        "the sum of all steps).",
    ),
    Mistake(
        lambda dec, a, b, S: _share(dec, a, b, S, ratio=lambda s: s.max() / s.mean()),
        "divide by the SUM of the steps (the total change), not their mean: a perfectly even morph has share "
        "1/(steps - 1).",
    ),
    Mistake(
        lambda dec, a, b, S: _share(dec, a, b, S, path=lambda za, zb, n: _path(za, za + zb, n)),
        "the path ends at z_a + z_b: the straight line is z(t) = (1 - t) z_a + t z_b (or z_a + t (z_b - z_a)).",
    ),
    Mistake(
        lambda dec, a, b, S: _share(dec, a, b, S, path=lambda za, zb, n: _path(za, zb, n - 1)),
        "your path has steps - 1 points; 'steps' counts the points, both ends included: torch.linspace(0, 1, steps).",
    ),
]


def _toy_decoders():
    gen = _gen(71)
    A = torch.randn(2, 6, generator=gen, dtype=F64)
    W = 2 * torch.randn(3, 8, generator=gen, dtype=F64)
    return {
        "linear": lambda z: z @ A,  # every step the same size
        "switch": lambda z: torch.sigmoid(40 * (z[:, :1] - 0.3)).expand(-1, 5) * torch.tensor([1.0, -1, 1, -1, 1]),
        "smooth": lambda z: torch.sigmoid(z @ W),
    }


def check_largest_step_share(largest_step_share) -> None:
    """Exercise 4: ``largest_step_share(decoder, z_a, z_b, steps)``: max step / total change along the path."""
    dec = _toy_decoders()
    z2 = lambda *v: torch.tensor(v, dtype=F64)  # noqa: E731
    cases = [
        Case(
            (dec["linear"], z2(0.0, 0.0), z2(1.0, 2.0), 5),
            label="a linear decoder, 5 points: every step is the same, share = 1/4",
            atol=1e-9,
            rtol=1e-7,
        ),
        Case(
            (dec["linear"], z2(-1.0, 0.5), z2(2.0, -1.0), 21),
            label="a linear decoder, 21 points (share = 1/20)",
            atol=1e-9,
            rtol=1e-7,
        ),
        Case(
            (dec["switch"], z2(0.0), z2(1.0), 11),
            label="a decoder that switches at z = 0.3 (one big step)",
            atol=1e-9,
            rtol=1e-7,
        ),
        Case(
            (dec["smooth"], z2(-1.0, 0.0, 1.0), z2(1.0, 1.0, -2.0), 9),
            label="a nonlinear decoder, K = 3, 9 points",
            atol=1e-9,
            rtol=1e-7,
        ),
    ]
    check_function(
        largest_step_share,
        cases,
        exercise=4,
        name="largest_step_share",
        hint="z(t) = (1 - t) z_a + t z_b at t = torch.linspace(0, 1, steps); x = decoder(z), shape (steps, D); "
        "step_j = mean_d |x_{j+1} - x_j|; return max_j step_j / sum_j step_j.",
        mistakes=STEP_MISTAKES,
        reference=_share,
    )


def _choice(value, name: str) -> str:
    if not isinstance(value, str) or value.strip().upper() not in {c.upper() for c in CHOICES}:
        raise CheckFailed(f"Exercise 4, your prediction {name}: expected one of {CHOICES}, got {value!r}.")
    return next(c for c in CHOICES if c.upper() == value.strip().upper())


@torch.no_grad()
def check_path_prediction(predictions, largest_step_share, models, judge, x, y, pairs) -> dict:
    """Exercise 4: measure both models' paths with the student's function, then grade the two predictions.

    ``predictions``: (jumps_more, leaves_more), or a function returning them (the sheet's form);
    ``models``: {"AE": ..., "VAE": ...}; ``pairs``: (P, 2) rows of x. The student's shares must equal
    :func:`vaelib.latent_metrics.path_metrics`' ``max_step_share`` (21 points). A model "jumps more"
    if its median share is larger by more than 0.02; it "leaves the digits more" if the fraction of
    its path points the judge confidently calls a digit is smaller by more than 0.1. Returns the table.
    """
    predictions = prediction_value(predictions, exercise=4, name="path_predictions")
    if not isinstance(predictions, (tuple, list)) or len(predictions) != 2:
        raise CheckFailed(
            f"Exercise 4, your predictions: expected two answers (jumps_more, leaves_more), got {predictions!r}."
        )
    jumps_more, leaves_more = predictions
    predicted = {
        "jumps more": _choice(jumps_more, "jumps_more"),
        "leaves the digits more": _choice(leaves_more, "leaves_more"),
    }
    table = {name: _measure(name, m, largest_step_share, judge, x, y, pairs) for name, m in models.items()}
    ae, vae = table["AE"], table["VAE"]
    gap = ae["median largest step"] - vae["median largest step"]
    measured = {
        "jumps more": "AE" if gap > 0.02 else "VAE" if gap < -0.02 else "neither",
        "leaves the digits more": _leaves(ae["confident points"], vae["confident points"]),
    }
    print(f"{'':22s}{'AE':>8s}{'VAE':>8s}")
    for key in ae:
        print(f"{key:22s}{ae[key]:8.2f}{vae[key]:8.2f}")
    wrong = [k for k in measured if predicted[k] != measured[k]]
    if wrong:
        raise CheckFailed(
            "Exercise 4, your predictions: "
            + "; ".join(f"'{k}': you said {predicted[k]}, the measurement says {measured[k]}" for k in wrong)
            + ". Hint: in 2-d, 4000 digits fill the plane, so neither path crosses much empty space; what differs is how "
            "abruptly the decodes change (the VAE morphs more evenly). Read the table above."
        )
    print(f"Exercise 4: your predictions match the measurement ({measured}).")
    return table


def _measure(name, model, largest_step_share, judge, x, y, pairs) -> dict:
    """One model's row of the table: the student's median largest step (checked on the first pair
    against path_metrics) and the judge's fraction of confident path points."""
    paths = latent_metrics.path_metrics(model, judge, x, y, pairs, steps=21)
    codes = model.embed(x[pairs.reshape(-1)]).reshape(len(pairs), 2, -1)
    label = f"largest_step_share on the {name}'s path between x[{int(pairs[0, 0])}] and x[{int(pairs[0, 1])}]"
    theirs = call(
        largest_step_share,
        (model.decode_mean, codes[0, 0], codes[0, 1], 21),
        exercise=4,
        name="largest_step_share",
        label=label,
    )
    if abs(float(theirs) - float(paths.max_step_share[0])) > 1e-4:
        raise CheckFailed(
            f"Exercise 4, {label}: got {float(theirs):.4f}, vaelib.latent_metrics.path_metrics says "
            f"{float(paths.max_step_share[0]):.4f}. Hint: your function passed the toy decoders; does it use "
            f"the decoder's output as given (probabilities, shape (steps, D))?"
        )
    shares = torch.stack([torch.as_tensor(largest_step_share(model.decode_mean, a, b, 21)) for a, b in codes])
    return {
        "median largest step": shares.median().item(),
        "confident points": paths.frac_confident().mean().item(),
    }


def _leaves(ae: float, vae: float) -> str:
    return "AE" if vae - ae > 0.1 else "VAE" if ae - vae > 0.1 else "neither"


# --------------------------------------------------------------------------- Exercise 5


def _report(mu, log_var, threshold=0.01, unbiased=False):
    kl_k = kl.diag_gaussian_to_std_normal_per_dim(mu, log_var).mean(0)  # (K,)
    activity = mu.var(0, unbiased=unbiased)  # (K,) Var_x(mu_k(x))
    return kl_k, activity, activity <= threshold


def _collapse_verdict(mu, log_var, threshold):
    kl_k, activity, inactive = _report(mu, log_var, threshold)
    _, activity_n1, _ = _report(mu, log_var, threshold, unbiased=True)
    K = mu.shape[1]

    def verdict(got):
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            return f"expected a tuple (kl (K,), activity (K,), inactive (K,) bool), got {type(got).__name__}"
        g_kl, g_act, g_in = (torch.as_tensor(v).detach() for v in got)
        for name, v in (("kl", g_kl), ("activity", g_act), ("inactive", g_in)):
            if v.shape != (K,):
                return f"{name} has shape {tuple(v.shape)}; expected ({K},): one number per latent dimension"
        if not torch.allclose(g_kl.double(), kl_k, atol=1e-6, rtol=1e-5):
            return _kl_why(g_kl.double(), mu, log_var, kl_k)
        if not any(torch.allclose(g_act.double(), a, atol=1e-8, rtol=1e-6) for a in (activity, activity_n1)):
            if torch.allclose(g_act.double(), log_var.exp().mean(0), atol=1e-6, rtol=1e-5):
                return "activity is the variance OVER IMAGES of the posterior mean mu_k(x), not the posterior variance"
            return "activity differs from Var_x(mu_k(x)), the variance of mu[:, k] over the batch (dim 0)"
        if g_in.dtype != torch.bool:
            return f"inactive must be a bool tensor (activity <= threshold), got dtype {g_in.dtype}"
        if not torch.equal(g_in, g_act.double() <= threshold) and not torch.equal(g_in, g_act.double() < threshold):
            return (
                f"inactive must be activity <= threshold ({threshold}), the dimensions whose mean does not move with x"
            )
        return None

    return verdict


def _kl_why(got, mu, log_var, right):
    if torch.allclose(got, kl.diag_gaussian_to_std_normal_per_dim(mu, log_var).sum(0), rtol=1e-5):
        return "kl is summed over the images; average it over the batch (dim 0)"
    if torch.allclose(got, 0.5 * (mu**2 + log_var.exp() - 1 - log_var).mean(0) * 2, rtol=1e-5):
        return "kl is twice the right one: 1/2 (mu^2 + sigma^2 - 1 - log sigma^2) per dimension"
    return f"kl differs from KL(q(z_k|x) || N(0, 1)) averaged over the images, {right.tolist()}"


def classmate_statistics(B: int = 500):
    """(mu, log_var), shape (B, 8): a classmate's encoder outputs on B held-out images.

    Dimensions 0, 1, 3, 4, 7 move with the input; 2 and 5 sit on the prior (mu ~ 0, sigma ~ 1);
    6 is the same for every image but away from the prior (mu = 1.5, sigma^2 = e^-1): no
    information about x, yet a KL of about 1.3 nats.
    """
    gen = _gen(5)
    mu = torch.randn(B, 8, generator=gen, dtype=F64) * torch.tensor(
        [1.2, 0.8, 0.003, 1.0, 0.5, 0.002, 0.0, 0.3], dtype=F64
    )
    log_var = -2.0 + 0.3 * torch.randn(B, 8, generator=gen, dtype=F64)
    mu[:, 6] = 1.5
    log_var[:, 2], log_var[:, 5], log_var[:, 6] = 0.01 * log_var[:, 2], 0.01 * log_var[:, 5], -1.0
    return mu, log_var


def check_collapse_report(collapse_report) -> None:
    """Exercise 5: ``collapse_report(mu, log_var, threshold) -> (kl (K,), activity (K,), inactive (K,) bool)``."""
    gen = _gen(81)
    one = torch.zeros(4, 1, dtype=F64)
    mu, log_var = torch.randn(6, 3, generator=gen, dtype=F64), torch.randn(6, 3, generator=gen, dtype=F64)
    stats = classmate_statistics(200)
    cases = [
        Case(
            (one, one, 0.01),
            _collapse_verdict(one, one, 0.01),
            label="K = 1, q = N(0, 1) for every image: KL 0, activity 0, inactive",
        ),
        Case((mu, log_var, 0.01), _collapse_verdict(mu, log_var, 0.01), label="B = 6 images, K = 3"),
        Case((mu, log_var, 2.0), _collapse_verdict(mu, log_var, 2.0), label="B = 6, K = 3, threshold = 2"),
        Case((*stats, 0.01), _collapse_verdict(*stats, 0.01), label="the classmate's statistics (B = 200, K = 8)"),
    ]
    check_function(
        collapse_report,
        cases,
        exercise=5,
        name="collapse_report",
        hint="kl_k = mean over images of 1/2 (mu^2 + exp(log_var) - 1 - log_var); activity_k = mu[:, k].var() over "
        "the images; inactive = activity <= threshold.",
    )
