"""The run directory: created safely, filled by a training run (metrics, TensorBoard, weights,
pictures), read back by ``load``, and evaluated, reported and exported in place.
"""
