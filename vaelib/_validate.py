"""Input validation shared by every vaelib module: the one place each argument contract lives.

Each helper raises ``ValueError`` (or ``TypeError``) with a message that names the argument,
says what was received and what was expected, and what to do about it. Modules call them as
``_validate.real("mu", mu)``; the contracts live in three modules by kind, re-exported here:
:mod:`vaelib._tensor_args` (tensors, finiteness, shapes, numbers), :mod:`vaelib._matrix_args`
(square matrices, Cholesky factors, covariances), :mod:`vaelib._sampler_args` (noise,
parameters, temperatures, logits, probabilities, labels), and :mod:`vaelib._random` (generators,
seeds, sample shapes).
"""

from __future__ import annotations

from vaelib._matrix_args import (  # noqa: F401
    GAUSSIAN_FAMILIES,
    cholesky,
    covariance,
    gaussian_family,
    scale_tril,
    square_matrices,
)
from vaelib._random import (  # noqa: F401  (re-exported: one home for argument contracts)
    draw_with_generator,
    fresh_uniform,
    generator,
    is_numpy_int,
    noise_shape,
    randn,
    sample_shape_tuple,
    seed,
)
from vaelib._sampler_args import (  # noqa: F401
    instance,
    integer,
    labels,
    logits,
    nonempty_batch,
    parameter,
    probabilities,
    real_number,
    temperature,
    uniform_noise,
    unit_interval,
)
from vaelib._tensor_args import (  # noqa: F401
    NonFiniteError,
    all_finite,
    as_tensor,
    broadcastable,
    choice,
    data_rows,
    describe,
    draws,
    finite,
    flag,
    function,
    hidden_dims,
    min_dims,
    nonempty,
    number,
    positive,
    positive_int,
    positive_number,
    real,
    real_or_symbolic,
    same_shape,
    weights_dtype,
)
