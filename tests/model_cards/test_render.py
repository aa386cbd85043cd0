"""Model cards: valid Hub metadata, model-index equal to the `trm eval` JSON, architecture and parameter counts."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from huggingface_hub import ModelCard

from model_cards.render import main, render_model_card
from modeling_trm import HRMConfig, HRMForPuzzleSolving, PuzzleProcessor, TRMConfig, TRMForPuzzleSolving

ARC_RESULTS = {
    "task": "arc", "num_puzzles": 40, "exact_accuracy": 0.225, "cell_accuracy": 0.8123456789012345,
    "halting_accuracy": 0.6, "mean_steps": 3.0, "pass@1": 0.625, "pass@2": 0.875, "pass@5": 0.875,
    "pass@10": 0.875, "pass@100": 0.875, "pass@1000": 0.875, "num_tasks": 4,
    "accuracy_by_step": {"steps": [1, 2, 3], "exact_accuracy": [0.0, 0.1, 0.225], "cell_accuracy": [0.5, 0.7, 0.81]},
    "halting": "fixed", "max_steps": 3, "trained_steps": 3, "model": "out/arc", "dataset": "trm/arc1concept-tiny",
    "dataset_revision": "abc123", "dataset_recipe": "arc1concept-aug-1000", "split": "test", "limit": None,
    "date": "2026-11-28T12:00:00+00:00",
}


@pytest.fixture(scope="module")
def arc_model_dir(tmp_path_factory):
    """A tiny ARC TRM folder as training leaves it: weights, processor with identifiers, eval results."""
    path = tmp_path_factory.mktemp("arc_model")
    torch.manual_seed(0)
    identifiers = ["<blank>", "007bbfc7", "007bbfc7|||t1|||0123456789", "00d62c1b"]
    config = TRMConfig(vocab_size=12, seq_len=900, hidden_size=32, num_attention_heads=2, num_layers=2,
                       num_recursions=3, num_latent_updates=4, max_supervision_steps=3, puzzle_embedding_dim=64,
                       puzzle_prefix_len=2, num_puzzle_identifiers=len(identifiers))
    TRMForPuzzleSolving(config).save_pretrained(path)
    PuzzleProcessor(task="arc", puzzle_identifiers=identifiers).save_pretrained(path)
    (path / "eval_results.json").write_text(json.dumps(ARC_RESULTS))
    (path / "training_config.yaml").write_text(yaml.safe_dump({"lr": 1e-4, "global_batch_size": 768, "ema": True,
                                                                "puzzle_emb_lr": 1e-2, "output_dir": "out/arc"}))
    return path


def test_card_metadata_validates_and_model_index_equals_eval_json(arc_model_dir):
    render_model_card(arc_model_dir)  # defaults: eval_results.json and training_config.yaml in the folder
    card = ModelCard.load(arc_model_dir / "README.md")  # parses the YAML header and the model-index
    results = {r.metric_type: r for r in card.data.eval_results}
    expected = {k: ARC_RESULTS[k] for k in ("exact_accuracy", "cell_accuracy", "halting_accuracy", "mean_steps")}
    expected.update({f"pass@{k}": ARC_RESULTS[f"pass@{k}"] for k in (1, 2, 5, 10, 100, 1000)})
    assert {k: r.metric_value for k, r in results.items()} == expected  # exact, full float precision
    first = results["pass@2"]
    assert (first.dataset_type, first.dataset_split, first.dataset_revision, first.dataset_name) == (
        "trm/arc1concept-tiny", "test", "abc123", "arc1concept-aug-1000")
    assert first.metric_args == {"halting": "fixed", "max_steps": 3}
    assert card.data.model_name == arc_model_dir.name and card.data.library_name == "transformers"
    assert card.data.datasets == ["trm/arc1concept-tiny"] and "trm" in card.data.tags


def test_card_text_has_architecture_parameter_counts_and_arc_protocol(arc_model_dir):
    model = TRMForPuzzleSolving.from_pretrained(arc_model_dir)
    text = render_model_card(arc_model_dir, repo_id="me/trm-arc", save=False).text
    assert model.num_puzzle_embedding_parameters() == 4 * 64
    assert f"**{model.num_parameters():,}** trainable" in text
    assert f"**{4 * 64:,}** entries of the puzzle-embedding table" in text
    assert f"{model.num_parameters() + 256:,} in total" in text
    assert "| recursions T / latent updates n | 3 / 4 |" in text and "| layers | 2 |" in text
    assert "effective depth of 30 blocks per step" in text  # T (n + 1) layers = 3 * 5 * 2
    assert "| puzzle embedding | 64-dim, 2 prefix position(s), 4 identifiers |" in text
    # ARC: the puzzle-id dependence and which pairs were trained on (recipe arc1concept: test subset evaluation).
    assert "task name → identifier map" in text and "puzzle_names=" in text
    assert "every pair of `training`, `concept`, and only the *demonstration*\npairs of `evaluation`" in text
    assert "| arc1concept-aug-1000 | `test` | fixed | 3 | pass@2 | 87.50% |" in text
    assert "| `puzzle_emb_lr` | `0.01` |" in text
    assert 'AutoModel.from_pretrained("me/trm-arc", trust_remote_code=True)' in text
    assert "arXiv:2510.04871" in text and "arXiv:2506.21734" in text


def test_hrm_sudoku_card_with_trainer_style_nested_metrics(tmp_path):
    """The trainer writes `{"metrics": {...}, ...}`; the card reads either layout."""
    torch.manual_seed(0)
    config = HRMConfig(vocab_size=11, seq_len=81, hidden_size=32, num_attention_heads=2, num_high_layers=2,
                       num_low_layers=1, high_cycles=2, low_cycles=3, max_supervision_steps=4,
                       puzzle_embedding_dim=32, num_puzzle_identifiers=1)
    HRMForPuzzleSolving(config).save_pretrained(tmp_path)
    results = {"dataset": "sudoku-extreme-1k-aug-1000", "split": "test", "halting": "fixed", "max_steps": 4,
               "metrics": {"exact_accuracy": 0.5, "cell_accuracy": 0.9, "sudoku_valid_rate": 0.55, "num_puzzles": 10}}
    metadata = {"task": "sudoku", "recipe": "sudoku-extreme-1k-aug-1000", "seed": 0, "parameters": {"num_aug": 1000},
                "splits": {"train": {"total_groups": 1000, "total_puzzles": 1001000, "total_examples": 1001000,
                                     "mean_puzzle_examples": 1.0}}}
    card = render_model_card(tmp_path, eval_results=results, dataset_metadata=metadata)
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == {
        "exact_accuracy": 0.5, "cell_accuracy": 0.9, "sudoku_valid_rate": 0.55}
    assert card.data.datasets is None  # a recipe name, not a Hub repo id
    text = card.text
    assert "Hierarchical Reasoning Model" in text and "| layers (high / low) | 2 / 1 |" in text
    assert "| cycles (high / low) | 2 / 3 |" in text and "halt logit vs. continue logit" in text
    assert "single shared puzzle embedding" in text
    assert "`train`: 1,000 original puzzles, 1,001,000 variants, 1,001,000 examples" in text
    assert ModelCard.load(tmp_path / "README.md").data.eval_results[0].metric_value == 0.5


def test_sudoku_card_shows_exact_accuracy_by_difficulty_band(tmp_path):
    torch.manual_seed(0)
    TRMForPuzzleSolving(TRMConfig(vocab_size=11, seq_len=81, hidden_size=32, num_attention_heads=2, num_layers=1,
                                  puzzle_embedding_dim=0)).save_pretrained(tmp_path)
    bands = [{"band": "0 guesses", "num_puzzles": 105, "exact_accuracy": 104 / 105},
             {"band": "1-2 guesses", "num_puzzles": 73, "exact_accuracy": 64 / 73},
             {"band": ">= 10 guesses", "num_puzzles": 0, "exact_accuracy": None}]
    fixed = {"task": "sudoku", "dataset": "sudoku-gen-small", "split": "test", "halting": "fixed", "max_steps": 8,
             "exact_accuracy": 168 / 178, "num_puzzles": 178, "exact_accuracy_by_difficulty": bands}
    adaptive = {**fixed, "halting": "adaptive", "exact_accuracy": 0.5}
    del adaptive["exact_accuracy_by_difficulty"]
    card = render_model_card(tmp_path, eval_results=[fixed, adaptive])
    assert [r.metric_type for r in card.data.eval_results] == ["exact_accuracy", "exact_accuracy"]  # bands: text only
    assert "| dataset | split | halting | steps | 0 guesses | 1-2 guesses | >= 10 guesses |" in card.text
    assert "| sudoku-gen-small | `test` | fixed | 8 | 99.0% of 105 | 87.7% of 73 | – |" in card.text
    assert "| `test` | adaptive | 8 | " not in card.text.split("Exact accuracy by difficulty")[1]


def test_card_without_results_says_how_to_get_them(tmp_path):
    torch.manual_seed(0)
    TRMForPuzzleSolving(TRMConfig(vocab_size=11, seq_len=81, hidden_size=32, num_attention_heads=2, num_layers=1,
                                  puzzle_embedding_dim=0)).save_pretrained(tmp_path)
    card = render_model_card(tmp_path)
    assert card.data.eval_results is None and "model-index" not in str(card.data.to_dict())
    assert "No evaluation results were found" in card.text


def test_a_depth_curriculum_is_in_the_recipe_and_said_in_words(tmp_path):
    """A model trained shallow first says so: its `depth_curriculum` row and when the depth stepped up; a model
    trained at full depth throughout says nothing of it."""
    torch.manual_seed(0)
    TRMForPuzzleSolving(TRMConfig(vocab_size=11, seq_len=81, hidden_size=32, num_attention_heads=2, num_layers=1,
                                  puzzle_embedding_dim=0)).save_pretrained(tmp_path)
    card = render_model_card(tmp_path, training_config={"epochs": 4, "depth_curriculum": [0.4, 0.7]}, save=False)
    assert "| `depth_curriculum` | `[0.4, 0.7]` |" in card.text
    assert "stepped up at 40% and 70% of the optimizer steps" in " ".join(card.text.split())
    card = render_model_card(tmp_path, training_config={"epochs": 4, "depth_curriculum": [0.5]}, save=False)
    assert "stepped up at 50% of the optimizer steps" in " ".join(card.text.split())
    full_depth = render_model_card(tmp_path, training_config={"epochs": 4, "depth_curriculum": None}, save=False)
    assert "| `depth_curriculum` |" not in full_depth.text and "shallow first" not in full_depth.text
    assert "embeddings use sparse sign-SGD.\n\n## How to use" in full_depth.text


def test_bad_inputs_are_named(tmp_path, arc_model_dir):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        render_model_card(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        render_model_card(arc_model_dir, eval_results=tmp_path / "missing.json", save=False)
    with pytest.raises(TypeError, match="evaluation result 1 is a list"):
        render_model_card(arc_model_dir, eval_results=[ARC_RESULTS, [1]], save=False)


def test_trm_card_cli_rerenders_readme_from_a_given_results_file(arc_model_dir, tmp_path, capsys):
    other = dict(ARC_RESULTS, **{"pass@2": 0.5, "split": "test", "halting": "adaptive", "max_steps": 6})
    results_file = tmp_path / "adaptive.json"
    results_file.write_text(json.dumps([ARC_RESULTS, other]))
    assert main([str(arc_model_dir), "--eval-results", str(results_file), "--repo-id", "me/trm-arc"]) == 0
    assert "20 model-index metric(s)" in capsys.readouterr().out
    card = ModelCard.load(arc_model_dir / "README.md")
    pass2 = [(r.metric_args["halting"], r.metric_value) for r in card.data.eval_results if r.metric_type == "pass@2"]
    assert pass2 == [("fixed", 0.875), ("adaptive", 0.5)]


def _sudoku6_folder(path):
    torch.manual_seed(0)
    TRMForPuzzleSolving(TRMConfig(vocab_size=8, seq_len=36, hidden_size=32, num_attention_heads=2, num_layers=1,
                                  puzzle_embedding_dim=0)).save_pretrained(path)
    PuzzleProcessor("sudoku", grid_size=6).save_pretrained(path)
    return path


def test_card_metadata_license_pipeline_tag_and_a_snippet_at_the_model_size(tmp_path):
    folder = _sudoku6_folder(tmp_path / "trm-sudoku6x6")
    card = render_model_card(folder, repo_id="me/trm-sudoku6x6", save=False)
    assert (card.data.license, card.data.pipeline_tag) == ("mit", "other")
    assert "# 36 characters (6x6)" in card.text and "81 characters" not in card.text
    assert 'pipeline("puzzle-solving", model="me/trm-sudoku6x6", trust_remote_code=True)' in card.text
    assert render_model_card(folder, license="apache-2.0", save=False).data.license == "apache-2.0"


def test_a_local_dataset_folder_links_the_hub_dataset_its_metadata_names(tmp_path):
    """`trm eval` on a local folder records the Hub id its puzzle_dataset.json knows; without one, the card says so."""
    folder = _sudoku6_folder(tmp_path / "model")
    result = {"dataset": str(tmp_path / "data"), "split": "test", "halting": "fixed", "max_steps": 4,
              "exact_accuracy": 0.5, "dataset_recipe": "sudoku6x6-gen"}
    card = render_model_card(folder, eval_results=[dict(result, dataset_hub_id="me/sudoku6x6")], save=False)
    assert card.data.datasets == ["me/sudoku6x6"] and card.data.eval_results[0].dataset_type == "me/sudoku6x6"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "puzzle_dataset.json").write_text(json.dumps({"hub_id": "me/from-metadata"}))
    assert render_model_card(folder, eval_results=[result], dataset_metadata={"task": "sudoku"},
                             save=False).data.datasets == ["me/from-metadata"]
    (tmp_path / "data" / "puzzle_dataset.json").write_text(json.dumps({}))
    card = render_model_card(folder, eval_results=[result], dataset_metadata={"task": "sudoku"}, save=False)
    assert card.data.datasets is None and "links no dataset" in card.text

