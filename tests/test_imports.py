"""--import: plugins from a module or a .py file without packaging; a spec never imports code."""

from __future__ import annotations

import sys
import textwrap

import pytest
import yaml
from click.testing import CliRunner

import genkit
from genkit.cli import main
from genkit.plugin.registry import registry

WIDE_PRIOR = '''
import tensorflow as tf
import tensorflow_probability as tfp

import genkit


@genkit.register("prior", "{name}")
class WideNormal(genkit.Prior):
    """N(0, scale^2 I), registered from a plain module.

    Args:
        scale: the standard deviation of every latent coordinate.
    """

    def __init__(self, latent_dim: int, scale: float = 2.0):
        super().__init__(latent_dim)
        self.scale = scale

    def distribution(self):
        return tfp.distributions.Independent(tfp.distributions.Normal(tf.zeros(self.latent_dim), self.scale), 1)
'''


@pytest.fixture
def forget_prior():
    """Names registered by a test are removed from the prior registry afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        registry("prior").remove(name)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_import_a_file_then_list_and_run_with_its_prior(tmp_path, tiny_vae, forget_prior):
    forget_prior.append("wide_normal_file")
    module = tmp_path / "my_priors.py"
    module.write_text(WIDE_PRIOR.replace("{name}", "wide_normal_file"))
    listed = invoke("--import", str(module), "list", "prior")
    assert listed.exit_code == 0, listed.output
    assert "wide_normal_file" in listed.output and "N(0, scale^2 I), registered from a plain module." in listed.output
    assert "scale: float = 2.0" in listed.output

    tiny_vae["prior"] = {"type": "wide_normal_file", "scale": 3.0}
    tiny_vae["train"]["epochs"] = 1
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_vae))
    out = tmp_path / "run"
    result = invoke("--import", str(module), "run", str(spec), "--out", str(out), "-q")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((out / "spec.yaml").read_text())["prior"] == {"type": "wide_normal_file", "scale": 3.0}
    assert genkit.load(out).prior.scale == 3.0


def test_import_a_module_by_name_from_the_current_directory(tmp_path, monkeypatch, forget_prior):
    forget_prior.append("wide_normal_module")
    (tmp_path / "lab_priors.py").write_text(WIDE_PRIOR.replace("{name}", "wide_normal_module"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        result = invoke("--import", "lab_priors", "list", "priors")
        assert result.exit_code == 0 and "wide_normal_module" in result.output
        assert registry("prior").get("wide_normal_module").origin == "lab_priors"
    finally:
        sys.modules.pop("lab_priors", None)


def test_import_problems_are_user_errors(tmp_path):
    missing = invoke("--import", "no_such_genkit_module", "list")
    assert missing.exit_code == 2 and "cannot import plugins from module 'no_such_genkit_module'" in missing.output
    no_file = invoke("--import", str(tmp_path / "absent.py"), "list")
    assert no_file.exit_code == 2 and "absent.py: no such file" in no_file.output


def test_a_spec_cannot_import_code(tmp_path, monkeypatch, tiny_vae):
    """A type that looks like an import path is just an unknown name: nothing is imported or run."""
    (tmp_path / "booby_trap.py").write_text(textwrap.dedent('''
        import pathlib
        pathlib.Path(__file__).with_name("imported").write_text("yes")

        class Evil:
            pass
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("booby_trap:Evil", "booby_trap.Evil"):
        tiny_vae["prior"] = {"type": name}
        with pytest.raises(genkit.SpecError, match=f"key 'prior.type': unknown prior '{name}'"):
            genkit.load_spec(tiny_vae)
    tiny_vae["prior"] = "standard_normal"
    tiny_vae["train"]["callbacks"] = ["booby_trap:Evil"]
    with pytest.raises(genkit.SpecError, match="unknown callback 'booby_trap:Evil'"):
        genkit.load_spec(tiny_vae)
    assert "booby_trap" not in sys.modules
    assert not (tmp_path / "imported").exists()
