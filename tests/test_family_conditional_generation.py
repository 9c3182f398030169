"""Conditional generation with a known answer on the shapes data.

Shapes of one size differ in area in a known way: a square (half-width 0.8 s) covers more pixels
than an ellipse (semi-axes s, 0.6 s), which covers more than the triangle (base 1.8 s, height
1.7 s); the heart is about as large as the square. A CVAE trained on shapes must reproduce this:
for the same latent code z (the same size, rotation and position: the style), asking for a square
must give more ink than asking for a triangle. And the style must stay: the centre of mass of the
generated shape moves with z, not with the label.
"""

from __future__ import annotations

import numpy as np
import pytest
from genkit_plugins.datasets.shapes import SHAPE_NAMES, Shapes

from genkit.runs.train import train

SIZE, N_TRAIN = 12, 1500
SQUARE, ELLIPSE, TRIANGLE, HEART = (SHAPE_NAMES.index(n) for n in ("square", "ellipse", "triangle", "heart"))


def mass_and_centre(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total intensity ``[N]`` and centre of mass ``[N, 2]`` (pixels) of ``[N, H, W, 1]`` images."""
    x = images[..., 0]
    rows, columns = np.mgrid[0 : x.shape[1], 0 : x.shape[2]]
    mass = x.sum(axis=(1, 2))
    centre = np.stack([(x * columns).sum(axis=(1, 2)), (x * rows).sum(axis=(1, 2))], axis=1) / mass[:, None]
    return mass, centre


@pytest.fixture(scope="module")
def cvae():
    spec = {
        "name": "shapes-cvae", "model": "cvae", "latent_dim": 4,
        "data": {"type": "shapes", "size": SIZE, "n_train": N_TRAIN, "n_test": 100, "validation_split": 0.0},
        "encoder": {"type": "mlp", "hidden": [128]}, "decoder": {"type": "mlp", "hidden": [128]},
        "train": {"epochs": 8, "batch_size": 50, "optimizer": {"type": "adam", "learning_rate": 3e-3}, "seed": 0},
    }
    return train(spec, progress=False).model


def test_requested_shape_class_has_its_class_area(cvae):
    real = Shapes(size=SIZE, n_train=N_TRAIN).load("train")
    real_mass, _ = mass_and_centre(real.x)
    real_means = np.array([real_mass[real.y == k].mean() for k in range(4)])
    sample_means = np.array([mass_and_centre(cvae.sample(500, labels=k, seed=k))[0].mean() for k in range(4)])
    # relative areas of the classes, as in the real data
    np.testing.assert_allclose(sample_means / sample_means.mean(), real_means / real_means.mean(), atol=0.08)
    # per code: the same style asked as a square has more ink than as an ellipse, than as a triangle
    z = cvae.sample_latent(300, seed=7)
    mass = np.stack([mass_and_centre(cvae.decode(z, labels=k))[0] for k in range(4)])
    assert np.mean(mass[SQUARE] > mass[TRIANGLE]) > 0.9
    assert np.mean(mass[HEART] > mass[TRIANGLE]) > 0.9
    assert np.mean(mass[ELLIPSE] > mass[TRIANGLE]) > 0.7
    assert np.mean(mass[SQUARE] > mass[ELLIPSE]) > 0.9


def test_fixed_z_keeps_the_style_across_labels(cvae):
    z = cvae.sample_latent(300, seed=8)
    centres = np.stack([mass_and_centre(cvae.decode(z, labels=k))[1] for k in range(4)])  # [label, z, 2]
    across_labels = np.abs(centres - centres.mean(axis=0, keepdims=True)).mean()
    across_codes = np.abs(centres - centres[:, ::-1]).mean()
    assert across_labels < 0.1 * across_codes
