"""What a trained model gives: evaluation (ELBO, importance-weighted log p(x), latent metrics),
pictures, the HTML report and the SavedModel export. Each works on a model and arrays; the run
directory versions of these live in :mod:`genkit.runs`.
"""
