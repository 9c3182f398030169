"""Every model preset through the command line, as a user runs it: ``genkit run`` for one epoch,
then ``evaluate``, ``sample``, ``report`` and ``export`` on that run.

One tiny training per preset (12x12 shapes, a 16-unit MLP, one epoch), shared by the preset's
commands. Each preset states what its commands must give (:data:`EXPECTED`), so a preset that
quietly loses its bound, its classifier or its samples fails here; a command that does not apply
to a preset must fail as a user error: exit code 2, one paragraph, no traceback.

What ``evaluate``, ``report`` and ``export`` do depends on the trained model's structure (posterior,
prior or sampler, conditioning, a classifier), not on how it was trained. A preset that differs
from another only in training-time parts (its divergence, or a training component's arguments)
names that preset as ``like``: it is trained and sampled here, and its other commands are the
other preset's rows (:func:`test_variants_differ_from_their_like_only_in_training`). That keeps one
training per preset and the matrix fast.
"""

from __future__ import annotations

import copy
import csv
import html
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import TINY_VAE

from genkit.cli import main
from genkit.spec.presets import PRESETS
from genkit.spec.resolve import load_spec

SHAPE = (12, 12, 1)
CLASSES = 4  # the shapes dataset's


@dataclass(frozen=True)
class Expected:
    """What a preset's run and commands give."""

    #: The training terms metrics.csv has besides ``loss`` (each also as ``val_``, main phase only).
    terms: tuple[str, ...]
    #: An ELBO and log p(x) (a stochastic posterior and a prior with a density).
    bound: bool = False
    #: A prior (evaluate reports the MMD to it).
    prior: bool = True
    #: A sampler fitted after training (so a model without a prior samples too).
    sampler: bool = False
    #: Labels are the condition (sample needs --label; the report has a class-by-style grid).
    conditional: bool = False
    #: A classifier: evaluate reports cluster accuracies.
    classifier: bool = False
    #: Extra training terms of the divergence's and the objective's own phases (no val_ columns).
    phase_terms: tuple[str, ...] = ()
    #: The preset whose evaluate, report and export rows stand for this one's (see the module docstring).
    like: str | None = None

    @property
    def samples(self) -> bool:
        """Whether ``genkit sample`` draws codes (from the prior or the fitted sampler)."""
        return self.prior or self.sampler


_KL = ("reconstruction", "divergence")
_ADVERSARIAL = ("discriminator_loss", "discriminator_accuracy", "generator_loss")
_RAE = ("reconstruction", "code_penalty", "decoder_penalty")

