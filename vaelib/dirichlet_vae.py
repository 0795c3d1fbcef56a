"""A VAE with a Dirichlet latent, and the measurements of component collapsing (lecture 06).

Introduced in lecture 06. The latent z lies on the probability simplex of K components:

    q(z | x) = Dirichlet(z; alpha(x)),   p(z) = Dirichlet(z; alpha_0 * 1),
    p(x | z) = Bernoulli(sigmoid(decoder(z)))

(Joo et al. 2020, "Dirichlet variational autoencoder"). The encoder is an MLP
``D -> hidden -> K`` whose outputs pass through a softplus (plus a small floor) to give the
concentrations alpha(x) > 0; the decoder mirrors it, ``K -> reversed(hidden) -> D``, exactly as in
:class:`vaelib.models.VAE` of the same ``latent_dim`` (so the two decoders have the same shapes).

Sampling. ``sampler="implicit"`` (the default) draws z with
``torch.distributions.Dirichlet(alpha).rsample()``: exact samples whose gradient is the implicit
reparameterization gradient dz/dalpha = -(dF/dalpha)/q (Figurnov et al. 2018).
``sampler="approx"`` uses the paper's approximate inverse Gamma CDF instead
(:func:`vaelib.families.dirichlet_approx`, Knowles 2015): cheaper, but lecture 06 measures its
law to be wrong for concentrations near 1 and above.

The KL term is exact: ``torch.distributions.kl_divergence`` between two Dirichlets,

    KL = log Gamma(sum alpha) - sum log Gamma(alpha_k) - log Gamma(K alpha_0) + K log Gamma(alpha_0)
         + sum_k (alpha_k - alpha_0) (psi(alpha_k) - psi(sum alpha)).

Component collapsing (Joo et al. 2020): a Gaussian VAE with more latent dimensions
than it needs switches some off: their posterior equals the prior for every x (their KL is ~0),
so the decoder receives pure noise there and learns to ignore it, driving that dimension's
decoder weights (a column of the first decoder layer) to zero: **decoder-weight collapsing**.
**Latent-value collapsing** is the other form: a component's value is ~0 for every input (the
stick-breaking VAE's late sticks). :func:`decoder_column_norms`, :func:`posterior_mean_activity` and
:func:`mean_latent_value` measure both, for any model with an ``encoder``/``decoder`` pair.

The model follows the training protocol of :mod:`vaelib.models`: ``loss(x, beta=1.0)`` returns
:class:`vaelib.objectives.LossParts`, so :func:`vaelib.train.fit` trains it. Nothing runs at import.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Dirichlet, kl_divergence

from vaelib import _validate, families, objectives
from vaelib.models import ConfiguredModule, check_image_data, check_images, mlp

__all__ = [
    "DirichletVAE",
    "decoder_column_norms",
    "posterior_mean",
    "posterior_mean_activity",
    "mean_latent_value",
]

SAMPLERS = ("implicit", "approx")
CONCENTRATION_FLOOR = 1e-3  # keeps every alpha_k > 0 (Gamma samples of alpha -> 0 underflow to 0)


class DirichletVAE(ConfiguredModule):
    """A VAE whose latent is a point on the K-simplex, with a Dirichlet(alpha_0) prior.

    Args:
        input_dim: D, the number of pixels (784 for 28x28 images).
        latent_dim: K >= 2, the number of simplex components.
        hidden_dims: widths of the encoder's hidden layers (the decoder mirrors them).
        prior_concentration: alpha_0 > 0 of the symmetric Dirichlet prior; Joo et al. (2020)
            use 0.98 on MNIST (just below 1: a prior that slightly favours sparse z).
        sampler: ``"implicit"`` (torch's exact ``rsample``) or ``"approx"`` (the paper's
            approximate inverse Gamma CDF, :func:`vaelib.families.dirichlet_approx`).
    """

    config_fields = ("input_dim", "latent_dim", "hidden_dims", "prior_concentration", "sampler")

    def __init__(
        self,
        input_dim: int,
        latent_dim: int,
        hidden_dims: Sequence[int],
        *,
        prior_concentration: float = 0.98,
        sampler: str = "implicit",
    ):
        super().__init__()
        _validate.positive_int("input_dim", input_dim)
        if not isinstance(latent_dim, int) or isinstance(latent_dim, bool) or latent_dim < 2:
            raise ValueError(
                f"latent_dim must be an integer >= 2 (a simplex needs two components at least); got "
                f"{latent_dim!r}. Use latent_dim=20 for the lecture's model."
            )
        if sampler not in SAMPLERS:
            raise ValueError(
                f"sampler must be one of {SAMPLERS} (torch's exact implicit rsample, or the Dirichlet "
                f"VAE's approximate inverse Gamma CDF); got {sampler!r}."
            )
        self.input_dim = input_dim
        self.latent_dim = latent_dim
        self.hidden_dims = _validate.hidden_dims(hidden_dims)
        self.prior_concentration = _validate.positive_number("prior_concentration", prior_concentration)
        self.sampler = sampler
        self.encoder = mlp([input_dim, *self.hidden_dims, latent_dim])
        self.decoder = mlp([latent_dim, *reversed(self.hidden_dims), input_dim])

    def check_data(self, x: Tensor, name: str = "x") -> Tensor:
        """The data contract (:func:`vaelib.models.check_image_data`); ``fit`` calls it once per data set."""
        return check_image_data(x, self.input_dim, name)

    def encode(self, x: Tensor, *, check: bool = True) -> Tensor:
        """The concentrations alpha(x) = softplus(encoder(x)) + 1e-3 of q(z | x).

        Args:
            x: images, shape ``(B, D)``, pixel values in [0, 1].
            check: validate the values of ``x`` (finite, in [0, 1]; one host sync); the shape
                and dtype are always checked. ``loss(..., check=False)`` (inside ``fit``) skips it.

        Returns:
            alpha > 0, shape ``(B, K)``.
        """
        check_images(x, self.input_dim, "x", self.encoder[0].weight)
        if check:
            objectives.check_targets("x", x)
        return nn.functional.softplus(self.encoder(x)) + CONCENTRATION_FLOOR  # (B, K)

    def embed(self, x: Tensor) -> Tensor:
        """Where the model places ``x`` on the simplex: the posterior mean alpha / sum(alpha), ``(B, K)``."""
        alpha = self.encode(x)
        return alpha / alpha.sum(-1, keepdim=True)

    def prior(self) -> Dirichlet:
        """The symmetric Dirichlet(alpha_0, ..., alpha_0) prior, on the model's device and dtype."""
        weight = self.decoder[0].weight
        return Dirichlet(
            torch.full((self.latent_dim,), self.prior_concentration, dtype=weight.dtype, device=weight.device)
        )

    def decode(self, z: Tensor, *, check: bool = True) -> Tensor:
        """Logits of the Bernoulli likelihood p(x | z), shape ``(..., D)``, for z of shape ``(..., K)``.

        ``check``: refuse a dtype other than the weights' and values outside [0, 1] or NaN (z is
        a point of the simplex; one host sync); the model's own sampling paths skip it.
        """
        if not isinstance(z, Tensor) or z.dim() < 1 or z.shape[-1] != self.latent_dim:
            got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(
                f"z must have shape (..., {self.latent_dim}) (points of the {self.latent_dim}-simplex); got {got}."
            )
        if check:
            _validate.weights_dtype("z", z, self.decoder[0].weight)
            _validate.nonempty("z", z)
            _validate.unit_interval(
                "z", z, "the simplex's", "A point of the simplex has components in [0, 1] summing to 1."
            )
        return self.decoder(z)

    def decode_mean(self, z: Tensor) -> Tensor:
        """The decoded image ``x_hat = sigmoid(decode(z))``, shape ``(..., D)``."""
        return torch.sigmoid(self.decode(z))

    def rsample(self, alpha: Tensor, sample_shape: Sequence[int] = ()) -> Tensor:
        """Reparameterized samples of Dirichlet(alpha) with the model's sampler, ``sample_shape + alpha.shape``."""
        alpha = _validate.parameter("alpha", alpha, positive=True)
        _validate.min_dims("alpha", alpha, 1, "(the last one indexes the K components)")
        sample_shape = _validate.sample_shape_tuple(sample_shape)
        if self.sampler == "approx":
            return families.dirichlet_approx(alpha, sample_shape=tuple(sample_shape))
        return Dirichlet(alpha).rsample(tuple(sample_shape))

    def loss(self, x: Tensor, beta: float = 1.0, *, check: bool = True) -> objectives.LossParts:
        """The (beta-weighted) negative ELBO with one reparameterized Dirichlet sample.

        loss = -log p(x | z) + beta * KL(Dirichlet(alpha(x)) || Dirichlet(alpha_0)),  z ~ q(z | x)

        Returns:
            :class:`vaelib.objectives.LossParts` ``(loss, recon, kl)``, batch means, in nats.
        """
        beta = objectives.check_beta(beta)
        alpha = self.encode(x, check=check)  # (B, K); check=False: fit checked the data set once
        if self.sampler == "approx":
            z = families.dirichlet_approx(alpha)  # (B, K), on the simplex
        else:
            z = Dirichlet(alpha, validate_args=False).rsample()
        recon = objectives.bernoulli_nll(self.decode(z, check=False), x, check=False).mean()
        kl = kl_divergence(Dirichlet(alpha), self.prior()).mean()
        return objectives.LossParts(loss=recon + beta * kl, recon=recon, kl=kl)

    @torch.no_grad()
    def elbo(self, x: Tensor, *, samples: int = 1, seed: int = 0) -> Tensor:
        """The ELBO of each image (nats), with exact Dirichlet samples whatever the training sampler.

        ELBO(x) = E_{z ~ q}[log p(x | z)] - KL(q(z | x) || p(z)), the expectation averaged over
        ``samples`` draws (torch's exact sampler, seeded by ``seed`` without touching the global
        random state); for binary x a lower bound on log p(x).

        Returns:
            shape ``(B,)``.
        """
        samples = _validate.positive_int("samples", samples)
        seed = _validate.integer("seed", seed, minimum=0)
        alpha = self.encode(x)  # (B, K)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            z = Dirichlet(alpha).sample((samples,))  # (S, B, K)
        log_px_z = -objectives.bernoulli_nll(self.decode(z, check=False), x, check=False).mean(0)  # (B,)
        return log_px_z - kl_divergence(Dirichlet(alpha), self.prior())

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Decode each image's posterior mean: ``x_hat``, shape ``(B, D)``."""
        return torch.sigmoid(self.decode(self.embed(x), check=False))

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """Decoded images ``x_hat`` of ``n`` latents drawn from the prior, shape ``(n, D)``."""
        n = _validate.positive_int("n", n)
        return torch.sigmoid(self.decode(self.prior().sample((n,)), check=False))


