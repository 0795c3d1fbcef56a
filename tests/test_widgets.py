"""vaelib.widgets: the explorers driven from Python (slider -> decoded images and markers)."""

from __future__ import annotations

import io
import statistics

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from vaelib import widgets  # noqa: E402
from vaelib.models import VAE, Autoencoder  # noqa: E402


@pytest.fixture(scope="module")
def setting():
    torch.manual_seed(0)
    ae, vae = Autoencoder(784, 2, [16]), VAE(784, 2, [16])
    x = torch.rand(60, 784)
    y = torch.arange(60) % 10
    return ae, vae, x, y


def _png(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    return np.asarray(image.convert("RGB") if image.mode == "P" else image)


@pytest.mark.parametrize("shape", [(5, 7), (4, 6, 3)])
def test_png_encoder_round_trips_through_pillow(shape):
    image = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    assert np.array_equal(_png(widgets.png_bytes(image)), image)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\)"):
        widgets.png_bytes(np.zeros((2, 2, 4), dtype=np.uint8))


def test_png_encoder_writes_indexed_colour():
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, size=(256, 3), dtype=np.uint8)
    index = rng.integers(0, 256, size=(5, 7), dtype=np.uint8)
    assert np.array_equal(_png(widgets.png_bytes(index, palette)), palette[index])
    with pytest.raises(ValueError, match="indexed image"):
        widgets.png_bytes(index, palette[:10])


def test_interpolation_explorer_starts_at_the_first_2_and_the_first_9(setting):
    ae, vae, x, y = setting
    ex = widgets.interpolation_explorer(ae, vae, x, y)
    assert (ex.index_a, ex.index_b) == (2, 9) and ex.t == 0.0
    assert "vaelib-interp-slider" in ex.slider._dom_classes
    assert "vaelib-interp-image" in ex.decode_image._dom_classes
    z_a = vae.embed(x[2:3])[0].detach().numpy()
    assert np.allclose(ex.marker["VAE"], z_a, atol=1e-6)
    expected = vae.decode_mean(torch.as_tensor(z_a)[None])[0].detach().reshape(28, 28).numpy()
    assert np.allclose(ex.images["VAE"], expected, atol=1e-6)
    assert "x[2] (a 2)" in repr(ex) and "PNG" not in repr(ex)


def test_moving_the_slider_moves_the_marker_along_the_path_and_changes_the_decodes(setting):
    ae, vae, x, y = setting
    ex = widgets.interpolation_explorer(ae, vae, x, y)
    before = {k: v.copy() for k, v in ex.images.items()}
    pixels_before = {k: v.copy() for k, v in ex.marker_pixels.items()}
    png_before = ex.decode_image.value
    ex.slider.value = 0.5
    for name, model in (("AE", ae), ("VAE", vae)):
        z_a, z_b = ex.ends[name]
        assert np.allclose(ex.marker[name], (z_a + z_b) / 2, atol=1e-6)
        expected = model.decode_mean(torch.as_tensor(ex.marker[name])[None])[0].detach().reshape(28, 28).numpy()
        assert np.allclose(ex.images[name], expected, atol=1e-6)
        assert not np.allclose(ex.images[name], before[name])
        assert not np.allclose(ex.marker_pixels[name], pixels_before[name])
    assert ex.decode_image.value != png_before
    shown = _png(ex.decode_image.value)  # AE | gap | VAE, each 8x upscaled (shown at 4x on a 2x screen)
    assert shown.shape == (224, 224 + 16 + 224)
    assert (ex.decode_image.width, ex.decode_image.height) == ("232", "112")  # CSS pixels: half the PNG's
    vae_shown = shown[:, 240:][::8, ::8] / 255.0
    assert np.allclose(vae_shown, ex.images["VAE"], atol=1 / 255)


def test_the_marker_is_painted_where_the_latent_point_is(setting):
    ae, vae, x, y = setting
    ex = widgets.interpolation_explorer(ae, vae, x, y)
    ex.slider.value = 1.0
    scatters = _png(ex.scatter_image.value)
    row, col = np.round(ex.marker_pixels["AE"]).astype(int)
    assert (scatters[row, col] == 0).all()  # the black centre of the marker
    assert np.allclose(ex.marker["VAE"], ex.ends["VAE"][1], atol=1e-6)


def test_choosing_other_digits_or_images(setting):
    ae, vae, x, y = setting
    ex = widgets.interpolation_explorer(ae, vae, x, y, digit_a=3, digit_b=7)
    assert (ex.index_a, ex.index_b) == (3, 7)
    ex.example_a.value = 2  # the third 3
    assert ex.index_a == 23
    ex.digit_b.value = 0
    assert ex.index_b == 0 and ex.y[ex.index_b] == 0
    ex.set_images(41, 18)
    assert np.allclose(ex.marker["AE"], ae.embed(x[41:42])[0].detach().numpy(), atol=1e-6)
    with pytest.raises(ValueError, match=r"row of x, an integer in \[0, 59\]"):
        ex.set_images(60, 0)
    by_index = widgets.interpolation_explorer(ae, vae, x, y, index_a=12, index_b=39)
    assert (by_index.digit_a.value, by_index.example_a.value, by_index.digit_b.value, by_index.example_b.value) == (
        2,
        1,
        9,
        3,
    )
    assert (by_index.index_a, by_index.index_b) == (12, 39)


