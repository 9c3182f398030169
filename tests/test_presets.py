"""Every model preset through the command line, as a user runs it: ``genkit run`` for one epoch,
then ``evaluate``, ``sample``, ``report`` and ``export`` on that run.

One tiny training per preset (12x12 shapes, a 16-unit MLP, one epoch), shared by the preset's
commands. Each preset states what its commands must give (:data:`EXPECTED`), so a preset that
quietly loses its bound, its classifier or its samples fails here; a command that does not apply
to a preset must fail as a user error: exit code 2, one paragraph, no traceback.
"""

from __future__ import annotations

import copy
import csv
import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import TINY_VAE

from genkit.cli import main
from genkit.spec.presets import PRESETS

SHAPE = (12, 12, 1)
CLASSES = 4  # the shapes dataset's


@dataclass(frozen=True)
class Expected:
    """What a preset's run and commands give."""

    #: The training terms metrics.csv has besides ``loss`` (each also as ``val_``, main phase only).
    terms: tuple[str, ...]
    #: An ELBO and log p(x) (a stochastic posterior and a prior with a density).
    bound: bool = False
    #: A prior to sample from.
    prior: bool = True
    #: Labels are the condition (sample needs --label; the report has a class-by-style grid).
    conditional: bool = False
    #: A classifier: evaluate reports cluster accuracies.
    classifier: bool = False
    #: Extra training terms of the divergence's and the objective's own phases (no val_ columns).
    phase_terms: tuple[str, ...] = ()


_ADVERSARIAL = ("discriminator_loss", "discriminator_accuracy", "generator_loss")

EXPECTED: dict[str, Expected] = {
    "vae": Expected(("reconstruction", "divergence"), bound=True),
    "beta_vae": Expected(("reconstruction", "divergence"), bound=True),
    "ae": Expected(("reconstruction",), prior=False),
    "dae": Expected(("reconstruction",), prior=False),
    "cae": Expected(("reconstruction", "contractive"), prior=False),
    "cvae": Expected(("reconstruction", "divergence"), bound=True, conditional=True),
    "aae": Expected(("reconstruction",), phase_terms=_ADVERSARIAL),
    "supervised_aae": Expected(("reconstruction",), phase_terms=_ADVERSARIAL),
    "categorical_aae": Expected(("reconstruction",), classifier=True, phase_terms=(
        "style_discriminator_loss", "category_discriminator_loss", "classification_loss")),
    "m2": Expected(("reconstruction", "classification"), bound=True, conditional=True, classifier=True),
}

#: What a preset's spec sets beyond the tiny defaults: the categorical AAE's code is
#: [style, one-hot class], so its latent holds the shapes' 4 classes.
CHANGES: dict[str, dict] = {
    "categorical_aae": {"latent_dim": 6, "posterior": {"classes": CLASSES}, "prior": {"classes": CLASSES},
                        "objective": {"classes": CLASSES, "hidden": [16]}},
}


def preset_spec(preset: str) -> dict:
    """The tiny spec of ``model: preset``: every component the preset fills is left to it."""
    spec = copy.deepcopy(TINY_VAE)
    for key in ("prior", "divergence"):
        del spec[key]
    spec.update(name=f"tiny-{preset}", model=preset, encoder={"type": "mlp", "hidden": [16]},
                decoder={"type": "mlp", "hidden": [16]}, **CHANGES.get(preset, {}))
    spec["data"].update(n_train=150, n_test=50)
    spec["train"].update(epochs=1, batch_size=30)
    return spec


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def assert_user_error(result: Result, *phrases: str) -> None:
    """Exit code 2 and one paragraph naming the problem, as ``genkit`` reports a user's mistake."""
    text = result.output.strip()
    assert result.exit_code == 2, result.output
    assert text.startswith("error: ") and "\n" not in text and "Traceback" not in text, text
    for phrase in phrases:
        assert phrase in text, (phrase, text)


@dataclass
class Run:
    preset: str
    expected: Expected
    run_dir: Path
    result: Result


@pytest.fixture(scope="module", params=list(PRESETS))
def run(request, tmp_path_factory) -> Run:
    """One epoch of the preset, trained once through ``genkit run`` and shared by its commands."""
    preset = request.param
    root = tmp_path_factory.mktemp(preset)
    spec_file = root / f"{preset}.yaml"
    spec_file.write_text(yaml.safe_dump(preset_spec(preset)))
    result = invoke("run", spec_file, "--out", root / "run", "-q")
    return Run(preset, EXPECTED[preset], root / "run", result)


def test_every_preset_states_what_it_gives():
    assert set(EXPECTED) == set(PRESETS) and set(CHANGES) <= set(PRESETS)


def test_run_trains_one_epoch_into_a_complete_run_directory(run):
    assert run.result.exit_code == 0, run.result.output
    assert f"done: {run.run_dir} (final loss" in run.result.output
    for name in ("spec.yaml", "model.json", "model.weights.h5", "reconstructions.png"):
        assert (run.run_dir / name).is_file(), name
    assert (run.run_dir / "samples.png").is_file() == run.expected.prior
    assert list((run.run_dir / "checkpoints").iterdir()) and list((run.run_dir / "tensorboard").iterdir())
    assert yaml.safe_load((run.run_dir / "spec.yaml").read_text())["model"] == run.preset
    [row] = list(csv.DictReader((run.run_dir / "metrics.csv").open()))
    terms = ("loss", *run.expected.terms)
    for column in (*terms, *(f"val_{term}" for term in terms), *run.expected.phase_terms):
        assert math.isfinite(float(row[column])), column
    assert int(row["epoch"]) == 1 and int(row["step"]) == 4  # 120 training examples in batches of 30
    assert float(row["loss"]) > 0 and float(row["reconstruction"]) > 0