def _first_linear(module: nn.Module, name: str) -> nn.Linear:
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            return layer
    raise ValueError(f"{name} has no nn.Linear layer; decoder_column_norms needs a decoder that starts with one.")


@torch.no_grad()
def decoder_column_norms(model: nn.Module) -> Tensor:
    """The Euclidean norm of each latent dimension's weights in the first decoder layer.

    norm_k = || W[:, k] ||_2, with W of shape ``(H, K)`` the weight of ``model.decoder``'s first
    ``nn.Linear``: how strongly latent dimension k can move the decoder's first hidden layer. A
    dimension the decoder ignores has norm ~0 (decoder-weight collapsing, Joo et al. 2020).

    Args:
        model: has a ``decoder`` module whose first ``nn.Linear`` reads the latent.

    Returns:
        shape ``(K,)``.

    Introduced in lecture 06.
    """
    decoder = getattr(model, "decoder", None)
    if not isinstance(decoder, nn.Module):
        raise TypeError(
            f"model must have a `decoder` nn.Module (as vaelib.models.VAE has); got {type(model).__name__}."
        )
    return _first_linear(decoder, "model.decoder").weight.norm(dim=0)  # (K,)


@torch.no_grad()
def posterior_mean(model: nn.Module, x: Tensor) -> Tensor:
    """E_q[z | x] for each image: ``mu`` for a Gaussian VAE, ``alpha / sum(alpha)`` for a Dirichlet VAE, ``(B, K)``."""
    if hasattr(model, "embed"):
        return model.embed(x)
    raise TypeError(f"model must have an embed(x) method (a VAE or DirichletVAE); got {type(model).__name__}.")


