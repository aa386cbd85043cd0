"""benchmarks/gpu_check.py in its CPU mode (``--scale tiny``): every section runs the code a GPU run
runs (bf16 rollouts, SDPA backends, torch._dynamo.explain and torch.compile, the training step with
sign-SGD and EMA, solve, the trainer), writes its JSON, and the arithmetic behind the reported
numbers holds. Until it runs on a GPU, this keeps the prepared command from rotting."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "benchmarks" / "gpu_check.py"

gpu_check = load_benchmark("gpu_check")


@pytest.fixture(scope="module")
def check(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    # aot_eager: dynamo tracing and AOT autograd as on the GPU, without inductor's C++ build time
    command = [sys.executable, str(SCRIPT), "--scale", "tiny", "--device", "cpu", "--compile-backend", "aot_eager",
               "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}
    return results, completed.stdout


def test_every_section_ran_and_wrote_its_json(check):
    results, stdout = check
    assert set(results) == set(gpu_check.SECTIONS)
    for section, content in results.items():
        assert content["status"]["ok"], (section, content["status"])
    environment = results["environment"]["result"]
    assert set(environment["sections"]) == set(gpu_check.SECTIONS)
    assert environment["bf16_matmul_peak_tflops"] > 0 and environment["datasheet_bf16_dense_tflops"] is None
    assert "| preset | mode | batch | sup. steps/s |" in stdout


def test_bf16_rollout_is_compared_with_fp32(check):
    precision = check[0]["precision"]["result"]
    assert set(precision) == {"sudoku-mlp", "sudoku-att", "arc1"}
    for name, row in precision.items():
        steps = row["steps"]
        assert len(row["cell_agreement_per_step"]) == len(row["max_abs_logit_error_per_step"]) == steps, name
        assert all(0.0 <= a <= 1.0 for a in row["cell_agreement_per_step"]), name
        assert row["final_cell_agreement"] == row["cell_agreement_per_step"][-1]
        assert row["puzzle_agreement"] <= row["final_cell_agreement"] + 1e-12  # a whole puzzle = all its cells
        # bf16 really ran: its logits are not the fp32 ones (an ignored forward_dtype would give 0 here)
        assert row["max_abs_logit_error_per_step"][0] > 0, name


def test_sdpa_backends_agree_with_eager_attention(check):
    attention = check[0]["attention"]["result"]
    for name, row in attention.items():
        # the math and default SDPA paths exist on every device; the others report why they cannot run
        assert row["math"]["ran"] and row["default"]["ran"], name
        for backend in ("default", "flash", "efficient", "cudnn", "math"):
            result = row[backend]
            if result["ran"]:
                # bf16 keeps 8 significant bits (0.4% per rounding) and the backends round at different
                # places through 4 blocks: a few percent of the logit scale. A wrong scale, mask or layout
                # moves logits by their own size.
                assert result["max_abs_logit_error"] <= 0.1 * row["logit_scale"], (name, backend, result)
            else:
                assert result["error"], (name, backend)


def test_graph_breaks_are_counted_and_the_network_has_none(check):
    compiled = check[0]["compile"]["result"]
    for name, parts in compiled["graph_breaks"].items():
        assert parts["network"] == {"graphs": 1, "graph_breaks": 0, "break_reasons": []}, name
        for part in ("training_forward", "eval_forward"):
            explained = parts[part]
            assert explained["graphs"] == explained["graph_breaks"] + 1, (name, part)
            assert bool(explained["break_reasons"]) == (explained["graph_breaks"] > 0), (name, part)
    (row,) = compiled["training_step"]
    assert row["mode"] == "network" and row["seconds_per_step"] > 0
    assert row["speedup_vs_eager"] == pytest.approx(_eager_row(check, row["preset"])["seconds_per_step"]
                                                    / row["seconds_per_step"])


def _eager_row(check, preset):
    (row,) = [r for r in check[0]["training"]["result"]["rows"] if r["preset"] == preset]
    return row


def test_training_throughput_arithmetic(check):
    from modeling_trm import TRMConfig

    train_throughput = load_benchmark("train_throughput")
    training = check[0]["training"]["result"]
    peak = check[0]["environment"]["result"]["bf16_matmul_peak_tflops"]
    assert training["peak_tflops"] == peak
    assert [r["preset"] for r in training["rows"]] == list(gpu_check.PRESET_NAMES)
    for row in training["rows"]:
        config = gpu_check.paper_config(row["preset"], gpu_check.SCALES["tiny"])
        assert isinstance(config, TRMConfig) and row["puzzle_table_rows"] == config.num_puzzle_identifiers
        assert row["tflop_per_step"] == pytest.approx(train_throughput.step_flops(config, row["batch_size"]) / 1e12)
        assert row["supervision_steps_per_second"] == pytest.approx(1 / row["seconds_per_step"])
        assert row["examples_per_second"] == pytest.approx(row["batch_size"] / row["seconds_per_step"])
        assert row["mfu"] == pytest.approx(row["tflop_per_step"] / row["seconds_per_step"] / peak)
        paper = gpu_check.PAPER_RUNS[row["preset"]]
        assert row["projected_hours_for_paper_steps"] == pytest.approx(paper["steps"] * row["seconds_per_step"] / 3600)
    # the ARC preset keeps its puzzle table and trains it with sign-SGD (paper scale: 876,406 rows)
    assert gpu_check.TASKS["arc1"]["num_puzzle_identifiers"] == 876_406
    assert _eager_row(check, "arc1")["puzzle_table_rows"] > 1


def test_paper_batches_are_the_per_gpu_share_of_768():
    paper = gpu_check.SCALES["paper"]
    assert {name: gpu_check.paper_batch(name, paper) for name in gpu_check.PRESET_NAMES} == {
        "sudoku-mlp": 768, "sudoku-att": 768, "maze-att": 192, "arc1": 192}
    config = gpu_check.paper_config("arc1", paper)
    assert (config.hidden_size, config.num_latent_updates, config.forward_dtype, config.total_seq_len) == (
        512, 4, "bfloat16", 916)


def test_solve_fixed_and_adaptive(check):
    rows = check[0]["solve"]["result"]["rows"]
    assert {(r["preset"], r["halting"]) for r in rows} == {(p, h) for p in ("sudoku-mlp", "sudoku-att")
                                                          for h in ("fixed", "adaptive")}
    for row in rows:
        if row["halting"] == "fixed":
            assert row["mean_steps"] == row["max_steps"]
        else:  # force_varied_halting stops about half the puzzles after the first step
            assert 1 <= row["mean_steps"] < row["max_steps"]
        assert row["puzzles_per_second"] == pytest.approx(row["batch_size"] / row["seconds"])


def test_sudoku_run_logs_a_curve_and_projects_the_paper_steps(check):
    run = check[0]["sudoku_run"]["result"]
    steps = [point["step"] for point in run["curve"]]
    assert steps == list(range(1, run["optimizer_steps"] + 1))  # log_interval 1 in the tiny scale
    assert all(math.isfinite(point["loss"]) and 0 <= point["cell_accuracy"] <= 1 for point in run["curve"])
    assert [e["step"] for e in run["eval"]] == [0, run["optimizer_steps"]]  # before and after training
    assert run["projected_hours_for_paper_steps"] == pytest.approx(
        run["paper_steps"] / run["median_steps_per_second"] / 3600)


def test_budget_skips_what_no_longer_fits_and_the_watchdog_stops_a_stuck_section(tmp_path, monkeypatch):
    def stuck(ctx):
        time.sleep(30)

    monkeypatch.setitem(gpu_check.FUNCTIONS, "precision", stuck)
    start = time.perf_counter()
    exit_code = gpu_check.main(["--scale", "tiny", "--device", "cpu", "--out", str(tmp_path), "--budget-s", "0",
                                "--grace-s", "5", "--sections", "precision", "training"])
    assert time.perf_counter() - start < 25
    assert exit_code == 1
    precision = json.loads((tmp_path / "precision.json").read_text())
    assert precision["status"]["ok"] is False and "hard budget" in precision["status"]["error"]
    assert not (tmp_path / "training.json").exists()  # stopped after the watchdog fired
    assert json.loads((tmp_path / "environment.json").read_text())["status"]["ok"]

    exit_code = gpu_check.main(["--scale", "tiny", "--device", "cpu", "--out", str(tmp_path / "b"), "--budget-s", "0",
                                "--sections", "training", "solve"])
    assert exit_code == 0
    rows = json.loads((tmp_path / "b" / "training.json").read_text())["result"]["rows"]
    assert [r.get("skipped") for r in rows] == ["time budget"] * len(gpu_check.PRESET_NAMES)
