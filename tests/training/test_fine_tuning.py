"""Fine-tuning (`init_from=`): it trains in training mode, puzzle-embedding rows follow their puzzle
names, `freeze_weights` trains only the puzzle embeddings, and the card records the base model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import hub_datasets
from modeling_trm.modeling_trm import TRMForPuzzleSolving
from modeling_trm.processing_trm import PuzzleProcessor
from training.models import transfer_puzzle_table
from training.train import Trainer, parse_args


def _named_dataset(source: str, path: Path, names: list[str]) -> str:
    """The 4x4 Sudoku data with each group's puzzles given one of ``names[1:]`` (id 0 stays blank)."""
    dataset = hub_datasets.load_puzzle_dataset(source)
    metadata = hub_datasets.load_dataset_metadata(source)
    dataset = dataset.map(lambda row: {"puzzle_id": row["group_id"] % (len(names) - 1) + 1})
    metadata.num_puzzle_identifiers, metadata.puzzle_identifiers = len(names), list(names)
    hub_datasets.save_puzzle_dataset(dataset, metadata, path)
    return str(path)


@pytest.fixture
def pretrained(tiny_config, tmp_path) -> Path:
    """A tiny model trained 3 steps on puzzles named a..d (so its processor carries that name map)."""
    data = _named_dataset(tiny_config().dataset, tmp_path / "abcd", ["<blank>", "a", "b", "c", "d"])
    config = tiny_config(dataset=data, max_steps=3, output_dir=str(tmp_path / "pretrained"))
    Trainer(config).run()
    return tmp_path / "pretrained"


def _finetune_args(base: Path, data: str, out: Path, *extra: str) -> list[str]:
    return [f"init_from={base}", f"dataset={data}", "log_with=none", f"--output-dir={out}", "global_batch_size=8",
            "solve_sample=false", "eval_max_examples=8", "lr_warmup_steps=1", *extra]


def test_fine_tuning_runs_in_training_mode_halting_early_and_training_the_puzzle_table(pretrained, tmp_path):
    """`from_pretrained` gives an eval-mode model; fine-tuning must still halt slots when the Q head
    says so (exploration aside) and move the puzzle rows of the batch with sign-SGD."""
    model = TRMForPuzzleSolving.from_pretrained(pretrained)
    with torch.no_grad():
        model.q_head.weight.zero_()
        model.q_head.bias.copy_(torch.tensor([10.0, 0.0]))  # halt logit 10: "done" after every step
    model.config.halt_exploration_prob = 0.0  # no random minimum number of steps
    model.save_pretrained(pretrained)

    data = str(pretrained.parent / "abcd")
    config = parse_args(_finetune_args(pretrained, data, tmp_path / "ft", "--max-steps=1",
                                       "eval_at_start=false"))  # the default of every paper preset
    trainer = Trainer(config)
    table_before = trainer.unwrapped.puzzle_embedding.weight.clone()
    trainer.run()
    state = trainer.act_states[0]
    assert (state.steps == 1).all()
    # max_supervision_steps is 3, so a slot halted after one step can only be the Q head's decision
    assert state.halted.all(), "slots kept running: the Q head was ignored (eval mode)"
    seen = state.puzzle_ids.unique()
    table_after = trainer.unwrapped.puzzle_embedding.weight
    assert not torch.equal(table_after[seen], table_before[seen]), "the puzzle rows of the batch did not move"
    unseen = torch.tensor([i for i in range(5) if i not in seen.tolist()], dtype=torch.long)
    assert torch.equal(table_after[unseen], table_before[unseen])  # sparse: rows not in the batch untouched


def test_fine_tuning_does_not_depend_on_whether_it_evaluates_first(pretrained, tmp_path):
    """An evaluation before training must not change what training does (it used to be the only thing
    that switched a loaded model to training mode): same weights and puzzle table either way."""
    data = str(pretrained.parent / "abcd")
    tuned = {}
    for evaluate_first in (False, True):
        out = tmp_path / f"eval-first-{evaluate_first}"
        Trainer(parse_args(_finetune_args(pretrained, data, out, "--max-steps=3", f"eval_at_start={evaluate_first}"))).run()
        tuned[evaluate_first] = TRMForPuzzleSolving.from_pretrained(out).state_dict()
    for name, value in tuned[False].items():
        assert torch.equal(value, tuned[True][name]), name


