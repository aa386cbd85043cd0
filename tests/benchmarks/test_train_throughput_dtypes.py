"""benchmarks/train_throughput.py --dtypes: each model measured in each dtype asked for, and the docs' numbers for a
CPU without AMX are the ones its committed results hold."""

from __future__ import annotations

import json
import re

import harness
from benchmark_scripts import load_benchmark

train_throughput = load_benchmark("train_throughput")

RECIPES = harness.REPO_ROOT / "docs" / "recipes.md"
RESULTS = harness.RESULTS_ROOT


def test_each_model_is_measured_in_each_dtype_asked_for_or_in_its_own():
    configs = {"a": {"forward_dtype": "bfloat16", "hidden_size": 8}, "b": {"forward_dtype": "float32"}}
    assert train_throughput.in_dtypes(configs, None) == list(configs.items())
    pairs = train_throughput.in_dtypes(configs, ["float32", "bfloat16"])
    assert [(name, values["forward_dtype"]) for name, values in pairs] == [
        ("a", "float32"), ("a", "bfloat16"), ("b", "float32"), ("b", "bfloat16")]
    assert pairs[1][1]["hidden_size"] == 8 and configs["a"]["forward_dtype"] == "bfloat16"  # configs unchanged


def _paragraph(start: str) -> str:
    text = RECIPES.read_text()
    begin = text.index(start)
    return " ".join(text[begin:text.index("\n\n", begin)].split())


def test_the_docs_bf16_speed_ups_without_amx_are_the_committed_measurements():
    results = json.loads((RESULTS / "train_throughput_presets_epyc.json").read_text())
    assert "amx" not in results["machine"]["bf16"] and "avx512_bf16" in results["machine"]["bf16"]
    rate = {(r["model"], r["mode"], r["forward_dtype"]): r["steps_per_second"] for r in results["results"]}
    models = ("sudoku6x6", "sudoku9x9", "maze11x11")
    eager, compiled = ([f"{rate[m, mode, 'bfloat16'] / rate[m, mode, 'float32']:.2f}×" for m in models]
                       for mode in ("eager", "compiled"))
    paragraph = _paragraph("**A CPU with AVX512-BF16 but no AMX**")
    assert f"**{eager[0]} (6×6), {eager[1]} (9×9) and {eager[2]} (maze)** as fast as in fp32 eagerly" in paragraph
    assert f"and {compiled[0]}, {compiled[1]} and {compiled[2]} compiled" in paragraph
    gains = [f"{rate[m, 'compiled', 'bfloat16'] / rate[m, 'eager', 'bfloat16']:.2f}×" for m in models[:2]]
    other = {(r["model"], r["mode"]): r["steps_per_second"]
             for r in json.loads((RESULTS / "train_throughput_presets.json").read_text())["results"]}
    other_gains = [f"{other[m, 'compiled'] / other[m, 'eager']:.2f}×" for m in models[:2]]
    assert (f"({gains[0]} and {gains[1]} on the two Sudoku models in bf16, against {other_gains[0]} and "
            f"{other_gains[1]} in `benchmarks/results/train_throughput_presets.json`") in paragraph
    assert (f"(the 9×9 model, eager: {rate['sudoku9x9', 'eager', 'bfloat16']:.1f} against "
            f"{other['sudoku9x9', 'eager']:.1f} steps/s)") in paragraph


def test_the_docs_threads_under_load_without_amx_are_the_committed_measurements():
    results = json.loads((RESULTS / "threads_under_load_epyc.json").read_text())
    ms = {(condition, r["dtype"], r["threads"]): round(r["step_ms"]) for condition in ("idle", "1 busy")
          for r in results[condition]}
    paragraph = _paragraph("bf16 is 2.2× fp32 on idle cores")
    expected = (f"{ms['idle', 'bfloat16', 2]} against {ms['idle', 'float32', 2]} ms in bf16 and fp32 with 2 threads, "
                f"{ms['1 busy', 'bfloat16', 2]} and {ms['1 busy', 'float32', 2]} ms beside a busy process, "
                f"{ms['1 busy', 'bfloat16', 1]} and {ms['1 busy', 'float32', 1]} ms with 1 thread there")
    assert expected in paragraph
    assert re.search(r"threads_under_load_epyc\.json", paragraph)
