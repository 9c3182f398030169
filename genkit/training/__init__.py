"""Training a built model: compiled multi-step calls, the epoch loop, callbacks, checkpoints and
``tf.distribute`` strategies. Takes the spec's ``train`` settings and a model; knows nothing of
run directories (those are the next stage, :mod:`genkit.runs`).
"""
