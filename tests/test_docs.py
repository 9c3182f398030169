"""The documentation site: it builds with warnings as errors, its generated references are complete,
the code on its tutorial, library and plugin contract pages runs as written, and what the pages
name (pages, modules, public names, plugins) exists."""

from __future__ import annotations

import html
import importlib
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml
from test_readme import readme_commands

import genkit
import genkit.testing
from genkit.cli import main
from genkit.plugin.kinds import BASES
from genkit.plugin.registry import KINDS, registry
from genkit.spec.presets import COMPONENT_KEYS, PRESETS
from genkit.spec.schema import TopLevel

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONTRACTS = DOCS / "contracts"
RESEARCH = ROOT / "examples" / "plugins" / "genkit-research"
#: The presets of docs/families/disentangling.md, each with an example on sprites.
DISENTANGLING = ("beta_tc_vae", "factor_vae", "dip_vae", "capacity_vae", "info_vae")


def python_blocks(page: str) -> list[str]:
    """The ```python blocks of a docs page, in order."""
    return re.findall(r"```python\n(.*?)\n```", (DOCS / page).read_text(), flags=re.S)


def run_page(page: str, cwd: Path) -> dict:
    """Execute every Python block of a page in one namespace, in ``cwd``; return the namespace."""
    namespace: dict = {"__name__": f"docs_{Path(page).stem.replace('-', '_')}"}
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        for index, block in enumerate(python_blocks(page)):
            exec(compile(block, f"{page} block {index + 1}", "exec"), namespace)  # noqa: S102 - the page's own code
    finally:
        os.chdir(previous)
    return namespace


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out


