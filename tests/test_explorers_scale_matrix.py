"""vaelib.explorers.scale_matrix: lecture 02's explorer, driven from Python and checked against S S^T."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from explorer_support import changed, differs_from_full_draw  # noqa: E402

from vaelib import gaussians  # noqa: E402
from vaelib.explorers.scale_matrix import rotation, scale_matrix_explorer  # noqa: E402

MATRICES = [((2.0, 0.0), (1.0, 1.0)), ((0.5, -1.5), (2.0, 0.3)), ((-1.0, 0.2), (0.4, 3.0))]


def _matrix(S):
    return dict(s11=S[0][0], s12=S[0][1], s21=S[1][0], s22=S[1][1])


@pytest.fixture(scope="module")
def explorer():
    return scale_matrix_explorer(mu=(1.0, -1.0), num_samples=2000, seed=0)


@pytest.mark.parametrize("S", MATRICES)
def test_the_cloud_has_covariance_S_S_T(explorer, S):
    s = explorer.set(**_matrix(S), angle=0.0).shown
    cov = np.array(S) @ np.array(S).T
    for key, (i, j) in {"11": (0, 0), "12": (0, 1), "22": (1, 1)}.items():
        assert s[f"cov_{key}"] == pytest.approx(cov[i, j])
        assert abs(s[f"measured_{key}"] - cov[i, j]) < 4 * s[f"se_{key}"]
    assert s["det_S"] == pytest.approx(np.linalg.det(S)) and s["rank_S"] == 2
    # the samples fill the 2-sigma ellipse as a Gaussian's do: P(chi^2_2 <= 4) = 0.865
    mean, cov_t = torch.tensor([1.0, -1.0], dtype=torch.float64), torch.from_numpy(cov)
    inside, se = gaussians.ellipse_coverage(torch.from_numpy(explorer.samples), mean, cov_t, 2.0)
    assert abs(inside - gaussians.chi2_coverage(2.0, 2)) < 4 * se
    ellipse = np.stack(explorer.ellipse_2.get_data(), 1)
    assert np.allclose(ellipse, gaussians.ellipse_points(mean, cov_t, 2.0, 120).numpy())


def test_S_and_S_Q_give_the_same_law(explorer):
    """Rotating by Q moves every sample but neither the ellipse nor (within s.e.) the measured covariance."""
    S = MATRICES[1]
    reference = explorer.set(**_matrix(S), angle=0.0).shown
    samples0, ellipse0 = explorer.samples.copy(), np.stack(explorer.ellipse_1.get_data(), 1)
    for angle in (45.0, 90.0, -135.0):
        s = explorer.set(angle=angle).shown
        Q = rotation(angle)
        assert np.allclose(Q @ Q.T, np.eye(2)) and np.linalg.det(Q) == pytest.approx(1.0)
        assert np.allclose(explorer.samples, np.array([1.0, -1.0]) + explorer.eps @ (np.array(S) @ Q).T)
        assert np.abs(explorer.samples - samples0).max() > 0.5  # every sample moved somewhere else
        assert np.array_equal(np.stack(explorer.ellipse_1.get_data(), 1), ellipse0)
        for key in ("11", "12", "22"):
            assert s[f"cov_{key}"] == reference[f"cov_{key}"]
            gap = abs(s[f"measured_{key}"] - reference[f"measured_{key}"])
            assert gap < 4 * np.hypot(s[f"se_{key}"], reference[f"se_{key}"])


def test_a_singular_S_collapses_the_cloud_onto_a_line(explorer):
    s = explorer.set(s11=1.0, s12=2.0, s21=0.5, s22=1.0, angle=30.0).shown
    assert s["det_S"] == 0.0 and s["rank_S"] == 1
    assert abs(s["smallest_eigenvalue"]) < 1e-12
    d = explorer.samples - np.array([1.0, -1.0])
    assert np.abs(d[:, 0] * 0.5 - d[:, 1]).max() < 1e-12  # every sample on the line through mu along (1, 0.5)
    assert np.abs(d).max() > 1.0  # ... spread along it
    assert "rank 1" in explorer.text.get_text()
    assert explorer.set(s12=1.0).shown["rank_S"] == 2 and explorer.shown["smallest_eigenvalue"] > 0.05
    assert explorer.set(s11=0.0, s12=0.0, s21=0.0, s22=0.0).shown["rank_S"] == 0


def test_the_image_changes_with_every_control(explorer):
    explorer.set(**_matrix(MATRICES[0]), angle=0.0)
    for name, value in (("s11", 1.5), ("s12", 0.7), ("s21", -0.4), ("s22", 2.2), ("angle", 20.0)):
        before = explorer.pixels.copy()
        after = explorer.set(**{name: value}).pixels
        assert changed(before, after) > 0.002, name


def test_the_fast_redraw_shows_what_a_full_draw_shows(explorer):
    explorer.set(**_matrix(MATRICES[2]), angle=10.0)  # Sigma_22 = 9.16: the covariance axes grow
    assert explorer.ax_c.get_ylim() == (-20.0, 20.0)
    assert differs_from_full_draw(explorer) < 0.01


def test_redraw_is_fast(explorer):
    explorer.set(**_matrix(MATRICES[0]))
    assert (
        explorer.measure_redraw("angle", [float(a) for a in range(0, 100, 5)], cpu=True) < 100
    )  # CPU time: a busy machine adds waiting, not cost


def test_bad_settings_say_what_was_wrong(explorer):
    with pytest.raises(ValueError, match=r"s12 must be in \[-3.0, 3.0\]; got 3.5"):
        explorer.set(s12=3.5)
    with pytest.raises(ValueError, match="angle must be a number"):
        explorer.set(angle="90")
    with pytest.raises(ValueError, match="S must be a 2 x 2 matrix"):
        scale_matrix_explorer(S=[[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="entries in"):
        scale_matrix_explorer(S=[[5.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"mu must have shape \(2,\)"):
        scale_matrix_explorer(mu=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="at least 10"):
        scale_matrix_explorer(num_samples=3)
