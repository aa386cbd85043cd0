"""benchmarks/ablation.py: the laptop-scale study runs end to end (tiny scale) and writes its table and
pictures; the ablated models differ from TRM-MLP in exactly the ablated field; --scale paper builds the
paper's `accelerate launch` lines."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import harness
import matplotlib.image
import pytest
from benchmark_scripts import load_benchmark

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "benchmarks" / "ablation.py"
SMOKE_MODELS = ["trm-mlp", "hrm", "single-pass"]


ablation = load_benchmark("ablation")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablation")
    output, work = root / "results", root / "work"
    command = [sys.executable, str(SCRIPT), "--scale", "tiny", "--seeds", "1", "--jobs", "1",
               "--models", *SMOKE_MODELS, "--output", str(output), "--work-dir", str(work)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return output, json.loads((output / "results.json").read_text()), completed.stdout


def test_results_json_has_every_model_with_sane_values(study):
    _, results, _ = study
    scale = ablation.SCALES["tiny"]
    assert results["scale"] == "tiny" and results["seeds"] == 1
    assert list(results["models"]) == SMOKE_MODELS
    for name, row in results["models"].items():
        for key in ("exact_accuracy", "cell_accuracy", "adaptive_exact_accuracy"):
            assert 0.0 <= row[key]["mean"] <= 1.0, (name, key, row[key])
        assert row["seeds"] == [0]
        assert row["train_seconds"]["mean"] > 0
        assert 1 <= row["mean_halting_steps"]["mean"] <= row["trained_supervision_steps"]
    # The same data and number of optimizer steps for every model.
    assert len({row["optimizer_steps"] for row in results["models"].values()}) == 1
    assert results["models"]["trm-mlp"]["trained_supervision_steps"] == scale.max_supervision_steps


def test_single_pass_baseline_runs_one_step_and_has_both_hrm_networks(study):
    _, results, _ = study
    baseline, hrm = results["models"]["single-pass"], results["models"]["hrm"]
    assert baseline["trained_supervision_steps"] == 1
    assert baseline["mean_halting_steps"]["mean"] == 1.0
    assert baseline["parameters"] == hrm["parameters"]  # the same two 4-layer stacks, applied once
    config = results["training_configs"]["single-pass-seed0"]["model"]
    assert (config["high_cycles"], config["low_cycles"], config["max_supervision_steps"]) == (1, 1, 1)


def test_parameter_counts_match_the_saved_models(study):
    from transformers import AutoModel

    import modeling_trm  # noqa: F401  (registers TRM/HRM with the Auto classes)

    _, results, _ = study
    for run in results["runs"]:
        model = AutoModel.from_pretrained(run["run_dir"])
        assert model.config.model_type == run["model_type"], run["model"]
        assert model.num_parameters() == run["parameters"], run["model"]


def test_curves_cover_training_and_test_time_compute(study):
    _, results, _ = study
    scale = ablation.SCALES["tiny"]
    for run in results["runs"]:
        steps = [point["step"] for point in run["training_curve"]]
        assert steps[0] == 0 and steps == sorted(steps) and len(steps) == scale.evaluations + 1
        assert steps[-1] == run["optimizer_steps"]
        by_step = run["accuracy_by_step"]
        assert by_step["steps"] == list(range(1, scale.test_time_steps + 1))  # past the trained steps
        trained = run["trained_supervision_steps"]
        assert by_step["exact_accuracy"][trained - 1] == run["exact_accuracy"]
        assert all(0.0 <= value <= 1.0 for value in by_step["cell_accuracy"])


def test_table_and_pictures_are_written(study):
    output, results, stdout = study
    table = (output / "results.md").read_text()
    assert table in stdout
    for name, row in results["models"].items():
        assert f"| {name} | {row['parameters']:,} |" in table
    claims = {(c["better"], c["worse"]) for c in results["claims"]}
    assert claims == {("trm-mlp", "hrm"), ("trm-mlp", "single-pass"), ("hrm", "single-pass")}
    for check in results["claims"]:  # one seed: no spread to judge a gap against
        assert check["exact_accuracy"]["separated"] is None and check["cell_accuracy"]["separated"] is None
        assert check["cell_accuracy"]["agrees"] == (check["cell_accuracy"]["gap"] > 0)
    for name in ("accuracy_vs_training_step.png", "accuracy_vs_inference_steps.png", "refinement.png"):
        image = matplotlib.image.imread(output / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100, name
        assert image.std() > 0.01, f"{name} is blank"
    assert set(results["pictures"].values()) == {"accuracy_vs_training_step.png", "accuracy_vs_inference_steps.png",
                                                 "refinement.png"}
    for run in results["runs"]:  # the learning curve of every run, then its score on all test puzzles
        points = " | ".join(f"{100 * p['exact_accuracy']:.1f}" for p in run["training_curve"][1:])
        assert f"| {run['model']}, {run['seed']} | {points} | {100 * run['exact_accuracy']:.1f} |" in table


def test_a_committed_study_shown_in_the_docs_has_a_block_named_after_its_folder(tmp_path):
    """`ablation.py --output benchmarks/results/NAME` rewrites docs/reproduction.md's block of NAME when the page has
    one, and each such block is its folder's committed results.json rendered: the page's numbers are never typed.
    A folder anywhere else never touches the page, whatever its name."""
    assert ablation.doc_block(tmp_path / "ablation") is None
    assert ablation.DOC_BLOCK == ablation.doc_block(ablation.RESULTS_DIR)
    assert ablation.DOC_BLOCK.writer == "benchmarks/ablation.py"
    page = ablation.DOC_PAGE.read_text()
    blocks = {folder: ablation.doc_block(folder) for folder in sorted(harness.RESULTS_ROOT.iterdir())}
    shown = {folder: block for folder, block in blocks.items() if block is not None and block.begin in page}
    assert [folder.name for folder in shown] == ["ablation", "ablation_3840steps"]
    for folder, block in shown.items():
        assert block.writer == "benchmarks/ablation.py" + (
            "" if folder == ablation.RESULTS_DIR else f" --output benchmarks/results/{folder.name}")
        results = json.loads((folder / "results.json").read_text())
        assert block.read() == ablation.doc_section(block, ablation.results_table(results)).strip()
        assert (folder / "results.md").read_text() == ablation.results_table(results)


def test_ablations_change_only_the_ablated_field():
    scale = ablation.SCALES["cpu"]
    _, base, base_training = ablation.model_settings("trm-mlp", scale)
    expected = {"trm-1step": {"gradient_mode": "one_step"}, "trm-single-z": {"single_latent": True}, "trm-no-ema": {}}
    for name, delta in expected.items():
        _, model, training = ablation.model_settings(name, scale)
        changed = {k: v for k, v in model.items() if base.get(k) != v}
        assert changed == delta, name
    assert ablation.model_settings("trm-no-ema", scale)[2] == {"ema": False} and base_training == {}
    # 4 layers with fewer latent updates: effective depth T(n+1)L within 25% of the 2-layer model's.
    _, four, _ = ablation.model_settings("trm-4layers", scale)
    depth = lambda m: m["num_recursions"] * (m["num_latent_updates"] + 1) * m["num_layers"]
    assert four["num_layers"] == 4 and four["num_latent_updates"] < base["num_latent_updates"]
    assert abs(depth(four) - depth(base)) <= 0.25 * depth(base)


def test_paper_scale_dry_run_prints_the_unchanged_recipes(capsys, tmp_path):
    assert ablation.main(["--scale", "paper", "--paper-dataset", "data/sudoku-extreme", "--seeds", "2",
                          "--models", "trm-mlp", "hrm", "trm-4layers", "--work-dir", str(tmp_path), "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    launches = [line for line in lines if line.startswith("accelerate launch")]
    evals = [line for line in lines if line.startswith("trm eval")]
    assert len(launches) == len(evals) == 6  # 3 models x 2 seeds, each trained then evaluated
    assert launches[0] == (f"accelerate launch --num_processes 1 -m training.train --preset sudoku-mlp "
                           f"--output-dir {tmp_path}/trm-mlp-seed0 dataset=data/sudoku-extreme seed=0")
    assert "--preset hrm-sudoku" in launches[1]
    assert launches[2].endswith("seed=0 model.num_layers=4 model.num_latent_updates=3")
    assert launches[3].endswith("seed=1")
    assert not (tmp_path / "trm-mlp-seed0").exists()  # dry run: nothing trained

def test_paper_overrides_are_valid_fields_of_their_presets():
    from transformers import CONFIG_MAPPING

    import modeling_trm  # noqa: F401  (registers TRM/HRM with the Auto classes)
    from training.config import PRESETS, TrainingConfig, apply_overrides, parse_overrides

    for name, (preset, overrides) in ablation.PAPER_RUNS.items():
        # as `trm train --preset P key=value ...` reads them; TrainingConfig validates its own fields
        config = TrainingConfig.from_dict(apply_overrides(PRESETS[preset].to_dict(), parse_overrides(overrides)))
        config_class = CONFIG_MAPPING[config.model_type]
        for override in overrides:
            key = override.split("=")[0]
            if key.startswith("model."):
                assert key.removeprefix("model.") in config_class.__dataclass_fields__, (name, key)
        config_class(**config.model)  # values accepted by the model config


def test_paper_scale_multi_gpu_launch_line(tmp_path):
    launch, evaluation = ablation.paper_commands(["trm-att"], 1, "D", tmp_path, num_processes=4)
    assert launch[:6] == ["accelerate", "launch", "--num_processes", "4", "--multi_gpu", "-m"]
    assert evaluation[:3] == ["trm", "eval", str(tmp_path / "trm-att-seed0")]


def test_the_study_in_the_docs_has_three_seeds_of_every_model_and_its_pictures():
    """docs/reproduction.md's "Results (cpu scale)" is the committed cpu-scale study: every model, every claim judged
    against the seed spread, every picture on the page."""
    results = json.loads((ablation.RESULTS_DIR / "results.json").read_text())
    assert results["scale"] == "cpu" and results["seeds"] >= 3 and list(results["models"]) == list(ablation.MODELS)
    for check in results["claims"]:  # three seeds: every claim is judged against the seed spread
        assert check["exact_accuracy"]["separated"] is not None
    block = ablation.DOC_BLOCK
    page = block.path.read_text()
    for picture in results["pictures"].values():  # the page shows every picture, linked from where it stands
        assert (ablation.RESULTS_DIR / picture).is_file()
        assert harness.relink(f"](benchmarks/results/ablation/{picture})", block.path.parent) in page


def test_more_training_puzzles_for_the_same_steps():
    """--num-train with --epochs scaled down keeps the optimizer steps (epochs x puzzles / batch) and only the data
    changes: docs/reproduction.md's 8192-puzzle run of the attention models trains as long as the study's."""
    cpu = ablation.SCALES["cpu"]
    scale = ablation.chosen_scale(ablation.parse_args(["--num-train", "8192", "--epochs", "10"]))
    assert scale.dataset_options == {**cpu.dataset_options, "num_train": 8192}
    steps = scale.epochs * scale.dataset_options["num_train"] // scale.global_batch_size
    assert steps == cpu.epochs * cpu.dataset_options["num_train"] // cpu.global_batch_size == 1280
    assert dataclasses.replace(scale, dataset_options=cpu.dataset_options, epochs=cpu.epochs) == cpu
    with pytest.raises(SystemExit):  # the evaluations must divide the training length
        ablation.chosen_scale(ablation.parse_args(["--epochs", "7"]))


def test_three_times_longer_study_in_the_docs_is_its_committed_output():
    """docs/reproduction.md's 3840-step section shows the committed run of all eight models at three times the
    study's length: its tables are that results.json rendered, and the claim counts the page and the README
    give are what the two studies' claims judge beyond the seed spread."""
    folder = harness.RESULTS_ROOT / "ablation_3840steps"
    longer = json.loads((folder / "results.json").read_text())
    study = json.loads((ablation.RESULTS_DIR / "results.json").read_text())
    assert longer["scale"] == "cpu" and longer["seeds"] == 3 and longer["settings"]["epochs"] == 3 * ablation.SCALES["cpu"].epochs
    assert list(longer["models"]) == list(ablation.MODELS)
    assert {row["optimizer_steps"] for row in longer["models"].values()} == {3840}
    block = ablation.doc_block(folder)
    page = block.path.read_text()
    section = page[page.index("## Three times as long"):page.index("## Results (cpu scale)")]
    assert block.begin in section  # its tables: test_a_committed_study_shown_in_the_docs_has_a_block_named_after_its_folder
    assert harness.relink("](benchmarks/results/ablation_3840steps/accuracy_vs_training_step.png)",
                          ablation.DOC_BLOCK.path.parent) in section
    assert (folder / "accuracy_vs_training_step.png").is_file()

    def reproduced(results):
        return {c["claim"] for c in results["claims"]
                if c["exact_accuracy"]["agrees"] and c["exact_accuracy"]["separated"]}

    def contradicted(results):
        return {c["claim"] for c in results["claims"]
                if not c["exact_accuracy"]["agrees"] and c["exact_accuracy"]["separated"]}

    probe = json.loads((harness.RESULTS_ROOT / "ablation_7680steps_seed0" / "results.json").read_text())
    assert probe["settings"]["epochs"] == 6 * ablation.SCALES["cpu"].epochs and probe["seeds"] == 1
    for name in ("trm-att", "hrm"):  # the one-seed run twice as long again, as the section quotes it
        assert f"**{100 * probe['models'][name]['exact_accuracy']['mean']:.1f}%**" in section, name

    held = reproduced(study) | reproduced(longer)
    assert len(held) == 7 and len(reproduced(longer)) == 6 and contradicted(longer) == {"TRM with attention beats HRM"}
    assert f"**{len(held)} of the {len(ablation.CLAIMS)} claims** hold beyond seed spread" in page
    assert f"**{len(reproduced(longer))} of {len(ablation.CLAIMS)} at 3840 steps alone**" in page
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())  # as read, whatever the line breaks
    assert (f"Reproduced beyond seed spread ({len(held)} of {len(ablation.CLAIMS)} claims, "
            f"{len(reproduced(longer))} of them at 3840 steps)") in readme
