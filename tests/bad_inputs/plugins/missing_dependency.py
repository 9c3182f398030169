"""A plugin file whose own import fails (line 3): the module it needs is not installed."""

import genkit_corpus_no_such_dependency  # noqa: F401
