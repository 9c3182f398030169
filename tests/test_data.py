"""Built-in datasets and file loaders, with genkit's data options."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from genkit_plugins.datasets.shapes import Shapes, draw_shapes
from genkit_plugins.datasets.toy2d import Toy2D

from genkit.assembly.data import load_split, prepare_data
from genkit.errors import GenkitError
from genkit.spec.resolve import resolve


def test_shapes_are_deterministic_with_known_factors():
    a, b = Shapes(size=16, n_train=50, seed=3).load("train"), Shapes(size=16, n_train=50, seed=3).load("train")
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x.shape == (50, 16, 16, 1) and a.x.min() >= 0 and a.x.max() <= 1
    assert a.factor_names == ["shape", "scale", "rotation", "position_x", "position_y"]
    np.testing.assert_array_equal(a.y, a.factors[:, 0].astype(int))
    test = Shapes(size=16, n_test=20, seed=3).load("test")
    assert not np.array_equal(test.x[:20], a.x[:20])


def test_shapes_can_be_upright_and_centred_with_the_other_factors_unchanged():
    free = Shapes(size=16, n_train=50, seed=3).load("train").factors
    fixed = Shapes(size=16, n_train=50, seed=3, rotate=False, centred=True).load("train")
    np.testing.assert_array_equal(fixed.factors[:, :2], free[:, :2])  # shape and scale
    np.testing.assert_array_equal(fixed.factors[:, 2:], np.tile([0.0, 0.5, 0.5], (50, 1)))
    np.testing.assert_array_equal(fixed.x, draw_shapes(fixed.factors, 16))


def test_shape_areas_match_their_geometry():
    # square half-width 0.8*scale -> area 2.56 s^2; ellipse semi-axes s, 0.6 s -> 0.6 pi s^2
    scale = 0.3
    factors = np.array([[0, scale, 0.0, 0.5, 0.5], [1, scale, 0.0, 0.5, 0.5]])
    images = draw_shapes(factors, size=64)
    areas = images.reshape(2, -1).sum(axis=1) / 64**2
    assert areas[0] == pytest.approx(2.56 * scale**2, rel=0.03)
    assert areas[1] == pytest.approx(0.6 * np.pi * scale**2, rel=0.03)
    # position moves the mass: centre of the drawn square follows position_x
    moved = draw_shapes(np.array([[0, 0.1, 0.0, 0.25, 0.5]]), size=64)[0, :, :, 0]
    columns = np.nonzero(moved.sum(axis=0))[0]
    assert (columns.mean() + 0.5) / 64 == pytest.approx(0.25, abs=0.02)


def test_toy_rings_lie_on_the_circle():
    data = Toy2D(shape="rings", n_train=2000, noise=0.05).load("train")
    radius = np.linalg.norm(data.x, axis=1)
    assert radius.mean() == pytest.approx(2.0, abs=0.02)
    assert set(np.unique(data.y)) == set(range(8))
    for shape in ("swiss_roll", "moons"):
        points = Toy2D(shape=shape, n_train=100).load("train").x
        assert points.shape == (100, 2) and np.all(np.isfinite(points))


@pytest.fixture
def mnist_like(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (60, 8, 8), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 60),
        "x_test": rng.integers(0, 256, (20, 8, 8), dtype=np.uint8),
    }
    np.savez(tmp_path / "d.npz", **arrays)
    with h5py.File(tmp_path / "d.h5", "w") as handle:
        for key, value in arrays.items():
            handle[key] = value
    return tmp_path, arrays


@pytest.mark.parametrize("kind", ["npz", "h5"])
def test_file_loaders_scale_uint8_and_keep_labels(mnist_like, kind):
    folder, arrays = mnist_like
    spec = resolve({"latent_dim": 2, "data": {"type": kind, "path": str(folder / f"d.{kind}"), "labels": "y_train"}})
    train = load_split(spec, "train")
    np.testing.assert_allclose(train.x, arrays["x_train"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(train.y, arrays["y_train"])
    assert load_split(spec, "test").x.shape == (20, 8, 8)


def test_missing_key_lists_available_arrays(mnist_like):
    folder, _ = mnist_like
    spec = resolve({"latent_dim": 2, "data": {"type": "npz", "path": str(folder / "d.npz"), "labels": "labels"}})
    with pytest.raises(GenkitError, match="has no array 'labels'; arrays in the file: x_test, x_train, y_train"):
        load_split(spec)


def test_missing_file_is_a_clear_error(tmp_path):
    spec = resolve({"latent_dim": 2, "data": {"type": "npz", "path": str(tmp_path / "nope.npz")}})
    with pytest.raises(GenkitError, match="data file not found"):
        load_split(spec)


def test_validation_split_limit_and_static_binarization(mnist_like):
    folder, _ = mnist_like
    data = {"type": "npz", "path": str(folder / "d.npz"), "validation_split": 0.25, "binarize": "static", "limit": 40}
    prepared = prepare_data(resolve({"latent_dim": 2, "data": data, "train": {"batch_size": 10}}))
    assert len(prepared.train) == 30 and len(prepared.validation) == 10
    assert set(np.unique(prepared.train.x)) <= {0.0, 1.0}
    again = prepare_data(resolve({"latent_dim": 2, "data": data, "train": {"batch_size": 10}}))
    np.testing.assert_array_equal(prepared.train.x, again.train.x)  # seeded


def test_batch_larger_than_data_is_refused(mnist_like):
    folder, _ = mnist_like
    data = {"type": "npz", "path": str(folder / "d.npz")}
    spec = resolve({"latent_dim": 2, "data": data, "train": {"batch_size": 500}})
    with pytest.raises(GenkitError, match="batch size is 500 but .* has only 54 training examples"):
        prepare_data(spec)


def test_conditional_spec_without_labels_is_refused(mnist_like):
    folder, _ = mnist_like
    spec = resolve({"latent_dim": 2, "conditional": True, "data": {"type": "npz", "path": str(folder / "d.npz")},
                    "train": {"batch_size": 10}})
    with pytest.raises(GenkitError, match="provides no labels"):
        prepare_data(spec)


def test_mnist_reads_the_keras_cache_and_says_how_to_get_it_when_missing(tmp_path, monkeypatch):
    from fake_mnist import write_fake_mnist

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    spec = resolve({"latent_dim": 2, "data": {"type": "mnist", "binarize": "dynamic"}})
    with pytest.raises(GenkitError) as missing:
        load_split(spec)
    message = str(missing.value)
    assert str(tmp_path / "keras" / "datasets" / "mnist.npz") in message
    assert 'python -c "import keras; keras.datasets.mnist.load_data()"' in message and "data.path" in message
    write_fake_mnist(tmp_path / "keras", n_train=30, n_test=20)
    train, test = load_split(spec, "train"), load_split(spec, "test")
    assert train.x.shape == (30, 28, 28) and test.x.shape == (20, 28, 28) and train.x.dtype == np.float32
    assert train.x.max() == 1.0 and list(train.y[:3]) == [0, 1, 2] and train.class_names[7] == "7"
    elsewhere = write_fake_mnist(tmp_path / "elsewhere", n_train=10, n_test=10)
    by_path = resolve({"latent_dim": 2, "data": {"type": "mnist", "path": str(elsewhere)}})
    assert load_split(by_path).x.shape == (10, 28, 28)
