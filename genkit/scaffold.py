"""``genkit new-plugin``: write a pip-installable plugin package that works from the first minute.

The package has a ``pyproject.toml`` registering the plugin under its entry point group, the
plugin class (a small working implementation with a docstring and typed arguments, to replace
with your own), a test calling the :mod:`genkit.testing` conformance check of its kind, an
example spec using it, and a README. ``pip install -e DIR`` makes it visible to ``genkit list``
and usable by name in every spec.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from genkit.errors import GenkitError


@dataclass(frozen=True)
class KindTemplate:
    """What a new plugin of one kind starts as."""

    #: Module body after the imports: the class, with ``$Class`` for its name.
    body: str
    #: The module's import lines (after ``from __future__ import annotations``), genkit's included.
    imports: str
    #: Spec arguments the generated test passes to the conformance check (a Python literal).
    check_args: str
    #: The component entry of the example spec (``$name`` for the plugin's name).
    spec_entry: str


_TF = "import tensorflow as tf\nimport tensorflow_probability as tfp\n"


def _tf_and(names: str) -> str:
    """TensorFlow, TFP and ``from genkit import names``."""
    return f"{_TF}from genkit import {names}\n"

TEMPLATES: dict[str, KindTemplate] = {
    "prior": KindTemplate(
        imports=_tf_and("Prior"),
        body='''
class $Class(Prior):
    """Isotropic Gaussian prior N(0, scale^2 I); replace the distribution with your own.

    Args:
        scale: the standard deviation of every latent coordinate.
    """

    def __init__(self, latent_dim: int, scale: float = 1.0):
        super().__init__(latent_dim)
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = scale

    def distribution(self) -> tfp.distributions.Distribution:
        normal = tfp.distributions.Normal(tf.zeros(self.latent_dim), self.scale)
        return tfp.distributions.Independent(normal, reinterpreted_batch_ndims=1)
''',
        check_args='{"scale": 2.0}',
        spec_entry="{type: $name, scale: 1.5}",
    ),
    "encoder": KindTemplate(
        imports="import keras\nimport tensorflow as tf\nfrom genkit import Encoder\n",
        body='''
class $Class(Encoder):
    """Fully connected encoder: flattened x, with the condition vector appended; replace with your network.

    Args:
        hidden: the widths of the hidden layers, first to last.
        activation: any Keras activation name.
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        output_size: int,
        condition_dim: int = 0,
        hidden: tuple[int, ...] = (64,),
        activation: str = "relu",
    ):
        super().__init__(data_shape, output_size, condition_dim)
        self.flatten = keras.layers.Flatten()
        self.stack = [keras.layers.Dense(width, activation=activation) for width in hidden]
        self.out = keras.layers.Dense(output_size)

    def call(self, x, condition=None, training=False):
        h = self.flatten(x)
        if condition is not None:
            h = tf.concat([h, tf.cast(condition, h.dtype)], axis=-1)
        for layer in self.stack:
            h = layer(h, training=training)
        return self.out(h)
''',
        check_args='{"hidden": [16]}',
        spec_entry="{type: $name, hidden: [32]}",
    ),
    "decoder": KindTemplate(
        imports="import math\n\nimport keras\nimport tensorflow as tf\nfrom genkit import Decoder\n",
        body='''
