"""Model presets: ``model: vae`` is shorthand for a set of component defaults.

A preset only fills what the spec leaves out (components, and ``conditional``); a spec can name
every component itself, so a new divergence plugin gives a new model family without touching
this table. A component given as a mapping without ``type`` (``divergence: {beta: 4}``) keeps the
preset's type and sets arguments.
"""

from __future__ import annotations

from typing import Any

_GAUSSIAN_VAE: dict[str, Any] = {
    "encoder": "mlp",
    "decoder": "mlp",
    "posterior": "diagonal_gaussian",
    "likelihood": "bernoulli",
    "prior": "standard_normal",
    "divergence": "kl",
}

#: The Monte Carlo KL at the code the reconstruction term used: no second draw through a flow posterior.
_MC_KL_AT_THE_CODE: dict[str, Any] = {"type": "mc_kl", "code": "reconstruction"}

_AE: dict[str, Any] = {**_GAUSSIAN_VAE, "posterior": "deterministic", "prior": None, "divergence": "none"}

PRESETS: dict[str, dict[str, Any]] = {
    "vae": dict(_GAUSSIAN_VAE),
    "beta_vae": {**_GAUSSIAN_VAE, "divergence": {"type": "kl", "beta": 4.0}},
    "ae": dict(_AE),
    # denoising AE: the encoder sees a corrupted input, the target is the clean one
    "dae": {**_AE, "corruption": {"type": "masking", "rate": 0.3}},
    # contractive AE: the squared Frobenius norm of the encoder Jacobian is added to the loss
    "cae": {**_AE, "objective": "contractive"},
    # conditional VAE (labels enter encoder and decoder; the spec sets conditional: true)
    "cvae": {**_GAUSSIAN_VAE, "conditional": True},
    # adversarial autoencoder (Makhzani et al. 2016): reconstruction, discriminator, generator phases
    "aae": {**_AE, "prior": "standard_normal", "divergence": "adversarial"},
    # supervised AAE: the label enters the discriminator; each class owns a mixture component
    "supervised_aae": {**_AE, "prior": {"type": "mixture", "components": 10}, "divergence": "supervised_adversarial"},
    # semi-supervised / clustering AAE: style + categorical latent, each matched adversarially
    "categorical_aae": {**_AE, "posterior": "categorical_aae", "prior": "categorical_aae",
                        "objective": "categorical_aae"},
    # importance-weighted bounds (Burda et al. 2016; Rainforth et al. 2018): IWAE, MIWAE, CIWAE, PIWAE
    "iwae": {**_GAUSSIAN_VAE, "objective": {"type": "importance_weighted", "samples": 5}},
    "miwae": {**_GAUSSIAN_VAE, "objective": {"type": "importance_weighted", "samples": 4, "groups": 4}},
    "ciwae": {**_GAUSSIAN_VAE, "objective": {"type": "importance_weighted", "samples": 5, "elbo_weight": 0.5}},
    "piwae": {**_GAUSSIAN_VAE, "objective": {"type": "importance_weighted", "samples": 4, "groups": 4,
                                             "encoder": "piwae"}},
    # regularized autoencoders (Ghosh et al. 2020), sampled through a Gaussian mixture fitted to the codes
    "rae": {**_AE, "objective": "rae", "sampler": "gmm"},
    "rae_gp": {**_AE, "objective": {"type": "rae", "regularizer": "gradient_penalty"}, "sampler": "gmm"},
    # disentangling VAEs: beta-TC-VAE, FactorVAE, DIP-VAE, capacity-controlled beta-VAE, InfoVAE
    "beta_tc_vae": {**_GAUSSIAN_VAE, "divergence": "beta_tc"},
    "factor_vae": {**_GAUSSIAN_VAE, "divergence": "factor_vae"},
    "dip_vae": {**_GAUSSIAN_VAE, "divergence": "dip_vae"},
    "capacity_vae": {**_GAUSSIAN_VAE, "divergence": "capacity_kl"},
    "info_vae": {**_GAUSSIAN_VAE, "divergence": "info_vae"},
    # VQ-VAE (van den Oord et al. 2017): a code grid from an EMA codebook (the spec sets latent_shape: [H, W, D]),
    # sampled through an autoregressive prior over the codes fitted after training
    "vq_vae": {**_AE, "encoder": "conv", "decoder": "conv", "posterior": "vq", "sampler": "autoregressive_codes"},
    # VAE-GAN (Larsen et al. 2016): feature-space reconstruction through a conv discriminator; three phases
    "vae_gan": {**_GAUSSIAN_VAE, "encoder": "conv", "decoder": "conv", "objective": "vae_gan"},
    # flow posteriors: IAF (Kingma et al. 2016), planar and radial flows (Rezende and Mohamed 2015); Monte Carlo KL
    # at the reconstruction's own code (the papers' single-sample ELBO; no second pass through the flow)
    "iaf_vae": {**_GAUSSIAN_VAE, "posterior": "iaf", "divergence": _MC_KL_AT_THE_CODE},
    "planar_vae": {**_GAUSSIAN_VAE, "posterior": "planar_flow", "divergence": _MC_KL_AT_THE_CODE},
    "radial_vae": {**_GAUSSIAN_VAE, "posterior": "radial_flow", "divergence": _MC_KL_AT_THE_CODE},
    # Hamiltonian VAE (Caterini et al. 2018): the encoder's draw moved by tempered leapfrog steps on log p(x, z)
    "hvae": {**_GAUSSIAN_VAE, "objective": "hamiltonian"},
    # hyperspherical VAE (Davidson et al. 2018): von Mises-Fisher posterior, uniform prior on the sphere, analytic KL
    "hyperspherical_vae": {**_GAUSSIAN_VAE, "posterior": "von_mises_fisher", "prior": "spherical_uniform"},
    # two-stage VAE (Dai and Wipf 2019): a VAE with a learned decoder variance, sampled through a second VAE
    "two_stage_vae": {**_GAUSSIAN_VAE, "likelihood": {"type": "gaussian", "variance": "global"},
                      "sampler": "two_stage_vae"},
    # Kingma et al. 2014 M2: a classifier q(y|x) and labelled/unlabelled ELBO terms
    "m2": {**_GAUSSIAN_VAE, "objective": "m2", "conditional": True},
}

#: The spec keys that name components (and so can be filled by a preset).
COMPONENT_KEYS: tuple[str, ...] = (
    "encoder", "decoder", "posterior", "likelihood", "prior", "divergence", "corruption", "objective", "sampler",
)

#: The component keys a spec may leave empty.
OPTIONAL_COMPONENT_KEYS: tuple[str, ...] = ("prior", "corruption", "objective", "sampler")
