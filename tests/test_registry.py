"""Registry: entry-point discovery, unknown names, broken plugins, duplicate names."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from fake_plugins import LAPLACE_PRIOR, make_distribution

import genkit
from genkit.plugin.registry import BUILTIN_DISTRIBUTION, PluginWarning, registry, reload_plugins


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    """A sys.path entry for fake distributions; the registry forgets them afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    reload_plugins()
    yield tmp_path
    monkeypatch.undo()
    fakes = {"lapl_mod", "broken_mod", "dupa_mod", "dupb_mod"}
    for name in fakes & set(sys.modules):
        del sys.modules[name]
    reload_plugins()


def test_builtins_are_discovered_through_entry_points():
    prior = registry("prior").get("standard_normal")
    assert prior.origin == BUILTIN_DISTRIBUTION
    assert prior.obj.__module__ == "genkit_plugins.priors"
    for kind, name in [("encoder", "mlp"), ("decoder", "mlp"), ("likelihood", "bernoulli"),
                       ("likelihood", "gaussian"), ("divergence", "kl"), ("dataset", "shapes"), ("dataset", "npz")]:
        assert name in registry(kind).names()


def test_third_party_prior_is_found_and_usable_by_name(plugin_path, tiny_vae):
    make_distribution(plugin_path, "lapl", {"genkit.priors": {"laplace": "lapl_mod:Laplace"}}, LAPLACE_PRIOR)
    reload_plugins()
    entry = registry("prior").get("laplace")
    assert entry.origin == "lapl"
    assert entry.summary == "Isotropic Laplace prior, from a third-party package."
    tiny_vae["prior"] = {"type": "laplace", "scale": 0.5}
    # TFP has no closed-form KL(Normal || Laplace): refused on request, else Monte Carlo
    with pytest.raises(genkit.GenkitError, match="no closed-form KL"):
        genkit.build({**tiny_vae, "divergence": {"type": "kl", "fallback": "error"}})
    spec = genkit.load_spec(tiny_vae)
    assert spec.components["prior"] == {"type": "laplace", "scale": 0.5}
    model = genkit.build(spec)
    z = model.sample_latent(2000, seed=1)
    # Laplace(0, b) has variance 2 b^2 = 0.5
    assert np.var(z) == pytest.approx(0.5, rel=0.15)


def test_unknown_name_lists_registered_and_suggests_closest():
    with pytest.raises(genkit.GenkitError) as info:
        registry("prior").get("standard_normall")
    message = str(info.value)
    assert "unknown prior 'standard_normall'" in message
    assert "Did you mean 'standard_normal'?" in message
    assert "Registered priors: " in message and "standard_normal, swiss_roll" in message


def test_broken_plugin_warns_with_its_package_and_the_rest_still_load(plugin_path):
    make_distribution(plugin_path, "broken", {"genkit.priors": {"exploding": "broken_mod:Nope"}},
                      "raise RuntimeError('plugin import failed on purpose')\n")
    reload_plugins()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = registry("prior").names()
    assert "exploding" not in names
    assert "standard_normal" in names
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert len(messages) == 1
    assert "package 'broken'" in messages[0] and "plugin import failed on purpose" in messages[0]


def test_duplicate_names_warn_and_choose_deterministically(plugin_path):
    body = LAPLACE_PRIOR
    make_distribution(plugin_path / "a", "dupb", {"genkit.priors": {"shared": "dupb_mod:Laplace",
                                                                    "standard_normal": "dupb_mod:Laplace"}}, body)
    make_distribution(plugin_path / "b", "dupa", {"genkit.priors": {"shared": "dupa_mod:Laplace"}}, body)
    sys.path[:0] = [str(plugin_path / "a"), str(plugin_path / "b")]
    try:
        reload_plugins()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            shared = registry("prior").get("shared")
            builtin = registry("prior").get("standard_normal")
        # third-party clash: alphabetical distribution name wins; genkit's own always wins its names
        assert shared.origin == "dupa"
        assert builtin.origin == BUILTIN_DISTRIBUTION
        messages = sorted(str(w.message) for w in caught if issubclass(w.category, PluginWarning))
        assert len(messages) == 2
        assert "prior 'shared' is registered by several packages (dupa, dupb); using the one from 'dupa'" in messages
    finally:
        sys.path.remove(str(plugin_path / "a"))
        sys.path.remove(str(plugin_path / "b"))


def test_register_decorator_adds_in_process(tiny_vae):
    @genkit.register("prior", "wide_normal_test")
    class WideNormal(genkit.Prior):
        """N(0, 4 I)."""

        def distribution(self):
            import tensorflow as tf
            import tensorflow_probability as tfp

            return tfp.distributions.Independent(tfp.distributions.Normal(tf.zeros(self.latent_dim), 2.0), 1)

    tiny_vae["prior"] = "wide_normal_test"
    model = genkit.build(tiny_vae)
    assert np.std(model.sample_latent(4000, seed=0)) == pytest.approx(2.0, rel=0.05)


def test_plugin_of_the_wrong_kind_is_refused(tiny_vae):
    genkit.register("prior", "not_a_prior_test")(dict)
    tiny_vae["prior"] = "not_a_prior_test"
    with pytest.raises(genkit.SpecError, match="registered as a prior but is not a genkit.Prior"):
        genkit.build(tiny_vae)


class _OtherNormal(genkit.Prior):
    """N(0, I) again, from other code."""

    def distribution(self):
        import tensorflow as tf
        import tensorflow_probability as tfp

        return tfp.distributions.Independent(tfp.distributions.Normal(tf.zeros(self.latent_dim), 1.0), 1)


def test_registering_a_taken_name_needs_override_and_warns():
    with pytest.raises(genkit.GenkitError, match="already taken by package 'tf-genkit'.*override=True"):
        genkit.register("prior", "standard_normal")(_OtherNormal)
    assert registry("prior").get("standard_normal").origin == BUILTIN_DISTRIBUTION
    try:
        with pytest.warns(PluginWarning, match="prior 'standard_normal' of package 'tf-genkit' is replaced"):
            genkit.register("prior", "standard_normal", override=True)(_OtherNormal)
        assert registry("prior").get("standard_normal").obj is _OtherNormal
    finally:
        registry("prior").remove("standard_normal")
    assert registry("prior").get("standard_normal").origin == BUILTIN_DISTRIBUTION


def test_a_run_records_where_its_components_came_from_and_loading_other_code_warns(tmp_path, tiny_vae):
    import json

    tiny_vae["train"]["epochs"] = 1
    out = tmp_path / "run"
    genkit.train(tiny_vae, out, progress=False)
    recorded = json.loads((out / "model.json").read_text())["components"]
    assert recorded["prior"] == {"type": "standard_normal", "object": "genkit_plugins.priors.StandardNormal",
                                 "package": BUILTIN_DISTRIBUTION, "version": genkit.__version__}
    assert recorded["data"]["object"] == "genkit_plugins.datasets.shapes.Shapes"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same code: no warning
        genkit.load(out)
    try:
        with pytest.warns(PluginWarning):
            genkit.register("prior", "standard_normal", override=True)(_OtherNormal)
        with pytest.warns(PluginWarning, match=r"trained with other code than it now loads: prior 'standard_normal' "
                          r"was genkit_plugins.priors.StandardNormal from tf-genkit .* and is now "
                          r"test_registry._OtherNormal"):
            genkit.load(out)
    finally:
        registry("prior").remove("standard_normal")
