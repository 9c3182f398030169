"""benchmarks/gpu_check.py on a machine without a GPU: it says so and exits with 0 (the GPU
measurement itself needs a GPU; the table it prints is benchmarks/throughput.py's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"


@pytest.mark.slow
def test_without_a_gpu_it_says_so_and_exits_0():
    done = subprocess.run([sys.executable, str(SCRIPT)], env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no GPU visible to TensorFlow" in done.stdout
    assert "CUDA_VISIBLE_DEVICES is ''" in done.stdout
    assert done.stdout.startswith("command: ") and "\nmachine: " in done.stdout