@torch.no_grad()
def posterior_mean_activity(model: nn.Module, x: Tensor) -> Tensor:
    """How much each latent dimension's posterior mean moves with the input: Var_x(E_q[z_k | x]).

    The activity statistic of Burda et al. (2016, section 5.2), for any model with ``embed``;
    for a Gaussian VAE it is :func:`vaelib.objectives.active_units`'s variance. Its scale is the
    latent's: compare a Dirichlet VAE's values (z_k in [0, 1], mean 1/K) to each other, not to a
    Gaussian's.

    Args:
        model: has ``embed(x)`` returning E_q[z | x], shape ``(B, K)``.
        x: images ``(B, D)`` with B >= 2.

    Returns:
        shape ``(K,)``.
    """
    if not isinstance(x, Tensor) or x.dim() != 2 or len(x) < 2:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a batch of at least 2 images, shape (B, D); got {got}. Pass a few hundred.")
    return posterior_mean(model, x).var(dim=0, unbiased=False)  # (K,)


@torch.no_grad()
def mean_latent_value(model: DirichletVAE, x: Tensor) -> Tensor:
    """The average over images of E_q[z_k | x], shape ``(K,)`` (sums to 1 on the simplex).

    A component whose average value is ~0 is used by no image: latent-value collapsing.
    """
    if not isinstance(model, DirichletVAE):
        raise TypeError(f"model must be a DirichletVAE (its latent lies on a simplex); got {type(model).__name__}.")
    return model.embed(x).mean(0)  # embed -> encode checks x (non-empty, finite, in [0, 1])
