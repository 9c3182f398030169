"""Evaluation, pictures and reports of a run whose data stream: the test split is read a batch at
a time (never loaded whole), and the numbers equal those of the same data in memory."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TINY_VAE, write_shapes_npy
from genkit_plugins.datasets.npy import NpyFiles

import genkit
from genkit.assembly.data import evaluation_data
from genkit.assembly.streaming import StreamedSplit
from genkit.cli import main
from genkit.results.evaluation import evaluate_model


@pytest.fixture(scope="module")
def streamed_run(tmp_path_factory):
    """A run on .npy files that streams (data.stream: true), trained one epoch, and its spec."""
    folder = write_shapes_npy(tmp_path_factory.mktemp("streamed"), 240, 90)
    spec = copy.deepcopy(TINY_VAE)
    spec["data"] = {"type": "npy", "images": str(folder / "x.npy"), "labels": str(folder / "y.npy"),
                    "test_images": str(folder / "x.npy"), "test_labels": str(folder / "y.npy"), "chunk": 32,
                    "binarize": "dynamic", "stream": True, "validation_split": 0.0}
    spec["train"]["epochs"] = 1
    genkit.train(spec, folder / "run", progress=False)
    return folder / "run", spec


def test_evaluation_of_a_stream_equals_evaluation_of_the_same_arrays(streamed_run):
    run_dir, spec = streamed_run
    model = genkit.load(run_dir)
    numbers = {}
    for stream in (True, False):
        resolved = genkit.load_spec({**spec, "data": {**spec["data"], "stream": stream}})
        test, train = evaluation_data(resolved, "test"), evaluation_data(resolved, "train")
        assert isinstance(test, StreamedSplit) is stream
        numbers[stream] = evaluate_model(model, test, train, k=8, batch_size=64, progress=False)
    del numbers[True]["seconds"], numbers[False]["seconds"]
    assert numbers[True] == numbers[False]  # every number, to the last bit
    assert numbers[True]["examples"] == 240 and {"elbo", "log_likelihood", "linear_probe_accuracy",
                                                  "reconstruction_bce", "mmd"} <= set(numbers[True])


def test_genkit_evaluate_and_report_on_a_streamed_run_never_load_a_split_whole(streamed_run, monkeypatch):
    run_dir, _ = streamed_run

    def refuse(self, split="train"):
        raise AssertionError(f"the {split} split was loaded whole")

    monkeypatch.setattr(NpyFiles, "load", refuse)
    evaluated = CliRunner().invoke(main, ["evaluate", str(run_dir), "-k", "4"])
    assert evaluated.exit_code == 0, evaluated.output
    results = json.loads((run_dir / "metrics_eval.json").read_text())
    assert results["examples"] == 240 and np.isfinite(results["log_likelihood"])
    reported = CliRunner().invoke(main, ["report", str(run_dir)])
    assert reported.exit_code == 0, reported.output
    assert (run_dir / "report.html").stat().st_size > 10_000
    assert {"samples.png", "reconstructions.png", "traversal.png"} <= {p.name for p in (run_dir / "pictures").iterdir()}
