"""MLP and convolutional networks: shapes for any image size, spec options, conditions, training."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from genkit_plugins.networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder

import genkit
from genkit.errors import SpecError


@pytest.mark.parametrize(
    "data_shape, filters",
    [((28, 28, 1), [4, 4, 4]), ((64, 64, 3), [4, 8]), ((12, 12), [4]), ((13, 9, 2), [4, 4])],
)
def test_conv_encoder_reads_any_image_size(data_shape, filters):
    encoder = ConvEncoder(data_shape, 6, filters=filters, dense=[8])
    out = encoder(tf.zeros((2, *data_shape)))
    assert tuple(out.shape) == (2, 6)
    # "same" padding with stride 2: each layer maps n pixels to ceil(n / 2)
    flat = encoder.dense_layers[0].kernel.shape[0]
    height, width = (math.ceil(d / 2 ** len(filters)) for d in data_shape[:2])
    assert flat == height * width * filters[-1]


@pytest.mark.parametrize(
    "output_shape, start_size",
    [((28, 28, 1), (4, 4)), ((64, 64, 3), (8, 8)), ((13, 9, 2), (2, 2)), ((12, 12), (2, 2)), ((7, 7, 1, 256), (1, 1))],
)
def test_conv_decoder_produces_any_parameter_shape(output_shape, start_size):
    decoder = ConvDecoder(3, output_shape, filters=[4, 4, 4], dense=[8])
    assert decoder.start_size == start_size
    out = decoder(tf.random.normal((2, 3)))
    assert tuple(out.shape) == (2, *output_shape)


def test_conv_decoder_crops_the_centre_of_an_oversized_map():
    decoder = ConvDecoder(2, (13, 10, 1), filters=[4, 4], dense=[])
    # start 4 x 3, doubled twice: 16 x 12; 3 extra rows (1 above, 2 below), 2 extra columns (1 each side)
    assert decoder.start_size == (4, 3)
    assert decoder.crop.cropping == ((1, 2), (1, 1))


@pytest.mark.parametrize("network", ["encoder", "decoder"])
@pytest.mark.parametrize("normalization, layer_type", [("batch", keras.layers.BatchNormalization),
                                                      ("layer", keras.layers.LayerNormalization)])
def test_normalization_follows_every_main_layer(network, normalization, layer_type):
    if network == "encoder":
        nets = [MLPEncoder((5,), 2, hidden=[4, 4], normalization=normalization),
                ConvEncoder((8, 8, 1), 2, filters=[4, 4], dense=[4], normalization=normalization)]
    else:
        nets = [MLPDecoder(2, (5,), hidden=[4, 4], normalization=normalization),
                ConvDecoder(2, (8, 8, 1), filters=[4, 4], dense=[4], normalization=normalization)]
    for net in nets:
        blocks = [layer for name in ("hidden_layers", "conv_layers", "deconv_layers", "dense_layers")
                  for layer in getattr(net, name, [])]
        mains = [layer for layer in blocks if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D,
                                                                 keras.layers.Conv2DTranspose))]
        kinds = [type(layer) for layer in blocks]
        assert len(mains) >= 2 and kinds.count(layer_type) == len(mains)
        for main in mains:  # each main layer is directly followed by its normalization
            assert kinds[blocks.index(main) + 1] is layer_type


def test_dropout_is_random_in_training_only():
    encoder = MLPEncoder((20,), 4, hidden=[64], dropout=0.5)
    x = tf.ones((3, 20))
    np.testing.assert_array_equal(encoder(x).numpy(), encoder(x).numpy())
    assert not np.allclose(encoder(x, training=True).numpy(), encoder(x, training=True).numpy())


def test_activation_option_reaches_the_layers():
    encoder = MLPEncoder((3,), 2, hidden=[4], activation="tanh")
    out = encoder.hidden_layers[-1](tf.constant([[-100.0, 100.0]]))
    np.testing.assert_allclose(out.numpy(), [[-1.0, 1.0]])


@pytest.mark.parametrize("make", [
    lambda: MLPEncoder((6,), 2, condition_dim=3, hidden=[4]),
    lambda: ConvEncoder((8, 8, 1), 2, condition_dim=3, filters=[4], dense=[4]),
])
def test_condition_is_required_and_checked(make):
    encoder = make()
    x = tf.zeros((2, *encoder.data_shape))
    with pytest.raises(ValueError, match="needs a condition"):
        encoder(x)
    with pytest.raises(ValueError, match=r"shape \[batch, 3\]"):
        encoder(x, condition=tf.zeros((2, 4)))
    assert tuple(encoder(x, condition=tf.one_hot([0, 2], 3)).shape) == (2, 2)
    unconditioned = MLPDecoder(2, (6,), hidden=[4])
    with pytest.raises(ValueError, match="built without a condition"):
        unconditioned(tf.zeros((2, 2)), condition=tf.zeros((2, 3)))


def _conv_spec(tiny_vae: dict) -> dict:
    tiny_vae["data"]["size"] = 14  # 14 is not divisible by 2^2: the decoder crops 16 -> 14
    tiny_vae["encoder"] = {"type": "conv", "filters": [8, 16], "dense": [32]}
    tiny_vae["decoder"] = {"type": "conv", "filters": [16, 8], "dense": [32]}
    return tiny_vae


@pytest.mark.parametrize("where, entry, key", [
    ("encoder", {"type": "conv", "dropout": 1.5}, "dropout must be in [0, 1)"),
    ("decoder", {"type": "conv", "filters": []}, "at least one transposed convolution"),
    ("encoder", {"type": "mlp", "hidden": [8, 0]}, "positive sizes"),
    ("encoder", {"type": "conv", "normalization": "group"}, "'none', 'batch' or 'layer'"),
])
def test_bad_options_are_spec_errors_naming_the_component(tiny_vae, where, entry, key):
    tiny_vae[where] = entry
    with pytest.raises(SpecError, match=r"key '(encoder|decoder)") as error:
        genkit.build(tiny_vae, data_shape=(14, 14, 1))
    assert key in str(error.value) and error.value.path.startswith(where)


def test_conv_networks_refuse_flat_data(tiny_toy):
    tiny_toy["encoder"] = {"type": "conv"}
    with pytest.raises(SpecError, match=r"image data of shape \(height, width\[, channels\]\), got \(2,\)"):
        genkit.build(tiny_toy, data_shape=(2,))


def test_conv_vae_trains_on_shapes_and_its_loss_falls(tiny_vae):
    result = genkit.train(_conv_spec(tiny_vae), progress=False)
    losses = [epoch["loss"] for epoch in result.history]
    assert losses[-1] < 0.8 * losses[0], losses
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert result.model.reconstruct(np.zeros((2, 14, 14, 1), np.float32)).shape == (2, 14, 14, 1)
