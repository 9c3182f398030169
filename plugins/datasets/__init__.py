"""Built-in datasets: generated on the fly (no download) and file loaders."""

from __future__ import annotations

from genkit import check_memory


def check_generated(name: str, n_train: int, n_test: int, seed: int, values_per_example: int) -> None:
    """Refuse the arguments of a generated dataset that no generator can honour: no training
    examples, a negative count or seed, or more examples than this machine's memory holds."""
    if n_train < 1:
        raise ValueError(f"n_train must be at least 1, got {n_train}")
    if n_test < 0:
        raise ValueError(f"n_test must be 0 or more, got {n_test}")
    if seed < 0:
        raise ValueError(f"seed must be 0 or more, got {seed}")
    # float32 values, about twice over while a split is generated and converted
    check_memory(f"{name} with n_train={n_train:,} and n_test={n_test:,} ({values_per_example:,} values each)",
                 8.0 * values_per_example * max(n_train, n_test))
