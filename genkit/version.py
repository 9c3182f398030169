"""The version of genkit (a ground-level module: nothing in genkit is imported here)."""

__version__ = "0.1.0"
