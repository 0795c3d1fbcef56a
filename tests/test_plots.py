"""vaelib.plots: every function returns a Figure whose axes hold what it claims to draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vaelib import plots  # noqa: E402
from vaelib.models import VAE, Autoencoder  # noqa: E402
from vaelib.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_tile_places_images_row_by_row_with_padding():
    images = torch.arange(5 * 4, dtype=torch.float32).reshape(5, 4) / 20  # five 2x2 images
    grid = plots.tile(images, 3, image_shape=(2, 2), pad=1, pad_value=-1)
    assert grid.shape == (2 * 3 - 1, 3 * 3 - 1)
    assert np.array_equal(grid[0:2, 3:5], images[1].reshape(2, 2).numpy())
    assert np.array_equal(grid[3:5, 3:5], images[4].reshape(2, 2).numpy())
    assert (grid[3:5, 6:8] == -1).all() and (grid[2, :] == -1).all()  # empty slot and padding row
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        plots.tile(torch.zeros(3, 5), 2, image_shape=(2, 2))


def test_image_grid_shows_the_tiled_images_with_row_labels():
    images = torch.rand(20, 784)
    fig = plots.image_grid(images, ncols=10, row_labels=["data", "model"], title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    assert np.allclose(shown, plots.tile(images, 10))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["data", "model"] and ax.get_title() == "t"
    with pytest.raises(ValueError, match="one label per row"):
        plots.image_grid(images, ncols=10, row_labels=["only one"])


def test_latent_scatter_draws_one_collection_per_class():
    z = torch.randn(100, 2)
    y = torch.arange(100) % 4
    fig = plots.latent_scatter(z, y, title="VAE")
    ax = fig.axes[0]
    assert len(ax.collections) == 4
    assert np.allclose(ax.collections[1].get_offsets(), z[y == 1].numpy())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2", "3"]
    assert len(plots.latent_scatter(z).axes[0].collections) == 1
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        plots.latent_scatter(torch.randn(10, 3))
    with pytest.raises(ValueError, match="one label per point"):
        plots.latent_scatter(z, y[:5])


def test_latent_extent_is_a_square_around_the_bulk():
    z = np.concatenate([np.random.default_rng(0).normal(size=(1000, 2)) * [1, 3], [[100.0, 100.0]]])
    x0, x1, y0, y1 = plots.latent_extent(z)
    assert x1 - x0 == pytest.approx(y1 - y0)
    assert x1 < 50 and -12 < y0 < -6  # the outlier is ignored; the wide axis sets the size


def test_latent_grid_decodes_the_tile_centres_at_their_coordinates():
    torch.manual_seed(0)
    model = VAE(784, 2, [8])
    fig = plots.latent_grid(model, extent=(-2, 2, -1, 3), n=4)
    ax = fig.axes[0]
    assert ax.images[0].get_extent() == [-2, 2, -1, 3]
    z = torch.as_tensor(ax.grid_z)
    assert z.shape == (16, 2)
    assert np.allclose(z[0].numpy(), [-1.5, 2.5]) and np.allclose(z[3].numpy(), [1.5, 2.5])  # top row: largest z2
    assert np.allclose(z[15].numpy(), [1.5, -0.5])
    grid = ax.images[0].get_array()
    assert np.allclose(grid[:28, 28:56], model.decode_mean(z[1:2]).detach().reshape(28, 28).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="latent_dim=2"):
        plots.latent_grid(VAE(784, 3, [8]))
    with pytest.raises(ValueError, match="min < max"):
        plots.latent_grid(model, extent=(1, 0, 0, 1))


def test_interpolation_strip_has_a_row_per_model_with_the_path():
    torch.manual_seed(0)
    models = {"AE": Autoencoder(784, 2, [8]), "VAE": VAE(784, 2, [8])}
    x = torch.rand(2, 784)
    fig = plots.interpolation_strip(models, x[0], x[1], steps=6, title="2 to 9")
    assert len(fig.axes) == 2 and fig.axes[0].get_ylabel() == "AE" and fig.axes[0].get_title() == "2 to 9"
    strip = fig.axes[1].images[0].get_array()
    assert strip.shape == (28, 28 + 4 + 6 * 29 - 1 + 4 + 28)
    assert np.allclose(strip[:, :28], x[0].reshape(28, 28).numpy())  # starts with the first image
    z, x_hat = fig.paths["VAE"]
    assert torch.allclose(z[0], models["VAE"].embed(x[:1])[0].detach())
    assert np.allclose(strip[:, 32:60], x_hat[0].reshape(28, 28).numpy())


def _history(n, offset=0.0, val=True):
    h = History(
        epoch=list(range(1, n + 1)),
        loss=[10.0 - i + offset for i in range(n)],
        recon=[8.0] * n,
        kl=[2.0] * n,
        beta=[1.0] * n,
    )
    if val:
        h.val_loss, h.val_recon, h.val_kl = list(h.loss), list(h.recon), list(h.kl)
    return h


def test_training_curves_draw_train_and_validation_lines():
    fig = plots.training_curves({"AE": _history(5, val=False), "VAE": _history(5)})
    assert len(fig.axes) == 3
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3  # AE train, VAE train, VAE test
    assert list(lines[0].get_ydata()) == _history(5).loss and lines[2].get_linestyle() == "--"
    assert len(plots.training_curves(_history(3), keys=("kl",)).axes) == 1
    with pytest.raises(TypeError, match="History"):
        plots.training_curves([1, 2])


def test_kl_bars_sort_each_model_and_put_the_threshold_on_the_activity_row_only():
    kl = {"beta=1": torch.tensor([0.1, 2.0, 0.0]), "beta=4": torch.tensor([0.5, 0.0, 0.0])}
    fig = plots.kl_bars(kl)
    assert len(fig.axes) == 2 and fig.activity_axes == []
    heights = [p.get_height() for p in fig.kl_axes[0].patches]
    assert heights == pytest.approx([2.0, 0.1, 0.0])
    assert all(len(ax.get_lines()) == 0 for ax in fig.kl_axes)  # no threshold is defined on the KL
    activity = {"beta=1": torch.tensor([0.5, 0.9, 0.001]), "beta=4": torch.tensor([0.2, 0.0, 0.0])}
    fig = plots.kl_bars(kl, activity)
    assert len(fig.axes) == 4 and all(len(ax.get_lines()) == 0 for ax in fig.kl_axes)
    # the activity bars follow the KL order of the dimensions: [2.0, 0.1, 0.0] -> dims 1, 0, 2
    assert [p.get_height() for p in fig.activity_axes[0].patches] == pytest.approx([0.9, 0.5, 0.001])
    assert [tuple(line.get_ydata()) for line in fig.activity_axes[0].get_lines()] == [(0.01, 0.01)]
    with pytest.raises(ValueError, match="same names"):
        plots.kl_bars(kl, {"beta=1": activity["beta=1"]})


def test_interpolation_strip_writes_the_judges_verdict_under_each_decode():
    from vaelib.judge import DigitJudge, judge_images

    torch.manual_seed(0)
    models = {"AE": Autoencoder(784, 2, [8]), "VAE": VAE(784, 2, [8])}
    judge = DigitJudge().eval()
    x = torch.rand(2, 784)
    fig = plots.interpolation_strip(models, x[0], x[1], steps=5, judge=judge)
    verdict = judge_images(judge, fig.paths["VAE"][1])
    assert torch.equal(fig.verdicts["VAE"].digit, verdict.digit)
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert len(texts) == 5 and texts[0].startswith(str(int(verdict.digit[0])))


def test_bound_vs_k_uses_a_log_axis_and_draws_the_elbo():
    fig = plots.bound_vs_k([1, 10, 100], [-120.0, -116.0, -114.0], [0.5, 0.4, 0.3], elbo=-120.0)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert any(list(line.get_ydata()) == [-120.0, -120.0] for line in ax.get_lines())
    fig = plots.bound_vs_k([1, 10], [0.0, 4.0], elbo=0.0, ylabel="L_k - ELBO")
    assert fig.axes[0].get_ylabel() == "L_k - ELBO"
