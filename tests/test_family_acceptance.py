"""What the importance-weighted, disentangling and regularized families must show, at toy scale.

Each test trains small MLP models on 1,000 built-in 12 x 12 shapes (a few seconds each) and checks
a property the family exists for:

- IWAE with k = 5 reaches a higher test log-likelihood than the VAE with the same networks, data
  and steps (Burda et al. 2016);
- beta-TC-VAE with beta = 6 leaves less total correlation in the codes than beta = 1 (Chen et al.
  2018), as its own ``tc`` estimate reports it on the test images;
- an RAE's samples through its fitted Gaussian mixture are closer to the test images than decoded
  N(0, I) codes (Ghosh et al. 2020), by the Fréchet distance in pixel space.

Training runs with ``jit_compile: false`` (no measurement of XLA against graph execution, which
would cost more than these trainings) and a fixed seed. docs/families/importance_weighted.md,
disentangling.md and rae.md give the margins measured over other seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

import genkit
from genkit.assembly.data import load_split
from genkit.assembly.model import GenerativeAutoencoder
from genkit.plugin.dataset import ArrayData
from genkit.results.evaluation import evaluate_model
from genkit.results.metrics import frechet_distance
from genkit.runs.train import train


def toy_spec(model: str, latent_dim: int, epochs: int, n_test: int = 500, **components: Any) -> dict[str, Any]:
    """A spec of ``model`` on 1,000 training shapes with 32-unit MLPs, batches of 50, Adam 3e-3:
    ``epochs`` epochs are ``20 * epochs`` steps, the same for every model it is compared with."""
    return {
        "name": f"acceptance-{model}", "model": model, "latent_dim": latent_dim,
        "data": {"type": "shapes", "size": 12, "n_train": 1000, "n_test": n_test, "validation_split": 0.0},
        "encoder": {"type": "mlp", "hidden": [32]}, "decoder": {"type": "mlp", "hidden": [32]}, **components,
        "train": {"epochs": epochs, "batch_size": 50, "optimizer": {"type": "adam", "learning_rate": 3e-3},
                  "seed": 0, "jit_compile": False},
    }


def trained(spec: dict[str, Any]) -> tuple[GenerativeAutoencoder, ArrayData]:
    """The model trained on ``spec`` (in memory, no run directory) and the spec's test split."""
    model = train(spec, progress=False).model
    return model, load_split(genkit.load_spec(spec), "test")


def test_iwae_reaches_a_higher_test_log_likelihood_than_the_vae():
    """300 steps each. With a 2-D code the VAE's factorised posterior is far from the true one,
    which is where the tighter bound pays; with a 4-D code at this budget the gap was within the
    spread over seeds (see docs/families/importance_weighted.md)."""
    log_likelihood = {}
    for model_name in ("vae", "iwae"):
        model, test = trained(toy_spec(model_name, latent_dim=2, epochs=15))
        log_likelihood[model_name] = evaluate_model(model, test, k=100, progress=False)["log_likelihood"]
    assert log_likelihood["iwae"] > log_likelihood["vae"], log_likelihood


def test_beta_tc_vae_with_beta_6_has_a_lower_total_correlation_than_with_beta_1():
    """200 steps each; ``tc`` is the divergence's own minibatch-stratified estimate, reported by the
    main phase on the 500 test images as one batch (a larger batch than training's, so a less
    biased estimate)."""
    total_correlation = {}
    for beta in (1.0, 6.0):
        model, test = trained(toy_spec("beta_tc_vae", latent_dim=4, epochs=10,
                                       divergence={"type": "beta_tc", "beta": beta}))
        terms, _ = model.run_phase(model.phases()[0], {"x": tf.constant(test.x)}, tf.constant([1, 2]),
                                   training=False)
        total_correlation[beta] = float(terms["tc"])
    assert total_correlation[6.0] < total_correlation[1.0], total_correlation


def test_rae_samples_through_the_fitted_mixture_beat_decoded_standard_normal_codes():
    """200 steps; 1,000 samples of each kind against the 1,000 test images, compared in pixel space
    (144 values per image). The codes of an RAE have no prescribed scale (1.5 to 4 per dimension
    here), so N(0, I) draws decode to the few shapes near the centre of the code space."""
    model, test = trained(toy_spec("rae", latent_dim=4, epochs=10, n_test=1000))
    n = len(test)
    mixture = model.sample(n, seed=1)  # the gmm sampler, fitted on the training codes after training
    standard = model.decode(np.random.default_rng(1).standard_normal((n, model.latent_dim)).astype(np.float32))

    def pixels(images: np.ndarray) -> np.ndarray:
        return np.asarray(images).reshape(len(images), -1)

    distance = {name: frechet_distance(pixels(test.x), pixels(images))
                for name, images in (("gmm", mixture), ("standard_normal", standard))}
    assert distance["gmm"] < distance["standard_normal"], distance
