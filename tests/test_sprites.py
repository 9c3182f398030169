"""The sprites dataset: factors on discrete grids, and images of any factor combination."""

from __future__ import annotations

import numpy as np
import pytest
from genkit_plugins.datasets.sprites import Sprites

import genkit
from genkit.plugin.dataset import FactorDataset


@pytest.fixture(scope="module")
def sprites() -> Sprites:
    return Sprites(size=32, n_train=300, n_test=100)


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(image.shape[:2])
    weight = image[..., 0]
    return np.array([np.sum(cols * weight), np.sum(rows * weight)]) / weight.sum()


def test_splits_are_seeded_uniform_grid_draws_whose_images_render_from_their_factors(sprites):
    assert isinstance(genkit.registry("dataset").get("sprites").obj(), FactorDataset)
    assert sprites.grid.sizes == (3, 6, 40, 32, 32)  # dSprites' grid
    assert sprites.grid.categorical == (True, False, False, False, False)
    train, test = sprites.load("train"), sprites.load("test")
    assert train.x.shape == (300, 32, 32, 1) and train.x.dtype == np.float32
    assert train.factor_names == ["shape", "scale", "rotation", "position_x", "position_y"]
    assert np.all((train.factors >= 0) & (train.factors < np.array(sprites.grid.sizes)))
    np.testing.assert_array_equal(train.y, train.factors[:, 0])
    assert train.class_names == ["square", "ellipse", "heart"]
    np.testing.assert_array_equal(sprites.render(train.factors), train.x)
    np.testing.assert_array_equal(Sprites(size=32, n_train=300).load("train").x, train.x)  # seeded
    assert not np.array_equal(train.factors[:100], test.factors)


def test_each_factor_moves_the_picture_the_way_it_says(sprites):
    """x and y move the centre of mass by equal steps, scale grows the area, a quarter turn leaves a
    square as it was but not an ellipse, and each shape class draws differently."""
    base = np.array([1, 2, 0, 10, 10])

    def varied(factor: int, values) -> np.ndarray:
        rows = np.repeat(base[None], len(values), axis=0)
        rows[:, factor] = values
        return sprites.render(rows)

    for factor, axis in ((3, 0), (4, 1)):
        steps = np.diff([centre_of_mass(image)[axis] for image in varied(factor, [0, 10, 20, 31])])
        assert np.all(steps > 0) and np.ptp(steps / [10, 10, 11]) < 0.05
    areas = varied(1, range(6)).sum(axis=(1, 2, 3))
    assert np.all(np.diff(areas) > 0) and areas[-1] / areas[0] == pytest.approx(4.0, rel=0.1)  # scales 0.5 .. 1
    quarter = sprites.grid.sizes[2] // 4
    square, ellipse = (sprites.render(np.array([[shape, 2, 0, 10, 10], [shape, 2, quarter, 10, 10]]))
                       for shape in (0, 1))
    np.testing.assert_allclose(square[0], square[1], atol=1e-6)
    assert np.abs(ellipse[0] - ellipse[1]).sum() > 10
    shapes = varied(0, range(3))
    assert min(np.abs(shapes[i] - shapes[j]).sum() for i, j in ((0, 1), (0, 2), (1, 2))) > 5


def test_smaller_grids_and_invalid_factors(sprites):
    small = Sprites(size=16, shapes=["triangle", "heart"], scales=2, rotations=4, positions=3, n_train=50)
    assert small.grid.sizes == (2, 2, 4, 3, 3)
    assert small.load().class_names == ["triangle", "heart"]
    with pytest.raises(ValueError, match="below"):
        sprites.render(np.array([[3, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="rows of 5"):
        sprites.render(np.zeros((2, 4), np.int64))
    with pytest.raises(ValueError, match="each once"):
        Sprites(shapes=["square", "square"])