def test_a_slider_step_redraws_quickly(setting):
    ae, vae, x, y = setting
    ex = widgets.interpolation_explorer(ae, vae, x, y)
    for t in np.linspace(0, 1, 21):
        ex.slider.value = float(t)
    assert len(ex.redraw_times_ms) >= 21
    assert statistics.median(ex.redraw_times_ms) < 100  # typically a few ms; generous for busy machines


def test_static_figure_of_the_explorer(setting):
    ae, vae, x, y = setting
    ex = widgets.interpolation_explorer(ae, vae, x, y)
    ex.slider.value = 0.3
    fig = ex.figure()
    assert "t = 0.30" in fig.axes[0].get_title() and len(fig.axes) == 2


def test_explorer_input_errors(setting):
    ae, vae, x, y = setting
    with pytest.raises(ValueError, match="latent_dim=2"):
        widgets.interpolation_explorer(ae, VAE(784, 3, [8]), x, y)
    with pytest.raises(ValueError, match="digit_a must be one of the classes"):
        widgets.interpolation_explorer(ae, vae, x, y, digit_a=11)
    with pytest.raises(ValueError, match="one label per image"):
        widgets.interpolation_explorer(ae, vae, x, y[:5])
    with pytest.raises(ValueError, match="index_b must be a row of x"):
        widgets.interpolation_explorer(ae, vae, x, y, index_b=-1)
    with pytest.raises(TypeError, match="Autoencoder or VAE"):
        widgets.latent_plane_explorer(torch.nn.Linear(2, 2))


def test_latent_plane_explorer_decodes_the_chosen_point(setting):
    ae, vae, x, y = setting
    ex = widgets.latent_plane_explorer(vae, x, y, extent=(-3, 3, -2, 2), name="VAE")
    assert "vaelib-plane-slider" in ex.z1._dom_classes and "vaelib-plane-image" in ex.decode_image._dom_classes
    assert np.allclose(ex.marker, [0.0, 0.0])
    before, pixels = ex.image.copy(), ex.marker_pixels.copy()
    ex.z1.value = 2.0
    ex.z2.value = -1.0
    assert np.allclose(ex.marker, [2.0, -1.0])
    expected = vae.decode_mean(torch.tensor([[2.0, -1.0]]))[0].detach().reshape(28, 28).numpy()
    assert np.allclose(ex.image, expected, atol=1e-6) and not np.allclose(ex.image, before)
    assert ex.marker_pixels[1] > pixels[1] and ex.marker_pixels[0] > pixels[0]  # right and down
    assert _png(ex.decode_image.value).shape == (448, 448) and ex.decode_image.width == "224"
    assert statistics.median(ex.redraw_times_ms) < 100
    assert repr(ex) == "LatentPlaneExplorer(z1=2.00, z2=-1.00)"
    fig = ex.figure()
    assert np.allclose(fig.axes[0].images[0].get_array(), ex.image) and "(2.00, -1.00)" in fig.axes[0].get_title()


def test_latent_plane_explorer_without_data_uses_the_prior_window(setting):
    _, vae, _, _ = setting
    ex = widgets.latent_plane_explorer(vae)
    assert ex.extent == (-3.0, 3.0, -3.0, 3.0) and ex.z1.min == -3.0
    with pytest.raises(ValueError, match="min < max"):
        widgets.latent_plane_explorer(vae, extent=(1, 0, 0, 1))


def test_articles_and_the_judges_verdict_in_the_explorer(setting):
    from vaelib.judge import DigitJudge, judge_images

    ae, vae, x, y = setting
    assert widgets.a_digit(8) == "an 8" and widgets.a_digit(2) == "a 2"
    y8 = y.clone()
    y8[y8 == 9] = 8
    torch.manual_seed(0)
    judge = DigitJudge().eval()
    ex = widgets.interpolation_explorer(ae, vae, x, y8, digit_a=2, digit_b=8, judge=judge)
    assert "(an 8)" in repr(ex) and "to an 8" in ex.title.value
    ex.slider.value = 0.4
    verdict = judge_images(
        judge, torch.as_tensor(np.stack([ex.images["AE"].reshape(-1), ex.images["VAE"].reshape(-1)]))
    )
    assert ex.verdicts["VAE"] == (int(verdict.digit[1]), pytest.approx(float(verdict.confidence[1])))
    assert f"judge: {ex.verdicts['AE'][0]}" in ex.verdict.value
    assert "judge:" in ex.figure().axes[0].get_title()


def test_the_static_figures_are_pixel_exact_at_half_the_png_size(setting):
    ae, vae, x, y = setting
    ex = widgets.interpolation_explorer(ae, vae, x, y)
    fig = ex.figure()
    scatter = fig.axes[1].images[0].get_array()
    width_px = fig.axes[1].get_window_extent().width  # drawn size at the figure's dpi
    assert width_px == pytest.approx(scatter.shape[1] / 2, abs=1)
    plane = widgets.latent_plane_explorer(vae, x, y)
    fig = plane.figure()
    assert fig.axes[0].get_window_extent().width == pytest.approx(224, abs=1)  # the decode at 8x, like the widget
