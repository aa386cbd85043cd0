"""benchmarks/freed_memory.py: docs/benchmarks.md shows what the committed measurement says, and a fresh process
with `training.hardware.keep_freed_memory()` solves without faulting its buffers back in at every step."""

from __future__ import annotations

import json

import pytest
from benchmark_scripts import load_benchmark

freed_memory = load_benchmark("freed_memory")


def test_the_docs_block_is_the_committed_measurement():
    results = json.loads(freed_memory.OUTPUT.read_text())
    assert freed_memory.DOC_BLOCK.read() == freed_memory.markdown_table(results).strip()
    assert {(row["model"], row["dtype"], row["keep_freed_memory"]) for row in results["rows"]} == {
        (model, dtype, keep) for model in freed_memory.MODELS for dtype in ("float32", "bfloat16") for keep in (False, True)}


def test_a_fresh_process_that_keeps_freed_memory_takes_far_fewer_page_faults_a_step():
    options = {"preset": "sudoku9x9", "batch": 64, "dtype": "bfloat16", "threads": 1, "steps": 2, "trials": 2}
    kept = freed_memory.fresh_process(keep=True, **options)
    if not kept["kept"]:
        pytest.skip("the C library has no mallopt (not glibc)")
    default = freed_memory.fresh_process(keep=False, **options)
    # glibc's default faults a step's tens of MB of bf16 activations back in, 4 KiB page by page
    assert kept["page_faults_per_step"] < default["page_faults_per_step"] / 10
