"""Research plugins for genkit, each written against the public contract only (``import genkit``)."""

from genkit_research.beta_tc import BetaTC
from genkit_research.iwae import IWAE
from genkit_research.vq import CodeHistogram, VectorQuantized

__all__ = ["IWAE", "BetaTC", "CodeHistogram", "VectorQuantized"]