class $Class(Decoder):
    """Fully connected decoder: z (and the condition) to likelihood parameters of any shape.

    Args:
        hidden: the widths of the hidden layers, first to last.
        activation: any Keras activation name.
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: tuple[int, ...],
        condition_dim: int = 0,
        hidden: tuple[int, ...] = (64,),
        activation: str = "relu",
    ):
        super().__init__(latent_dim, output_shape, condition_dim)
        self.stack = [keras.layers.Dense(width, activation=activation) for width in hidden]
        self.out = keras.layers.Dense(math.prod(self.param_shape))
        self.reshape = keras.layers.Reshape(self.param_shape)

    def call(self, z, condition=None, training=False):
        h = z if condition is None else tf.concat([z, tf.cast(condition, z.dtype)], axis=-1)
        for layer in self.stack:
            h = layer(h, training=training)
        return self.reshape(self.out(h))
''',
        check_args='{"hidden": [16]}',
        spec_entry="{type: $name, hidden: [32]}",
    ),
    "posterior": KindTemplate(
        imports=_tf_and("Posterior"),
        body='''
class $Class(Posterior):
    """Diagonal Gaussian q(z|x) whose standard deviations never fall below min_scale.

    Args:
        min_scale: the smallest standard deviation.
    """

    def __init__(self, latent_dim: int, min_scale: float = 1e-3):
        super().__init__(latent_dim)
        self.min_scale = min_scale

    @property
    def param_size(self) -> int:
        return 2 * self.latent_dim

    def distribution(self, params: tf.Tensor) -> tfp.distributions.Distribution:
        loc, raw_scale = tf.split(params, 2, axis=-1)
        normal = tfp.distributions.Normal(loc, tf.nn.softplus(raw_scale) + self.min_scale)
        return tfp.distributions.Independent(normal, reinterpreted_batch_ndims=1)
''',
        check_args='{"min_scale": 0.01}',
        spec_entry="{type: $name}",
    ),
    "likelihood": KindTemplate(
        imports=_tf_and("Likelihood"),
        body='''
class $Class(Likelihood):
    """Independent Laplace per value: -log_prob is the L1 error divided by scale, plus a constant.

    Args:
        scale: the Laplace scale of every value.
    """

    def __init__(self, data_shape: tuple[int, ...], scale: float = 0.1):
        super().__init__(data_shape)
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = scale

    def distribution(self, params: tf.Tensor) -> tfp.distributions.Distribution:
        laplace = tfp.distributions.Laplace(params, self.scale)
        return tfp.distributions.Independent(laplace, reinterpreted_batch_ndims=len(self.data_shape))
''',
        check_args='{"scale": 0.2}',
        spec_entry="{type: $name, scale: 0.2}",
    ),
    "divergence": KindTemplate(
        imports="import tensorflow as tf\nfrom genkit import Divergence\n",
        body='''
class $Class(Divergence):
    """One-sample Monte Carlo KL estimate log q(z|x) - log p(z) at the posterior sample, times beta.

    Args:
        beta: the weight of the divergence in the loss.
    """

    def __init__(self, latent_dim: int, beta: float = 1.0):
        super().__init__(latent_dim)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = beta

    def per_example(self, q, prior, z, seed):
        return q.log_prob(z) - prior.log_prob(z)

    def weight(self, step):
        return tf.constant(self.beta, tf.float32)
''',
        check_args='{"beta": 0.5}',
        spec_entry="{type: $name, beta: 1.0}",
    ),
    "corruption": KindTemplate(
        imports="import tensorflow as tf\nfrom genkit import Corruption, normal\n",
        body='''
class $Class(Corruption):
    """Multiplicative Gaussian noise on the encoder's input, x * (1 + std * eps); replace with your noise.

    Args:
        std: standard deviation of the relative noise.
    """

    def __init__(self, std: float = 0.2):
        if std <= 0:
            raise ValueError(f"std must be positive, got {std}")
        self.std = std

    def corrupt(self, x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        return x * (1.0 + self.std * normal(tf.shape(x), seed, x.dtype))
''',
        check_args='{"std": 0.3}',
        spec_entry="{type: $name, std: 0.2}",
    ),
    "objective": KindTemplate(
        imports="import tensorflow as tf\nfrom genkit import Batch, ModelSurface, Objective, split_seed\n",
        body='''
class $Class(Objective):
    """The autoencoder loss with its reconstruction term reweighted,
    reconstruction_weight * -log p(x|z) + weight * divergence; replace with your objective.

    Args:
        reconstruction_weight: multiplier of the reconstruction term.
    """

    def __init__(self, reconstruction_weight: float = 1.0):
        super().__init__()
        if reconstruction_weight <= 0:
            raise ValueError(f"reconstruction_weight must be positive, got {reconstruction_weight}")
        self.reconstruction_weight = reconstruction_weight

    def loss_terms(self, model: ModelSurface, batch: Batch, seed: tf.Tensor,
                   training: bool = True) -> dict[str, tf.Tensor]:
        data_seed, terms_seed = split_seed(seed, 2)
        batch = model.preprocess(batch, data_seed)
        terms = model.per_example_terms(batch, model.condition_of(batch.get("y")), terms_seed, training)
        reconstruction = tf.reduce_mean(terms.reconstruction)
        divergence = tf.reduce_mean(terms.divergence)
        return {
            "loss": self.reconstruction_weight * reconstruction + terms.weight * divergence,
            "reconstruction": reconstruction,
            "divergence": divergence,
        }
''',
        check_args='{"reconstruction_weight": 2.0}',
        spec_entry="{type: $name, reconstruction_weight: 2.0}",
    ),
    "sampler": KindTemplate(
        imports="import numpy as np\nimport tensorflow as tf\nfrom genkit import Sampler\n",
        body='''
class $Class(Sampler):
    """A multivariate Gaussian fitted to the training codes (their mean and covariance); replace with your density.

    Args:
        temperature: multiplier of the fitted standard deviations (below 1: samples nearer the mean).
        shrinkage: added to the diagonal of the covariance, so that it stays positive definite.
    """

    def __init__(self, latent_shape: tuple[int, ...], temperature: float = 1.0, shrinkage: float = 1e-3):
        super().__init__(latent_shape)
        if temperature <= 0 or shrinkage <= 0:
            raise ValueError("temperature and shrinkage must be positive")
        self.temperature, self.shrinkage = temperature, shrinkage

    def fit(self, codes: np.ndarray, seed: int) -> None:
        flat = codes.reshape(len(codes), -1).astype(np.float64)
        size = flat.shape[1]
        covariance = np.cov(flat, rowvar=False).reshape(size, size) + self.shrinkage * np.eye(size)
        self.mean = flat.mean(axis=0).astype(np.float32)
        self.scale = np.linalg.cholesky(covariance).astype(np.float32)

    def sample(self, n: int, seed: tf.Tensor) -> tf.Tensor:
        noise = tf.random.stateless_normal(tf.stack([n, self.mean.size]), seed)
        flat = self.mean + self.temperature * tf.matmul(noise, self.scale, transpose_b=True)
        return tf.reshape(flat, [-1, *self.latent_shape])

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.mean, self.scale = state["mean"], state["scale"]
''',
        check_args='{"temperature": 0.8}',
        spec_entry="{type: $name, temperature: 0.8}",
    ),
    "dataset": KindTemplate(
        imports="import numpy as np\nfrom genkit import ArrayData, Dataset\n",
        body='''
class $Class(Dataset):
    """Gaussian blobs in 2-D, one per class, around a circle; replace with your data source.

    Args:
        n_train: the number of examples in the train split.
        n_test: the number of examples in the test split.
        classes: the number of blobs.
        seed: the generator seed: the same seed gives the same data.
    """

    def __init__(self, n_train: int = 1000, n_test: int = 200, classes: int = 3, seed: int = 0):
        if min(n_train, n_test, classes) < 1:
            raise ValueError("n_train, n_test and classes must be positive")
        self.n_train, self.n_test, self.classes, self.seed = n_train, n_test, classes, seed

    def load(self, split: str = "train") -> ArrayData:
        n = self.n_train if split == "train" else self.n_test
        rng = np.random.default_rng([self.seed, self.splits.index(split)])
        y = rng.integers(0, self.classes, n)
        angle = 2 * np.pi * y / self.classes
        x = 3.0 * np.stack([np.cos(angle), np.sin(angle)], axis=1) + rng.normal(size=(n, 2))
        return ArrayData(x.astype(np.float32), y, class_names=[f"blob {i}" for i in range(self.classes)])
''',
        check_args='{"n_train": 50, "n_test": 20}',
        spec_entry="{type: $name, n_train: 1000}",
    ),
    "callback": KindTemplate(
        imports="from pathlib import Path\n\nfrom genkit import Callback\n",
        body='''
class $Class(Callback):
    """Appends a line per epoch, epoch, loss and val_loss separated by tabs, to a file in the run
    directory; replace with your hooks (on_train_begin, on_epoch_end, ...).

    Args:
        filename: the file, relative to the run directory (to the current one without a run directory).
        every: write a line every this many epochs.
    """

    def __init__(self, filename: str = "losses.tsv", every: int = 1, run_dir: Path | None = None):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.path = Path(run_dir or ".") / filename
        self.every = every

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch % self.every == 0:
            with self.path.open("a") as handle:
                handle.write(f"{epoch}\\t{logs['loss']:.6g}\\t{logs.get('val_loss', float('nan')):.6g}\\n")
''',
        check_args='{"every": 1}',
        spec_entry="{type: $name, every: 1}",
    ),
}

#: Where a kind's entry stands in a spec, as the keys leading to it (by default the kind's own key).
_SPEC_PATHS: dict[str, tuple[str | int, ...]] = {"dataset": ("data",), "callback": ("train", "callbacks", 0)}

#: The example spec's component lines; the plugin's kind replaces (or adds) its own line.
_SPEC_LINES: dict[str, str] = {
    "dataset": "data: {type: toy2d, shape: rings, n_train: 1000, n_test: 200}",
    "encoder": "encoder: {type: mlp, hidden: [32]}",
    "decoder": "decoder: {type: mlp, hidden: [32]}",
    "posterior": "posterior: diagonal_gaussian",
    "likelihood": "likelihood: {type: gaussian, scale: 0.3}",
    "prior": "prior: standard_normal",
    "divergence": "divergence: kl",
}

_PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$Class: a $kind plugin for genkit"
requires-python = ">=3.11"
# genkit, the generative autoencoder toolkit, is "tf-genkit" on the package index (import name
# genkit); the project named "genkit" there is an unrelated package.
dependencies = ["tf-genkit>=0.1,<0.2"]

[project.optional-dependencies]
test = ["pytest>=8"]

# This line is the whole registration: `genkit list $kind` shows the plugin, specs use "$name".
[project.entry-points."$group"]
$name = "$package.$module:$Class"

[tool.setuptools]
packages = ["$package"]
'''

_MODULE = '''"""$Class: a $kind plugin for genkit.