def test_evaluate_reports_the_metrics_that_apply(run):
    result = invoke("evaluate", run.run_dir, "-k", "4", "--batch-size", "50")
    assert result.exit_code == 0, result.output
    assert f"written: {run.run_dir / 'metrics_eval.json'}" in result.output and "reconstruction_mse" in result.output
    metrics = json.loads((run.run_dir / "metrics_eval.json").read_text())
    assert metrics["split"] == "test" and metrics["examples"] == 50
    numbers = {key: value for key, value in metrics.items() if key != "split"}
    assert all(math.isfinite(value) for value in numbers.values()), numbers
    assert metrics["reconstruction_mse"] > 0 and 0 <= metrics["active_units"] <= metrics["latent_dim"]
    assert 0 <= metrics["linear_probe_accuracy"] <= 1
    assert ("mmd" in metrics) == run.expected.prior
    if run.expected.bound:
        assert metrics["k"] == 4 and metrics["log_likelihood"] < 0
        assert metrics["elbo"] == pytest.approx(-(metrics["elbo_reconstruction"] + metrics["elbo_kl"]), abs=1e-3)
    else:
        assert "elbo" not in metrics and "log_likelihood" not in metrics
    accuracies = {"cluster_accuracy", "majority_cluster_accuracy"}
    if run.expected.classifier:  # the best matching of 4 clusters to 4 classes is right at least 1 in 4 times
        assert 1 / CLASSES <= metrics["cluster_accuracy"] <= 1 and 0 <= metrics["majority_cluster_accuracy"] <= 1
    else:
        assert not accuracies & set(metrics)


def test_sample_draws_images_or_says_why_it_cannot(run, tmp_path):
    out = tmp_path / "samples.npy"
    if not run.expected.prior:
        assert_user_error(invoke("sample", run.run_dir, "-n", "5", "--out", out), "this model has no prior")
        assert not out.exists()
        return
    label = ("--label", "2") if run.expected.conditional else ()
    if run.expected.conditional:
        assert_user_error(invoke("sample", run.run_dir, "-n", "5", "--out", out),
                          "this model is conditional: pass --label CLASS (0 to 3)")
    result = invoke("sample", run.run_dir, "-n", "5", "--seed", "3", "--out", out, *label)
    assert result.exit_code == 0 and f"written: {out}" in result.output, result.output
    samples = np.load(out)
    assert samples.shape == (5, *SHAPE) and samples.min() >= 0 and samples.max() <= 1  # Bernoulli means
    assert samples.std(axis=0).max() > 0  # five different draws


def test_report_shows_every_picture_that_applies(run):
    result = invoke("report", run.run_dir)
    assert result.exit_code == 0, result.output
    page = html.unescape((run.run_dir / "report.html").read_text())
    pictures = {path.stem for path in (run.run_dir / "pictures").glob("*.png")}
    expected = {"reconstructions", "traversal", "interpolation", "latent", "loss"}
    expected |= {"samples"} if run.expected.prior else set()
    expected |= {"class_grid"} if run.expected.conditional else set()
    expected |= {"manifold"} if preset_spec(run.preset)["latent_dim"] == 2 else set()
    assert pictures == expected
    in_run_dir = len(list(run.run_dir.glob("*.png")))  # samples.png, reconstructions.png
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', page)) == len(expected) + in_run_dir
    assert f"model '{run.preset}'" in page and "Training (last of 1 epochs)" in page


def test_export_writes_a_savedmodel_with_its_signatures(run, tmp_path):
    import tensorflow as tf

    out = tmp_path / "saved"
    result = invoke("export", run.run_dir, out)
    assert result.exit_code == 0, result.output
    signatures = ["decode", "encode", *(["sample"] if run.expected.prior else []), "serving_default"]
    named = ", ".join(name for name in ("encode", "decode", "sample") if name in signatures)
    assert f"exported: {out} (signatures: {named}" in result.output
    served = tf.saved_model.load(str(out)).signatures
    assert sorted(served) == signatures
    x = np.random.default_rng(0).uniform(size=(3, *SHAPE)).astype(np.float32)
    condition = {"condition": tf.one_hot([0, 1, 2], CLASSES)} if run.expected.conditional else {}
    z = served["encode"](x=tf.constant(x), **condition)["z"]
    assert z.shape == (3, preset_spec(run.preset)["latent_dim"]) and np.all(np.isfinite(z))
    decoded = served["decode"](z=z, **condition)["x"].numpy()
    assert decoded.shape == (3, *SHAPE) and decoded.min() >= 0 and decoded.max() <= 1
    if run.expected.prior:
        drawn = served["sample"](n=tf.constant(3), seed=tf.constant(5), **condition)
        again = served["sample"](n=tf.constant(3), seed=tf.constant(5), **condition)
        assert drawn["x"].shape == (3, *SHAPE) and np.array_equal(drawn["x"], again["x"])  # seeded
