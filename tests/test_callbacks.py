"""Callbacks: Keras-style hooks from Python, and registered callbacks listed in the spec."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import yaml

import genkit
from genkit.training.callbacks import EarlyStopping


class Recorder(genkit.Callback):
    """Remembers what the trainer told it, and the weights after the first epoch."""

    def __init__(self):
        self.events: list[str] = []
        self.logs: list[dict[str, float]] = []
        self.first_weights = None

    def on_train_begin(self, trainer):
        self.trainer = trainer
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch):
        self.events.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs):
        self.events.append(f"epoch_end {epoch}")
        self.logs.append(dict(logs))
        if epoch == 1:
            self.first_weights = self.trainer.model.get_weights()

    def on_train_end(self, history):
        self.events.append(f"train_end {len(history)}")


def test_python_callback_receives_each_epochs_metrics(tiny_vae):
    recorder = Recorder()
    result = genkit.train(tiny_vae, callbacks=[recorder], progress=False)
    assert recorder.events == ["train_begin", "epoch_begin 1", "epoch_end 1", "epoch_begin 2", "epoch_end 2",
                               "epoch_begin 3", "epoch_end 3", "train_end 3"]
    assert recorder.logs == result.history
    assert [logs["epoch"] for logs in recorder.logs] == [1, 2, 3]
    for key in ("loss", "reconstruction", "divergence", "val_loss", "seconds"):
        assert np.isfinite(recorder.logs[-1][key]), key
    assert recorder.logs[-1]["loss"] < recorder.logs[0]["loss"]


def test_early_stopping_from_the_spec_stops_when_the_metric_stalls(tiny_vae):
    # learning rate 1e-30: every update is below float32 resolution, so the weights never change and
    # val_loss (fixed evaluation seeds) never improves
    tiny_vae["train"].update(epochs=20, optimizer={"type": "adam", "learning_rate": 1e-30},
                             callbacks=[{"type": "early_stopping", "monitor": "val_loss", "patience": 2}])
    recorder = Recorder()
    result = genkit.train(tiny_vae, callbacks=[recorder], progress=False)
    assert [logs["epoch"] for logs in result.history] == [1, 2, 3]  # the best epoch, then two without gain
    assert result.history[0]["val_loss"] == result.history[2]["val_loss"]
    assert recorder.events[-1] == "train_end 3"


def test_early_stopping_restores_the_best_weights(tiny_vae):
    # min_delta larger than any possible gain: epoch 1 stays the best, training stops after epoch 2
    stopper = EarlyStopping(monitor="loss", patience=1, min_delta=1e9, restore_best_weights=True)
    recorder = Recorder()
    tiny_vae["train"]["epochs"] = 10
    result = genkit.train(tiny_vae, callbacks=[recorder, stopper], progress=False)
    assert len(result.history) == 2 and stopper.stopped_epoch == 2 and stopper.best_epoch == 1
    assert stopper.best == result.history[0]["loss"]
    for restored, first in zip(result.model.get_weights(), recorder.first_weights, strict=True):
        np.testing.assert_array_equal(restored, first)


def test_early_stopping_on_a_validation_metric_needs_validation_data(tiny_vae):
    tiny_vae["data"]["validation_split"] = 0.0
    tiny_vae["train"]["callbacks"] = ["early_stopping"]
    with pytest.raises(genkit.GenkitError, match="no validation data; set data.validation_split"):
        genkit.train(tiny_vae, progress=False)


def test_spec_callbacks_are_validated_like_components(tmp_path, tiny_vae):
    tiny_vae["train"]["callbacks"] = [
        {"type": "early_stopping", "patience": "3"},
        {"type": "csv"},
        {"type": "early_stoping"},
        {"type": "tensorboard", "image_every": 0},
    ]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_vae, sort_keys=False))
    with pytest.raises(genkit.SpecError) as info:
        genkit.load_spec(path)
    message = str(info.value)
    assert "key 'train.callbacks.0.patience': Input should be a valid integer (got '3')" in message
    assert "key 'train.callbacks.1.path': a value is required here" in message
    assert "unknown callback 'early_stoping'" in message and "Did you mean 'early_stopping'?" in message
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "patience" in text)
    assert f"line {line} key 'train.callbacks.0.patience'" in message
    tiny_vae["train"]["callbacks"] = [{"type": "tensorboard", "image_every": 0}]
    with pytest.raises(genkit.SpecError, match="train.callbacks.0.*image_every must be >= 1"):
        genkit.train(tiny_vae, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # refused before the run directory was made


def test_csv_and_tensorboard_from_the_spec(tmp_path, tiny_vae):
    tiny_vae["train"].update(epochs=2, callbacks=[{"type": "csv", "path": "../all-runs.csv"},
                                                  {"type": "tensorboard", "log_dir": "tb", "image_every": 2}])
    spec = genkit.load_spec(tiny_vae)
    assert spec.to_dict()["train"]["callbacks"] == [{"type": "csv", "path": "../all-runs.csv"},
                                                    {"type": "tensorboard", "log_dir": "tb", "image_every": 2}]
    out = tmp_path / "run"
    genkit.train(spec, out, progress=False)
    extra = list(csv.DictReader((tmp_path / "all-runs.csv").open()))
    own = list(csv.DictReader((out / "metrics.csv").open()))
    assert extra == own and [row["epoch"] for row in extra] == ["1", "2"]
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert not (out / "tensorboard").exists()  # the spec's TensorBoard replaced the default one
    tiny_vae["train"]["callbacks"] = [{"type": "csv", "path": "metrics.csv"}]
    with pytest.raises(genkit.SpecError, match="metrics.csv is always written"):
        genkit.train(tiny_vae, tmp_path / "other", progress=False)


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("loss", 123.456, "123.5"), ("loss", 0.0123456, "0.01235"), ("loss", 12345.6, "12346"),
    ("loss", 1.23456e-5, "1.235e-05"), ("loss", 2.5e7, "2.500e+07"), ("loss", -4.56789, "-4.568"),
    ("loss", 100.0, "100"), ("seconds", 12.345, "12.3"), ("examples_per_second", 4567.89, "4568"),
    ("loss", float("nan"), "nan"),
])
def test_epoch_values_have_four_significant_digits_and_sensible_timings(name, value, shown):
    from genkit.training.callbacks import format_number

    assert format_number(name, value) == shown


def test_plain_and_json_epoch_logs_off_a_terminal(tiny_vae):
    """Fixed columns: every line as long as the header, each value ending where its title ends."""
    import io
    import json

    from genkit.training.callbacks import EpochLines, JsonLines

    plain, machine = io.StringIO(), io.StringIO()
    tiny_vae["train"]["epochs"] = 2
    result = genkit.train(tiny_vae, callbacks=[EpochLines(2, plain), JsonLines(2, machine)], progress=False)
    header, *lines = plain.getvalue().splitlines()
    assert len(lines) == 2 and header.split()[:3] == ["epoch", "loss", "reconstruction"] and "ex/s" in header
    assert all(len(line) == len(header) for line in lines), plain.getvalue()  # one line each, never wrapped
    ends = [i + 1 for i, (a, b) in enumerate(zip(header, header[1:] + " ", strict=True)) if a != " " and b == " "]
    for line in lines:
        assert [i + 1 for i, (a, b) in enumerate(zip(line, line[1:] + " ", strict=True))
                if a != " " and b == " "] == ends
    assert lines[1].split()[0] == "2/2" and lines[1].split()[1] == f"{result.history[1]['loss']:.4g}"
    records = [json.loads(line) for line in machine.getvalue().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2] and records[0]["event"] == "epoch"
    assert records[1]["loss"] == result.history[1]["loss"] and "step" not in records[1]  # full precision


def test_mlflow_callback_tracks_spec_metrics_and_pictures(tmp_path, tiny_vae, monkeypatch):
    """Against a real MLflow folder store, read back with MLflow's own client."""
    pytest.importorskip("mlflow", reason="MLflow is not installed (optional: pip install mlflow-skinny)")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for it to use a local folder
    tiny_vae["train"].update(epochs=2, callbacks=[{"type": "mlflow", "tracking_uri": "../mlruns",
                                                   "experiment": "shapes"}])
    genkit.train(tiny_vae, tmp_path / "run", progress=False)
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("shapes").experiment_id])
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    assert run.data.params["latent_dim"] == "2" and run.data.params["train.batch_size"] == "40"
    own = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in history] == [(int(r["epoch"]), pytest.approx(float(r["val_loss"])))
                                                      for r in own]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    pictures = {a.path for a in client.list_artifacts(run.info.run_id, "pictures")}
    assert "spec.yaml" in artifacts and {"pictures/samples.png", "pictures/loss.png"} <= pictures
