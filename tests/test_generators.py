"""What the built-in shapes generator draws: exact pixels of known shapes, each class's outline, and
that the per-class, boxed and chunked drawing gives each example the image it would get alone."""

from __future__ import annotations

import numpy as np
import pytest
from genkit_plugins.datasets import shapes
from genkit_plugins.datasets.shapes import SHAPE_NAMES, draw_shapes, sample_factors

# A 101-pixel image drawn without supersampling, centred shape of scale 20/101: pixel (row, column)
# is the shape's canonical point ((column - 50) / 20, (row - 50) / 20), so each pixel is 0 or 1.
PROBE_SIZE, PROBE_SCALE = 101, 20 / 101


def _probe(u: float, v: float) -> tuple[int, int]:
    return round(50 + 20 * v), round(50 + 20 * u)


def test_a_centred_upright_square_covers_its_pixels_exactly():
    # half-width 0.8 * 0.3125 = 0.25 of the image: the square is pixels 5..14 of a 20-pixel image,
    # its edges between sub-pixels, so those pixels are 1, all others 0, a quarter of the image
    image = draw_shapes(np.array([[0, 0.3125, 0.0, 0.5, 0.5]]), size=20)[0, :, :, 0]
    expected = np.zeros((20, 20), np.float32)
    expected[5:15, 5:15] = 1.0
    np.testing.assert_array_equal(image, expected)
    assert image.mean() == 0.25
    # centred on the top-left corner only its quarter inside the image is drawn: 6 x 6 of 25 x 25 pixels
    corner = draw_shapes(np.array([[0, 0.3, 0.0, 0.0, 0.0]]), size=25)[0, :, :, 0]
    expected = np.zeros((25, 25), np.float32)
    expected[:6, :6] = 1.0
    np.testing.assert_array_equal(corner, expected)


@pytest.mark.parametrize(
    ("point", "inside"),
    [
        ((0.0, 0.0), {"square", "ellipse", "triangle", "heart"}),
        ((0.75, 0.75), {"square"}),  # a corner of the square
        ((0.95, 0.0), {"ellipse"}),  # the ellipse is the only one that wide
        ((0.0, -0.9), {"triangle"}),  # its apex points up (rows grow downwards)
        ((0.0, 0.9), {"heart"}),  # its tip points down
        ((0.0, -0.75), {"square", "triangle"}),  # the notch between the heart's lobes
        ((0.0, 0.75), {"square", "heart"}),  # below the triangle's base and the ellipse
    ],
)
def test_each_class_draws_its_own_shape(point, inside):
    factors = np.array([[k, PROBE_SCALE, 0.0, 0.5, 0.5] for k in range(len(SHAPE_NAMES))])
    images = draw_shapes(factors, size=PROBE_SIZE, supersample=1)[..., 0]
    row, column = _probe(*point)
    drawn = {name for name, image in zip(SHAPE_NAMES, images, strict=True) if image[row, column] == 1.0}
    assert drawn == inside


def test_rotation_turns_the_shape_around_its_centre():
    turned = draw_shapes(np.array([[2, PROBE_SCALE, np.pi, 0.5, 0.5]]), size=PROBE_SIZE, supersample=1)[0, :, :, 0]
    assert turned[_probe(0.0, 0.9)] == 1.0 and turned[_probe(0.0, -0.9)] == 0.0  # the apex now points down
    # a square turned by 45 degrees reaches 0.8 * sqrt(2) of its scale from the centre; all of it is drawn
    upright, diagonal = draw_shapes(np.array([[0, 0.3, 0.0, 0.5, 0.5], [0, 0.3, np.pi / 4, 0.5, 0.5]]), size=64)
    assert diagonal.sum() == pytest.approx(upright.sum(), rel=0.03)
    assert diagonal[32, :, 0].sum() > upright[32, :, 0].sum() * 1.3  # wider across the middle


def test_each_example_is_drawn_as_if_alone(monkeypatch):
    # a small chunk budget splits every class into several chunks of differently sized boxes
    monkeypatch.setattr(shapes, "_CHUNK", 3000)
    factors = sample_factors(60, np.random.default_rng(4))
    factors[:4, 3:] = [[0.02, 0.5], [0.97, 0.97], [0.5, 0.0], [0.3, 1.2]]  # partly or wholly outside
    factors[4, 1] = 0.7  # larger than the image
    together = draw_shapes(factors, size=24)
    alone = np.concatenate([draw_shapes(row[None], size=24) for row in factors])
    np.testing.assert_array_equal(together, alone)


def test_unknown_shape_classes_are_refused():
    with pytest.raises(ValueError, match="shape classes"):
        draw_shapes(np.array([[len(SHAPE_NAMES), 0.2, 0.0, 0.5, 0.5]]), size=8)
    assert draw_shapes(np.zeros((0, 5)), size=8).shape == (0, 8, 8, 1)
