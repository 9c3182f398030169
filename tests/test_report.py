"""Run-directory evaluation, pictures, the report and the CLI commands, on one tiny trained run.

The run is trained once per module (a 2-D-latent VAE on 12x12 shapes) and shared by the tests,
which check files, picture sizes (so the layout), TensorBoard event contents and, when Chromium
is installed, that every picture of report.html loads in a real browser.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TINY_VAE
from PIL import Image

import genkit
from genkit.cli import main
from genkit.results.report import class_by_style_rows, is_conditional, make_pictures

CHROMIUM = "/usr/bin/chromium"
SIZE = 12  # shapes images are 12x12 in TINY_VAE
PAD = 1  # image_grid's padding


def grid_size(rows: int, columns: int) -> tuple[int, int]:
    """(width, height) in pixels of an image_grid of SIZE-pixel images."""
    return columns * (SIZE + PAD) + PAD, rows * (SIZE + PAD) + PAD


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A trained tiny VAE run: 3 epochs, images to TensorBoard every 2 epochs, binarized dynamically."""
    spec = copy.deepcopy(TINY_VAE)
    spec["data"]["binarize"] = "dynamic"
    spec["train"]["image_every"] = 2
    return genkit.train(spec, tmp_path_factory.mktemp("runs") / "tiny", progress=False).run_dir


