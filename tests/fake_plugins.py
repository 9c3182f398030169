"""Fake installed plugin distributions for registry tests: a dist-info folder with entry points
and a module, placed on sys.path, so discovery goes through the real importlib.metadata path."""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_distribution(root: Path, name: str, entry_points: dict[str, dict[str, str]], module: str = "") -> Path:
    """Write ``<name>-0.1.dist-info`` (METADATA + entry_points.txt) and ``<name>_mod.py`` under root."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = []
    for group, entries in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{key} = {value}" for key, value in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    if module:
        (root / f"{name}_mod.py").write_text(textwrap.dedent(module))
    return root


LAPLACE_PRIOR = '''
import tensorflow as tf
import tensorflow_probability as tfp
from genkit import Prior

tfd = tfp.distributions


class Laplace(Prior):
    """Isotropic Laplace prior, from a third-party package."""

    def __init__(self, latent_dim: int, scale: float = 1.0):
        super().__init__(latent_dim)
        self.scale = scale

    def distribution(self):
        return tfd.Independent(tfd.Laplace(tf.zeros(self.latent_dim), self.scale), 1)
'''
