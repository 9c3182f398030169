"""The component kinds: each kind's contract base class and its entry-point group."""

from __future__ import annotations

from genkit.plugin.callback import Callback
from genkit.plugin.corruption import Corruption
from genkit.plugin.dataset import Dataset
from genkit.plugin.divergence import Divergence
from genkit.plugin.heads import Likelihood, Posterior
from genkit.plugin.networks import Decoder, Encoder
from genkit.plugin.objective import Objective
from genkit.plugin.prior import Prior
from genkit.plugin.sampler import Sampler

#: The contract base class of each registry kind.
BASES: dict[str, type] = {
    "encoder": Encoder,
    "decoder": Decoder,
    "posterior": Posterior,
    "likelihood": Likelihood,
    "prior": Prior,
    "divergence": Divergence,
    "corruption": Corruption,
    "objective": Objective,
    "sampler": Sampler,
    "dataset": Dataset,
    "callback": Callback,
}