Registered as '$name' through the '$group' entry point in pyproject.toml.
"""

from __future__ import annotations

$imports

$body'''

_TEST = '''"""$Class passes genkit's public conformance checks, and the example spec finds it by name.

Run with `pytest` after `pip install -e .`.
"""

from pathlib import Path

import genkit
from genkit.testing import check_$kind
from $package.$module import $Class


def test_conformance():
    check_$kind($Class, $check_args)


def test_the_example_spec_uses_the_installed_plugin():
    spec = genkit.load_spec(Path(__file__).parent.parent / "examples" / "$name.yaml")
    assert spec.to_dict()$entry_path["type"] == "$name"
'''

_README = '''# $dist

`$name`, a genkit $kind: $summary

```bash
pip install -e .                 # registers '$name' through the '$group' entry point
genkit list $kind                # shows it, with its arguments
genkit run examples/$name.yaml   # trains a small model that uses it
pytest                           # genkit's conformance checks for a $kind
```

Edit `$package/$module.py`: the class's typed `__init__` arguments are its spec schema, and its
docstring is what `genkit list` and the spec reference show.
'''


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def new_plugin(kind: str, name: str, directory: str | Path | None = None) -> Path:
    """Write a plugin package for a ``kind`` component called ``name``; return its directory.

    ``name`` is the spec name (``student_t``): lower case letters, digits and underscores. The
    directory defaults to ``genkit-<name>`` (dashes for underscores) in the current directory and
    must not exist yet, or be empty.
    """
    from genkit.plugin.registry import KINDS  # importlib.metadata: not paid by every command line's start

    if kind not in TEMPLATES:
        raise GenkitError(f"no plugin template for kind '{kind}'; templates exist for: {', '.join(TEMPLATES)}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise GenkitError(
            f"plugin name '{name}' must be lower case letters, digits and underscores, starting with a letter "
            "(it is the name specs use, e.g. 'student_t')"
        )
    dist = "genkit-" + name.replace("_", "-")
    root = Path(directory) if directory is not None else Path(dist)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise GenkitError(f"{root} already exists and is not empty; choose another --out")
    template = TEMPLATES[kind]
    path = _SPEC_PATHS.get(kind, (kind,))
    values = {
        "Class": _class_name(name), "name": name, "kind": kind, "dist": dist, "package": f"genkit_{name}",
        "module": kind, "group": KINDS[kind], "imports": template.imports.rstrip("\n"),
        "check_args": template.check_args,
        "entry_path": "".join(f"[{key}]" if isinstance(key, int) else f'["{key}"]' for key in path),
    }
    body = Template(template.body).substitute(values)
    values["summary"] = body.split('"""')[1].splitlines()[0]
    entry = Template(template.spec_entry).substitute(values)
    spec_lines = dict(_SPEC_LINES)
    train = "epochs: 3, batch_size: 100, seed: 0"
    if kind == "callback":
        train += f", callbacks: [{entry}]"
    else:
        spec_lines[kind] = f"{path[0]}: {entry}"
    spec = "\n".join([
        f"# A small model using the '{name}' {kind}: genkit run examples/{name}.yaml",
        f"name: {name.replace('_', '-')}-demo",
        "latent_dim: 2",
        *spec_lines.values(),
        f"train: {{{train}}}",
    ]) + "\n"
    files = {
        "pyproject.toml": Template(_PYPROJECT).substitute(values),
        "README.md": Template(_README).substitute(values),
        f"{values['package']}/__init__.py": f'"""The {name} {kind} for genkit."""\n',
        f"{values['package']}/{kind}.py": Template(_MODULE).substitute({**values, "body": body}),
        f"tests/test_{name}.py": Template(_TEST).substitute(values),
        f"examples/{name}.yaml": spec,
    }
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root
