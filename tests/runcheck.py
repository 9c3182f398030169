"""Helpers for the resume tests: what a finished run directory holds, compared to another's."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np

#: Metric columns that measure wall-clock time, so differ between any two runs.
TIMING_COLUMNS = ("seconds", "examples_per_second")


def final_weights(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Every array of the run's ``model.weights.h5``, by its path inside the file."""
    arrays: dict[str, np.ndarray] = {}

    def collect(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            arrays[name] = obj[()]

    with h5py.File(Path(run_dir) / "model.weights.h5", "r") as handle:
        handle.visititems(collect)
    return arrays


def metric_rows(run_dir: str | Path) -> list[dict[str, float]]:
    """The rows of ``metrics.csv`` as floats, without the timing columns."""
    with (Path(run_dir) / "metrics.csv").open(newline="") as handle:
        return [{k: float(v) for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(handle)]


def assert_same_run(run_dir: str | Path, reference_dir: str | Path, rtol: float = 1e-6) -> None:
    """The two runs end with the same weights and the same metrics rows (to float tolerance)."""
    ours, reference = final_weights(run_dir), final_weights(reference_dir)
    assert sorted(ours) == sorted(reference)
    for name, array in reference.items():
        np.testing.assert_allclose(ours[name], array, rtol=rtol, atol=1e-7, err_msg=name)
    rows, expected = metric_rows(run_dir), metric_rows(reference_dir)
    assert [list(r) for r in rows] == [list(r) for r in expected]
    for row, want in zip(rows, expected, strict=True):
        np.testing.assert_allclose(list(row.values()), list(want.values()), rtol=rtol, err_msg=str(row))
