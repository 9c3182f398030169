"""Spec -> components -> one GenerativeAutoencoder (the ``build`` of the public API).

Every component gets the context it asks for (:class:`~genkit.plugin.context.Context`): shapes
from the data and the other components (the encoder's output is the posterior's parameter shape,
the decoder's the likelihood's), sizes from the data and the ``train`` settings. A plugin that
fails while the model is built or first run is named in the error with its spec key and the
original exception, which stays attached as the cause (``genkit --debug`` prints its traceback);
:func:`naming_failures` does the same for later stages (``genkit.train`` wraps training in it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import keras
import numpy as np

from genkit.assembly import precision
from genkit.assembly.model import GenerativeAutoencoder
from genkit.errors import GenkitError, SpecError
from genkit.plugin.context import Context
from genkit.plugin.instantiate import describe_exception, instantiate
from genkit.plugin.kinds import BASES
from genkit.plugin.optimizers import with_clipping
from genkit.spec.presets import COMPONENT_KEYS
from genkit.spec.resolve import load_spec
from genkit.spec.schema import Spec


def build(
    spec: str | Path | dict[str, Any] | Spec,
    data_shape: tuple[int, ...] | None = None,
    condition_dim: int | None = None,
    context: Context | None = None,
) -> GenerativeAutoencoder:
    """Assemble the model a spec describes, with every variable created and seeded.

    The build context comes from ``context`` when given; else from ``data_shape`` (one example's
    shape) and ``condition_dim`` (width of the condition vector of a conditional spec), read from
    the dataset when not given. The networks are built under the dtype policy of
    ``train.mixed_precision``.
    """
    spec = load_spec(spec)
    if context is None:
        context = _context_of(spec, data_shape, condition_dim)
    return assemble(spec, context)


def _context_of(spec: Spec, data_shape: tuple[int, ...] | None, condition_dim: int | None) -> Context:
    """The context of a build from the given shapes, or else from the spec's training data."""
    sizes = {"batch_size": spec.train.batch_size, "epochs": spec.train.epochs}
    if data_shape is not None and (condition_dim is not None or not spec.conditional):
        return Context(spec.latent_shape, tuple(data_shape), condition_dim or 0, **sizes)
    from genkit.assembly.data import condition_dim_of, load_split

    arrays = load_split(spec, "train")
    validation = int(round(len(arrays) * spec.data_options.validation_split))
    classes = int(arrays.y.max()) + 1 if arrays.y is not None and arrays.y.ndim == 1 else 0
    return Context(spec.latent_shape, tuple(int(d) for d in arrays.x.shape[1:]), condition_dim_of(spec, arrays),
                   classes, len(arrays) - validation, **sizes)


def assemble(spec: Spec, context: Context) -> GenerativeAutoencoder:
    """The model of a resolved spec in a known context (what ``build``, ``train`` and ``load`` share)."""
    keras.utils.set_random_seed(spec.train.seed)
    with precision.policy_scope(spec.train.mixed_precision):
        components = _components(spec, context)
        model = GenerativeAutoencoder(
            **components,
            context=context,
            binarize=spec.data["binarize"],
            seed=spec.train.seed,
            default_optimizer=with_clipping(spec.train.optimizer.model_dump(), spec.train.clip_norm,
                                            spec.train.clip_value),
        )
        with naming_failures(spec, components, "when the model was first run",
                             unattributed="the components of this spec do not fit together"):
            model.build_variables(_example_batch(context))
    if model.sampler is not None:
        model.sampler.attach(model)
    return model


def _components(spec: Spec, context: Context) -> dict[str, Any]:
    """Every component of the spec, built with the context it asks for (the heads first: the
    networks' output shapes are the heads' parameter shapes)."""
    parts, shared = spec.components, context.arguments()

    def make(key: str, **extra: Any) -> Any:
        entry = parts[key]
        if entry is None:
            return None
        try:
            return instantiate(key, entry, key, {**shared, **extra})
        except SpecError as err:  # a plugin rejected its arguments: say where the spec set them
            raise spec.locate(err) from err.__cause__

    likelihood = make("likelihood")
    posterior = make("posterior")
    return {
        "likelihood": likelihood,
        "posterior": posterior,
        "encoder": make("encoder", output_size=int(np.prod(posterior.param_shape)),
                        output_shape=tuple(posterior.param_shape)),
        "decoder": make("decoder", output_shape=likelihood.param_shape),
        "prior": make("prior"),
        "divergence": make("divergence"),
        "corruption": make("corruption"),
        "objective": make("objective"),
        "sampler": make("sampler"),
    }


def _example_batch(context: Context) -> dict[str, np.ndarray]:
    """Two zero examples to run every phase once; labels ride along even for unconditional models,
    so label-aware phases (the supervised AAE's) build too."""
    example: dict[str, np.ndarray] = {"x": np.zeros((2, *context.data_shape), np.float32),
                                      "y": np.zeros((2,), np.int64)}
    if context.condition_dim:
        example["y"] = np.zeros((2, context.condition_dim), np.float32)
    return example


def _innermost_component(traceback: TracebackType | None, components: dict[str, Any]) -> str | None:
    """The spec key of the component whose method raised, found as ``self`` in the traceback's
    innermost frame that belongs to one of the components."""
    by_identity = {id(component): key for key, component in components.items() if component is not None}
    found = None
    while traceback is not None:
        owner = traceback.tb_frame.f_locals.get("self")
        found = by_identity.get(id(owner), found)
        traceback = traceback.tb_next
    return found


def components_of(model: GenerativeAutoencoder) -> dict[str, Any]:
    """The model's components by spec key (``encoder``, ..., ``sampler``; None where it has none)."""
    return {key: getattr(model, key) for key in COMPONENT_KEYS}


def _entry_type(spec: Spec, key: str) -> str:
    """The registered name the spec gives at a dotted key (``divergence``, ``train.callbacks.0``)."""
    entry: Any = spec.to_dict()
    for part in key.split("."):
        entry = entry[int(part)] if isinstance(entry, list) else entry[part]
    return str(entry["type"])


@contextmanager
def naming_failures(spec: Spec, parts: dict[str, Any], when: str, unattributed: str | None = None) -> Iterator[None]:
    """Turn an exception raised inside one of ``parts`` (spec key -> component or callback) into one
    :class:`SpecError` paragraph naming its kind, type and spec key, with the exception as the cause.

    The culprit is the innermost frame of the traceback whose ``self`` is one of ``parts``, so a
    failure in genkit's own code around a plugin is still put on the plugin. An exception no part
    raised becomes a SpecError starting with ``unattributed`` when that is given, else propagates
    unchanged (a bug in genkit keeps its traceback). GenkitErrors always pass through.
    """
    try:
        yield
    except GenkitError:
        raise
    except Exception as err:
        key = _innermost_component(err.__traceback__, parts)
        if key is not None:
            kind = next(kind for kind, base in BASES.items() if isinstance(parts[key], base))
            raise SpecError(f"{kind} '{_entry_type(spec, key)}' failed {when}: {describe_exception(err)}",
                            key, spec.source, spec.line_of(key)) from err
        if unattributed is None:
            raise
        raise SpecError(f"{unattributed}: {describe_exception(err)}", source=spec.source) from err
