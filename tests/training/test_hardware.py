"""`training.hardware`: the forward dtype a run picks, the threads it uses and how it keeps freed memory."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from training import hardware


def test_auto_is_bf16_exactly_where_the_cpu_reports_a_native_bf16_feature(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True, "avx2": True})
    assert hardware.resolve_forward_dtype("auto", "cpu") == ("bfloat16", "auto: CPU with avx512_bf16")
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": False, "amx_bf16": False, "avx2": True})
    assert hardware.resolve_forward_dtype("auto", "cpu")[0] == "float32"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_an_explicit_dtype_is_kept(dtype):
    assert hardware.resolve_forward_dtype(dtype, "cpu") == (dtype, "set in the config")


@pytest.mark.parametrize("load, free", [(0.0, 4), (1.2, 3), (3.6, 1), (9.0, 1)])
def test_free_cores_are_the_cores_less_the_load(monkeypatch, load, free):
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)
    monkeypatch.setattr(hardware.os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert hardware.free_cores() == free


def test_threads_follow_the_free_cores_unless_omp_num_threads_is_set(monkeypatch):
    previous = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        torch.set_num_threads(4)
        monkeypatch.setattr(hardware, "free_cores", lambda: 1)
        assert hardware.choose_num_threads()[0] == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        torch.set_num_threads(3)
        assert hardware.choose_num_threads() == (3, "OMP_NUM_THREADS")
    finally:
        torch.set_num_threads(previous)


# One "step" allocates and frees an 8 MiB buffer (the size of a bf16 activation of the 9x9 model at batch 64)
# and counts the page faults it took. Run in a fresh interpreter: the malloc settings are process-wide.
_STEP_FAULTS = """
import resource, sys
import torch
from training.hardware import keep_freed_memory
if not keep_freed_memory():
    sys.exit(3)
def step_faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffer = torch.empty(8 << 20, dtype=torch.uint8).fill_(1)
    del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
step_faults()
print(step_faults())
"""


def test_kept_memory_serves_the_next_step_without_page_faults():
    result = subprocess.run([sys.executable, "-c", _STEP_FAULTS], capture_output=True, text=True, check=False)
    if result.returncode == 3:
        pytest.skip("the C library has no mallopt (not glibc)")
    assert result.returncode == 0, result.stderr
    # glibc's default returns the buffer to the OS and faults all 2048 of its 4 KiB pages back in
    assert int(result.stdout) < 2048 // 8
