"""From a spec's ``data`` entry to float32 arrays ready for training, or to streamed pieces.

Applies genkit's dataset options to any dataset plugin: uint8 scaling to [0, 1], ``limit``,
the seeded validation split and static binarization. Dynamic binarization happens in the
training step (a fresh Bernoulli draw every time an example is seen). Data that do not fit in
memory stream (:mod:`genkit.assembly.streaming`).

The storage type of the values decides their meaning, so what would change that meaning is
refused or taken as meant, never trained on silently: uint8 data whose values are only 0 and 1
are binary values (not 8-bit levels to divide by 255); booleans are 0 and 1; binarization needs
values in [0, 1]. Labels are whole class indices (floats holding whole numbers are converted)
or finite conditions (vectors ``[N, d]`` or tensors ``[N, ...]``, e.g. the given part of an
image); NaN, fractions and text are refused naming the file.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from genkit.assembly.streaming import (
    StreamedSplit,
    check_batch_fits,
    limited_pieces,
    should_stream,
    streamed_splits,
)
from genkit.errors import GenkitError, SpecError
from genkit.plugin.context import Context
from genkit.plugin.dataset import ArrayData, Stream
from genkit.plugin.instantiate import describe_exception, instantiate
from genkit.plugin.registry import registry
from genkit.spec.schema import Spec


@dataclass
class PreparedData:
    """The splits a run uses and the shape of one example: arrays in memory, or streamed pieces."""

    train: ArrayData | StreamedSplit
    validation: ArrayData | StreamedSplit | None
    data_shape: tuple[int, ...]
    num_classes: int
    condition_dim: int = 0

    def context(self, spec: Spec) -> Context:
        """The build context of a model trained on these data with the spec's settings."""
        return Context(latent_shape=spec.latent_shape, data_shape=self.data_shape, condition_dim=self.condition_dim,
                       num_classes=self.num_classes, num_train_examples=len(self.train),
                       batch_size=spec.train.batch_size, epochs=spec.train.epochs)


def condition_dim_of(spec: Spec, arrays: ArrayData) -> int:
    """Width of the condition vector a conditional model takes: the class count for integer
    labels (one-hot), the number of values of one condition for vectors or tensors (an image
    condition ``[N, H, W]`` is ``H * W`` values, flattened by the model); 0 for unconditional specs."""
    if not spec.conditional:
        return 0
    if arrays.y is None:
        raise GenkitError(
            f"the spec is conditional (conditional: true) but {describe_data(spec)} provides no labels; "
            "name the label array (e.g. data.labels) or set conditional: false"
        )
    if arrays.y.ndim == 1:
        if arrays.y.size and arrays.y.min() < 0:
            raise GenkitError(f"{describe_data(spec)}: conditional models need a class label >= 0 for every "
                              "example (or label vectors [N, d]), got -1 (unlabelled)")
        return int(arrays.y.max()) + 1
    return int(np.prod(arrays.y.shape[1:]))


#: The largest class index a label may be (TensorFlow's one-hot and gather indices are 32-bit).
MAX_CLASS = 2**31 - 1


def _to_float(x: np.ndarray, where: str) -> np.ndarray:
    if x.dtype == np.bool_:
        return x.astype(np.float32)
    if x.dtype == np.uint8:
        if x.size and int(x.max()) <= 1:
            warnings.warn(f"{where}: the uint8 data holds only 0 and 1, so it is taken as binary values "
                          "(not as 8-bit levels scaled to [0, 1] by 1/255)", stacklevel=3)
            return x.astype(np.float32)
        return x.astype(np.float32) / 255.0
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise GenkitError(f"{where}: data must be numeric (uint8 or float), got dtype {x.dtype}")
    with np.errstate(over="ignore"):
        x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise GenkitError(f"{where}: data holds NaN or infinite values (or values beyond float32's range)")
    return x


