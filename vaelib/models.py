"""MLP autoencoder and variational autoencoder for flattened images.

Introduced in lecture 05. Both models share one vocabulary: ``encode`` maps images ``x`` of
shape ``(B, D)`` to the latent space, ``decode`` maps latents ``z`` of shape ``(B, K)`` to
*logits* of a Bernoulli likelihood over the ``D`` pixels (``x_hat = sigmoid(logits)``).

Training protocol (used by :func:`vaelib.train.fit`): every trainable model has
``loss(x, beta=1.0)`` returning a :class:`vaelib.objectives.LossParts` with the scalar
``loss`` to minimise and its ``recon`` and ``kl`` parts (batch means). Any model with that
method (e.g. the categorical VAE of lecture 06, lecture 04's encoders) can be trained by ``fit``.
Two optional parts of the protocol:

- ``check_data(x, name)``: the model's data contract (here: flattened images ``(N, D)``,
  finite, in [0, 1], the Bernoulli likelihood's assumption). ``fit`` calls it once on the
  training and validation sets, and then calls ``loss(..., check=False)`` if ``loss`` takes
  ``check``: the per-batch checks (one host sync each) stay off the training hot path.
- ``loss(..., generator=None)``: the noise source. ``fit`` passes a generator it owns and
  checkpoints, so that interrupted-and-resumed training equals uninterrupted training.

Sizes are arguments, never constants: ``VAE(784, 2, [256])`` is the 784-256-2 model of
lecture 05. Nothing runs at import time.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from vaelib import _validate, objectives

__all__ = ["Autoencoder", "VAE", "mlp", "latent_path", "check_images", "check_image_data"]


def _check_sizes(input_dim: int, latent_dim: int, hidden_dims: Sequence[int]) -> tuple[int, ...]:
    for name, value in (("input_dim", input_dim), ("latent_dim", latent_dim)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(
                f"{name} must be an integer >= 1; got {value!r}. For 28x28 images use "
                f"input_dim=784; latent_dim is the number K of latent variables (e.g. 2 or 16)."
            )
    return _validate.hidden_dims(hidden_dims)


def check_images(x: Tensor, input_dim: int, name: str = "x", weight: Tensor | None = None) -> None:
    """Raise a TypeError/ValueError unless ``x`` is a batch of flattened images ``(B, input_dim)``.

    Cheap (no host sync): shape and type only, by design (the models call it on every batch);
    the values (finite, in [0, 1]) are :func:`check_image_data`'s contract. With ``weight`` (the
    model's first layer), also refuse a dtype other than the weights' (``torch.from_numpy`` gives
    float64; a float32 model would fail inside the matrix product with a message that names
    neither).
    """
    input_dim = _validate.positive_int("input_dim", input_dim)
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (B, {input_dim}); got {type(x).__name__}. "
            f"Convert it with torch.as_tensor({name}, dtype=torch.float32)."
        )
    if x.dim() != 2 or x.shape[1] != input_dim:
        raise ValueError(
            f"{name} must have shape (B, {input_dim}) (a batch of flattened images); got shape "
            f"{tuple(x.shape)}. Flatten images first: {name}.reshape(len({name}), -1)."
        )
    if weight is not None:
        _validate.weights_dtype(name, x, weight)


def check_image_data(x: Tensor, input_dim: int, name: str = "x") -> Tensor:
    """The image models' data contract: flattened images ``(N, input_dim)``, N >= 1, finite, in [0, 1].

    The range is the Bernoulli likelihood's assumption (:func:`vaelib.objectives.check_targets`);
    pixels scaled to 0-255 are refused with the fix. One host sync: ``fit`` calls it once per
    data set (as ``model.check_data``), never per step.

    Returns:
        ``x``, unchanged.
    """
    check_images(x, input_dim, name)
    return objectives.check_targets(name, x)


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """A multilayer perceptron: Linear layers of the given sizes with ReLU between them.

    Args:
        sizes: layer widths ``[in, hidden..., out]``; no activation after the last layer.

    Returns:
        ``nn.Sequential`` mapping ``(B, sizes[0])`` to ``(B, sizes[-1])``.
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise TypeError(
            f"sizes must be a sequence of at least two layer widths [in, hidden..., out]; got {sizes!r}. "
            f"For example mlp([784, 256, 32])."
        )
    sizes = [_validate.positive_int(f"sizes[{i}]", n) for i, n in enumerate(sizes)]
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConfiguredModule(nn.Module):
    """A module whose constructor arguments are its ``config`` and its ``repr``: written once here.

    A subclass names its constructor arguments, stored as attributes of the same names, in
    ``config_fields``; :attr:`config` (what checkpoints and shipped weights store, to rebuild or
    verify the model) is ``{"class": name, field: value...}`` and ``print(model)`` shows
    ``repr_fields`` (by default the same fields). Tuples are given as lists.
    """

    config_fields: tuple[str, ...] = ()
    repr_fields: tuple[str, ...] | None = None

    @property
    def config(self) -> dict:
        """The constructor arguments (stored in checkpoints to rebuild or verify the model)."""
        return {"class": type(self).__name__, **{k: _stored(getattr(self, k)) for k in self.config_fields}}

    def extra_repr(self) -> str:
        fields = self.config_fields if self.repr_fields is None else self.repr_fields
        return ", ".join(f"{k}={_stored(getattr(self, k))!r}" for k in fields)


