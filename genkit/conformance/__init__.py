"""The properties behind :mod:`genkit.testing`: one subject class per component kind.

A subject holds one plugin class with the spec arguments and options of a check. Each of its
named properties (``shapes``, ``gradients``, ``weights_round_trip`` ...) is a method that raises
an ``AssertionError`` saying what is wrong, so genkit.testing can report every property as its
own result. Plugin authors use :mod:`genkit.testing`; this package is its implementation.
"""

from __future__ import annotations

from genkit.conformance.base import Subject
from genkit.conformance.components import (
    CorruptionSubject,
    DecoderSubject,
    EncoderSubject,
    LikelihoodSubject,
    PosteriorSubject,
    PriorSubject,
    SamplerSubject,
)
from genkit.conformance.data import DatasetSubject
from genkit.conformance.model import CallbackSubject, DivergenceSubject, ObjectiveSubject

#: The subject class of each component kind (every kind of genkit.plugin.kinds.BASES).
SUBJECTS: dict[str, type[Subject]] = {
    "encoder": EncoderSubject,
    "decoder": DecoderSubject,
    "posterior": PosteriorSubject,
    "likelihood": LikelihoodSubject,
    "prior": PriorSubject,
    "divergence": DivergenceSubject,
    "corruption": CorruptionSubject,
    "objective": ObjectiveSubject,
    "sampler": SamplerSubject,
    "dataset": DatasetSubject,
    "callback": CallbackSubject,
}