def test_puzzle_rows_are_matched_by_name_and_new_names_start_from_the_mean_row(pretrained, tmp_path):
    base = TRMForPuzzleSolving.from_pretrained(pretrained).puzzle_embedding.weight
    # same count, other order (a resize-by-count would keep every row in place), plus a new name
    names = ["<blank>", "d", "new", "b", "a"]
    data = _named_dataset(str(pretrained.parent / "abcd"), tmp_path / "renamed", names)
    trainer = Trainer(parse_args(_finetune_args(pretrained, data, tmp_path / "ft", "--max-steps=1")))
    table = trainer.unwrapped.puzzle_embedding.weight
    for row, name in enumerate(names):
        expected = base.mean(0) if name == "new" else base[["<blank>", "a", "b", "c", "d"].index(name)]
        assert torch.equal(table[row], expected), f"row {row} ({name!r})"
    trainer.run()
    assert PuzzleProcessor.from_pretrained(tmp_path / "ft").puzzle_identifiers == names
    assert TRMForPuzzleSolving.from_pretrained(tmp_path / "ft").config.num_puzzle_identifiers == 5


def test_new_puzzle_rows_can_start_from_zeros_and_unmatchable_tables_are_refused():
    table = torch.arange(6.0).view(3, 2)
    new, matched = transfer_puzzle_table(table, ["<blank>", "x", "y"], ["<blank>", "y", "z"], init="zeros")
    assert matched == 2 and new.tolist() == [[0, 1], [4, 5], [0, 0]]
    with pytest.raises(ValueError, match=r"3 rows but no puzzle-name map .* 2 puzzle names.*--identifiers"):
        transfer_puzzle_table(table, None, ["<blank>", "a"])
    with pytest.raises(ValueError, match="names 2 puzzles but its puzzle-embedding table has 3 rows"):
        transfer_puzzle_table(table, ["<blank>", "x"], ["<blank>"])
    one_row = torch.ones(1, 2)
    assert torch.equal(transfer_puzzle_table(one_row, None, ["<blank>"])[0], one_row)  # Sudoku/maze: nothing to match


def test_freeze_weights_trains_only_the_puzzle_embeddings(pretrained, tmp_path):
    data = str(pretrained.parent / "abcd")
    trainer = Trainer(parse_args(_finetune_args(pretrained, data, tmp_path / "ft", "--max-steps=3",
                                                "freeze_weights=true")))
    network_before = {k: v.clone() for k, v in trainer.unwrapped.named_parameters()}
    table_before = trainer.unwrapped.puzzle_embedding.weight.clone()
    trainer.run()
    tuned = TRMForPuzzleSolving.from_pretrained(tmp_path / "ft")
    for name, value in tuned.named_parameters():
        assert torch.equal(value, network_before[name]), name
    assert not torch.equal(tuned.puzzle_embedding.weight, table_before)
    with pytest.raises(ValueError, match="freeze_weights .* set init_from"):
        parse_args([f"dataset={data}", "freeze_weights=true"])


