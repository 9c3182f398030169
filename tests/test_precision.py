"""bfloat16 on a CPU: which CPUs have bfloat16 units (from /proc/cpuinfo's flags), and the run-log
warning that says so, and that without them bfloat16 trains slower than float32."""

from __future__ import annotations

import warnings

import pytest

from genkit.assembly.precision import (
    PrecisionWarning,
    cpu_bfloat16_note,
    cpu_bfloat16_units,
    onednn_enabled,
    warn_if_cpu_bfloat16,
)

X86 = "processor\t: {index}\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse2 avx2 avx512f{extra}\n\n"
ARM = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd sve{extra}\nCPU implementer\t: 0x41\n"


@pytest.mark.parametrize("cpuinfo, units", [
    (X86.format(index=0, extra="") * 2, ()),
    ("".join(X86.format(index=i, extra=" avx512_bf16 amx_tile amx_bf16") for i in range(2)),
     ("avx512_bf16", "amx_bf16")),
    (ARM.format(extra=" bf16 i8mm"), ("bf16",)),
    (ARM.format(extra=""), ()),
    ("processor\t: 0\n", None),  # no flags line: unknown, not "none"
    ("", None),
])
def test_bfloat16_units_are_read_from_the_cpu_flags(cpuinfo, units):
    assert cpu_bfloat16_units(cpuinfo) == units


def test_this_machines_flags_are_read():
    units = cpu_bfloat16_units()
    assert units is None or set(units) <= {"avx512_bf16", "amx_bf16", "bf16"}


@pytest.mark.parametrize("units, onednn, says", [
    ((), True, "this CPU has no bfloat16 units"),
    (("avx512_bf16",), True, "this CPU has bfloat16 units (avx512_bf16), which TensorFlow's oneDNN kernels use"),
    (("avx512_bf16",), False, "but TensorFlow uses them only in its oneDNN kernels, which are off in this process"),
    (None, True, "whether this CPU has bfloat16 units is unknown"),
])
def test_the_note_says_whether_the_cpu_has_bfloat16_units_and_that_without_them_it_is_slower(units, onednn, says):
    note = cpu_bfloat16_note(units, onednn)
    assert note.startswith("train.mixed_precision is bfloat16 and training runs on the CPU")
    assert says in note
    assert "Without bfloat16 units every bfloat16 operation is emulated and training is slower than in float32" in note


def test_bfloat16_on_a_cpu_warns_with_the_note():
    with pytest.warns(PrecisionWarning) as caught:
        warn_if_cpu_bfloat16("bfloat16", accelerator=False)
    assert str(caught[0].message) == cpu_bfloat16_note(cpu_bfloat16_units(), onednn_enabled())


@pytest.mark.parametrize("mode, accelerator", [("bfloat16", True), ("float16", False), ("none", False)])
def test_no_warning_on_an_accelerator_or_for_other_precisions(mode, accelerator):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_cpu_bfloat16(mode, accelerator=accelerator)


@pytest.mark.parametrize("value, enabled", [(None, True), ("1", True), ("0", False), ("false", False), ("True", True)])
def test_onednn_follows_its_environment_variable(monkeypatch, value, enabled):
    if value is None:
        monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    else:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", value)
    assert onednn_enabled() is enabled
