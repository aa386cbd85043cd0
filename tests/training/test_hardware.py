"""`training.hardware`: the forward dtype a run picks, the threads it uses and the memory it keeps for reuse."""

from __future__ import annotations

import platform

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


@pytest.mark.parametrize("percent, free", [
    ([0, 0, 0, 0], 4),
    ([100, 0, 0, 0], 3),  # one busy program
    ([30, 30, 30, 30], 3),  # 1.2 cores of work spread over all four
    ([45, 0, 0, 0], 4),  # less than half a core: not worth a thread
    ([50, 0, 0, 0], 3),
    ([100, 100, 100, 90], 1),  # at least one thread
])
def test_free_cores_are_the_cores_less_what_other_programs_use_now(monkeypatch, percent, free):
    import psutil

    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval, percpu: percent)
    assert hardware.free_cores() == free


def test_cores_outside_the_process_affinity_do_not_count(monkeypatch):
    import psutil

    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: {2, 3}, raising=False)
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval, percpu: [100, 100, 0, 0])
    assert hardware.free_cores() == 2


def test_a_job_that_just_ended_does_not_take_cores_from_the_next_run(monkeypatch):
    """The 1-minute load average still counts a finished job for a minute or two; the sampled CPU time does not."""
    import psutil

    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(hardware.os, "getloadavg", lambda: (1.9, 1.5, 0.8))  # what it reads right after a run
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval, percpu: [1.0, 0.0])
    assert hardware.free_cores() == 2


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


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_keep_freed_memory_finds_glibcs_mallopt_and_sets_both_thresholds():
    assert hardware.keep_freed_memory() is True


def test_every_trm_command_keeps_freed_memory_before_it_runs(monkeypatch, capsys):
    from training import cli

    calls = []
    monkeypatch.setattr(hardware, "keep_freed_memory", lambda: calls.append("kept"))
    with pytest.raises(SystemExit):
        cli.main(["eval", "--help"])
    assert calls == ["kept"] and "usage: trm eval" in capsys.readouterr().out


def test_compile_true_is_inductor_where_the_cpu_has_a_cpp_compiler_and_eager_where_not(monkeypatch):
    from torch._inductor import cpp_builder

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", lambda: "g++")
    assert hardware.resolve_compile(True, "cpu") == ("inductor", "inductor, C++ compiler g++")

    def no_compiler():
        raise RuntimeError("no working C++ compiler found")

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    assert hardware.resolve_compile(True, "cpu")[0] is False
    assert hardware.resolve_compile(True, "cuda")[0] == "inductor"  # GPU kernels are Triton's, not C++


@pytest.mark.parametrize("requested", [False, "aot_eager"])
def test_an_explicit_compile_choice_is_kept(requested):
    assert hardware.resolve_compile(requested, "cpu")[0] == requested
