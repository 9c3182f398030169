"""The hyperspherical VAE's KL term alone: TFP's registered KL(vMF || uniform) against genkit's
(``genkit_plugins.hyperspherical.kl_to_uniform``), value and gradient in one compiled call, as a
training step computes them.

The batch is ``--batch`` posteriors in R^``--dimension`` with concentrations softplus(3 + 3 n) + 1
for standard normal n (about 1 to 15, the range a trained encoder gives); each is timed over
``--calls`` calls after one that traces, in rounds interleaved, and the median round is printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

from machine import Header


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dimension", type=int, default=20)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    header = Header()

    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf
    from genkit_plugins.hyperspherical import FastKLVonMisesFisher
    from tensorflow_probability import distributions as tfd

    generator = tf.random.Generator.from_seed(0)
    direction = tf.Variable(generator.normal([args.batch, args.dimension]))
    raw = tf.Variable(3.0 + 3.0 * generator.normal([args.batch]))
    uniform = tfd.SphericalUniform(args.dimension)

    def kl_and_gradient(kind: type) -> object:
        @tf.function
        def call() -> object:
            with tf.GradientTape() as tape:
                q = kind(tf.math.l2_normalize(direction, -1), tf.nn.softplus(raw) + 1.0)
                kl = tf.reduce_sum(tfd.kl_divergence(q, uniform))
            return kl, tape.gradient(kl, raw)

        return call

    calls = {"TFP's KL (tfd.VonMisesFisher)": kl_and_gradient(tfd.VonMisesFisher),
             "genkit's KL (FastKLVonMisesFisher)": kl_and_gradient(FastKLVonMisesFisher)}
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            for _ in range(args.calls):
                call()
            times[name].append((time.perf_counter() - started) / args.calls * 1e3)
    for line in header.lines():
        print(line)
    print(f"\n{args.batch} posteriors in R^{args.dimension}, KL and its gradient per call, median of {args.rounds} "
          f"rounds of {args.calls} calls\n")
    print("| KL | ms per call | min-max |\n|---|---:|---:|")
    for name, measured in times.items():
        print(f"| {name} | {statistics.median(measured):.2f} | {min(measured):.2f}-{max(measured):.2f} |")


if __name__ == "__main__":
    main()