def _labels(y: np.ndarray, where: str) -> np.ndarray:
    """Labels as genkit uses them: class indices ``int64 [N]`` (-1: unlabelled) or conditions
    ``float32 [N, ...]`` (vectors, or tensors such as the given part of an image); whole numbers
    stored as floats or booleans are converted, anything else refused."""
    if y.dtype == np.bool_:
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
        raise GenkitError(f"{where}: labels must be numbers (class indices or condition vectors), got dtype {y.dtype}")
    if y.ndim >= 2:
        if 0 in y.shape[1:]:
            raise GenkitError(f"{where}: the conditions hold no values (shape {y.shape})")
        if not np.all(np.isfinite(y)):
            raise GenkitError(f"{where}: the label vectors hold NaN or infinite values")
        return y.astype(np.float32)
    if y.ndim != 1:
        raise GenkitError(f"{where}: labels must be [N] class indices or [N, ...] condition vectors or tensors, "
                          f"got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if bad.size:
            raise GenkitError(f"{where}: labels must be whole class indices, but label {bad[0]} is "
                              f"{float(y[bad[0]]):g} (give [N, d] float vectors for a continuous condition)")
    if y.size and (y.min() < -1 or y.max() > MAX_CLASS):
        value = y.min() if y.min() < -1 else y.max()
        raise GenkitError(f"{where}: labels must be class indices 0, 1, ... up to {MAX_CLASS} (-1 for unlabelled), "
                          f"got {value:g}")
    return y.astype(np.int64)


def _check_binarizable(x: np.ndarray, where: str, binarize: str) -> None:
    low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
    if low < 0.0 or high > 1.0:
        raise GenkitError(f"{where}: data.binarize is '{binarize}', which draws each value as the probability of "
                          f"a 1, so the data must lie in [0, 1], but it ranges over [{low:g}, {high:g}]; rescale "
                          "the data (uint8 data are scaled by genkit) or set data.binarize: none")


def _binarize_static(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 7])
    return (rng.uniform(size=x.shape) < x).astype(np.float32)


def describe_data(spec: Spec) -> str:
    """How error messages name the spec's data: the dataset type and, for files, the file."""
    plugin = registry("dataset").get(spec.data["type"]).obj
    files = [str(spec.data[key]) for key in getattr(plugin, "path_args", ()) if spec.data.get(key)]
    return f"dataset '{spec.data['type']}'" + (f" ({', '.join(files)})" if files else "")


def load_split(spec: Spec, split: str = "train", dataset: Any = None) -> ArrayData:
    """One split of the spec's dataset, as float32 in genkit's conventions (limit applied)."""
    try:
        dataset = dataset if dataset is not None else instantiate("dataset", spec.dataset_entry, "data")
    except SpecError as err:
        raise spec.locate(err) from err.__cause__
    if split not in dataset.splits:
        raise GenkitError(f"dataset '{spec.data['type']}' has no '{split}' split; it has {', '.join(dataset.splits)}")
    arrays = _load(spec, dataset, split)
    where = f"{describe_data(spec)} ({split} split)"
    if arrays.x.ndim < 2:
        raise GenkitError(f"{where}: expected an array of examples [N, ...], got shape {arrays.x.shape}")
    if len(arrays) == 0:
        raise GenkitError(f"{where}: the dataset is empty")
    if arrays.x[0].size == 0:
        raise GenkitError(f"{where}: its examples hold no values (shape {arrays.x.shape})")
    arrays.x = _to_float(arrays.x, where)
    if arrays.y is not None:
        arrays.y = _labels(np.asarray(arrays.y), where)
    options = spec.data_options
    if options.limit is not None:
        arrays = arrays.subset(np.arange(min(options.limit, len(arrays))))
    if options.binarize != "none":
        _check_binarizable(arrays.x, where, options.binarize)
    if options.binarize == "static":
        arrays.x = _binarize_static(arrays.x, spec.train.seed + (0 if split == "train" else 1))
    return arrays


def _load(spec: Spec, dataset: Any, split: str) -> ArrayData:
    """``dataset.load(split)``, a plugin's failure said at the spec's ``data`` key (no traceback)."""
    name = spec.data["type"]
    try:
        arrays = dataset.load(split)
    except GenkitError:
        raise
    except MemoryError as err:
        raise spec.locate(SpecError(f"dataset '{name}' ran out of memory loading its {split} split ({err}); "
                                    "ask for less data (e.g. data.limit)", "data")) from err
    except Exception as err:
        raise spec.locate(SpecError(f"dataset '{name}' failed loading its {split} split: {describe_exception(err)}",
                                    "data")) from err
    if not isinstance(arrays, ArrayData):
        raise GenkitError(f"dataset '{name}' returned {type(arrays).__name__} from load(), not a genkit.ArrayData")
    return arrays