EXPECTED: dict[str, Expected] = {
    "vae": Expected(_KL, bound=True),
    "beta_vae": Expected(_KL, bound=True, like="vae"),
    "ae": Expected(("reconstruction",), prior=False),
    "dae": Expected(("reconstruction",), prior=False, like="ae"),
    "cae": Expected(("reconstruction", "contractive"), prior=False),
    "cvae": Expected(_KL, bound=True, conditional=True),
    "aae": Expected(("reconstruction",), phase_terms=_ADVERSARIAL),
    "supervised_aae": Expected(("reconstruction",), phase_terms=_ADVERSARIAL),
    "categorical_aae": Expected(("reconstruction",), classifier=True, phase_terms=(
        "style_discriminator_loss", "category_discriminator_loss", "classification_loss")),
    "iwae": Expected(("bound", "elbo"), bound=True),
    "miwae": Expected(("bound", "elbo"), bound=True, like="iwae"),
    "ciwae": Expected(("bound", "elbo"), bound=True, like="iwae"),
    "piwae": Expected(("bound", "elbo"), bound=True, phase_terms=("encoder_loss", "encoder_bound"), like="iwae"),
    "rae": Expected(_RAE, prior=False, sampler=True),
    "rae_gp": Expected(_RAE, prior=False, sampler=True, like="rae"),
    "beta_tc_vae": Expected((*_KL, "mi", "tc", "dimension_wise_kl"), bound=True, like="vae"),
    "factor_vae": Expected((*_KL, "tc"), bound=True, phase_terms=("discriminator_loss", "discriminator_accuracy"),
                           like="vae"),
    "dip_vae": Expected((*_KL, "off_diagonal", "diagonal"), bound=True, like="vae"),
    "capacity_vae": Expected((*_KL, "capacity_now", "kl"), bound=True, like="vae"),
    "info_vae": Expected((*_KL, "kl", "mmd"), bound=True, like="vae"),
    "m2": Expected(("reconstruction", "classification"), bound=True, conditional=True, classifier=True),
    "vq_vae": Expected(("reconstruction", "commitment", "perplexity"), prior=False, sampler=True),
    "vae_gan": Expected(("feature_reconstruction", "divergence", "reconstruction"), bound=True,
                        phase_terms=("decoder_loss", "decoder_fool", "discriminator_loss", "discriminator_accuracy")),
    "iaf_vae": Expected(_KL, bound=True),
    "planar_vae": Expected(_KL, bound=True),
    "radial_vae": Expected(_KL, bound=True),
    "hvae": Expected(("bound", "reconstruction", "step_size", "tempering"), bound=True),
    "hyperspherical_vae": Expected(_KL, bound=True),
    "two_stage_vae": Expected(_KL, bound=True, sampler=True),
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
    spec["train"].update(epochs=1, batch_size=30, image_every=2)  # no TensorBoard images in one epoch
    return spec




def grouped(presets: list[str]) -> list:
    """``presets`` as parameters of the tests that use their run: each preset's tests form one
    worker group (tests/worker_groups.py), so a preset is trained once, in one worker, and the
    presets spread over both workers."""
    return [pytest.param(preset, id=preset, marks=pytest.mark.xdist_group(f"preset-{preset}")) for preset in presets]


#: Every preset, and those with rows of their own for the commands after training.
ALL = list(PRESETS)
OWN = [preset for preset in ALL if EXPECTED[preset].like is None]

#: The components a trained model is used through; a ``like`` pair must agree on all of them.
POST_TRAINING = ("encoder", "decoder", "posterior", "likelihood", "prior", "sampler")


def invoke(*args: str | Path) -> Result:
    """``genkit ARGS`` as a user runs it, in this process."""
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
    """A preset's run directory and what ``genkit run`` said."""

    preset: str
    expected: Expected
    run_dir: Path
    result: Result


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Callable[[str], Run]:
    """One epoch of a preset, trained through ``genkit run`` the first time a test asks for it and
    shared by the preset's commands. A cache, not a parametrized module fixture: the tests take
    different lists of presets (:data:`ALL`, :data:`OWN`), which pytest 9.1 does not order by
    preset, so a parametrized fixture would be rebuilt whenever the preset changes. Each worker
    has its own cache and trains the presets whose groups (:func:`grouped`) it was given."""
    runs: dict[str, Run] = {}

    def train(preset: str) -> Run:
        if preset not in runs:
            root = tmp_path_factory.mktemp(preset)
            spec_file = root / f"{preset}.yaml"
            spec_file.write_text(yaml.safe_dump(preset_spec(preset)))
            result = invoke("run", spec_file, "--out", root / "run", "-q")
            runs[preset] = Run(preset, EXPECTED[preset], root / "run", result)
        return runs[preset]

    return train


@pytest.fixture
def run(request, trained) -> Run:
    """The trained run of the preset that is the test's parameter."""
    return trained(request.param)


def test_every_preset_states_what_it_gives():
    assert set(EXPECTED) == set(PRESETS) and set(CHANGES) <= set(PRESETS)


def test_variants_differ_from_their_like_only_in_training():
    """A ``like`` preset builds the same trained model as its representative: the same components
    after training, conditioning and code shape, and an objective of the same type (its arguments
    only shape training); so it evaluates, reports and exports as that one, as its EXPECTED says."""
    for preset, expected in EXPECTED.items():
        if expected.like is None:
            continue
        assert expected.like in OWN, preset
        mine, theirs = load_spec(preset_spec(preset)), load_spec(preset_spec(expected.like))
        assert [mine.components[key] for key in POST_TRAINING] == [theirs.components[key] for key in POST_TRAINING]
        assert (mine.conditional, mine.latent_shape) == (theirs.conditional, theirs.latent_shape), preset
        objectives = [None if spec.components["objective"] is None else spec.components["objective"]["type"]
                      for spec in (mine, theirs)]
        assert objectives[0] == objectives[1], preset
        assert replace(expected, terms=(), phase_terms=(), like=None) == replace(
            EXPECTED[expected.like], terms=(), phase_terms=()), preset


@pytest.mark.parametrize("run", grouped(ALL), indirect=True)
def test_run_trains_one_epoch_into_a_complete_run_directory(run):
    assert run.result.exit_code == 0, run.result.output
    assert f"done: {run.run_dir} (final loss" in run.result.output
    for name in ("spec.yaml", "model.json", "model.weights.h5", "reconstructions.png"):
        assert (run.run_dir / name).is_file(), name
    assert (run.run_dir / "samples.png").is_file() == run.expected.samples
    assert bool(list((run.run_dir / "samplers").glob("*.npz"))) == run.expected.sampler  # the fitted sampler
    assert list((run.run_dir / "checkpoints").iterdir()) and list((run.run_dir / "tensorboard").iterdir())
    assert yaml.safe_load((run.run_dir / "spec.yaml").read_text())["model"] == run.preset
    [row] = list(csv.DictReader((run.run_dir / "metrics.csv").open()))
    terms = ("loss", *run.expected.terms)
    for column in (*terms, *(f"val_{term}" for term in terms), *run.expected.phase_terms):
        assert math.isfinite(float(row[column])), column
    assert int(row["epoch"]) == 1 and int(row["step"]) == 4  # 120 training examples in batches of 30
    assert float(row[run.expected.terms[0]]) != 0  # the main term (reconstruction, or a bound) was computed


@pytest.mark.parametrize("run", grouped(OWN), indirect=True)
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


@pytest.mark.parametrize("run", grouped(ALL), indirect=True)
def test_sample_draws_images_or_says_why_it_cannot(run, tmp_path):
    out = tmp_path / "samples.npy"
    if not run.expected.samples:  # nothing to draw codes from (test_samplers fits one with --sampler)
        assert_user_error(invoke("sample", run.run_dir, "-n", "5", "--out", out),
                          "this model has no prior and no fitted sampler", "pass --sampler gmm")
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


@pytest.mark.parametrize("run", grouped(OWN), indirect=True)
def test_report_shows_every_picture_that_applies(run):
    result = invoke("report", run.run_dir)
    assert result.exit_code == 0, result.output
    page = html.unescape((run.run_dir / "report.html").read_text())
    pictures = {path.stem for path in (run.run_dir / "pictures").glob("*.png")}
    expected = {"reconstructions", "traversal", "interpolation", "latent", "activity", "loss"}
    expected |= {"samples"} if run.expected.samples else set()
    expected |= {"class_grid"} if run.expected.conditional else set()
    expected |= {"manifold"} if preset_spec(run.preset)["latent_dim"] == 2 else set()
    assert pictures == expected
    # each picture once: the run directory's samples.png and reconstructions.png are not repeated
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', page)) == len(expected)
    assert f"model '{run.preset}'" in page and "<h2>Training</h2>" in page and "<h2>Evaluation" in page


@pytest.mark.parametrize("run", grouped(OWN), indirect=True)
def test_export_writes_a_savedmodel_with_its_signatures(run, tmp_path):
    from tensorflow.core.protobuf.saved_model_pb2 import SavedModel

    out = tmp_path / "saved"
    result = invoke("export", run.run_dir, out)
    assert result.exit_code == 0, result.output
    names = ["encode", "decode", *(["sample"] if run.expected.samples else [])]
    assert f"exported: {out} (signatures: {', '.join(names)}" in result.output
    saved = SavedModel.FromString((out / "saved_model.pb").read_bytes())
    signatures = {name: signature for name, signature in saved.meta_graphs[0].signature_def.items()
                  if not name.startswith("__")}
    assert sorted(signatures) == sorted([*names, "serving_default"])

    def shapes(tensors) -> dict[str, list[int]]:
        return {name: [dim.size for dim in info.tensor_shape.dim] for name, info in tensors.items()}

    latent = [-1, preset_spec(run.preset)["latent_dim"]]
    condition = {"condition": [-1, CLASSES]} if run.expected.conditional else {}
    assert shapes(signatures["encode"].inputs) == {"x": [-1, *SHAPE], **condition}
    assert shapes(signatures["encode"].outputs) == {"z": latent}
    assert shapes(signatures["decode"].inputs) == {"z": latent, **condition}
    assert shapes(signatures["decode"].outputs) == {"x": [-1, *SHAPE]}
    if run.expected.samples:
        assert shapes(signatures["sample"].inputs) == {"n": [], "seed": [], **condition}
        assert shapes(signatures["sample"].outputs) == {"z": latent, "x": [-1, *SHAPE]}
