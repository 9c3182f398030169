"""SavedModel export: encode/decode/sample signatures, reloaded by a process that never imports genkit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

import genkit
from genkit.cli import main

#: Runs in a fresh interpreter: loads both SavedModels with TensorFlow alone and records their outputs.
SERVE = textwrap.dedent('''
    import json, sys
    import numpy as np
    import tensorflow as tf

    inputs = np.load(sys.argv[1])
    outputs = {}
    for name in ("plain", "conditional"):
        served = tf.saved_model.load(sys.argv[2 + (name == "conditional")])
        conditional = name == "conditional"
        extra = {"condition": tf.constant(inputs["condition"])} if conditional else {}
        signatures = served.signatures
        outputs[f"{name}_z"] = signatures["encode"](x=tf.constant(inputs["x"]), **extra)["z"].numpy()
        outputs[f"{name}_x"] = signatures["decode"](z=tf.constant(inputs["z"]), **extra)["x"].numpy()
        extra = {"condition": tf.constant(inputs["condition"][:5])} if conditional else {}
        drawn = signatures["sample"](n=tf.constant(5), seed=tf.constant(11), **extra)
        outputs[f"{name}_sample_x"], outputs[f"{name}_sample_z"] = drawn["x"].numpy(), drawn["z"].numpy()
        outputs[f"{name}_signatures"] = np.array(sorted(signatures.keys()))
    np.savez(sys.argv[4], **outputs)
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("genkit", "genkit_plugins",
                                                                             "tensorflow_probability"))))
''')


@pytest.mark.slow
def test_exported_signatures_match_the_model_in_a_process_without_genkit(tmp_path, tiny_vae):
    tiny_vae["train"]["epochs"] = 1
    run = genkit.train(tiny_vae, tmp_path / "run", progress=False)
    result = CliRunner().invoke(main, ["export", str(run.run_dir), str(tmp_path / "plain")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "signatures: encode, decode, sample" in result.output
    plain = genkit.load(run.run_dir)

    tiny_vae["conditional"] = True
    conditional = genkit.build(tiny_vae)
    genkit.export(conditional, tmp_path / "conditional")

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(7, 12, 12, 1)).astype(np.float32)
    z = rng.normal(size=(7, 2)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 0, 1, 2])
    condition = np.eye(conditional.condition_dim, dtype=np.float32)[labels]
    np.savez(tmp_path / "inputs.npz", x=x, z=z, condition=condition)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", SERVE, str(tmp_path / "inputs.npz"), str(tmp_path / "plain"),
         str(tmp_path / "conditional"), str(tmp_path / "outputs.npz")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []  # neither genkit nor TFP was imported
    served = np.load(tmp_path / "outputs.npz")
    assert list(served["plain_signatures"]) == ["decode", "encode", "sample", "serving_default"]

    expected = {
        "plain_z": plain.encode(x), "plain_x": plain.decode(z),
        "plain_sample_x": plain.sample(5, seed=11), "plain_sample_z": plain.sample_latent(5, seed=11),
        "conditional_z": conditional.encode(x, labels), "conditional_x": conditional.decode(z, labels),
        "conditional_sample_x": conditional.sample(5, labels[:5], seed=11),
        "conditional_sample_z": conditional.sample_latent(5, seed=11),
    }
    for key, value in expected.items():
        np.testing.assert_allclose(served[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    assert not np.allclose(served["plain_sample_x"], plain.sample(5, seed=12))  # the seed matters


def test_a_plain_autoencoder_exports_without_sample_and_existing_output_is_refused(tmp_path, tiny_vae):
    tiny_vae["model"] = "ae"
    for key in ("prior", "divergence"):
        del tiny_vae[key]
    model = genkit.build(tiny_vae)
    genkit.export(model, tmp_path / "ae")
    import tensorflow as tf

    served = tf.saved_model.load(str(tmp_path / "ae"))
    assert sorted(served.signatures.keys()) == ["decode", "encode", "serving_default"]
    x = np.random.default_rng(1).uniform(size=(3, 12, 12, 1)).astype(np.float32)
    np.testing.assert_allclose(served.signatures["encode"](x=tf.constant(x))["z"].numpy(), model.encode(x), atol=1e-6)
    with pytest.raises(genkit.GenkitError, match="already exists and is not empty"):
        genkit.export(model, tmp_path / "ae")
