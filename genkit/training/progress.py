"""The part of an epoch trained so far, as per-example metric sums (what a mid-epoch checkpoint keeps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EpochProgress:
    """The part of one epoch trained so far (a mid-epoch checkpoint keeps it, so resuming is exact).

    ``sums`` are per-example sums of each metric over the steps whose update was applied
    (``applied`` examples); the epoch's means are their ratio. ``examples`` counts every example
    trained, so the epoch's order resumes after them.
    """

    epoch: int
    steps: int = 0
    examples: int = 0
    applied: float = 0.0
    skipped_steps: int = 0
    sums: dict[str, float] = field(default_factory=dict)

    def add(self, chunk: dict[str, Any], steps: int) -> None:
        """Fold in one compiled call's record (host numbers) of ``steps`` steps."""
        self.steps += steps
        self.examples += int(chunk["examples"])
        self.applied += chunk["applied"]
        self.skipped_steps += int(chunk["skipped"])
        for key, value in chunk["sums"].items():
            self.sums[key] = self.sums.get(key, 0.0) + value

    def means(self) -> dict[str, float]:
        """Each metric's mean over the applied steps' examples (NaN when every step was skipped)."""
        return {key: value / self.applied if self.applied else float("nan") for key, value in self.sums.items()}
