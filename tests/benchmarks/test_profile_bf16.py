"""benchmarks/profile_bf16.py: docs/benchmarks.md shows what the committed profile says, and a profile splits a
step's operator time into groups that account for all of it."""

from __future__ import annotations

import json

import pytest
from benchmark_scripts import load_benchmark

profiler = load_benchmark("profile_bf16")


def test_the_docs_block_is_the_committed_profile():
    results = json.loads(profiler.OUTPUT.read_text())
    assert profiler.DOC_BLOCK.read() == profiler.markdown_table(results).strip()
    for row in results["rows"]:
        assert sum(row["share"].values()) == pytest.approx(1.0)


def test_operators_fall_into_the_groups_the_table_names():
    assert profiler.group_of("aten::mm") == "matmul" and profiler.group_of("aten::bmm") == "matmul"
    assert profiler.group_of("aten::_to_copy") == "casts" and profiler.group_of("aten::copy_") == "casts"
    assert profiler.group_of("aten::mul") == "elementwise" and profiler.group_of("aten::rsqrt") == "elementwise"
    assert profiler.group_of("aten::view") == "other"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("phase", ["training step", "solve step"])
def test_a_profile_accounts_for_a_steps_operator_time(phase, dtype):
    model = profiler.build("sudoku9x9", dtype)
    row = profiler.profile_phase(model, phase, batch=2, steps=1)
    assert sum(row["share"].values()) == pytest.approx(1.0)
    assert row["share"]["matmul"] > 0  # the network's linear layers were recognised as matrix multiplies
    if dtype == "bfloat16":  # the official casts: fp32 parameters to bf16 at use, the state back and forth
        assert row["share"]["casts"] > 0
    assert row["top_ops"][0]["share"] >= row["top_ops"][-1]["share"]  # largest first, as the table lists them