def page_text(site: Path, page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", (site / page / "index.html").read_text()))


def test_spec_reference_lists_every_registered_component_with_arguments_and_docstring(site):
    text = page_text(site, "reference/spec")
    for kind in KINDS:
        assert f"{kind.capitalize()}s" in text
        for entry in registry(kind).entries():
            if not entry.installed:
                continue  # registered in-process by another test; the docs build sees installed plugins
            assert f"\n{entry.name}\n" in text, (kind, entry.name)
            assert entry.summary in " ".join(text.split()), (kind, entry.name)  # its first paragraph
    assert "restore_best_weights" in text and "min_scale" in text and "validation_split" in text
    top_level = text.split("### `train`")[0]
    for key in ("latent_dim", "latent_shape", "conditional", *KINDS.keys() - {"dataset", "callback"}):
        assert key in top_level, key


def test_cli_reference_has_every_command_and_option(site):
    text = page_text(site, "reference/cli")
    for name, command in main.commands.items():
        assert f"Usage: genkit {name}" in text
        for param in command.params:
            for option in getattr(param, "opts", []):
                if option.startswith("--"):
                    assert option in text, (name, option)
    assert "--import MODULE_OR_FILE" in text


def test_family_pages_show_their_example_specs(site):
    for page, spec in [("ae", "ae_shapes"), ("vae", "vae_shapes"), ("beta_vae", "beta_vae_shapes"),
                       ("cvae", "cvae_shapes"), ("quantized", "vq_vae_shapes"), ("vae_gan", "vae_gan_shapes"),
                       ("flows", "iaf_vae_shapes"), ("flows", "hyperspherical_vae_shapes"),
                       ("samplers", "two_stage_vae_shapes"), ("importance_weighted", "iwae_shapes"),
                       ("rae", "rae_shapes"), ("conditional", "cvae_quadrants_mnist"),
                       *[("disentangling", f"{family}_sprites") for family in DISENTANGLING]]:
        shown = page_text(site, f"families/{page}")
        for line in (ROOT / "examples" / f"{spec}.yaml").read_text().splitlines():
            assert line.strip() in shown, (page, line)


def test_quick_start_page_has_the_readme_commands():
    page = (DOCS / "quickstart.md").read_text()
    for command in readme_commands()[:2]:
        assert f"```bash\n{command}\n```" in page


def test_prior_tutorial_runs_as_written(tmp_path):
    try:
        namespace = run_page("tutorial-prior-plugin.md", tmp_path)
    finally:
        registry("prior").remove("learned_scale_normal")
    # check_prior ran every property (it raises otherwise); the pytest form gives each its own id
    (mark,) = namespace["test_learned_scale_normal"].pytestmark
    ids = [param.id for param in mark.args[1]]
    assert ids[:3] == ["docstring_describes_arguments", "arguments_are_typed", "wrong_typed_argument_is_a_spec_error"]
    assert {"shapes", "seeded", "gradients", "tf_function", "weights_round_trip", "state_updates"} <= set(ids)
    assert len(namespace["result"].history) == 2
    scales = namespace["scales"]
    assert scales.shape == (2,) and np.all(scales > 0) and not np.allclose(scales, 1.0)  # they trained
    assert "key 'prior.init_scale': Input should be a valid number (got 'big')" in namespace["message"]


def test_library_page_runs_as_written(tmp_path):
    namespace = run_page("library.md", tmp_path)
    assert (tmp_path / "runs" / "library-demo" / "model.weights.h5").is_file()
    assert namespace["z"].shape == (4, 2) and namespace["images"].shape == (8, 12, 12, 1)
    assert len(namespace["result"].history) == 2 and len(namespace["history"].val_loss) == 2  # early stopping
    fitted = namespace["fitted"].history  # Keras' fit, with Keras' early stopping and checkpoint
    assert len(fitted["val_loss"]) == 2 and {"reconstruction", "val_reconstruction", "val_divergence"} <= set(fitted)
    assert fitted["val_loss"][-1] < namespace["start"]["loss"] - 1.0
    assert (tmp_path / "keras-demo.weights.h5").is_file()
    losses = namespace["losses"]
    assert losses[-1] < 0.5 * losses[0]  # the user's own loop trained the genkit components


# --- the pages name what exists ----------------------------------------------------------------


def nav_pages(entries: list) -> set[str]:
    """Every page path in an mkdocs ``nav`` (nested lists of ``{title: path or list}``)."""
    found: set[str] = set()
    for entry in entries:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            found |= nav_pages(value) if isinstance(value, list) else {value}
    return found


def test_every_page_under_docs_is_in_the_nav():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)  # plain strings, no tags
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    missing = sorted(pages - nav_pages(config["nav"]))
    assert not missing, f"pages not in mkdocs.yml's nav: {missing}"


def test_architecture_lists_every_module():
    page = (DOCS / "architecture.md").read_text()
    package = ROOT / "genkit"
    modules = [path for path in sorted(package.rglob("*.py")) if path.name != "__init__.py" or path.parent == package]
    missing = [path.relative_to(ROOT).as_posix() for path in modules
               if f"`{path.relative_to(ROOT).as_posix()}`" not in page]
    folders = [f"`genkit/{path.name}/`" for path in sorted(package.iterdir()) if (path / "__init__.py").is_file()]
    assert not missing + [folder for folder in folders if folder not in page]


