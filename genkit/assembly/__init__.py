"""Spec -> data arrays -> one :class:`~genkit.assembly.model.GenerativeAutoencoder` (a keras.Model).

Data loading with genkit's dataset options, the context of a build (shapes, sizes), the model's
training core (distributions, per-example terms, phases, guarded updates) and its numpy-facing
API, mixed-precision policies, and ``build``.
"""
