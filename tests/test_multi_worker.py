"""Multi-worker training on streamed data: each worker reads its own share of the pieces and slices
its own batch; only the chief writes the run directory; a killed worker stops the others with a
clear message (exit 75) and restarting every worker with --resume ends the job exactly as an
uninterrupted one. Two worker processes on 127.0.0.1 (``genkit run`` itself), a tiny folder of
8x8 PNG files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from runcheck import assert_same_run, finish, finish_all, free_ports, genkit_cli, metric_rows, spawn, wait_for

import genkit
from genkit.assembly.data import prepare_data
from genkit.assembly.streaming import StreamedSplit
from genkit.cli import EXIT_WORKER_LOST
from genkit.runs import train as train_module
from genkit.runs.convert import convert
from genkit.training import strategy
from genkit.training.checkpoint import CheckpointManager

EPOCHS = 3

#: A callback that holds every step of epoch 2 for a moment, so the test can kill a worker in it.
SLOW_EPOCH = """
import time

import genkit


@genkit.register("callback", "slow_epoch")
class SlowEpoch(genkit.Callback):
    \"\"\"Sleeps after every step of epoch 2 (test helper).\"\"\"

    def on_epoch_begin(self, epoch):
        self.epoch = epoch

    def on_step_end(self, step, loss):
        if self.epoch == 2:
            time.sleep(0.25)
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """90 colour images of 8x8 pixels as PNG files, one subfolder per shape."""
    out = tmp_path_factory.mktemp("images") / "images"
    convert("colour_shapes", out, to="image_folder", args={"size": 8, "n_train": 90, "n_test": 10})
    return out / "train"


def stream_spec(folder: Path, **train) -> dict:
    return {
        "name": "workers", "model": "vae", "latent_dim": 2,
        "data": {"type": "image_folder", "path": str(folder), "labels": "folders", "stream": True,
                 "validation_split": 0.0},
        "encoder": {"type": "mlp", "hidden": [16]}, "decoder": {"type": "mlp", "hidden": [16]},
        "likelihood": {"type": "gaussian", "scale": 0.2},
        "train": {"epochs": EPOCHS, "batch_size": 16, "seed": 1, "jit_compile": False, "steps_per_execution": 1,
                  "distribute": "multi_worker", **train},
    }


def test_an_epoch_deals_every_piece_to_exactly_one_worker_with_equal_steps(folder):
    split = prepare_data(genkit.load_spec(stream_spec(folder))).train
    assert isinstance(split, StreamedSplit) and len(split) == 90
    shares = split.sharded(0, 2).deal(1)
    assert sorted(shares[0] + shares[1]) == list(range(90)) and abs(len(shares[0]) - len(shares[1])) <= 1
    assert split.sharded(0, 2).deal(2) != shares  # a new deal every epoch
    # 45 images each in local batches of 8 (half of 16): 6 steps on both workers, the last one short
    assert [split.sharded(w, 2).steps_per_epoch(1, 16) for w in (0, 1)] == [6, 6]
    for worker in (0, 1):
        batches = [batch["x"].numpy() for batch in split.sharded(worker, 2).epoch(1, 16)]
        assert [len(b) for b in batches] == [8, 8, 8, 8, 8, 5]
    three = [[len(b["x"]) for b in split.sharded(w, 3).epoch(1, 16)] for w in range(3)]
    assert [sum(sizes) for sizes in three] == [30, 30, 30]  # local batches 6, 6, 4: steps 5, 5, 8
    assert {len(sizes) for sizes in three} == {8} and three[0][-3:] == [0, 0, 0]  # run out first: empty batches


def test_a_worker_that_is_not_the_chief_writes_nothing(folder, tmp_path, monkeypatch):
    for module in (strategy, train_module):  # as in a cluster, for the writers and for genkit.train
        monkeypatch.setattr(module, "worker_role", lambda: strategy.WorkerRole(1, 2))
    spec = stream_spec(folder, distribute="none", epochs=1)
    result = genkit.train(spec, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    assert result.history[0]["step"] == 6  # its half of the images in local batches of 8


def _start(spec_file: Path, out: Path, workers: list[str], index: int, *extra: str) -> subprocess.Popen:
    config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
    plugin = spec_file.with_name("slow_epoch.py")
    return spawn(genkit_cli("--import", str(plugin), "run", str(spec_file), "--out", str(out), "-q", *extra),
                 env={**os.environ, "TF_CONFIG": json.dumps(config)})


def _pair(spec_file: Path, out: Path, *extra: str) -> list[subprocess.Popen]:
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    return [_start(spec_file, out, workers, index, *extra) for index in range(2)]


@pytest.mark.slow
def test_a_killed_worker_restarted_with_resume_ends_the_job_as_an_uninterrupted_one(folder, tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(stream_spec(folder, checkpoint_every=1, callbacks=[{"type": "slow_epoch"}])))
    spec_file.with_name("slow_epoch.py").write_text(SLOW_EPOCH)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    processes = _pair(spec_file, whole) + _pair(spec_file, killed)  # both jobs at once: the test waits once
    try:
        wait_for(lambda: bool(CheckpointManager(killed).paths()) or processes[2].poll() is not None, 300,
                 "the first checkpoint of the job to kill")
        assert processes[2].poll() is None, finish(processes[2])
        processes[3].send_signal(signal.SIGKILL)  # worker 1 dies in epoch 2 (6 slowed steps of 45 images each)
        code, stderr = finish(processes[2], 120)
        assert code == EXIT_WORKER_LOST, stderr
        assert "another worker of the cluster stopped" in stderr and "--resume" in stderr
        assert "Traceback" not in stderr and "last checkpoint is" in stderr
        restarted = _pair(spec_file, killed, "--resume")
        processes += restarted
        for code, output in finish_all([*processes[:2], *restarted]):
            assert code == 0, output
    finally:
        for process in processes:
            process.kill()
    rows = metric_rows(whole)
    assert [row["epoch"] for row in rows] == [1, 2, 3]  # one writer: no row twice
    assert [row["step"] for row in rows] == [6, 12, 18]  # each worker trained its 45 images in 6 local batches
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert sorted(p.name for p in (whole / "checkpoints").iterdir()) == ["step-000000006", "step-000000012",
                                                                          "step-000000018"]
    assert_same_run(killed, whole, rtol=1e-5)
    assert np.isfinite(rows[-1]["loss"])
