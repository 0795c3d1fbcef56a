"""A VAE with a categorical latent, trained through the Gumbel-softmax relaxation.

Introduced in lecture 06. The latent is N independent categorical variables with C classes
each, written as one-hot vectors z of shape ``(B, N, C)``:

    q(z | x) = prod_n Categorical(z_n; softmax(encoder(x)_n)),   p(z) = prod_n Uniform{1..C},
    p(x | z) = Bernoulli(sigmoid(decoder(flatten(z))))

Training replaces the one-hot sample by its Gumbel-softmax relaxation
``y = softmax((logits + g) / temperature)`` in the reconstruction term, keeps the exact
categorical KL to the uniform prior, and backpropagates through y (Jang et al. 2017, their
VAE experiment; Maddison et al. 2017). The training loss is therefore
not the ELBO of the discrete model; :meth:`CategoricalVAE.elbo` evaluates that ELBO with exact
one-hot samples (Gumbel-max), a true lower bound on log p(x) for binary images x (for grey
levels, -bernoulli_nll is not a normalised log-density).

The model follows the training protocol of :mod:`vaelib.models`: ``loss(x, beta=1.0)``
returns :class:`vaelib.objectives.LossParts`, so :func:`vaelib.train.fit` trains it.
Nothing runs at import time.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from vaelib import _validate, objectives, relaxations
from vaelib.models import ConfiguredModule, check_image_data, check_images, mlp

__all__ = ["CategoricalVAE", "categorical_kl_to_uniform"]


def categorical_kl_to_uniform(logits: Tensor) -> Tensor:
    """KL(Categorical(softmax(logits)) || Uniform{1..C}), summed over the N variables.

    KL = sum_n sum_c q_nc log q_nc + N log C   (the negative entropy plus log C per variable)

    Args:
        logits: ``(..., N, C)``.

    Returns:
        one KL per row, shape ``(...)``, in nats (0 when q is uniform, at most N log C).

    Introduced in lecture 06.
    """
    logits = _validate.logits("logits", logits)
    _validate.min_dims("logits", logits, 2, "(..., N, C): N categorical variables with C classes")
    log_q = torch.log_softmax(logits, dim=-1)  # (..., N, C)
    C = logits.shape[-1]
    # q log q with the convention 0 log 0 = 0 (a -inf logit gives q = 0, log q = -inf)
    neg_entropy = torch.where(log_q > -math.inf, log_q.exp() * log_q, torch.zeros_like(log_q))
    return (neg_entropy.sum(-1) + math.log(C)).sum(-1)  # (...)


class CategoricalVAE(ConfiguredModule):
    """A VAE whose latent is ``N`` categorical variables with ``C`` classes each.

    The encoder is an MLP ``D -> hidden -> N*C`` (the logits), the decoder an MLP
    ``N*C -> reversed(hidden) -> D`` reading the flattened one-hot (or relaxed) vectors.

    Args:
        input_dim: D, the number of pixels (784 for 28x28 images).
        num_variables: N, the number of categorical latent variables.
        num_classes: C >= 2, the classes of each.
        hidden_dims: widths of the encoder's hidden layers (the decoder mirrors them).
        temperature: the Gumbel-softmax temperature used by :meth:`loss` when none is passed;
            an attribute, so a training callback can anneal it (Jang et al. anneal 1 -> 0.5).
        hard: train with the straight-through Gumbel-softmax (one-hot forward pass).
    """

    config_fields = ("input_dim", "num_variables", "num_classes", "hidden_dims")
    repr_fields = (*config_fields, "temperature", "hard")

    def __init__(
        self,
        input_dim: int,
        num_variables: int,
        num_classes: int,
        hidden_dims: Sequence[int],
        *,
        temperature: float = 1.0,
        hard: bool = False,
    ):
        super().__init__()
        for name, value in (("input_dim", input_dim), ("num_variables", num_variables)):
            _validate.positive_int(name, value)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise ValueError(
                f"num_classes must be an integer >= 2 (a categorical needs two classes at least); "
                f"got {num_classes!r}. For binary latents use num_classes=2."
            )
        hidden_dims = _validate.hidden_dims(hidden_dims)
        self.input_dim = input_dim
        self.num_variables = num_variables
        self.num_classes = num_classes
        self.hidden_dims = hidden_dims
        self.temperature = _validate.temperature(temperature)
        self.hard = _validate.flag("hard", hard)
        width = num_variables * num_classes  # the decoder reads N one-hot vectors side by side
        self.encoder = mlp([input_dim, *self.hidden_dims, width])
        self.decoder = mlp([width, *reversed(self.hidden_dims), input_dim])

    def _check_x(self, x: Tensor, check: bool = True) -> None:
        """Shape and dtype always (cheap); with ``check`` also the values (one host sync)."""
        check_images(x, self.input_dim, "x", self.encoder[0].weight)
        if check:
            objectives.check_targets("x", x)

    def check_data(self, x: Tensor, name: str = "x") -> Tensor:
        """The data contract: flattened images ``(N, D)`` in [0, 1] (:func:`vaelib.models.check_image_data`).

        ``vaelib.train.fit`` calls it once per data set, then trains with ``loss(..., check=False)``.
        """
        return check_image_data(x, self.input_dim, name)

    def encode(self, x: Tensor, *, check: bool = True) -> Tensor:
        """The logits of q(z | x).

        Args:
            x: images, shape ``(B, D)``, pixel values in [0, 1].
            check: validate the values of ``x`` (finite, in [0, 1]; one host sync); the shape
                and dtype are always checked. ``loss(..., check=False)`` skips it.

        Returns:
            logits, shape ``(B, N, C)``.
        """
        self._check_x(x, check)
        return self.encoder(x).view(len(x), self.num_variables, self.num_classes)  # (B, N, C)

    def decode(self, z: Tensor, *, check: bool = True) -> Tensor:
        """Logits of the Bernoulli likelihood p(x | z).

        Args:
            z: one-hot or relaxed latents, shape ``(..., N, C)``.
            check: refuse NaN/inf in ``z`` and a dtype other than the weights' (one host sync);
                ``loss(..., check=False)`` skips it.

        Returns:
            logits, shape ``(..., D)``.
        """
        want = (self.num_variables, self.num_classes)
        if not isinstance(z, Tensor) or z.dim() < 2 or tuple(z.shape[-2:]) != want:
            got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(
                f"z must have shape (..., {want[0]}, {want[1]}) (N one-hot vectors of C classes); "
                f"got {got}. Build one-hot latents with torch.nn.functional.one_hot(index, C).float()."
            )
        if check:
            _validate.weights_dtype("z", z, self.decoder[0].weight)
            _validate.finite("z", z)
        return self.decoder(z.flatten(-2))  # (..., N*C) -> (..., D)

    def loss(
        self,
        x: Tensor,
        beta: float = 1.0,
        temperature: float | None = None,
        *,
        u: Tensor | None = None,
        generator: torch.Generator | None = None,
        check: bool = True,
    ) -> objectives.LossParts:
        """The relaxed training loss: recon of a Gumbel-softmax sample + beta * exact KL.

        loss = -log p(x | y) + beta * KL(q(z | x) || Uniform),  y = softmax((logits + g) / tau)

        Args:
            x: images, shape ``(B, D)``, values in [0, 1].
            beta: weight of the KL term, >= 0.
            temperature: tau > 0; defaults to ``self.temperature``.
            u: Uniform(0, 1) noise of shape ``(B, N, C)``; drawn fresh when omitted.
            generator: draws the fresh noise (``fit`` passes its own, checkpointed one).
            check: validate ``x`` (:meth:`check_data`: one host sync); ``fit`` passes False
                after checking the whole data set once.

        Returns:
            :class:`vaelib.objectives.LossParts` ``(loss, recon, kl)``, batch means; ``kl`` is
            summed over the N variables.
        """
        beta = objectives.check_beta(beta)
        tau = self.temperature if temperature is None else _validate.temperature(temperature)
        if check:
            self.check_data(x)
            generator = _validate.generator(generator)
        logits = self.encode(x, check=False)  # (B, N, C); x checked above, or by fit once
        y = relaxations.gumbel_softmax(logits, tau, u=u, hard=self.hard, generator=generator)  # (B, N, C)
        recon = objectives.bernoulli_nll(self.decode(y, check=False), x, check=False).mean()
        kl = categorical_kl_to_uniform(logits).mean()
        return objectives.LossParts(loss=recon + beta * kl, recon=recon, kl=kl)

    @torch.no_grad()
    def elbo(self, x: Tensor, *, samples: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """The ELBO of the discrete model for each image, with exact one-hot samples (nats).

        ELBO(x) = E_{z ~ q(z|x)}[log p(x | z)] - KL(q(z | x) || Uniform), the expectation averaged
        over ``samples`` Gumbel-max draws (exact categorical samples, no relaxation).

        Args:
            x: images, shape ``(B, D)``.
            samples: number of z draws per image, >= 1.
            generator: seeds the draws.

        Returns:
            shape ``(B,)``, for binary x a lower bound on log p(x) for each image (in
            expectation over the draws).
        """
        samples = _validate.positive_int("samples", samples)
        self.check_data(x)
        generator = _validate.generator(generator)
        logits = self.encode(x, check=False)  # (B, N, C)
        z = relaxations.gumbel_max(logits, sample_shape=(samples,), generator=generator)  # (S, B, N, C)
        log_px_z = -objectives.bernoulli_nll(self.decode(z, check=False), x, check=False).mean(0)  # (B,)
        return log_px_z - categorical_kl_to_uniform(logits)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Decode each image's most probable code (argmax per variable): ``x_hat``, shape ``(B, D)``."""
        logits = self.encode(x)
        z = torch.nn.functional.one_hot(logits.argmax(-1), self.num_classes).to(logits.dtype)
        return torch.sigmoid(self.decode(z, check=False))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decoded images ``x_hat`` of ``n`` latents drawn from the uniform prior, shape ``(n, D)``."""
        n = _validate.positive_int("n", n)
        generator = _validate.generator(generator)
        device = next(self.parameters()).device
        index = torch.randint(
            self.num_classes,
            (n, self.num_variables),
            generator=generator,
            device=device if generator is None else generator.device,
        ).to(device)  # (n, N)
        dtype = next(self.parameters()).dtype
        z = torch.nn.functional.one_hot(index, self.num_classes).to(dtype)  # (n, N, C)
        return torch.sigmoid(self.decode(z, check=False))
