"""Conditional generation beyond labels: an image as the condition (complete an image from a part of it).

The quadrant layout is Pyro's CVAE example's; the condition (the given quadrants, an ``[H, W]``
image) enters the encoder, the decoder and the prior network p(z|y); the importance-weighted
estimate of -log p(x|y) is checked against the exact answer of a conditional linear Gaussian
model; and on held-out shapes a CVAE completes the missing half better than a VAE that does not
see the given half.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from genkit_plugins.conditional_priors import RAW_UNIT_SCALE, ConditionalNetworkPrior
from genkit_plugins.datasets.quadrants import MASKED, Quadrants, given_mask, split_quadrants
from genkit_plugins.datasets.shapes import Shapes
from genkit_plugins.divergences import AnalyticKL
from genkit_plugins.likelihoods import Gaussian
from genkit_plugins.posteriors import DiagonalGaussian

import genkit
from genkit.assembly.build import build
from genkit.assembly.data import load_split
from genkit.plugin.networks import Decoder, Encoder
from genkit.results.evaluation import importance_weighted_log_likelihood
from genkit.runs.train import train
from genkit.spec.resolve import load_spec

SIZE = 12


@pytest.fixture(scope="module")
def shapes_npz(tmp_path_factory) -> str:
    """Built-in shapes (12 x 12, centred, unrotated) written as an npz of x_train / x_test."""
    path = tmp_path_factory.mktemp("quadrants") / "shapes.npz"
    shapes = Shapes(size=SIZE, n_train=800, n_test=300, rotate=False)
    np.savez(path, x_train=shapes.load("train").x, x_test=shapes.load("test").x)
    return str(path)


def quadrant_spec(path: str, given: int = 2, conditional: bool = True, epochs: int = 1) -> dict:
    return {
        "name": "quadrants", "model": "cvae", "conditional": conditional, "latent_dim": 4,
        "data": {"type": "quadrants", "given": given, "path": path, "validation_split": 0.0},
        "encoder": {"type": "mlp", "hidden": [64]}, "decoder": {"type": "mlp", "hidden": [64]},
        "prior": {"type": "conditional_mlp", "hidden": [32]} if conditional else "standard_normal",
        "train": {"epochs": epochs, "batch_size": 50, "optimizer": {"type": "adam", "learning_rate": 3e-3},
                  "seed": 0},
    }


def test_quadrants_follow_pyros_layout():
    """1 given quadrant: the bottom-left; 2: the left half; 3: all but the bottom-right."""
    for given, rows, columns in ((1, slice(14, 28), slice(0, 14)), (2, slice(0, 28), slice(0, 14))):
        expected = np.zeros((28, 28), bool)
        expected[rows, columns] = True
        np.testing.assert_array_equal(given_mask(28, 28, given), expected)
    expected = np.ones((28, 28), bool)
    expected[14:, 14:] = False
    np.testing.assert_array_equal(given_mask(28, 28, 3), expected)
    with pytest.raises(ValueError, match="1, 2 or 3"):
        given_mask(28, 28, 4)


def test_missing_pixels_and_condition_together_are_the_image():
    images = np.random.default_rng(0).uniform(size=(5, 6, 6)).astype(np.float32)
    for given in (1, 2, 3):
        missing, condition = split_quadrants(images, given)
        mask = given_mask(6, 6, given)
        assert missing.shape == (5, 36 - 9 * given) and condition.shape == (5, 6, 6)
        np.testing.assert_array_equal(condition[:, ~mask], MASKED)
        rebuilt = condition.copy()
        rebuilt[:, ~mask] = missing
        np.testing.assert_array_equal(rebuilt, images)


def test_the_image_condition_enters_encoder_decoder_and_prior(shapes_npz):
    spec = load_spec(quadrant_spec(shapes_npz, given=1))
    test = load_split(spec, "test")
    assert test.x.shape[1:] == (SIZE * SIZE * 3 // 4,) and test.y.shape[1:] == (SIZE, SIZE)
    model = build(spec)
    assert model.condition_dim == SIZE * SIZE
    assert model.encoder.hidden_layers[0].kernel.shape == (108 + 144, 64)
    assert model.decoder.hidden_layers[0].kernel.shape == (4 + 144, 64)
    assert model.prior.hidden_layers[0].kernel.shape == (144, 32)
    x, images = tf.constant(test.x[:8]), test.y[:8]
    others = test.y[8:16]  # the given quadrant of other images
    same, other = model.condition_of(images), model.condition_of(others)
    assert same.shape == (8, 144)  # the [12, 12] condition images, flattened
    start = model.prior_distribution(same)  # the prior network starts at N(0, I) for every condition
    np.testing.assert_allclose(start.mean(), 0.0)
    np.testing.assert_allclose(start.stddev(), 1.0 + 1e-3, rtol=1e-6)
    model.prior.loc_head.kernel.assign(np.random.default_rng(1).normal(size=(32, 4)).astype(np.float32))
    z = tf.zeros((8, 4))
    for distribution in (lambda c: model.posterior_distribution(x, c).mean(),
                         lambda c: model.likelihood_distribution(z, c).mean(),
                         lambda c: model.prior_distribution(c).mean()):
        assert not np.allclose(distribution(same), distribution(other))


# --- the estimator against a known answer: a conditional linear Gaussian model ---------------------
DATA_DIM, LATENT_DIM, CONDITION_SHAPE, NOISE, MIN_SCALE = 5, 2, (2, 2), 0.3, 1e-3
CONDITION_DIM = 4


class LinearEncoder(Encoder):
    """[x P + c Q + o, raw scale]: a diagonal Gaussian q(z|x, c) with fixed weights."""

    def __init__(self, data_shape, output_size, condition_dim, p, q, offset, scale):
        super().__init__(data_shape, output_size, condition_dim)
        raw = np.log(np.expm1(scale - 1e-5))  # the posterior's softplus(raw) + min_scale = scale
        self.p, self.q = tf.constant(p, tf.float32), tf.constant(q, tf.float32)
        self.offset, self.raw = tf.constant(offset, tf.float32), tf.constant(raw, tf.float32)

    def call(self, x, condition=None, training=False):
        loc = x @ self.p + condition @ self.q + self.offset
        return tf.concat([loc, tf.broadcast_to(self.raw, tf.shape(loc))], axis=-1)


class LinearDecoder(Decoder):
    """The mean z W^T + c B + b."""

    def __init__(self, latent_dim, output_shape, condition_dim, w, b_matrix, bias):
        super().__init__(latent_dim, output_shape, condition_dim)
        self.w_t, self.b_matrix = tf.constant(w.T, tf.float32), tf.constant(b_matrix, tf.float32)
        self.bias = tf.constant(bias, tf.float32)

    def call(self, z, condition=None, training=False):
        return z @ self.w_t + condition @ self.b_matrix + self.bias


def linear_gaussian_case(n: int = 100) -> tuple[genkit.GenerativeAutoencoder, np.ndarray, np.ndarray, np.ndarray]:
    """z | c ~ N(c A, tau^2 I) (the prior network with no hidden layer), x | z, c ~ N(z W^T + c B + b,
    s^2 I), the exact posterior as encoder; conditions are [2, 2] tensors. Returns the model,
    draws x, their conditions and the exact log p(x|c) = log N(x; c A W^T + c B + b, tau^2 W W^T + s^2 I)."""
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((DATA_DIM, LATENT_DIM)))
    w = q * np.array([2.0, 1.0])  # orthogonal columns: the exact posterior is diagonal
    a, b_matrix = rng.standard_normal((CONDITION_DIM, LATENT_DIM)), rng.standard_normal((CONDITION_DIM, DATA_DIM))
    bias = np.linspace(-1.0, 1.0, DATA_DIM)
    tau = 1.0 + MIN_SCALE  # softplus(RAW_UNIT_SCALE) + min_scale
    variance = 1.0 / (1.0 / tau**2 + np.diag(w.T @ w) / NOISE**2)  # posterior variances
    p = w * variance / NOISE**2
    encoder = LinearEncoder((DATA_DIM,), 2 * LATENT_DIM, CONDITION_DIM, p, a * variance / tau**2 - b_matrix @ p,
                            -bias @ p, np.sqrt(variance))
    prior = ConditionalNetworkPrior(LATENT_DIM, CONDITION_DIM, hidden=[], min_scale=MIN_SCALE)
    keras.utils.set_random_seed(0)
    model = genkit.GenerativeAutoencoder(
        encoder=encoder, posterior=DiagonalGaussian(LATENT_DIM),
        decoder=LinearDecoder(LATENT_DIM, (DATA_DIM,), CONDITION_DIM, w, b_matrix, bias),
        likelihood=Gaussian((DATA_DIM,), scale=NOISE), prior=prior, divergence=AnalyticKL(LATENT_DIM),
        context=genkit.Context((LATENT_DIM,), (DATA_DIM,), condition_dim=CONDITION_DIM),
    )
    model.build_variables({"x": np.zeros((2, DATA_DIM), np.float32), "y": np.zeros((2, *CONDITION_SHAPE), np.float32)})
    prior.loc_head.kernel.assign(a.astype(np.float32))
    prior.loc_head.bias.assign(np.zeros(LATENT_DIM, np.float32))
    prior.scale_head.kernel.assign(np.zeros((CONDITION_DIM, LATENT_DIM), np.float32))
    prior.scale_head.bias.assign(np.full(LATENT_DIM, RAW_UNIT_SCALE, np.float32))
    c = rng.standard_normal((n, *CONDITION_SHAPE))
    flat = c.reshape(n, -1)
    z = flat @ a + tau * rng.standard_normal((n, LATENT_DIM))
    x = z @ w.T + flat @ b_matrix + bias + NOISE * rng.standard_normal((n, DATA_DIM))
    mean, cov = flat @ a @ w.T + flat @ b_matrix + bias, tau**2 * w @ w.T + NOISE**2 * np.eye(DATA_DIM)
    centred = x - mean
    maha = np.einsum("ni,ij,nj->n", centred, np.linalg.inv(cov), centred)
    log_px = -0.5 * (DATA_DIM * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + maha)
    return model, x.astype(np.float32), c.astype(np.float32), log_px


def test_conditional_importance_sampling_is_exact_with_the_exact_posterior():
    """With q(z|x, c) the true posterior every importance weight is p(x|c): the k = 100 estimate of
    log p(x|c) is exact for each example, under [2, 2] tensor conditions."""
    model, x, c, log_px = linear_gaussian_case()
    estimate = importance_weighted_log_likelihood(model, x, k=100, labels=c)
    np.testing.assert_allclose(estimate, log_px, atol=2e-3)
    # the wrong condition (another example's) is a worse model of x: the condition is really used
    shuffled = importance_weighted_log_likelihood(model, x, k=10, labels=c[::-1])
    assert np.mean(shuffled) < np.mean(log_px) - 5.0


# --- what the condition buys on held-out data ------------------------------------------------------
@pytest.mark.slow
def test_cvae_completes_held_out_shapes_better_than_a_vae_without_the_given_half(shapes_npz):
    """Right halves of held-out shapes from their left halves: -log p(right | left) of the CVAE
    (prior network p(z|left)) is below the unconditional VAE's -log p(right) by more than a nat
    (12.2 against 14.5 nats: shapes vary in five factors only, so the left half cannot tell much more)."""
    nll = {}
    for conditional in (True, False):
        spec = quadrant_spec(shapes_npz, given=2, conditional=conditional, epochs=6)
        model = train(spec, progress=False).model
        test = load_split(load_spec(spec), "test")
        nll[conditional] = -float(np.mean(importance_weighted_log_likelihood(
            model, test.x, k=20, labels=test.y if conditional else None)))
    assert nll[True] < nll[False] - 1.0, nll


def test_quadrants_dataset_names_its_problems(tmp_path):
    np.savez(tmp_path / "colour.npz", x_train=np.zeros((4, 6, 6, 3), np.uint8), x_test=np.zeros((2, 6, 6, 3)))
    with pytest.raises(genkit.GenkitError, match=r"grayscale images \[N, H, W\]"):
        Quadrants(path=str(tmp_path / "colour.npz")).load("train")
    np.savez(tmp_path / "wide.npz", x_train=np.full((4, 6, 6), 3.0), x_test=np.zeros((2, 6, 6)))
    with pytest.raises(genkit.GenkitError, match=r"\[0, 1\]"):
        Quadrants(path=str(tmp_path / "wide.npz")).load("train")
