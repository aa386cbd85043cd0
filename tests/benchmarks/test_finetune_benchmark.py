"""benchmarks/finetune.py: the fine-tuning study runs end to end (tiny scale), its tasks are what it
says (a recolouring known only through the puzzle embedding), and docs/fine-tuning.md shows the committed JSON."""

from __future__ import annotations

import json

import numpy as np
from benchmark_scripts import load_benchmark

finetune = load_benchmark("finetune")


def test_recolouring_tasks_are_distinct_and_only_the_task_tells_the_answer():
    rng = np.random.default_rng(0)
    base = finetune.recolouring_tasks(6, rng)
    new = finetune.recolouring_tasks(3, rng, avoid={tuple(m) for m in base})
    maps = {tuple(m) for m in base + new}
    assert len(maps) == 9 and all(m[0] == 0 and sorted(m) == list(range(finetune.NUM_COLOURS + 1)) for m in maps)
    split = finetune.task_split(["a", "b"], new[:2], 5, rng, first_id=1).with_format("numpy")[:]
    assert split["puzzle_id"].tolist() == [1] * 5 + [2] * 5
    for row in range(10):  # labels = the task's colour map applied cell by cell (ARC tokens: colour + 2)
        colour_map = new[split["puzzle_id"][row] - 1]
        assert np.array_equal(split["labels"][row] - 2, colour_map[split["inputs"][row] - 2])


def test_tiny_study_writes_every_condition_with_before_and_after(tmp_path):
    assert finetune.main(["--scale", "tiny", "--seeds", "2", "--output", str(tmp_path / "out"),
                          "--work-dir", str(tmp_path / "work")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(results["runs"]) == 2
    for run in results["runs"]:
        assert set(run["finetuned"]) == {f"{t}/{i}" for t, i in finetune.CONDITIONS}
        for row in run["finetuned"].values():
            assert 0 <= row["before_exact_accuracy"] <= 1 and 0 <= row["exact_accuracy"] <= 1
    summary = results["summary"]["full/mean"]
    assert summary["exact_gain"]["mean"] == np.mean(
        [r["finetuned"]["full/mean"]["exact_accuracy"] - r["finetuned"]["full/mean"]["before_exact_accuracy"]
         for r in results["runs"]])
    assert (tmp_path / "out" / "results.md").read_text() == finetune.results_table(results)


def test_doc_block_is_the_committed_study_output():
    results = json.loads((finetune.RESULTS_DIR / "results.json").read_text())
    assert results["scale"]["name"] == "cpu" and len(results["runs"]) >= 3
    assert finetune.DOC_BLOCK.read() == finetune.doc_section(finetune.results_table(results)).strip()


def test_tiny_study_with_the_lora_condition(tmp_path):
    """`--lora` adds LoRA adapters + the puzzle table's sign-SGD, trained on the same data and steps."""
    import pytest

    pytest.importorskip("peft", reason="optional dependency: pip install 'trm-hf[peft]'")
    assert finetune.main(["--scale", "tiny", "--seeds", "1", "--lora", "--lora-rank", "2", "--output",
                          str(tmp_path / "out"), "--work-dir", str(tmp_path / "work")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    row = results["runs"][0]["finetuned"]["lora/mean"]
    assert row["lora_rank"] == 2 and 0 <= row["exact_accuracy"] <= 1 and 0 <= row["before_exact_accuracy"] <= 1
    assert "| LoRA adapters + puzzle embeddings | mean |" in (tmp_path / "out" / "results.md").read_text()
