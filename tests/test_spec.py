"""Spec validation: each kind of invalid spec gives its specific error; a valid one round-trips."""

from __future__ import annotations

import textwrap

import pytest

from genkit.errors import SpecError
from genkit.spec.resolve import load_spec, parse_spec_text, resolve
from genkit.spec.yaml_source import dump_yaml

VALID = textwrap.dedent(
    """\
    name: demo
    model: vae
    latent_dim: 4
    data: {type: shapes, size: 12, n_train: 200}
    encoder: {type: mlp, hidden: [32, 16]}
    decoder: mlp
    likelihood: bernoulli
    prior: standard_normal
    divergence: {type: kl, beta: 2.0}
    train: {epochs: 2, batch_size: 50, optimizer: {type: adam, learning_rate: 1e-3}}
    """
)


def error_for(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec_text(text, source="spec.yaml")
    return info.value


def test_valid_spec_resolves_every_default():
    spec = parse_spec_text(VALID, "spec.yaml")
    mlp_defaults = {"type": "mlp", "activation": "relu", "normalization": "none", "dropout": 0.0}
    assert spec.components["encoder"] == {**mlp_defaults, "hidden": [32, 16]}
    assert spec.components["decoder"] == {**mlp_defaults, "hidden": [256, 512]}
    assert spec.components["posterior"] == {"type": "diagonal_gaussian", "min_scale": 1e-5}
    assert spec.components["divergence"] == {
        "type": "kl", "beta": 2.0, "warmup": None, "free_bits": 0.0, "fallback": "monte_carlo"
    }
    assert spec.data["n_test"] == 2000 and spec.data["binarize"] == "none" and spec.data["validation_split"] == 0.1
    assert spec.train.optimizer.learning_rate == pytest.approx(1e-3)  # "1e-3" is a float, not YAML 1.1's string
    assert spec.train.seed == 0


def test_resolved_spec_round_trips():
    spec = parse_spec_text(VALID)
    again = parse_spec_text(dump_yaml(spec.to_dict()))
    assert again.to_dict() == spec.to_dict()


def test_bare_name_is_shorthand_for_type():
    assert resolve({"latent_dim": 2, "data": "shapes", "prior": "standard_normal"}).components["prior"] == resolve(
        {"latent_dim": 2, "data": "shapes", "prior": {"type": "standard_normal"}}
    ).components["prior"]


def test_preset_fills_components_and_mapping_without_type_sets_arguments():
    spec = resolve({"model": "beta_vae", "latent_dim": 2, "data": "shapes", "divergence": {"beta": 8.0}})
    assert spec.components["divergence"]["type"] == "kl" and spec.components["divergence"]["beta"] == 8.0
    ae = resolve({"model": "ae", "latent_dim": 2, "data": "shapes"})
    assert ae.components["posterior"]["type"] == "deterministic" and ae.components["prior"] is None


def test_unknown_top_level_key_names_key_line_and_suggestion():
    err = error_for(VALID + "latnt_dim: 3\n")
    assert err.path == "latnt_dim" and err.line == 11
    assert "Did you mean 'latent_dim'?" in str(err)
    assert str(err).startswith("in spec.yaml, line 11 key 'latnt_dim': unknown key")


def test_wrong_type_of_core_value():
    err = error_for(VALID.replace("latent_dim: 4", "latent_dim: four"))
    assert err.path == "latent_dim" and err.line == 3
    assert "valid integer" in str(err) and "'four'" in str(err)


def test_non_positive_latent_dim():
    err = error_for(VALID.replace("latent_dim: 4", "latent_dim: 0"))
    assert err.path == "latent_dim" and "greater than 0" in str(err)


def test_missing_required_value():
    err = error_for(VALID.replace("latent_dim: 4\n", ""))
    assert err.path == "latent_dim" and "a value is required" in str(err)


def test_unknown_component_name_suggests_closest():
    err = error_for(VALID.replace("prior: standard_normal", "prior: standard_normla"))
    assert err.path == "prior.type" and err.line == 8
    assert "Did you mean 'standard_normal'?" in str(err) and "Registered priors:" in str(err)


def test_plugin_argument_checked_against_its_signature():
    err = error_for(VALID.replace("beta: 2.0", "beta: lots"))
    assert err.path == "divergence.beta" and err.line == 9
    assert "valid number" in str(err) and "'lots'" in str(err)


def test_string_is_not_silently_coerced_to_number():
    err = error_for(VALID.replace("beta: 2.0", "beta: '2.0'"))
    assert err.path == "divergence.beta"


def test_unknown_plugin_argument_lists_valid_ones():
    err = error_for(VALID.replace("hidden: [32, 16]", "hiden: [32, 16]"))
    assert err.path == "encoder.hiden" and err.line == 5
    assert "Did you mean 'hidden'?" in str(err) and "Its arguments are: hidden, activation" in str(err)


def test_nested_list_item_type_error_has_full_path():
    err = error_for(VALID.replace("hidden: [32, 16]", "hidden: [32, wide]"))
    assert err.path == "encoder.hidden.1"


def test_unknown_optimizer_is_reported_at_train_optimizer():
    err = error_for(VALID.replace("type: adam", "type: adamm"))
    assert err.path == "train.optimizer" and "unknown optimizer 'adamm'" in str(err)


def test_bad_optimizer_argument():
    err = error_for(VALID.replace("learning_rate: 1e-3", "learning_rate: 1e-3, momentom: 0.9"))
    assert err.path == "train.optimizer" and "momentom" in str(err)


def test_unknown_train_key():
    err = error_for(VALID.replace("epochs: 2", "epochz: 2"))
    assert err.path == "train.epochz"


def test_divergence_that_needs_a_prior_without_one():
    err = error_for(VALID.replace("prior: standard_normal", "prior: null"))
    assert err.path == "prior" and "needs a prior" in str(err)


def test_unknown_preset():
    err = error_for(VALID.replace("model: vae", "model: vea"))
    assert err.path == "model" and "Did you mean 'vae'?" in str(err)


def test_all_problems_reported_together():
    err = error_for(VALID.replace("latent_dim: 4", "latent_dim: -1").replace("beta: 2.0", "beta: x"))
    assert "2 problems" in str(err) and "divergence.beta" in str(err) and "latent_dim" in str(err)


def test_malformed_yaml_gives_line_and_column():
    err = error_for("name: x\nlatent_dim: [1, 2\ndata: shapes\n")
    assert "cannot parse YAML" in str(err) and err.line == 3 and "column" in str(err)


def test_unsafe_tag_is_refused():
    err = error_for("name: !!python/object/apply:os.system ['echo hacked']\nlatent_dim: 2\ndata: shapes\n")
    assert "tags such as !!python/object are refused" in str(err)


def test_top_level_must_be_a_mapping():
    assert "must be a mapping" in str(error_for("- just\n- a list\n"))


def test_missing_file():
    with pytest.raises(SpecError, match="file not found"):
        load_spec("/nonexistent/spec.yaml")


def test_relative_data_path_is_resolved_against_the_spec_file(tmp_path):
    (tmp_path / "sub").mkdir()
    spec_file = tmp_path / "sub" / "spec.yaml"
    spec_file.write_text("latent_dim: 2\ndata: {type: npz, path: ../data.npz}\n")
    assert load_spec(spec_file).data["path"] == str(tmp_path / "data.npz")


def test_core_values_are_not_coerced_either():
    assert error_for(VALID.replace("latent_dim: 4", "latent_dim: '4'")).path == "latent_dim"
    assert error_for(VALID.replace("epochs: 2", "epochs: 2.5")).path == "train.epochs"
    assert error_for(VALID + "conditional: 'yes'\n").path == "conditional"


def test_integer_learning_rate_is_a_valid_float():
    spec = parse_spec_text(VALID.replace("learning_rate: 1e-3", "learning_rate: 1"))
    assert spec.train.optimizer.learning_rate == 1.0


def test_null_data_is_reported_not_crashed_on():
    err = error_for(VALID.replace("data: {type: shapes, size: 12, n_train: 200}", "data: null"))
    assert err.path == "data" and "a value is required" in str(err)