def _stored(value):
    return list(value) if isinstance(value, tuple) else value


class _ImageModel(ConfiguredModule):
    """What the autoencoder and the VAE share: sizes, the decoder, input checks."""

    config_fields = ("input_dim", "latent_dim", "hidden_dims")

    def __init__(self, input_dim: int, latent_dim: int, hidden_dims: Sequence[int]):
        super().__init__()
        hidden = _check_sizes(input_dim, latent_dim, hidden_dims)
        self.input_dim = input_dim
        self.latent_dim = latent_dim
        self.hidden_dims = hidden
        # The decoder mirrors the encoder: K -> reversed(hidden) -> D logits.
        self.decoder = mlp([latent_dim, *reversed(hidden), input_dim])

    def _check_x(self, x: Tensor, check: bool = True) -> None:
        """Shape and dtype always (cheap); with ``check`` also the values (one host sync)."""
        check_images(x, self.input_dim, "x", self.encoder[0].weight)
        if check:
            objectives.check_targets("x", x)

    def check_data(self, x: Tensor, name: str = "x") -> Tensor:
        """The model's data contract (see :func:`check_image_data`); ``fit`` calls it once per data set."""
        return check_image_data(x, self.input_dim, name)

    def _check_z(self, z: Tensor) -> None:
        if not isinstance(z, Tensor):
            raise TypeError(f"z must be a torch.Tensor of shape (B, {self.latent_dim}); got {type(z).__name__}.")
        if z.dim() < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"z must have shape (..., {self.latent_dim}) (latent_dim={self.latent_dim}); got shape "
                f"{tuple(z.shape)}. Add a batch dimension for one point: z.unsqueeze(0)."
            )

    def decode(self, z: Tensor) -> Tensor:
        """Logits of the Bernoulli likelihood p(x | z).

        Args:
            z: latents, shape ``(..., K)``.

        Returns:
            logits, shape ``(..., D)``; ``torch.sigmoid(logits)`` is the mean image ``x_hat``.
        """
        self._check_z(z)
        return self.decoder(z)

    def decode_mean(self, z: Tensor) -> Tensor:
        """The decoded image ``x_hat = sigmoid(decode(z))`` (pixel probabilities), shape ``(..., D)``."""
        return torch.sigmoid(self.decode(z))

    def reconstruct(self, x: Tensor) -> Tensor:
        """Encode ``x`` to its latent point (:meth:`embed`) and decode it: ``x_hat``, shape ``(B, D)``."""
        return self.decode_mean(self.embed(x))

    def embed(self, x: Tensor) -> Tensor:  # pragma: no cover - overridden
        raise NotImplementedError


