"""The reference: the training loop a user would otherwise copy.

Written the way the well-known PyTorch example is written (pytorch/examples, ``vae/main.py``,
the classic version with a sigmoid decoder and a summed binary cross-entropy): a
``DataLoader`` (batch 128, shuffled) over a ``Dataset`` that yields one image at a time (as
``torchvision.datasets.MNIST`` with ``transforms.ToTensor()``: uint8 -> PIL image -> float), a
784-400-20 MLP with ReLU whose layers are called ``fc1``, ``fc21``/``fc22``, ``fc3``, ``fc4``
as in the example, Adam with lr 1e-3, the Bernoulli loss and the KL summed over pixels and over
the batch, ``loss.item()`` every step and a log line every ``log_interval`` batches.

It is kept as the example has it on purpose (names included): this is the baseline that the
course's ``vaelib.train.fit`` is measured against, not code to imitate (see STYLE.md).

Differences from the example: torchvision is not a dependency of the course, so its MNIST
dataset and ``ToTensor`` are reproduced here step for step (:class:`MNISTLikeDataset`,
:func:`to_tensor`) over the images vaelib.data loads; the continuous-Bernoulli
correction that a later revision of the example adds to its loss is left out, as in the
version most copies descend from, because vaelib's loss does not have it either (both train
the same Bernoulli negative ELBO); log lines go to a callable (a
no-op by default) instead of the terminal.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.utils.data
from PIL import Image
from torch import Tensor, nn, optim
from torch.nn import functional as F

__all__ = [
    "MNISTLikeDataset",
    "TensorRowsDataset",
    "to_tensor",
    "ReferenceVAE",
    "loss_function",
    "make_loader",
    "make_optimizer",
    "train_steps",
    "to_vaelib",
]


def to_tensor(pic: Image.Image) -> Tensor:
    """``torchvision.transforms.ToTensor()`` for a mode-"L" PIL image, step for step.

    (torchvision.transforms.functional.to_tensor: copy the pixels out of the image, view them
    as (H, W, C), permute to (C, H, W), convert to float and divide by 255.)
    """
    img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
    img = img.view(pic.size[1], pic.size[0], 1)
    img = img.permute((2, 0, 1)).contiguous()
    return img.to(dtype=torch.get_default_dtype()).div(255)


class MNISTLikeDataset(torch.utils.data.Dataset):
    """Yields one ``(image, label)`` pair at a time exactly as ``torchvision.datasets.MNIST`` does.

    torchvision keeps the images as a uint8 tensor (N, 28, 28); ``__getitem__`` turns one into
    a PIL image and applies the transform (``ToTensor()`` in the example), giving a float
    tensor (1, 28, 28) in [0, 1]. The same happens here (torchvision itself is not installed).

    Args:
        x: images, shape ``(N, 784)``, float in [0, 1] with values k / 255 (as vaelib.data
            returns them); stored back as uint8, exactly.
        y: labels, shape ``(N,)``; zeros when ``None`` (the loop ignores them, as the example does).
    """

    def __init__(self, x: Tensor, y: Tensor | None = None):
        self.data = (x * 255).round().to(torch.uint8).reshape(-1, 28, 28)  # (N, 28, 28)
        self.targets = torch.zeros(len(x), dtype=torch.long) if y is None else y
        self.transform = to_tensor

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        img, target = self.data[index], int(self.targets[index])
        img = Image.fromarray(img.numpy())  # a 2-d uint8 array: mode "L"
        if self.transform is not None:
            img = self.transform(img)
        return img, target


class TensorRowsDataset(torch.utils.data.Dataset):
    """Yields one ``(image, label)`` pair at a time from a float tensor: no PIL, no conversion.

    What a user gets who loads the images into a tensor first but keeps the example's
    ``DataLoader``; used by the ``ref_float_dataset`` variant to separate the cost of the
    per-image PIL conversion from the cost of the per-image ``DataLoader`` itself.
    """

    def __init__(self, x: Tensor, y: Tensor | None = None):
        self.x = x
        self.y = torch.zeros(len(x), dtype=torch.long) if y is None else y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.x[index], self.y[index]


class ReferenceVAE(nn.Module):
    """The example's model, layer for layer: 784-400-(20, 20) encoder, 20-400-784 decoder."""

    def __init__(self):
        super(ReferenceVAE, self).__init__()

        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


