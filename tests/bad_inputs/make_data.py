"""Writes the small data files of the bad-input corpus (run once; the outputs are committed).

Each file is wrong in exactly one way for the spec that names it; see README.md.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent / "data"


def main() -> None:
    """Write every data file of the corpus into ``data/``."""
    HERE.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    good = rng.uniform(size=(20, 4)).astype(np.float32)
    np.savez(HERE / "flat_vector.npz", x_train=good[:, 0])  # shape [N]: no example axis
    np.savez(HERE / "strings.npz", x_train=np.array([["a", "b"]] * 20))  # text, not numbers
    np.savez(HERE / "out_of_range.npz", x_train=good * 5.0)  # values in [0, 5], Bernoulli needs [0, 1]
    np.savez(HERE / "empty.npz", x_train=np.zeros((0, 4), np.float32))
    np.savez(HERE / "with_nan.npz", x_train=np.where(good > 0.9, np.nan, good))
    np.savez(HERE / "labels_mismatch.npz", x_train=good, y_train=np.zeros(7, np.int64))
    np.savez(HERE / "small.npz", x_train=good)  # valid: 20 examples of 4 values in [0, 1]
    (HERE / "not_npz.npz").write_text("this is a text file, not an npz archive\n")
    # labels wrong in one way each (x_train is valid)
    classes = np.arange(20) % 2
    np.savez(HERE / "labels_nan.npz", x_train=good, y_train=np.where(classes == 1, 1.0, np.nan))
    np.savez(HERE / "labels_text.npz", x_train=good, y_train=np.array(["cat", "dog"] * 10))
    np.savez(HERE / "labels_fraction.npz", x_train=good, y_train=classes + 0.5)
    np.savez(HERE / "labels_huge.npz", x_train=good, y_train=classes * 10**12)
    np.savez(HERE / "labels_negative.npz", x_train=good, y_train=classes - 5)
    np.savez(HERE / "labels_no_values.npz", x_train=good, y_train=np.zeros((20, 0)))  # conditions of 0 values
    np.savez(HERE / "labels_inf_vectors.npz", x_train=good, y_train=np.full((20, 3), np.inf))
    np.savez(HERE / "labels_unlabelled.npz", x_train=good, y_train=np.where(classes == 1, 1, -1))
    # values whose storage or range does not fit
    np.savez(HERE / "objects.npz", x_train=np.array([[{"a": 1}]] * 20, dtype=object))  # a pickle inside
    np.savez(HERE / "complex.npz", x_train=good.astype(np.complex64))
    np.savez(HERE / "beyond_float32.npz", x_train=good.astype(np.float64) * 1e39)
    np.savez(HERE / "no_features.npz", x_train=np.zeros((20, 0), np.float32))
    np.savez(HERE / "levels_as_floats.npz", x_train=np.round(good * 255).astype(np.float32))  # 8-bit levels, not [0, 1]
    np.savez(HERE / "levels_as_int64.npz", x_train=np.round(good * 255).astype(np.int64))
    np.savez(HERE / "negative.npz", x_train=good - 0.5)  # values in [-0.5, 0.5]


if __name__ == "__main__":
    main()
