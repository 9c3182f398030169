"""Run-directory evaluation, pictures, the report and the CLI commands, on one tiny trained run.

The run is trained once per module (a 2-D-latent VAE on 12x12 shapes) and shared by the tests,
which check files, picture sizes (so the layout), TensorBoard event contents, comparing runs and,
when Chromium is installed, that every picture of report.html loads in a real browser.
"""

from __future__ import annotations

import copy
import csv
import json
import math
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
from genkit.cli import OVERWRITE_HELP, main
from genkit.results import pictures
from genkit.results.evaluation import format_value
from genkit.results.report import class_by_style_rows, is_conditional, make_pictures

CHROMIUM = "/usr/bin/chromium"
SIZE = 12  # shapes images are 12x12 in TINY_VAE
CELL = SIZE * math.ceil(pictures.CELL_PIXELS / SIZE)  # each image enlarged by a whole factor


def grid_height(rows: int, column_labels: bool = False, pairs: bool = False) -> int:
    """Pixel height of a titled save_grid picture of SIZE-pixel images."""
    gaps = (pictures.PAIR_GAP - pictures.GAP) * ((rows - 1) // 2 if pairs else 0)
    top = pictures.TITLE_PIXELS + (pictures.LABEL_PIXELS if column_labels else 0)
    return top + pictures.GAP + rows * (CELL + pictures.GAP) + gaps + 4


def grid_width(columns: int, label_characters: int = 0) -> int:
    """Pixel width of a save_grid picture whose longest row label has ``label_characters`` characters."""
    return 6 + pictures.CHARACTER_PIXELS * label_characters + pictures.GAP + columns * (CELL + pictures.GAP) + 4


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
    before = (run_dir / "metrics_eval.json").read_text()
    result = CliRunner().invoke(main, ["evaluate", str(run_dir), "-k", "2", "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text())["examples"] == 100  # the run's own test split
    assert (run_dir / "metrics_eval.json").read_text() == before  # --out leaves the run's file alone


def test_evaluate_is_reproducible(run_dir):
    first = genkit.evaluate(run_dir, k=5, progress=False, write=False)
    second = genkit.evaluate(run_dir, k=5, progress=False, write=False)
    first.pop("seconds"), second.pop("seconds")
    assert first == second


def test_sample_cli_writes_a_grid_or_an_array(run_dir, tmp_path):
    png, npy = tmp_path / "s.png", tmp_path / "s.npy"
    assert CliRunner().invoke(main, ["sample", str(run_dir), "-n", "16", "--out", str(png)]).exit_code == 0
    assert Image.open(png).size == (grid_width(4), grid_height(4))
    assert CliRunner().invoke(main, ["sample", str(run_dir), "-n", "5", "--out", str(npy)]).exit_code == 0
    samples = np.load(npy)
    assert samples.shape == (5, SIZE, SIZE, 1) and samples.min() >= 0 and samples.max() <= 1
    again = CliRunner().invoke(main, ["sample", str(run_dir), "-n", "3", "--out", str(npy)])
    assert again.exit_code == 2 and "--overwrite" in again.output and np.load(npy).shape[0] == 5
    replaced = CliRunner().invoke(main, ["sample", str(run_dir), "-n", "3", "--out", str(npy), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert np.load(npy).shape[0] == 3


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
    assert set(made) == {"samples", "reconstructions", "traversal", "interpolation", "manifold", "latent",
                         "activity", "loss"}
    assert CELL >= pictures.CELL_PIXELS
    assert Image.open(made["samples"]).size == (grid_width(8), grid_height(8))
    # 32 inputs over their 32 reconstructions: 4 pairs of rows, a wider gap between pairs, rows labelled
    assert Image.open(made["reconstructions"]).size == (grid_width(8, len("recon.")), grid_height(8, pairs=True))
    width, height = Image.open(made["traversal"]).size  # a row per latent dim, 9 quantiles named on top
    assert height == grid_height(2, column_labels=True) and width > grid_width(9, len("z0"))
    assert Image.open(made["interpolation"]).size == (grid_width(11, len("pair 1")), grid_height(4, True))
    width, height = Image.open(made["manifold"]).size  # z values label both edges
    assert height == grid_height(15, column_labels=True) and width > grid_width(15, 2)
    assert not is_conditional(model)


def test_pictures_enlarge_and_separate_images_pixel_for_pixel(tmp_path):
    """Each image is repeated (nearest neighbour) into its cell; a reconstruction picture's pairs of rows
    are separated by a band of background wider than the gap inside a pair."""
    inputs = np.random.default_rng(0).uniform(size=(16, SIZE, SIZE, 1)).astype(np.float32)
    pictures.save_reconstructions(tmp_path / "r.png", inputs, 1.0 - inputs)
    grey = np.asarray(Image.open(tmp_path / "r.png").convert("L"), np.float32) / 255.0
    factor = CELL // SIZE
    left, top = 6 + pictures.CHARACTER_PIXELS * len("recon.") + pictures.GAP, pictures.TITLE_PIXELS + pictures.GAP
    first = grey[top : top + CELL, left : left + CELL]
    np.testing.assert_allclose(first, inputs[0, ..., 0].repeat(factor, 0).repeat(factor, 1), atol=2 / 255)
    below = top + CELL + pictures.GAP  # the first reconstruction, under its input
    np.testing.assert_allclose(grey[below : below + CELL, left : left + CELL], 1.0 - first, atol=4 / 255)
    band = grey[below + CELL : below + CELL + pictures.PAIR_GAP, left : left + CELL]
    np.testing.assert_allclose(band, pictures.BACKGROUND, atol=1 / 255)


def test_loss_curves_wrap_and_use_a_log_scale_for_wide_ranges(tmp_path):
    history = [{"epoch": e, "loss": 1000.0 / e**3, "reconstruction": 5.0 - e / 10, "divergence": 1.0, "kl": 2.0,
                "val_loss": 900.0 / e**3} for e in range(1, 6)]
    assert pictures.wants_log_scale([row["loss"] for row in history]) and not pictures.wants_log_scale([5.0, 4.6])
    assert not pictures.wants_log_scale([-1.0, 100.0])  # a negative value cannot go on a log axis
    pictures.save_loss_curves(tmp_path / "curves.png", {"": history})
    width, height = Image.open(tmp_path / "curves.png").size  # 4 metrics: 3 panels a row, 2 rows
    assert (width, height) == (round(4.2 * 3 * pictures.DPI), round(3.1 * 2 * pictures.DPI))


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
        assert set(made) == {"samples", "reconstructions", "traversal", "interpolation", "manifold", "latent",
                             "activity"}
        assert all(Image.open(made[name]).size == (500, 500) for name in ("samples", "reconstructions", "traversal",
                                                                          "interpolation", "manifold"))
    else:
        assert set(made) == {"samples", "reconstructions", "traversal", "interpolation", "latent", "activity"}
        assert Image.open(made["traversal"]).size[1] == grid_height(5, column_labels=True)


class StandInConditional:
    """Not a model: the smallest object with the conditional sampling API ``sample(n, labels, seed)``.

    Each sample is a constant image whose value encodes (label, style); the style is drawn from the
    seed, as a conditional model draws its latent from the seed whatever the label.
    """

    conditional = True
    can_sample = True

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
def unevaluated_run(run_dir, tmp_path_factory) -> Path:
    """A copy of the shared run without metrics_eval.json (which the evaluate tests write)."""
    copied = tmp_path_factory.mktemp("unevaluated") / "tiny"
    shutil.copytree(run_dir, copied)
    (copied / "metrics_eval.json").unlink(missing_ok=True)
    return copied


@pytest.fixture(scope="module")
def report_page(unevaluated_run) -> str:
    """report.html of the unevaluated copy of the shared run, written once through the CLI."""
    result = CliRunner().invoke(main, ["report", str(unevaluated_run)])
    assert result.exit_code == 0, result.output
    return (unevaluated_run / "report.html").read_text()


def test_report_is_self_contained_and_shows_each_picture_once(report_page, unevaluated_run):
    page = report_page
    sources = re.findall(r'src="([^"]*)"', page)
    alts = re.findall(r'<img alt="([^"]*)"', page)
    made = {path.stem for path in (unevaluated_run / "pictures").glob("*.png")}
    assert sorted(alts) == sorted(made) and len(made) == 8 and len(set(sources)) == len(sources)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'(href|src)="(https?:|file:|//)', page)  # nothing fetched from elsewhere
    assert "latent_dim: 2" in page  # the spec
    assert "interpolation" in page and "activity" in page


def test_report_evaluates_a_run_on_the_spot_and_states_the_training_time(report_page, unevaluated_run):
    evaluation = json.loads((unevaluated_run / "metrics_eval.json").read_text())
    assert evaluation["k"] == 100 and evaluation["split"] == "test" and evaluation["examples"] == 100
    text = " ".join(re.sub(r"<[^>]+>", " ", report_page).split())
    shown = format_value("log_likelihood", evaluation["log_likelihood"])
    assert f"log_likelihood {shown}" in " ".join(text.split())
    rows = list(csv.DictReader((unevaluated_run / "metrics.csv").open()))
    seconds = sum(float(row["seconds"]) for row in rows)
    assert f"3 epochs, {rows[-1]['step']} steps in {seconds:.1f} s of training" in text
    assert "Evaluation (test split)" in text


def test_compare_runs_from_python_and_the_cli(run_dir, tmp_path):
    """Two runs that differ in their learning rate: a copy of the shared run, evaluated here (the
    test must not depend on which other tests ran before it), and a second copy with its spec and
    metrics edited and no evaluation (comparing reads files, it loads no model)."""
    import yaml

    evaluated, other = tmp_path / "runs" / "tiny", tmp_path / "faster"
    shutil.copytree(run_dir, evaluated)
    genkit.evaluate(evaluated, k=2, progress=False)
    shutil.copytree(evaluated, other)
    spec = yaml.safe_load((other / "spec.yaml").read_text())
    spec["train"]["optimizer"]["learning_rate"] = 0.01
    (other / "spec.yaml").write_text(yaml.safe_dump(spec))
    rows = list(csv.DictReader((other / "metrics.csv").open()))
    for row in rows:
        row["loss"] = str(float(row["loss"]) / 2)
    with (other / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (other / "metrics_eval.json").unlink(missing_ok=True)

    comparison = genkit.compare([evaluated, other], out=tmp_path / "page.html")
    assert comparison.names == ["tiny", "faster"]
    assert comparison.spec == {"train.optimizer.learning_rate": [0.003, 0.01]}  # only what differs
    losses = comparison.training["loss"]
    assert losses[1] == pytest.approx(losses[0] / 2) and comparison.training["epochs"] == [3, 3]
    assert comparison.evaluation["elbo"][1] is None  # the copy was not evaluated
    page = (tmp_path / "page.html").read_text()
    assert '<tr class="differs"><td>train.optimizer.learning_rate</td>' in page
    assert page.count('src="data:image/png;base64,') == 1  # the overlaid loss curves

    result = CliRunner().invoke(main, ["compare", str(evaluated), str(other), "--out", str(tmp_path / "page.html")])
    assert result.exit_code == 2 and "--overwrite" in result.output
    result = CliRunner().invoke(main, ["compare", str(evaluated), str(other), "--out", str(tmp_path / "page.html"),
                                       "--overwrite"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "train.optimizer.learning_rate" in result.output and "0.01" in result.output
    assert f"{losses[1]:.4g}" in result.output


def test_every_writing_command_takes_out(run_dir, tmp_path):
    """export takes --out as well as its positional OUT_DIR (exactly one of them); report --out
    writes elsewhere and leaves the run directory's own report alone."""
    exported = tmp_path / "saved"
    result = CliRunner().invoke(main, ["export", str(run_dir), "--out", str(exported)])
    assert result.exit_code == 0, result.output
    assert (exported / "saved_model.pb").is_file()
    again = CliRunner().invoke(main, ["export", str(run_dir), "--out", str(exported)])
    assert again.exit_code == 2 and "already exists" in again.output
    both = CliRunner().invoke(main, ["export", str(run_dir), str(tmp_path / "a"), "--out", str(tmp_path / "b")])
    assert both.exit_code == 2 and "once" in both.output
    for command in ("run", "sample", "report", "compare", "export", "evaluate", "new-plugin"):
        options = {option for param in main.commands[command].params for option in getattr(param, "opts", [])}
        assert "--out" in options, command
        overwrite = [p for p in main.commands[command].params if "--overwrite" in getattr(p, "opts", [])]
        assert command == "new-plugin" or overwrite[0].help == OVERWRITE_HELP, command

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
    assert len(images) == len(re.findall(r"<img ", page)) == 8
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


def test_pictures_of_a_conditional_model_decode_with_each_examples_label(tiny_vae, tmp_path):
    """Every picture is drawn (each example encoded with its label), and the class grid has a row per class."""
    from genkit.assembly.data import load_split

    tiny_vae["conditional"] = True
    spec = genkit.load_spec(tiny_vae)
    arrays = load_split(spec, "test")
    made = make_pictures(genkit.build(spec), arrays, tmp_path)
    assert set(made) == {"samples", "reconstructions", "traversal", "interpolation", "manifold", "latent",
                         "activity", "class_grid"}
    assert Image.open(made["class_grid"]).size[1] == grid_height(4, column_labels=True)  # four shape classes


def test_an_out_path_in_folders_that_do_not_exist_yet_is_written_there(run_dir, tmp_path):
    """Every --out names a file a user may put in a new folder: the folders are made, nothing else changes."""
    for command, name in (("sample", "samples/a.png"), ("evaluate", "metrics/a.json"), ("report", "pages/a.html")):
        target = tmp_path / "new" / name
        args = [command, str(run_dir), "--out", str(target)] + (["-k", "5"] if command == "evaluate" else [])
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert target.is_file() and f"written: {target}" in result.output
