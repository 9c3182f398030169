"""A Laplace prior for genkit and the closed-form KL(Normal || Laplace) it needs."""

from genkit_laplace.prior import Laplace, kl_normal_laplace

__all__ = ["Laplace", "kl_normal_laplace"]