# Reconstruction + KL divergence losses summed over all elements and batch
def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")

    # see Appendix B from VAE paper:
    # Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
    # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

    return BCE + KLD


def make_loader(x: Tensor, batch_size: int = 128, seed: int = 0, *, pil: bool = True) -> torch.utils.data.DataLoader:
    """``DataLoader(dataset, batch_size, shuffle=True)`` as in the example, its shuffling seeded.

    As in the example on a CPU: no worker processes, no pinned memory. ``pil=True``: the
    torchvision-style :class:`MNISTLikeDataset` (the example); ``pil=False``: :class:`TensorRowsDataset`.
    """
    generator = torch.Generator().manual_seed(seed)
    dataset = MNISTLikeDataset(x) if pil else TensorRowsDataset(x)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)


def make_optimizer(model: nn.Module, lr: float = 1e-3) -> optim.Optimizer:
    return optim.Adam(model.parameters(), lr=lr)


def _no_log(line: str) -> None:
    pass


def train_steps(
    model: ReferenceVAE,
    optimizer: optim.Optimizer,
    loader: torch.utils.data.DataLoader,
    steps: int | None = None,
    epoch: int = 1,
    log_interval: int = 10,
    log: Callable[[str], None] = _no_log,
) -> tuple[float, int]:
    """The example's ``train(epoch)``, stopping after ``steps`` batches when given.

    Returns:
        ``(average loss per image, number of images seen)``.
    """
    model.train()
    train_loss = 0
    seen = 0
    for batch_idx, (data, _) in enumerate(loader):
        if steps is not None and batch_idx >= steps:
            break
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        seen += len(data)
        if batch_idx % log_interval == 0:
            log(
                "Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                    epoch,
                    batch_idx * len(data),
                    len(loader.dataset),
                    100.0 * batch_idx / len(loader),
                    loss.item() / len(data),
                )
            )
    return train_loss / max(seen, 1), seen


def to_vaelib(model: ReferenceVAE):
    """The same network as a ``vaelib.models.VAE(784, 20, [400])``, weights copied.

    The reference's ``fc21``/``fc22`` (mu and log-variance heads) are the two halves of
    vaelib's last encoder layer (``mu, log_var = encoder(x).chunk(2)``), so both models are
    evaluated by the same code (``vaelib.objectives``). The reference's decoder outputs
    ``sigmoid(fc4(...))``; vaelib's decoder outputs the logits ``fc4(...)``: the same
    Bernoulli likelihood.
    """
    from vaelib.models import VAE

    out = VAE(784, 20, [400])
    enc_first, enc_last = out.encoder[0], out.encoder[-1]
    dec_first, dec_last = out.decoder[0], out.decoder[-1]
    with torch.no_grad():
        enc_first.weight.copy_(model.fc1.weight)
        enc_first.bias.copy_(model.fc1.bias)
        enc_last.weight.copy_(torch.cat([model.fc21.weight, model.fc22.weight]))
        enc_last.bias.copy_(torch.cat([model.fc21.bias, model.fc22.bias]))
        dec_first.weight.copy_(model.fc3.weight)
        dec_first.bias.copy_(model.fc3.bias)
        dec_last.weight.copy_(model.fc4.weight)
        dec_last.bias.copy_(model.fc4.bias)
    return out


def layer_sizes() -> list[tuple[int, int]]:
    """``(in, out)`` of each Linear layer of the 784-400-20 VAE (heads counted as one 400x40 layer)."""
    return [(784, 400), (400, 40), (20, 400), (400, 784)]