class Autoencoder(_ImageModel):
    """A deterministic autoencoder: z = encoder(x), logits = decoder(z).

    Trained on the Bernoulli reconstruction loss alone (no KL term, no noise); lecture 05
    puts it beside the VAE to show what the KL term and the noise buy.

    Args:
        input_dim: D, the number of pixels (784 for 28x28 images).
        latent_dim: K, the number of latent variables.
        hidden_dims: widths of the encoder's hidden layers (the decoder mirrors them).
    """

    def __init__(self, input_dim: int, latent_dim: int, hidden_dims: Sequence[int]):
        super().__init__(input_dim, latent_dim, hidden_dims)
        self.encoder = mlp([input_dim, *self.hidden_dims, latent_dim])

    def encode(self, x: Tensor, *, check: bool = True) -> Tensor:
        """The latent code z, shape ``(B, K)``, of images ``x``, shape ``(B, D)``.

        ``check``: validate the values of ``x`` (finite, in [0, 1]; one host sync); the shape
        and dtype are always checked. ``loss(..., check=False)`` (the training hot path) skips it.
        """
        self._check_x(x, check)
        return self.encoder(x)

    def embed(self, x: Tensor) -> Tensor:
        """Where the model places ``x`` in latent space: the code ``z``, shape ``(B, K)``."""
        return self.encode(x)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction logits, shape ``(B, D)``."""
        return self.decode(self.encode(x))

    def loss(
        self, x: Tensor, beta: float = 1.0, *, generator: torch.Generator | None = None, check: bool = True
    ) -> objectives.LossParts:
        """The reconstruction loss (Bernoulli, summed over pixels, mean over the batch).

        ``beta`` and ``generator`` are accepted for the training protocol and ignored: there is
        no KL term and no noise, so ``kl`` is zero and ``loss == recon``. ``check``: validate
        ``x`` (:meth:`check_data`); ``fit`` passes False after checking the data set once.
        """
        objectives.check_beta(beta)
        if check:
            self.check_data(x)
        recon = objectives.bernoulli_nll(self.decode(self.encode(x, check=False)), x, check=False).mean()
        return objectives.LossParts(loss=recon, recon=recon, kl=torch.zeros((), device=x.device))


class VAE(_ImageModel):
    """A variational autoencoder with a diagonal Gaussian encoder and a Bernoulli decoder.

    q(z | x) = N(mu(x), diag exp(log_var(x))), p(z) = N(0, I), p(x | z) = Bernoulli(sigmoid(decoder(z))).
    The encoder is one MLP whose last layer has 2K outputs, split into ``mu`` and ``log_var``
    (Kingma & Welling 2014, Appendix C.2).

    Args:
        input_dim: D, the number of pixels (784 for 28x28 images).
        latent_dim: K, the number of latent variables.
        hidden_dims: widths of the encoder's hidden layers (the decoder mirrors them).
    """

    def __init__(self, input_dim: int, latent_dim: int, hidden_dims: Sequence[int]):
        super().__init__(input_dim, latent_dim, hidden_dims)
        self.encoder = mlp([input_dim, *self.hidden_dims, 2 * latent_dim])

    def encode(self, x: Tensor, *, check: bool = True) -> tuple[Tensor, Tensor]:
        """The parameters of q(z | x).

        Args:
            x: images, shape ``(B, D)``, pixel values in [0, 1].
            check: validate the values of ``x`` (finite, in [0, 1]; one host sync); the shape
                and dtype are always checked. :func:`vaelib.objectives.negative_elbo` with
                ``check=False`` (the training hot path) skips it.

        Returns:
            ``(mu, log_var)``, each of shape ``(B, K)``; ``std = exp(0.5 * log_var)``.
        """
        self._check_x(x, check)
        mu, log_var = self.encoder(x).chunk(2, dim=-1)  # (B, K), (B, K)
        return mu, log_var

    def embed(self, x: Tensor) -> Tensor:
        """Where the model places ``x`` in latent space: the posterior mean ``mu``, shape ``(B, K)``."""
        return self.encode(x)[0]

    def forward(self, x: Tensor, eps: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Encode, draw one reparameterized sample z = mu + std * eps, decode.

        Returns:
            ``(logits, mu, log_var)`` with shapes ``(B, D)``, ``(B, K)``, ``(B, K)``.
        """
        mu, log_var = self.encode(x)
        z = objectives.sample_latent(mu, log_var, eps)  # (B, K)
        return self.decode(z), mu, log_var

    def loss(
        self, x: Tensor, beta: float = 1.0, *, generator: torch.Generator | None = None, check: bool = True
    ) -> objectives.LossParts:
        """The (beta-weighted) negative ELBO: :func:`vaelib.objectives.negative_elbo`.

        Args:
            x: images ``(B, D)``, values in [0, 1].
            beta: the KL weight.
            generator: draws the noise eps (``fit`` passes its own, checkpointed one).
            check: validate ``x`` (values in [0, 1], non-empty) and the intermediate tensors.
                ``vaelib.train.fit`` passes ``False``: it has checked the data set once
                (:meth:`check_data`) and checks the loss for NaN/inf once per epoch, so the
                training hot path has no per-step host sync.
        """
        return objectives.negative_elbo(self, x, beta=beta, generator=generator, check=check)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decoded images ``x_hat`` of ``n`` latents drawn from the prior N(0, I), shape ``(n, D)``."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be an integer >= 1 (how many samples); got {n!r}.")
        generator = _validate.generator(generator)
        device = next(self.parameters()).device
        noise_device = generator.device if generator is not None else device
        z = torch.randn(n, self.latent_dim, generator=generator, device=noise_device).to(device)  # (n, K)
        return self.decode_mean(z)


