"""benchmarks/freed_memory.py: docs/benchmarks.md shows what the committed measurement says, for every model and
dtype with and without `training.hardware.keep_freed_memory()`. (Page faults are measured, not tested: how many
a process takes depends on glibc's adaptive thresholds, i.e. on everything the process freed before.)"""

from __future__ import annotations

import json

from benchmark_scripts import load_benchmark

freed_memory = load_benchmark("freed_memory")


def test_the_docs_block_is_the_committed_measurement():
    results = json.loads(freed_memory.OUTPUT.read_text())
    assert freed_memory.DOC_BLOCK.read() == freed_memory.markdown_table(results).strip()
    assert {(row["model"], row["dtype"], row["keep_freed_memory"]) for row in results["rows"]} == {
        (model, dtype, keep) for model in freed_memory.MODELS for dtype in ("float32", "bfloat16") for keep in (False, True)}
