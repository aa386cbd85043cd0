"""What the machine offers a run: the fast forward dtype, whether torch.compile can build kernels, how many
threads to use, and memory kept for reuse.

bfloat16 is the official models' forward dtype; where the hardware computes it natively (CUDA GPUs
with bf16, CPUs with AVX512-BF16 or AMX) it is also the fastest one, 2-3x float32 on a CPU's matmuls
(docs/recipes.md), so a run whose config leaves ``model.forward_dtype`` at ``"auto"`` uses it there.

torch.compile: its default backend (inductor) builds CPU kernels with a C++ compiler. Where there is none, a
run that asked for it trains eagerly and says so, rather than failing at its first step.

Threads: PyTorch's CPU kernels synchronise their OpenMP threads at every operation; when other
programs hold some of the cores, a thread that is descheduled stalls all the others, and a step
takes 10-40x longer (measured: benchmarks/threads_under_load.py). A run therefore uses only the
cores that are free when it starts, unless ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` said
otherwise. "Free" is measured over half a second of CPU time, not read off the 1-minute load average:
that average still counts a job that ended a minute ago, so a run started right after another one took
one thread of two on idle cores (and twice as long).

Memory: glibc hands a freed buffer of a few MB back to the OS, and the next step faults it back in page by
page. Its thresholds adapt only after a large enough free, which a backward pass happens to do, so a process
that only runs bf16 inference kept paying: a fresh process ran `solve` steps of the 9x9 model 2.4x slower
(92 against 38 ms a step, batch 64, 2 idle threads; benchmarks/freed_memory.py). `keep_freed_memory` sets
the thresholds high enough for such buffers (the `trm` commands call it first).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os

import torch

AUTO = "auto"


def native_bf16(device: torch.device | str) -> tuple[bool, str]:
    """Whether ``device`` computes bfloat16 natively, and the feature that says so (or why not)."""
    device = torch.device(device)
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported(including_emulation=False)
        return supported, f"{torch.cuda.get_device_name(device)}{'' if supported else ' has no native bf16'}"
    if device.type == "cpu":
        features = sorted(name for name, present in torch.cpu.get_capabilities().items()
                          if "bf16" in name and present is True)
        return bool(features), ("CPU with " + ", ".join(features)) if features else "CPU without native bf16"
    return False, f"{device.type}: bf16 speed unknown"


def resolve_forward_dtype(requested: str, device: torch.device | str) -> tuple[str, str]:
    """``"auto"`` -> ``"bfloat16"`` where `native_bf16`, else ``"float32"``; other values unchanged.
    Returns the dtype and a phrase for the run summary."""
    if requested != AUTO:
        return requested, "set in the config"
    native, why = native_bf16(device)
    return ("bfloat16" if native else "float32"), f"auto: {why}"


def resolve_compile(requested: bool | str, device: torch.device | str) -> tuple[bool | str, str]:
    """``True`` -> ``"inductor"`` (torch.compile's default backend), or ``False`` on a CPU without a C++ compiler;
    other values unchanged. Returns the backend (or False) and a phrase for the run summary."""
    if requested is not True:
        return requested, ("eager" if requested is False else requested)
    if torch.device(device).type == "cpu":
        from torch._inductor import cpp_builder  # inductor's own compiler search (CXX, then c++/g++/clang++)

        try:
            compiler = cpp_builder.get_cpp_compiler()
        except Exception:  # noqa: BLE001  (InvalidCxxCompiler, or a platform check)
            return False, "eager: no C++ compiler for torch.compile's CPU kernels"
        return "inductor", f"inductor, C++ compiler {compiler}"
    return "inductor", "inductor"


def busy_cores(sample_seconds: float = 0.5) -> tuple[float, int]:
    """How many of this process's cores other programs keep busy, in cores (the busy share of each core
    over ``sample_seconds``, summed), and how many cores the process may use."""
    import psutil

    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    percent = psutil.cpu_percent(interval=sample_seconds, percpu=True)
    if usable is None or max(usable) >= len(percent):  # no affinity, or CPUs psutil does not list
        usable = range(len(percent))
    return sum(percent[cpu] for cpu in usable) / 100, len(usable)


def free_cores() -> int:
    """Cores not busy with other programs right now (at least 1): a core half busy or more counts as busy."""
    busy, cores = busy_cores()
    return max(1, cores - math.floor(busy + 0.5))


def choose_num_threads() -> tuple[int, str]:
    """Set torch's intra-op threads to the free cores unless the user chose a number; returns it and why."""
    if "OMP_NUM_THREADS" in os.environ:
        return torch.get_num_threads(), "OMP_NUM_THREADS"
    threads = free_cores()
    if threads < torch.get_num_threads():
        torch.set_num_threads(threads)
        return threads, f"{threads} free of {os.cpu_count()} cores (the others busy with other programs)"
    return torch.get_num_threads(), "all cores free"


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Serve allocations below ``mmap_threshold`` bytes from the heap and keep up to ``trim_threshold`` bytes of
    freed heap instead of returning it to the OS (glibc's ``mallopt``; the same as the environment variables
    ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``). Returns False where the C library has no
    ``mallopt`` (not glibc), and changes nothing there."""
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
    library = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(library), "mallopt", None) if library else None
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))