@torch.no_grad()
def latent_path(model: _ImageModel, x_a: Tensor, x_b: Tensor, steps: int = 10) -> tuple[Tensor, Tensor]:
    """The straight line between two images' latent points, and the images decoded along it.

    z(t) = (1 - t) z_a + t z_b for t = 0, 1/(steps-1), ..., 1, where z_a, z_b are where the
    model places x_a and x_b (the code for an autoencoder, the posterior mean for a VAE).

    Args:
        model: an :class:`Autoencoder` or :class:`VAE`.
        x_a, x_b: two images, shape ``(D,)`` each.
        steps: number of points on the path, >= 2 (the ends included).

    Returns:
        ``(z, x_hat)``: latents of shape ``(steps, K)`` and decoded images ``(steps, D)``.
    """
    if not isinstance(model, _ImageModel):
        raise TypeError(f"model must be a vaelib.models.VAE or Autoencoder; got {type(model).__name__}.")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2 (the path includes both ends); got {steps!r}.")
    for name, x in (("x_a", x_a), ("x_b", x_b)):
        if not isinstance(x, Tensor) or x.numel() != model.input_dim:
            got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"{name} must be one image of {model.input_dim} pixels, shape ({model.input_dim},); got "
                f"{got}. Pick one row of a batch: x[i]."
            )
        check_images(x.reshape(1, -1), model.input_dim, name, model.encoder[0].weight)
        objectives.check_targets(name, x.reshape(1, -1))
    ends = model.embed(torch.stack([x_a.reshape(-1), x_b.reshape(-1)]))  # (2, K)
    t = torch.linspace(0.0, 1.0, steps, device=ends.device).unsqueeze(1)  # (steps, 1)
    z = (1 - t) * ends[0] + t * ends[1]  # (steps, K)
    return z, model.decode_mean(z)
