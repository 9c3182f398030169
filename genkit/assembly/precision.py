"""Mixed precision from the spec key ``train.mixed_precision: none | float16 | bfloat16``.

Networks built under a mixed policy keep float32 variables and compute in float16/bfloat16; the
model casts network outputs to float32 before the heads, so every distribution (log-probabilities,
KL terms, samples) is evaluated in float32. float16 has a narrow exponent range, so its optimizers
are wrapped in Keras' ``LossScaleOptimizer`` (dynamic loss scaling); bfloat16 needs none.

bfloat16 on a CPU is correct but pays only on CPUs with bfloat16 units (AVX-512 BF16 or AMX on x86,
BF16 on Arm); elsewhere every bfloat16 operation is emulated and training is slower than in float32.
A run that trains in bfloat16 on a CPU says which case it is in (:func:`warn_if_cpu_bfloat16`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keras
import tensorflow as tf

#: Spec value -> Keras dtype policy name.
POLICIES: dict[str, str] = {"none": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


@contextmanager
def policy_scope(mode: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy of ``mode``; the previous global policy is restored after.

    Keras layers read the global policy when they are constructed, so only model building needs it.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[mode])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def wrap_optimizer(optimizer: keras.optimizers.Optimizer, mode: str) -> keras.optimizers.Optimizer:
    """The optimizer with dynamic loss scaling for float16; unchanged otherwise."""
    if mode == "float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


#: The CPU flags (as /proc/cpuinfo names them) of units that compute in bfloat16: x86's AVX-512 BF16
#: and AMX, Arm's BF16 extension.
BFLOAT16_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16", "bf16")


class PrecisionWarning(UserWarning):
    """A mixed precision setting that is correct on this machine but slower than it looks."""


def cpu_bfloat16_units(cpuinfo: str | None = None) -> tuple[str, ...] | None:
    """The bfloat16 units of this CPU, by their /proc/cpuinfo flag names (empty: none); None when the
    flags cannot be read (no /proc/cpuinfo, as on macOS and Windows). ``cpuinfo``: that file's text."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return None
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):  # x86, Arm
            flags.update(value.split())
    if not flags:
        return None
    return tuple(flag for flag in BFLOAT16_FLAGS if flag in flags)


def onednn_enabled() -> bool:
    """Whether TensorFlow's oneDNN CPU kernels are on in this process: ``TF_ENABLE_ONEDNN_OPTS``, on
    unless set to 0 or false (the ``genkit`` command sets 0 when the variable is unset)."""
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() not in ("0", "false")


def cpu_bfloat16_note(units: tuple[str, ...] | None, onednn: bool = True) -> str:
    """What the run log says about ``train.mixed_precision: bfloat16`` on a CPU with these ``units``
    (:func:`cpu_bfloat16_units`): whether it has bfloat16 units, whether TensorFlow can use them here
    (only its ``onednn`` kernels do), and that without them bfloat16 is slower than float32."""
    start = "train.mixed_precision is bfloat16 and training runs on the CPU"
    if units is None:
        found = "whether this CPU has bfloat16 units is unknown (its flags cannot be read)"
    elif not units:
        found = f"this CPU has no bfloat16 units (none of {', '.join(BFLOAT16_FLAGS)} in /proc/cpuinfo)"
    elif onednn:
        found = (f"this CPU has bfloat16 units ({', '.join(units)}), which TensorFlow's oneDNN kernels use for "
                 "matrix products; the casts around them cost time, so compare with mixed_precision: none")
    else:
        found = (f"this CPU has bfloat16 units ({', '.join(units)}), but TensorFlow uses them only in its oneDNN "
                 "kernels, which are off in this process (TF_ENABLE_ONEDNN_OPTS=0, which the genkit command sets "
                 "when the variable is unset), so bfloat16 is emulated here as well")
    return (f"{start}: {found}. Without bfloat16 units every bfloat16 operation is emulated and training is "
            "slower than in float32 (mixed_precision: none)")


def warn_if_cpu_bfloat16(mode: str, accelerator: bool | None = None) -> None:
    """Warn (:class:`PrecisionWarning`, :func:`cpu_bfloat16_note`) when ``mode`` is bfloat16 and no GPU
    or TPU is visible (``accelerator``, detected when not given)."""
    if mode != "bfloat16":
        return
    if accelerator is None:
        accelerator = bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    if not accelerator:
        warnings.warn(cpu_bfloat16_note(cpu_bfloat16_units(), onednn_enabled()), PrecisionWarning, stacklevel=3)