def test_evaluate_cli_writes_metrics_eval_json_and_prints_a_table(run_dir):
    result = CliRunner().invoke(main, ["evaluate", str(run_dir), "-k", "20", "--batch-size", "64"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics_eval.json").read_text())
    assert metrics["split"] == "test" and metrics["examples"] == 100 and metrics["k"] == 20
    assert metrics["elbo"] == pytest.approx(-(metrics["elbo_reconstruction"] + metrics["elbo_kl"]), abs=1e-3)
    assert metrics["log_likelihood"] > metrics["elbo"] - 1.0  # k=20 bound is (statistically) tighter
    assert 0 <= metrics["active_units"] <= 2
    assert 0.0 <= metrics["linear_probe_accuracy"] <= 1.0
    assert 0.0 <= metrics["mig"] <= 1.0 and "mig_rotation" in metrics  # shapes data: known factors
    assert "reconstruction_bce" in metrics  # dynamic binarization: scored on one fixed binary draw
    assert "cluster_accuracy" not in metrics  # a VAE has no classify()
    for name in ("log_likelihood", "elbo_reconstruction", "mig_shape"):
        assert name in result.output
    assert "-E_q[log p(x|z)]" in result.output  # descriptions are printed literally, not as rich markup


def test_evaluate_cli_on_other_data(run_dir, tmp_path):
    """--data takes the data section of another spec; data of another shape is refused clearly."""
    import yaml

    other = copy.deepcopy(TINY_VAE)
    other["data"].update(n_test=40, seed=5)
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    result = CliRunner().invoke(main, ["evaluate", str(run_dir), "--data", str(tmp_path / "other.yaml"), "-k", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "metrics_eval.json").read_text())["examples"] == 40
    other["data"]["size"] = 16
    (tmp_path / "bigger.yaml").write_text(yaml.safe_dump(other))
    result = CliRunner().invoke(main, ["evaluate", str(run_dir), "--data", str(tmp_path / "bigger.yaml")])
    assert result.exit_code == 2 and "shape (16, 16, 1)" in result.output


def test_evaluate_is_reproducible(run_dir):
    first = genkit.evaluate(run_dir, k=5, progress=False, write=False)
    second = genkit.evaluate(run_dir, k=5, progress=False, write=False)
    first.pop("seconds"), second.pop("seconds")
    assert first == second


def test_sample_cli_writes_a_grid_or_an_array(run_dir, tmp_path):
    png, npy = tmp_path / "s.png", tmp_path / "s.npy"
    assert CliRunner().invoke(main, ["sample", str(run_dir), "-n", "16", "--out", str(png)]).exit_code == 0
    assert Image.open(png).size == grid_size(4, 4)
    assert CliRunner().invoke(main, ["sample", str(run_dir), "-n", "5", "--out", str(npy)]).exit_code == 0
    samples = np.load(npy)
    assert samples.shape == (5, SIZE, SIZE, 1) and samples.min() >= 0 and samples.max() <= 1


def test_sample_with_a_label_is_refused_for_an_unconditional_model(run_dir):
    result = CliRunner().invoke(main, ["sample", str(run_dir), "--label", "1"])
    assert result.exit_code == 2
    assert "unconditional" in result.output and "Traceback" not in result.output


def test_pictures_have_the_documented_layout(run_dir, tmp_path):
    model = genkit.load(run_dir)
    from genkit.assembly.data import load_split
    from genkit.spec.resolve import load_spec

    arrays = load_split(load_spec(run_dir / "spec.yaml"), "test")
    made = make_pictures(model, arrays, tmp_path, history=[{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}])
    assert set(made) == {"samples", "reconstructions", "traversal", "interpolation", "manifold", "latent", "loss"}
    assert Image.open(made["samples"]).size == grid_size(8, 8)
    assert Image.open(made["reconstructions"]).size == grid_size(8, 8)  # 32 inputs + 32 reconstructions
    assert Image.open(made["traversal"]).size == grid_size(2, 9)  # a row per latent dim, 9 steps
    assert Image.open(made["interpolation"]).size == grid_size(4, 11)  # 4 pairs, inputs at both ends
    assert Image.open(made["manifold"]).size == grid_size(15, 15)
    assert not is_conditional(model)


@pytest.mark.parametrize("case", ["points", "wide latent"])
def test_pictures_adapt_to_point_data_and_wide_latents(case, tmp_path):
    """Untrained models suffice for layout: 2-D points give scatter/path pictures; a 5-D latent gives
    five traversal rows, no manifold, and a PCA scatter; no history means no loss picture."""
    from conftest import TINY_TOY

    from genkit.assembly.data import load_split
    from genkit.spec.resolve import load_spec

    spec = load_spec(copy.deepcopy(TINY_TOY) if case == "points" else {**copy.deepcopy(TINY_VAE), "latent_dim": 5})
    arrays = load_split(spec, "test")
    made = make_pictures(genkit.build(spec, arrays.x.shape[1:]), arrays, tmp_path)
    if case == "points":
        assert set(made) == {"samples", "reconstructions", "traversal", "interpolation", "manifold", "latent"}
        assert all(Image.open(path).size == (500, 500) for name, path in made.items() if name != "latent")
    else:
        assert set(made) == {"samples", "reconstructions", "traversal", "interpolation", "latent"}
        assert Image.open(made["traversal"]).size == grid_size(5, 9)


class StandInConditional:
    """Not a model: the smallest object with the conditional sampling API ``sample(n, labels, seed)``.

    Each sample is a constant image whose value encodes (label, style); the style is drawn from the
    seed, as a conditional model draws its latent from the seed whatever the label.
    """

    conditional = True

    def sample(self, n, labels=None, seed=None):
        styles = np.random.default_rng(seed).integers(0, 10, n)
        return np.ones((n, 4, 4, 1)) * (10 * np.asarray(labels) + styles)[:, None, None, None]


def test_class_by_style_rows_vary_the_class_down_and_keep_styles_across():
    rows = class_by_style_rows(StandInConditional(), np.array([0, 1, 2]), styles=6, seed=3)
    values = np.stack([row[:, 0, 0, 0] for row in rows])  # [classes, styles]
    assert values.shape == (3, 6)
    np.testing.assert_array_equal(values // 10, [[0] * 6, [1] * 6, [2] * 6])  # one class per row
    np.testing.assert_array_equal(values % 10, np.repeat(values[:1] % 10, 3, axis=0))  # shared styles


def test_tensorboard_has_scalars_every_epoch_and_images_every_image_every(run_dir):
    import tensorflow as tf

    seen: dict[str, set[int]] = {}
    for path in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                seen.setdefault(value.tag, set()).add(event.step)
    assert seen["loss"] == {1, 2, 3} and seen["val_loss"] == {1, 2, 3}
    assert seen["samples"] == {2} and seen["reconstructions"] == {2}  # image_every: 2, 3 epochs


@pytest.fixture(scope="module")
def report_page(run_dir) -> str:
    """report.html of the shared run, written once through the CLI."""
    result = CliRunner().invoke(main, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    return (run_dir / "report.html").read_text()


def test_report_is_self_contained(report_page):
    page = report_page
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) >= 7 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'(href|src)="(https?:|file:|//)', page)  # nothing fetched from elsewhere
    assert "latent_dim: 2" in page  # the spec
    assert "interpolation" in page and "Training (last of 3 epochs)" in page


CHECK_SCRIPT = """<script>window.addEventListener('load', () => {
  const p = document.createElement('pre'); p.id = 'image-check';
  p.textContent = JSON.stringify([...document.images].map(i => [i.alt, i.complete, i.naturalWidth]));
  document.body.appendChild(p); });</script>"""


def test_report_images_load_in_headless_chromium(report_page, tmp_path):
    """Chromium opens a copy of report.html with a script that lists every image's naturalWidth."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package 'chromium'); cannot render report.html")
    page = report_page
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("</body>", CHECK_SCRIPT + "</body>"))
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=10000", "--dump-dom", checked.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    shutil.rmtree(profile, ignore_errors=True)
    found = re.search(r'<pre id="image-check">(.*?)</pre>', dom, re.S)
    assert found, "the check script did not run"
    images = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(images) == len(re.findall(r"<img ", page)) >= 7
    assert all(complete and width > 0 for _, complete, width in images), images


def test_a_real_conditional_model_is_recognised_and_samples_its_class(tiny_vae):
    import genkit
    from genkit.results.report import sample_images

    tiny_vae["conditional"] = True
    model = genkit.build(tiny_vae)
    assert is_conditional(model)
    twos = sample_images(model, 3, label=2, seed=1)
    np.testing.assert_allclose(twos, model.decode(model.sample_latent(3, seed=1), labels=2), rtol=1e-5)
    rows = class_by_style_rows(model, np.array([0, 1]), styles=3, seed=0)
    assert not np.allclose(rows[0], rows[1])  # the class changes the picture for the same styles