def evaluation_data(spec: Spec, split: str = "test") -> ArrayData | StreamedSplit:
    """One split for evaluation, pictures and reports: streamed (every piece, in order) when the
    spec's data stream (``data.stream``, the memory budget), else loaded whole as :func:`load_split` does."""
    dataset = instantiate("dataset", spec.dataset_entry, "data")
    if split not in dataset.splits:
        raise GenkitError(f"dataset '{spec.data['type']}' has no '{split}' split; it has {', '.join(dataset.splits)}")
    stream = dataset.stream(split) if type(dataset).can_stream() else None
    if not should_stream(spec, dataset, stream):
        return load_split(spec, split, dataset)
    assert stream is not None  # should_stream says no without a stream
    pieces, sizes = limited_pieces(spec, stream)
    return StreamedSplit(stream, pieces, sizes, spec.train.seed)


def keep_labels(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Class labels ``y`` with only ``n`` kept, balanced per class (the first classes get one more
    when ``n`` does not divide evenly), chosen with ``seed``; the others become -1 (unlabelled)."""
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise GenkitError("data.labelled needs integer class labels [N]")
    classes = np.unique(y)
    rng = np.random.default_rng([seed, 13])
    kept = np.full(y.shape, -1, np.int64)
    for index, label in enumerate(classes):
        wanted = n // len(classes) + (1 if index < n % len(classes) else 0)
        members = np.flatnonzero(y == label)
        if wanted > len(members):
            raise GenkitError(f"data.labelled asks for {wanted} labels of class {label} but there are {len(members)}")
        chosen = rng.choice(members, wanted, replace=False)
        kept[chosen] = label
    return kept


def _batch_fits(spec: Spec, examples: int) -> None:
    if spec.train.batch_size > examples:
        raise SpecError(
            f"the batch size is {spec.train.batch_size} but {describe_data(spec)} has only {examples} training "
            "examples; lower the batch size or use more data",
            "train.batch_size", spec.source, spec.lines.get(("train", "batch_size")),
        )


def _streamed(spec: Spec, stream: Stream) -> PreparedData:
    """The splits of a run whose training data stream."""
    train, validation = streamed_splits(spec, stream)
    _batch_fits(spec, len(train))
    check_batch_fits(spec, train)
    shape = tuple(int(d) for d in stream.example_shape)
    condition_dim = 0
    if spec.conditional:
        if stream.label_shape is None:
            raise GenkitError(f"the spec is conditional (conditional: true) but {describe_data(spec)} provides no "
                              "labels; name the label files or set conditional: false")
        condition_dim = stream.num_classes if stream.label_shape == () else int(np.prod(stream.label_shape))
    return PreparedData(train, validation, shape, stream.num_classes, condition_dim)


def prepare_data(spec: Spec) -> PreparedData:
    """Training and validation data for a run (in memory, or streamed when ``data.stream`` says so),
    checked against the batch size."""
    dataset = instantiate("dataset", spec.dataset_entry, "data")
    stream = dataset.stream("train") if type(dataset).can_stream() else None
    if should_stream(spec, dataset, stream):
        assert stream is not None  # should_stream says no without a stream
        return _streamed(spec, stream)
    train = load_split(spec, "train", dataset)
    options = spec.data_options
    validation = None
    n_val = int(round(len(train) * options.validation_split))
    if n_val > 0:
        order = np.random.default_rng([spec.train.seed, 11]).permutation(len(train))
        validation, train = train.subset(np.sort(order[:n_val])), train.subset(np.sort(order[n_val:]))
    if len(train) == 0:
        raise GenkitError("no training examples are left after the validation split (data.validation_split)")
    _batch_fits(spec, len(train))
    num_classes = int(train.y.max()) + 1 if train.y is not None and train.y.ndim == 1 else 0
    shape = tuple(int(d) for d in train.x.shape[1:])
    condition_dim = condition_dim_of(spec, train)
    if options.labelled_repeat > 1 and options.labelled is None:
        raise GenkitError("data.labelled_repeat repeats the kept labelled examples; set data.labelled too")
    if options.labelled is not None:
        if train.y is None:
            raise GenkitError(f"data.labelled is set but dataset '{spec.data['type']}' provides no labels")
        train.y = keep_labels(train.y, options.labelled, spec.train.seed)
        if options.labelled_repeat > 1:
            labelled = np.flatnonzero(train.y >= 0)
            extra = np.repeat(labelled, options.labelled_repeat - 1)
            train = train.subset(np.concatenate([np.arange(len(train)), extra]))
        if validation is not None and validation.y is not None:  # one label dtype for training and evaluation
            validation.y = validation.y.astype(np.int64)
    return PreparedData(train, validation, shape, num_classes, condition_dim)