def test_the_card_of_a_fine_tuned_model_names_its_base_model_and_data(pretrained, tmp_path):
    from model_cards.render import render_model_card

    data = str(pretrained.parent / "abcd")
    Trainer(parse_args(_finetune_args(pretrained, data, tmp_path / "ft", "--max-steps=1",
                                      "base_model=test-org/trm-base"))).run()
    card = (tmp_path / "ft" / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---")[1])
    assert metadata["base_model"] == "test-org/trm-base" and metadata["base_model_relation"] == "finetune"
    assert "Fine-tuned** from [`test-org/trm-base`]" in card and f"on `{data}`" in card

    # a local base folder is named in the text; only a Hub id goes into the metadata
    training = yaml.safe_load((tmp_path / "ft" / "training_config.yaml").read_text())
    training["base_model"] = None
    local = render_model_card(tmp_path / "ft", training_config=training, save=False)
    assert local.data.base_model is None and f"`{pretrained}`" in str(local)
    training["init_from"] = "someone/trm-arc"  # a repo id is the base model itself
    assert render_model_card(tmp_path / "ft", training_config=training, save=False).data.base_model == "someone/trm-arc"


def test_fine_tuning_presets_require_a_model_to_start_from():
    with pytest.raises(SystemExit):
        parse_args(["--preset", "arc1-tta"])
    config = parse_args(["--preset", "arc1-tta", "init_from=converted-arc1"])
    assert (config.dataset_recipe, config.max_steps, config.model) == ("arc1concept-tta", 12_500, {})


def test_arc_test_time_adaptation_finds_every_row_by_name_and_scores_pass_at_k(tmp_path, arc_fixture_dir):
    """Pretrain on an ARC build -> build its adaptation set -> fine-tune on the demonstrations -> pass@k on
    the same tasks' test inputs. Every adaptation puzzle is a variant of the base build, so every row of
    the fine-tuned table starts as the base model's own row for that name."""
    from conftest import TINY_MODEL

    from training.cli import main as trm
    from training.config import TrainingConfig
    from training.train import train

    arc = arc_fixture_dir
    options = ["--source", str(arc), "--set", "num_tasks=2", "--set", "num_aug=2"]
    assert trm(["data", "build", "arc-tiny", *options, "--output", str(tmp_path / "arc")]) == 0
    assert trm(["data", "build", "arc-tiny-tta", *options, "--output", str(tmp_path / "tta")]) == 0
    train(TrainingConfig(dataset=str(tmp_path / "arc"), model=dict(TINY_MODEL), global_batch_size=8, epochs=1,
                         eval_interval=1, max_steps=2, log_with="none", solve_sample=False, eval_max_examples=8,
                         output_dir=str(tmp_path / "base")))
    base = TRMForPuzzleSolving.from_pretrained(tmp_path / "base").puzzle_embedding.weight
    base_names = PuzzleProcessor.from_pretrained(tmp_path / "base").puzzle_identifiers

    config = parse_args(["--preset", "arc1-tta", f"init_from={tmp_path / 'base'}", f"dataset={tmp_path / 'tta'}",
                         "--max-steps=2", "global_batch_size=8", "log_with=none", "solve_sample=false",
                         "eval_max_examples=8", f"--output-dir={tmp_path / 'adapted'}"])
    trainer = Trainer(config)
    names = hub_datasets.load_dataset_metadata(str(tmp_path / "tta")).puzzle_identifiers
    table = trainer.unwrapped.puzzle_embedding.weight
    assert all(torch.equal(table[i], base[base_names.index(name)]) for i, name in enumerate(names))
    trainer.run()

    assert trm(["eval", str(tmp_path / "adapted"), "--dataset", str(tmp_path / "tta"), "--output",
                str(tmp_path / "eval.json")]) == 0
    results = json.loads((tmp_path / "eval.json").read_text())
    assert results["num_tasks"] == 2 and 0 <= results["pass@1"] <= results["pass@2"] <= 1


def test_init_from_refuses_weights_that_leave_parameters_random(sudoku4_dataset, tmp_path, capsys):
    """Fine-tuning loads its base model with the loader of `trm solve`: a config.json that asks for a layer
    the weights lack is refused in one line naming the folder and the missing weights."""
    from modeling_trm.configuration_trm import TRMConfig
    from training.cli import main as trm

    base = tmp_path / "base"
    TRMForPuzzleSolving(TRMConfig(vocab_size=6, seq_len=16, hidden_size=16, num_attention_heads=2, num_layers=1,
                                  num_recursions=1, num_latent_updates=1, max_supervision_steps=2,
                                  puzzle_embedding_dim=16, puzzle_prefix_len=1)).save_pretrained(base)
    PuzzleProcessor("sudoku", grid_size=4).save_pretrained(base)
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "num_layers": 2}))

    assert trm(["train", "--preset", "sudoku4x4", "--max-steps", "1", "--output-dir", str(tmp_path / "run"),
                f"dataset={sudoku4_dataset}", f"init_from={base}"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("trm train: error:")]
    assert len(errors) == 1, errors
    error = errors[0]
    assert error.startswith(f"trm train: error: the weights in {base} do not match its config.json (missing keys: "
                            "network.layers.1."), error
    assert not (tmp_path / "run" / "checkpoints").exists()
