"""Random numbers for vaelib: the one place that turns ``generator=`` into a torch.Generator.

Every sampler and Monte Carlo estimate takes ``generator=`` (None, a ``torch.Generator``, or an
int seed) and draws through these helpers; :mod:`vaelib._validate` re-exports them, so a module
writes ``_validate.generator(generator)`` beside its other argument contracts.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def generator(value, name: str = "generator") -> torch.Generator | None:
    """``None``, a ``torch.Generator``, or an int seed (turned into a seeded CPU generator).

    The one place where vaelib accepts a random-number source: ``generator=0`` is the same as
    ``generator=torch.Generator().manual_seed(0)``.
    """
    if value is None or isinstance(value, torch.Generator):
        return value
    if isinstance(value, int) and not isinstance(value, bool) or is_numpy_int(value):
        if int(value) < 0:
            raise ValueError(f"{name} as a seed must be an integer >= 0; got {value!r}.")
        return torch.Generator().manual_seed(int(value))
    raise TypeError(
        f"{name} must be None, a torch.Generator or an int seed, e.g. "
        f"{name}=torch.Generator().manual_seed(0) or {name}=0; got {type(value).__name__} {value!r}."
    )


def is_numpy_int(value) -> bool:
    """True for a 0-d numpy integer (np.int64(3)): an int for every contract here."""
    return (
        type(value).__module__ == "numpy"
        and hasattr(value, "dtype")
        and value.dtype.kind in "iu"
        and getattr(value, "ndim", 1) == 0
    )


def draw_with_generator(draw, generator: torch.Generator, what: str = "q") -> Tensor:
    """Run ``draw()`` (which uses torch's global generator) seeded from ``generator``.

    For code that cannot take a generator (``torch.distributions``' ``sample``/``rsample``): one
    seed is drawn from ``generator`` and ``draw()`` runs under ``torch.random.fork_rng`` with the
    global generator of ``generator``'s device seeded with it, so the result is a deterministic
    function of ``generator``'s state, ``generator`` advances, and the global random state is
    left exactly as it was. ``what`` names the object that draws, for the device error.
    """
    device = generator.device
    seed = int(torch.randint(0, 2**62, (), generator=generator, device=device))
    on_cuda = device.type == "cuda"
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if on_cuda else []
    with torch.random.fork_rng(devices=devices):
        if on_cuda:
            torch.cuda.manual_seed(seed)
        else:
            torch.random.default_generator.manual_seed(seed)
        z = draw()
    if z.device.type != device.type:
        raise ValueError(
            f"generator is on {device} but {what} draws its samples on {z.device}; pass a generator on "
            f"the same device, e.g. torch.Generator(device='{z.device}').manual_seed(0)."
        )
    return z


def seed(name: str, value) -> int:
    """Raise a ValueError unless ``value`` is an integer >= 0 (a seed)."""
    if is_numpy_int(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (a seed); got {value!r}.")
    return value


def randn(shape, like: Tensor, gen: torch.Generator | None) -> Tensor:
    """Standard normal noise of ``shape`` on ``like``'s dtype and device, from ``gen`` (or the global RNG)."""
    return torch.randn(shape, dtype=like.dtype, device=like.device, generator=gen)


_generator = generator  # for the helpers below, whose argument of the same name shadows it


def sample_shape_tuple(sample_shape) -> tuple[int, ...]:
    """``sample_shape`` as a tuple of non-negative ints, or a ValueError."""
    if isinstance(sample_shape, int) and not isinstance(sample_shape, bool):
        sample_shape = (sample_shape,)
    try:
        ok = not isinstance(sample_shape, (str, bytes)) and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in sample_shape
        )
        shape = tuple(int(n) for n in sample_shape) if ok else ()
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(
            f"sample_shape must be a tuple of non-negative ints such as (16,) or (); got {sample_shape!r}."
        )
    return shape


def noise_shape(sample_shape: Sequence[int], *shapes: torch.Size) -> torch.Size:
    """The shape of fresh noise: ``sample_shape`` followed by the broadcast parameter shape."""
    return torch.Size(sample_shape_tuple(sample_shape)) + torch.broadcast_shapes(*shapes)


def fresh_uniform(shape: torch.Size, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform(0, 1) noise kept strictly inside (0, 1), so that log(u) and log(1 - u) are finite."""
    generator = _generator(generator)
    u = torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)
    tiny = torch.finfo(like.dtype).tiny
    return u.clamp(min=tiny, max=1.0 - torch.finfo(like.dtype).eps)