def _resolves(dotted: str) -> bool:
    """Whether ``genkit.a.b.c`` is a module, or an attribute of the longest module prefix."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for name in parts[end:]:
            if not hasattr(value, name):
                return False
            value = getattr(value, name)
        return True
    return False


#: A repository path of a Python file as the docs write it (``genkit/plugin/surface.py``).
FILE_PATH = r"(?<![\w/.-])(?:genkit|plugins|tools|tests|benchmarks|examples)/[\w/.-]*\.py\b"


def test_module_paths_named_in_the_docs_and_readme_exist():
    groups = set(KINDS.values())  # entry-point groups (genkit.priors ...) are names, not modules
    wrong = []
    for path in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        text = path.read_text()
        for dotted in sorted(set(re.findall(r"\bgenkit(?:\.[A-Za-z_]\w*)+", text)) - groups):
            if not _resolves(dotted):
                wrong.append(f"{path.relative_to(ROOT)}: {dotted}")
        for file in sorted(set(re.findall(FILE_PATH, text))):
            if not (ROOT / file).is_file():
                wrong.append(f"{path.relative_to(ROOT)}: {file}")
    assert not wrong, "names of modules that do not exist:\n" + "\n".join(wrong)


def test_library_page_names_every_public_name():
    page = (DOCS / "library.md").read_text()
    assert [name for name in genkit.__all__ if name != "__version__" and f"`{name}`" not in page] == []


# --- the plugin contract pages ------------------------------------------------------------------


def test_every_kind_has_a_contract_page_generated_from_its_base_class():
    for kind, base in BASES.items():
        page = (CONTRACTS / f"{kind}.md").read_text()
        for marker in (f"<!-- members: {base.__module__}.{base.__name__} -->", f"<!-- check: {kind} -->",
                       f"<!-- builtins: {kind} -->", "## A minimal example"):
            assert marker in page, (kind, marker)


def test_research_plugins_are_on_their_kind_pages():
    config = tomllib.loads((RESEARCH / "pyproject.toml").read_text())
    kind_of = {group: kind for kind, group in KINDS.items()}
    plugins = [(kind_of[group], name) for group, names in config["project"]["entry-points"].items()
               for name in names]
    assert len(plugins) == 4
    for kind, name in plugins:
        assert f"## Research plugin: {name}" in (CONTRACTS / f"{kind}.md").read_text(), (kind, name)


def test_contract_pages_show_the_code_and_the_checks(site):
    posterior = page_text(site, "contracts/posterior")
    assert "param_shape" in posterior and "check_posterior(" in posterior and "diagonal_gaussian" in posterior
    assert "class VectorQuantized(genkit.Posterior)" in posterior  # included from the research package
    surface = page_text(site, "contracts/surface")
    for name in ("per_example_terms", "log_weights", "num_train_examples", "steps_per_epoch"):
        assert name in surface, name
    assert "no check_objective" in page_text(site, "contracts/objective") or hasattr(genkit.testing, "check_objective")


def example_class(page: Path) -> tuple[str, type]:
    """The kind and the class that the page's "A minimal example" block defines, executed as written."""
    after = page.read_text().split("## A minimal example", 1)[1]
    block = re.search(r"```python\n(.*?)\n```", after, flags=re.S)
    assert block, f"{page.name}: no python block under 'A minimal example'"
    namespace: dict = {"__name__": f"docs_contracts_{page.stem}"}
    exec(compile(block.group(1), f"{page.name} example", "exec"), namespace)  # noqa: S102 - the page's own code
    defined = [(kind, value) for value in namespace.values() for kind, base in BASES.items()
               if isinstance(value, type) and issubclass(value, base) and value.__module__ == namespace["__name__"]]
    assert len(defined) == 1, f"{page.name}: the example should define one plugin class, found {defined}"
    return defined[0]


@contextmanager
def registered_as(kind: str, cls: type) -> Iterator[str]:
    name = f"docs_example_{kind}"
    registry(kind).add(name, cls)
    try:
        yield name
    finally:
        registry(kind).remove(name)


#: A spec on 96 two-dimensional points, small enough to build in about a second.
TOY = {"name": "docs-example", "latent_dim": 2, "data": {"type": "toy2d", "n_train": 96, "n_test": 32},
       "encoder": {"type": "mlp", "hidden": [8]}, "decoder": {"type": "mlp", "hidden": [8]},
       "likelihood": {"type": "gaussian", "scale": 0.3}, "train": {"epochs": 2, "batch_size": 32}}
POINTS = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")


def smoke_objective(name: str, tmp_path: Path) -> None:
    model = genkit.build({**TOY, "objective": name}, data_shape=(2,))
    terms, _ = model.run_phase(model.phases()[0], {"x": tf.constant(POINTS)}, tf.constant([0, 1]), training=True)
    assert np.isfinite(float(terms["loss"])) and {"reconstruction", "code_l1"} <= set(terms)


