"""Acceptance test of the published-checkpoint workflow, against the local Hub server:

an HRM release folder (``checkpoint`` + ``all_config.yaml``, weights written by the official code) ->
`trm convert` -> `trm card` -> `trm push` -> in a process without this project,
`AutoModel`/`AutoProcessor.from_pretrained(repo, trust_remote_code=True)` solve a puzzle *string* ->
`trm train init_from=<that repo>` fine-tunes it on new data and pushes the result, whose card names
the base model (`base_model`, `base_model_relation: finetune`) and whose `model-index` is what
`trm eval` measures on the published model.
"""

from __future__ import annotations

import json

from huggingface_hub import HfApi, ModelCard

CONVERTED_REPO = "test-user/hrm-sudoku-converted"
FINETUNED_REPO = "test-user/hrm-sudoku-finetuned"
PUZZLE = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."

CONVERT_AND_PUSH = f"""
from training.cli import main as trm

assert trm(["convert", "--checkpoint", "hrm-release", "--output", "converted"]) == 0
assert trm(["card", "converted", "--repo-id", {CONVERTED_REPO!r}]) == 0
assert trm(["push", "converted", {CONVERTED_REPO!r}]) == 0
"""

FINE_TUNE_AND_PUSH = f"""
from hub_datasets import build_dataset, save_puzzle_dataset
from training.cli import main as trm

dataset, metadata = build_dataset("sudoku-gen-small", num_train=8, num_test=8, num_aug=1)
save_puzzle_dataset(dataset, metadata, "new-sudoku")
assert trm(["train", "init_from={CONVERTED_REPO}", "dataset=new-sudoku", "--output-dir", "finetuned", "--max-steps", "2",
            "global_batch_size=8", "log_with=none", "solve_sample=false", "eval_at_start=false",
            "--push-to-hub", {FINETUNED_REPO!r}]) == 0
# evaluate what was published: the Hub model on the fine-tuning data's test split
assert trm(["eval", {FINETUNED_REPO!r}, "--dataset", "new-sudoku", "--output", "hub_eval.json"]) == 0
"""

FRESH_PROCESS = f"""
import json

import torch

from transformers import AutoModel, AutoProcessor

model = AutoModel.from_pretrained({CONVERTED_REPO!r}, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained({CONVERTED_REPO!r}, trust_remote_code=True)
inputs = processor({PUZZLE!r})
with torch.no_grad():
    output = model.solve(**inputs, halting="fixed")
answer = processor.decode(output.predictions)[0]
tuned = AutoModel.from_pretrained({FINETUNED_REPO!r}, trust_remote_code=True)
print("RESULT", json.dumps({{
    "model_class": type(model).__module__ + "." + type(model).__name__,
    "answer_shape": list(answer.shape), "steps": output.steps.tolist(),
    "question": "".join(str(d) if d else "." for d in processor.decode(inputs["input_ids"])[0].ravel().tolist()),
    "tuned_class": type(tuned).__name__,
    "tuned_differs": any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), tuned.state_dict().values())),
}}))
"""


def _result(output: str) -> dict:
    return json.loads(next(line for line in reversed(output.splitlines()) if line.startswith("RESULT "))[7:])


def test_official_release_converts_pushes_loads_as_remote_code_and_fine_tunes(hub_server, tmp_path, reference_dir):
    from official_checkpoints import hrm_release, reference_checkpoint

    # the HRM Sudoku release layout, with weights the official code wrote (cut to Sudoku's 11 tokens, 1 puzzle row)
    state_dict, official = reference_checkpoint(reference_dir, "hrm_small", vocab_size=11, puzzle_rows=1)
    hrm_release(tmp_path / "hrm-release", state_dict, official, data_path="data/sudoku-extreme-1k-aug-1000")

    hub_server.run_python(CONVERT_AND_PUSH, cwd=tmp_path, timeout=300)
    files = set(HfApi().list_repo_files(CONVERTED_REPO))
    assert {"config.json", "model.safetensors", "processor_config.json", "README.md", "modeling_hrm.py"} <= files

    hub_server.run_python(FINE_TUNE_AND_PUSH, cwd=tmp_path, timeout=300)
    card = ModelCard.load(FINETUNED_REPO)
    assert card.data.base_model == CONVERTED_REPO and card.data.base_model_relation == "finetune"
    assert f"[`{CONVERTED_REPO}`]" in card.text and "on `new-sudoku`" in card.text
    # the card's model-index is what `trm eval` measures on the published model
    hub_eval = json.loads((tmp_path / "hub_eval.json").read_text())
    scores = {result.metric_type: result.metric_value for result in card.data.eval_results}
    assert {"exact_accuracy", "cell_accuracy", "halting_accuracy", "mean_steps", "sudoku_valid_rate"} <= set(scores)
    for metric, value in scores.items():
        # `trm train` scores its saved model with `trm eval`'s code path: the same numbers, to the last bit
        assert hub_eval[metric] == value, metric

    fresh = _result(hub_server.run_python(FRESH_PROCESS, isolated=True, cwd=tmp_path, timeout=300))
    assert fresh["model_class"].startswith("transformers_modules.") and fresh["model_class"].endswith("HRMForPuzzleSolving")
    assert fresh["answer_shape"] == [9, 9] and fresh["steps"] == [official["halt_max_steps"]]
    assert fresh["tuned_class"] == "HRMForPuzzleSolving" and fresh["tuned_differs"]
    assert fresh["question"] == PUZZLE  # the string went through the Hub processor and back
