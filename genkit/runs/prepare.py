"""``prepare``: every check a run makes before it writes anything: the data loaded and checked, the
model built under the spec's strategy.

``genkit.train`` runs it before it creates the run directory; ``genkit validate`` runs only this,
so it imports none of the training, checkpointing and picture-drawing modules a run needs after.
"""

from __future__ import annotations

from genkit.assembly.build import assemble
from genkit.assembly.data import PreparedData, describe_data, prepare_data
from genkit.assembly.model import GenerativeAutoencoder
from genkit.assembly.streaming import StreamedSplit
from genkit.errors import GenkitError, SpecError
from genkit.plugin.dataset import ArrayData
from genkit.spec.schema import Spec
from genkit.training.strategy import make_strategy, worker_role

#: How many examples of streamed training data are checked against the likelihood before training,
#: a batch of :data:`CHECK_BATCH` at a time (data in memory are checked whole).
STREAM_CHECKED_EXAMPLES = 10_000
CHECK_BATCH = 500


def prepare(spec: Spec) -> tuple[PreparedData, GenerativeAutoencoder]:
    """Load and check the data and build the model: every check a run makes before it writes anything.

    The model is built under the spec's ``train.distribute`` strategy.
    """
    data = prepare_data(spec)
    try:
        strategy = make_strategy(spec.train.distribute)
    except SpecError as err:
        raise spec.locate(err) from None
    role = worker_role()
    if isinstance(data.train, StreamedSplit) and role.count > 1:  # each worker reads its own share
        if spec.train.batch_size < role.count:
            raise SpecError(f"train.batch_size ({spec.train.batch_size}) is smaller than the {role.count} workers: "
                            "every worker needs a share of each batch", "train.batch_size", spec.source,
                            spec.line_of("train.batch_size"))
        data.train = data.train.sharded(role.index, role.count)
    with strategy.scope():  # variables are placed on every replica
        model = assemble(spec, data.context(spec))
    if isinstance(data.train, ArrayData):
        problem = model.likelihood.check_data(data.train.x)
    else:  # a batch at a time: 10,000 large images at once would cost more memory than training does
        checked = data.train.examples().take(STREAM_CHECKED_EXAMPLES).batch(CHECK_BATCH)
        problem = next(filter(None, (model.likelihood.check_data(batch["x"].numpy()) for batch in checked)), None)
    if problem:
        likelihood = spec.components["likelihood"]["type"]
        raise GenkitError(f"{describe_data(spec)} does not fit likelihood '{likelihood}': {problem}")
    return data, model
