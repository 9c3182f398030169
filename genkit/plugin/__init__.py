"""Ground: what a plugin is.

The contracts every component kind implements (encoder, decoder, posterior, likelihood, prior,
divergence, objective, corruption, dataset, callback, sampler), the typed model surface a
plugin may call, the context genkit supplies by name, the registries with entry-point
discovery, a plugin's typed ``__init__`` as its spec schema, instantiation, optimizers and
stateless randomness. Nothing here imports a later stage (spec, assembly, training, results,
runs), so a plugin that imports only ``genkit`` never pulls in the machinery that runs it.
"""