def smoke_corruption(name: str, tmp_path: Path) -> None:
    model = genkit.build({**TOY, "model": "ae", "corruption": name}, data_shape=(2,))
    batch, seed = {"x": tf.constant(POINTS)}, tf.constant([0, 1])
    first, again = model.preprocess(batch, seed), model.preprocess(batch, seed)
    np.testing.assert_array_equal(first["x"], POINTS)  # the target stays clean
    assert first["x_input"].shape == POINTS.shape and not np.allclose(first["x_input"], POINTS)
    np.testing.assert_array_equal(first["x_input"], again["x_input"])  # reproducible for a seed


def smoke_sampler(name: str, tmp_path: Path) -> None:
    from genkit.runs.samplers import load_sampler, save_sampler

    model = genkit.build({**TOY, "model": "ae", "sampler": name}, data_shape=(2,))
    assert not model.can_sample  # no prior, and the sampler is not fitted yet
    model.sampler.fit(model.encode(POINTS), 0)
    model.sampler.fitted = True
    drawn = model.sample_latent(5, seed=1)
    assert drawn.shape == (5, 2) and np.all(np.isfinite(drawn))
    save_sampler(tmp_path, {"type": name}, model.sampler)  # what genkit run writes, and load reads
    restored = load_sampler(tmp_path, model, name)
    np.testing.assert_allclose(restored.sample(5, tf.constant([1, 2**30])).numpy(), drawn, rtol=1e-6)


def smoke_callback(name: str, tmp_path: Path) -> None:
    spec = {**TOY, "train": {**TOY["train"], "epochs": 3, "callbacks": [{"type": name, "target": 1e9}]}}
    result = genkit.train(spec, out=tmp_path / "run", progress=False)
    assert len(result.history) == 1 and (tmp_path / "run" / "target.json").is_file()


@pytest.mark.parametrize("page", sorted(path.name for path in CONTRACTS.glob("*.md")
                                        if "## A minimal example" in path.read_text()))
def test_contract_page_example_passes_the_conformance_suite(page, tmp_path):
    """Each minimal example, registered under a temporary name, passes its kind's check; kinds the
    suite has no check for yet get a smoke test in a small model instead."""
    kind, cls = example_class(CONTRACTS / page)
    with registered_as(kind, cls) as name:
        check = getattr(genkit.testing, f"check_{kind}", None)
        if check is not None:
            check(cls, {})
        else:
            globals()[f"smoke_{kind}"](name, tmp_path)


def test_pages_that_list_presets_kinds_and_keys_list_them_all(site):
    """The README and concepts page name every preset; concepts' table has a row per kind; the spec
    reference names every top-level key; the home page links every family page; the data page names
    every example spec with its dataset."""
    readme, concepts = (ROOT / "README.md").read_text(), (DOCS / "concepts.md").read_text()
    for preset in PRESETS:
        assert re.search(rf"\b{preset}\b", readme.split("## A spec")[1]), preset
        assert f"| `{preset}` |" in concepts, preset
    for kind in KINDS:
        assert f"\n| [{kind}](contracts/{kind}.md) | `" in concepts, kind
    reference = page_text(site, "reference/spec").split("Top-level keys")[-1].split("Data options")[0]
    for key in [*TopLevel.model_fields, *COMPONENT_KEYS, "data", "train"]:
        assert re.search(rf"\b{key}\b", reference), key
    index = (DOCS / "index.md").read_text()
    for family in (DOCS / "families").glob("*.md"):
        assert f"(families/{family.name})" in index, family.name
    data = (DOCS / "data.md").read_text()
    for example in [*(ROOT / "examples").glob("*.yaml"), *(ROOT / "examples" / "plugins").glob("*/examples/*.yaml")]:
        kind = genkit.load_spec(example).data["type"] if "plugins" not in example.parts else "shapes"
        assert f"| `{example.relative_to(ROOT).as_posix()}`" in data and f"| `{kind}` |" in data, example
