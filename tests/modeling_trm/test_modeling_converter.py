"""`trm convert`: official checkpoints (files and run folders) -> save_pretrained folders."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file

from modeling_trm.configuration_trm import TRMConfig
from modeling_trm.convert_original_checkpoint import (
    convert_official_state_dict,
    infer_arch,
    main,
    translate_official_config,
)
from modeling_trm.modeling_hrm import HRMForPuzzleSolving
from modeling_trm.modeling_trm import TRMForPuzzleSolving
from training.cli import main as trm_main


def _reference(reference_dir, name):
    folder = reference_dir / name
    return load_file(folder / "model.safetensors"), json.loads((folder / "config.json").read_text()), \
        load_file(folder / "expected.safetensors")


@pytest.mark.parametrize("name", ["trm_small_att", "trm_small_mlp"])
def test_trm_official_names_translate_both_ways(reference_dir, name):
    official = json.loads((reference_dir / name / "config.json").read_text())
    config = translate_official_config(official, "trm")  # ignores _metadata, batch_size, causal, H_layers
    assert (config.num_recursions, config.num_latent_updates, config.num_layers) == (2, 2, 2)
    assert config.max_supervision_steps == 4 and config.act_continue is False
    assert config.total_seq_len == 18 and config.puzzle_prefix_length == 2 and config.head_dim == 16
    assert config.intermediate_size == 256
    back = translate_official_config(config, config.model_type, to_official=True)
    for key, value in official.items():
        if not key.startswith("_") and key not in ("batch_size", "causal", "H_layers"):
            assert back[key] == value, key
    assert translate_official_config(back, "trm").to_dict() == config.to_dict()


def test_mlp_reference_uses_the_automatic_prefix(reference_dir):
    config = translate_official_config(json.loads((reference_dir / "trm_small_mlp" / "config.json").read_text()), "trm")
    assert config.token_mixer == "mlp" and config.position_encoding == "none"
    assert config.puzzle_prefix_len == 0 and config.puzzle_prefix_length == 2  # ceil(96 / 64)


def test_hrm_official_names(reference_dir):
    official = json.loads((reference_dir / "hrm_small" / "config.json").read_text())
    config = translate_official_config(official, "hrm")
    assert (config.num_high_layers, config.num_low_layers, config.high_cycles, config.low_cycles) == (2, 2, 2, 2)
    assert config.puzzle_prefix_length == 1 and config.total_seq_len == 17
    assert config.act_continue and config.token_mixer == "attention"
    assert translate_official_config(config, config.model_type, to_official=True)["H_layers"] == 2


def test_official_values_spelled_differently_and_refusals():
    config = translate_official_config({"no_ACT_continue": False, "pos_encodings": "whatever",
                                        "puzzle_emb_ndim": 512, "puzzle_emb_len": 16}, "trm")
    assert config.act_continue and config.position_encoding == "none"  # official: any other string = none
    with pytest.raises(ValueError, match=r"unknown official keys \['flux_capacitor'\]"):
        translate_official_config({"flux_capacitor": 1}, "trm")
    with pytest.raises(ValueError, match=r"HRMConfig: mlp_t=True is not an HRM option"):
        translate_official_config({"mlp_t": True}, "hrm")
    with pytest.raises(ValueError, match=r"TRMConfig: single_latent has no field in the official TRM config"):
        translate_official_config(TRMConfig(single_latent=True), "trm", to_official=True)


@pytest.mark.parametrize("name, model_class", [("trm_small_att", TRMForPuzzleSolving),
                                               ("trm_small_mlp", TRMForPuzzleSolving),
                                               ("hrm_small", HRMForPuzzleSolving)])
def test_cli_converts_reference_checkpoints(tmp_path, reference_dir, name, model_class):
    folder = reference_dir / name
    out = tmp_path / "converted"
    assert main(["--checkpoint", str(folder / "model.safetensors"), "--config", str(folder / "config.json"),
                 "--output", str(out), "--without-identifiers"]) == 0  # the reference tables have unnamed rows
    model = model_class.from_pretrained(out).eval()
    _, _, expected = _reference(reference_dir, name)
    with torch.no_grad():
        logits = model(expected["batch.inputs"], expected["batch.puzzle_identifiers"]).logits
    torch.testing.assert_close(logits, expected["eval.step1.logits"], atol=1e-4, rtol=1e-4)


def test_auto_model_loads_a_converted_folder(tmp_path, reference_dir):
    from transformers import AutoModel

    import modeling_trm  # noqa: F401  (registers the Auto classes)

    folder = reference_dir / "hrm_small"
    out = tmp_path / "hrm"
    assert trm_main(["convert", "--checkpoint", str(folder / "model.safetensors"),
                     "--config", str(folder / "config.json"), "--output", str(out), "--without-identifiers"]) == 0
    assert isinstance(AutoModel.from_pretrained(out), HRMForPuzzleSolving)


def test_torch_saved_run_folder_with_bf16_buffers(tmp_path, reference_dir):
    """A pretrain.py run folder: step_N files (``model.`` keys, bf16 H_init/L_init), all_config.yaml
    whose arch section lacks the dataset sizes, identifiers.json. The latest step is converted."""
    state_dict, official, expected = _reference(reference_dir, "trm_small_mlp")
    run = tmp_path / "run"
    run.mkdir()
    latest = {k.replace("_orig_mod.model.", "model."): v for k, v in state_dict.items()}
    for key in ("model.inner.H_init", "model.inner.L_init"):
        latest[key] = latest[key].bfloat16()
    older = {k: torch.zeros_like(v) for k, v in latest.items()}
    torch.save(older, run / "step_99")
    torch.save(latest, run / "step_1000")
    arch = {k: v for k, v in official.items()
            if not k.startswith("_") and k not in ("vocab_size", "seq_len", "num_puzzle_identifiers", "batch_size")}
    arch.update(name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
                loss={"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"})
    (run / "all_config.yaml").write_text(yaml.safe_dump({"arch": arch, "data_paths": ["data/arc1concept-aug-1000"],
                                                         "global_batch_size": 768}))
    names = ["<blank>", "a", "b", "c", "d"]
    (run / "identifiers.json").write_text(json.dumps(names))

    out = tmp_path / "out"
    assert main(["--checkpoint", str(run), "--output", str(out)]) == 0
    model = TRMForPuzzleSolving.from_pretrained(out).eval()
    config = model.config
    assert (config.vocab_size, config.seq_len, config.num_puzzle_identifiers) == (12, 16, 5)  # read off the weights
    assert model.answer_init.dtype == torch.float32
    assert torch.equal(model.answer_init, latest["model.inner.H_init"].float())  # bf16 values kept exactly
    with torch.no_grad():
        logits = model(expected["batch.inputs"], expected["batch.puzzle_identifiers"]).logits
    assert logits.abs().sum() > 0  # the zeroed older step was not picked
    from modeling_trm.processing_trm import PuzzleProcessor

    processor = PuzzleProcessor.from_pretrained(out)
    assert processor.task == "arc" and list(processor.puzzle_identifiers) == names


def test_rope_model_without_seq_len_asks_for_it(tmp_path, reference_dir, capsys):
    state_dict, official, _ = _reference(reference_dir, "trm_small_att")
    config = tmp_path / "arch.json"
    config.write_text(json.dumps({k: v for k, v in official.items() if k != "seq_len"}))
    ckpt = tmp_path / "model.safetensors"
    ckpt.write_bytes((reference_dir / "trm_small_att" / "model.safetensors").read_bytes())
    assert main(["--checkpoint", str(ckpt), "--config", str(config), "--output", str(tmp_path / "o")]) == 2
    assert "--seq-len" in capsys.readouterr().err
    assert main(["--checkpoint", str(ckpt), "--config", str(config), "--output", str(tmp_path / "o"),
                 "--seq-len", "16", "--without-identifiers"]) == 0


def test_unknown_and_missing_keys_are_refused(reference_dir):
    state_dict, official, _ = _reference(reference_dir, "trm_small_att")
    extra = dict(state_dict, **{"_orig_mod.model.inner.mystery.weight": torch.zeros(2)})
    with pytest.raises(ValueError, match=r"unknown keys .*mystery\.weight"):
        convert_official_state_dict(extra, official)
    missing = {k: v for k, v in state_dict.items() if not k.endswith("lm_head.weight")}
    with pytest.raises(ValueError, match=r"lacks weights for: \['lm_head\.weight'\]"):
        convert_official_state_dict(missing, official)
    with pytest.raises(ValueError, match="shape mismatch"):
        convert_official_state_dict(state_dict, dict(official, vocab_size=11))


def test_arch_is_inferred_from_the_keys(reference_dir):
    assert infer_arch(_reference(reference_dir, "hrm_small")[0]) == "hrm"
    assert infer_arch(_reference(reference_dir, "trm_small_att")[0]) == "trm"


# -- the layouts the published checkpoints come in (tests/official_checkpoints.py) ----------------------------


def test_arc_prize_run_folder_uses_the_runs_own_cycles_and_the_data_folders_identifiers(tmp_path, reference_dir,
                                                                                      monkeypatch):
    """``arc_v1_public/``: step_N + all_config.yaml + trm.py/losses.py, no identifiers.json. The run's
    ``L_cycles`` (2 here, not our default 6) must win, and the identifiers and seq_len are found in the
    official data folder that ``data_paths`` names (relative to where the official code ran)."""
    from official_checkpoints import arc_prize_run, official_data_folder, reference_checkpoint

    from modeling_trm.processing_trm import PuzzleProcessor

    state_dict, official = reference_checkpoint(reference_dir, "trm_small_att")
    assert len(state_dict) == 15 and all(k.startswith("_orig_mod.model.inner.") for k in state_dict)
    run = arc_prize_run(tmp_path / "arc_v1_public", state_dict, official)
    names = ["<blank>", "007bbfc7", "007bbfc7|||t1|||0123456789", "00576224", "00576224|||t5|||0918273645"]
    monkeypatch.chdir(tmp_path)
    official_data_folder(tmp_path / "data" / "arc1concept-aug-1000", names, seq_len=16, vocab_size=12)

    assert main(["--checkpoint", str(run), "--output", str(tmp_path / "out")]) == 0
    model = TRMForPuzzleSolving.from_pretrained(tmp_path / "out").eval()
    assert (model.config.num_recursions, model.config.num_latent_updates, model.config.seq_len) == (2, 2, 16)
    expected = _reference(reference_dir, "trm_small_att")[2]
    with torch.no_grad():
        logits = model(expected["batch.inputs"], expected["batch.puzzle_identifiers"]).logits
    torch.testing.assert_close(logits, expected["eval.step1.logits"], atol=1e-4, rtol=1e-4)
    processor = PuzzleProcessor.from_pretrained(tmp_path / "out")
    assert (processor.task, processor.grid_size, processor.puzzle_identifiers) == ("arc", 4, names)


def test_arc_prize_checkpoint_file_with_identifiers_given_explicitly(tmp_path, reference_dir):
    """``--identifiers`` takes an official identifiers.json or a dataset folder of ours."""
    from official_checkpoints import arc_prize_run, reference_checkpoint

    import hub_datasets
    from modeling_trm.processing_trm import PuzzleProcessor

    state_dict, official = reference_checkpoint(reference_dir, "trm_small_att")
    run = arc_prize_run(tmp_path / "run", state_dict, official, data_paths=["/nonexistent/data/arc1concept-aug-1000"],
                        L_cycles=3)
    names = ["<blank>", "a", "b", "c", "d"]
    (tmp_path / "identifiers.json").write_text(json.dumps(names))
    assert main(["--checkpoint", str(run / "step_155718"), "--identifiers", str(tmp_path / "identifiers.json"),
                 "--seq-len", "16", "--output", str(tmp_path / "from_json")]) == 0
    config = TRMForPuzzleSolving.config_class.from_pretrained(tmp_path / "from_json")
    assert config.num_latent_updates == 3  # all_config.yaml beside the file is read
    assert PuzzleProcessor.from_pretrained(tmp_path / "from_json").puzzle_identifiers == names

    # a dataset folder of ours: its metadata gives the names, the task and seq_len
    dataset, metadata = hub_datasets.build_dataset("sudoku4x4-gen", seed=0)
    metadata.task, metadata.seq_len, metadata.vocab_size = "arc", 16, 12
    metadata.num_puzzle_identifiers, metadata.puzzle_identifiers = 5, names
    hub_datasets.save_puzzle_dataset(dataset, metadata, tmp_path / "ours")
    assert main(["--checkpoint", str(run), "--identifiers", str(tmp_path / "ours"),
                 "--output", str(tmp_path / "from_ours")]) == 0
    processor = PuzzleProcessor.from_pretrained(tmp_path / "from_ours")
    assert (processor.task, processor.grid_size, processor.puzzle_identifiers) == ("arc", 4, names)


def test_identifier_count_that_differs_from_the_puzzle_table_is_refused(tmp_path, reference_dir, capsys):
    from official_checkpoints import arc_prize_run, official_data_folder, reference_checkpoint

    state_dict, official = reference_checkpoint(reference_dir, "trm_small_att")
    run = arc_prize_run(tmp_path / "run", state_dict, official)
    rebuilt = official_data_folder(tmp_path / "rebuilt", ["<blank>"] + [f"task{i}" for i in range(6)], 16, 12)
    assert main(["--checkpoint", str(run), "--identifiers", str(rebuilt), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "has 5 rows" in err and "names 7 puzzles" in err and "another seed" in err
    assert not (tmp_path / "o").exists()


def test_hrm_release_checkpoint_file_converts_with_a_processor(tmp_path, reference_dir):
    """sapientinc's layout: a file named ``checkpoint`` beside all_config.yaml (``data_path``, singular).
    A Sudoku run (11 tokens, one puzzle row) gets a 9x9 Sudoku processor: nothing names the task but
    the data path and the vocabulary."""
    from official_checkpoints import hrm_release, reference_checkpoint

    from modeling_trm.processing_trm import PuzzleProcessor

    state_dict, official = reference_checkpoint(reference_dir, "hrm_small", vocab_size=11, puzzle_rows=1)
    run = hrm_release(tmp_path / "hrm-sudoku", state_dict, official, data_path="data/sudoku-extreme-1k-aug-1000")
    for checkpoint in (run, run / "checkpoint"):
        out = tmp_path / f"out-{checkpoint.name}"
        assert main(["--checkpoint", str(checkpoint), "--output", str(out)]) == 0
        model = HRMForPuzzleSolving.from_pretrained(out)
        assert (model.config.vocab_size, model.config.seq_len, model.config.num_puzzle_identifiers) == (11, 81, 1)
        processor = PuzzleProcessor.from_pretrained(out)
        assert (processor.task, processor.grid_size, processor.vocab_size) == ("sudoku", 9, 11)


def test_a_processor_is_written_whenever_the_task_is_known(tmp_path, reference_dir, capsys):
    """From the vocabulary alone (12 tokens: ARC: said to be guessed, in the output, conversion.json and the
    card), or from ``--task``; an ambiguous vocabulary is refused with the reason, not left without a processor."""
    from model_cards.render import render_model_card
    from modeling_trm.processing_trm import PuzzleProcessor

    folder = reference_dir / "trm_small_mlp"
    args = ["--checkpoint", str(folder / "model.safetensors"), "--config", str(folder / "config.json"),
            "--without-identifiers"]
    assert main([*args, "--output", str(tmp_path / "by_vocab")]) == 0
    assert PuzzleProcessor.from_pretrained(tmp_path / "by_vocab").task == "arc"
    assert "task arc guessed from the vocabulary (12 tokens)" in capsys.readouterr().err
    record = json.loads((tmp_path / "by_vocab" / "conversion.json").read_text())
    assert record["task_guessed"] and record["task"] == "arc"
    assert "the task (arc) was guessed from the vocabulary" in str(render_model_card(tmp_path / "by_vocab", save=False))

    state_dict, official = _reference(reference_dir, "trm_small_mlp")[:2]
    six_tokens = {k: (v[:6].clone() if k.endswith(("embed_tokens.embedding_weight", "lm_head.weight")) else v)
                  for k, v in state_dict.items()}
    torch.save(six_tokens, tmp_path / "step_10")
    (tmp_path / "arch.json").write_text(json.dumps(official | {"vocab_size": 6}))
    args = ["--checkpoint", str(tmp_path / "step_10"), "--config", str(tmp_path / "arch.json"), "--without-identifiers"]
    assert main([*args, "--output", str(tmp_path / "ambiguous")]) == 2  # 6 tokens, 16 cells: maze or 4x4 sudoku
    assert "6 tokens and 16 cells fit maze or sudoku; pass --task" in capsys.readouterr().err
    assert not (tmp_path / "ambiguous").exists()
    assert main([*args, "--task", "sudoku", "--output", str(tmp_path / "told")]) == 0
    processor = PuzzleProcessor.from_pretrained(tmp_path / "told")
    assert (processor.task, processor.grid_size) == ("sudoku", 4)
    assert not json.loads((tmp_path / "told" / "conversion.json").read_text())["task_guessed"]
    assert "guessed" not in str(render_model_card(tmp_path / "told", save=False))


# ------------------------------------------------------------------------- nothing overwritten, nothing guessed


def _reference_args(reference_dir, name="trm_small_mlp"):
    folder = reference_dir / name
    return ["--checkpoint", str(folder / "model.safetensors"), "--config", str(folder / "config.json"),
            "--without-identifiers"]


def test_a_folder_that_no_conversion_wrote_is_refused_unless_overwrite(tmp_path, reference_dir, capsys):
    """A trained model folder (card, results, checkpoints) is never mixed with converted weights: refused, and
    with --overwrite replaced whole. A previous conversion is replaced whole without asking."""
    trained = tmp_path / "trained"
    (trained / "checkpoints" / "checkpoint-5").mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "README.md", "eval_results.json", "training_log.json"):
        (trained / name).write_text("{}")
    before = sorted(p.relative_to(trained) for p in trained.rglob("*"))
    assert main([*_reference_args(reference_dir), "--output", str(trained)]) == 2
    err = capsys.readouterr().err
    assert f"--output {trained} already holds files that no conversion wrote" in err and "--overwrite" in err
    assert sorted(p.relative_to(trained) for p in trained.rglob("*")) == before
    assert (trained / "model.safetensors").read_text() == "{}"

    assert main([*_reference_args(reference_dir), "--output", str(trained), "--overwrite"]) == 0
    assert not any((trained / name).exists() for name in ("README.md", "eval_results.json", "training_log.json",
                                                           "checkpoints"))
    assert (trained / "conversion.json").is_file()

    # converting again into a conversion: replaced whole (another model's files do not linger)
    (trained / "stray.txt").write_text("x")
    assert main([*_reference_args(reference_dir, "hrm_small"), "--output", str(trained)]) == 0
    assert not (trained / "stray.txt").exists()
    assert json.loads((trained / "config.json").read_text())["model_type"] == "hrm"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_a_stale_staging_folder_of_an_interrupted_conversion_is_removed(tmp_path, reference_dir):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that has exited
    stale = tmp_path / f".out.tmp-{dead.pid}"
    stale.mkdir()
    (stale / "model.safetensors").write_text("half")
    assert main([*_reference_args(reference_dir), "--output", str(tmp_path / "out")]) == 0
    assert not stale.exists()


def test_a_task_that_does_not_fit_the_checkpoint_is_refused_at_conversion(tmp_path, reference_dir, capsys):
    """--task sudoku on a 12-token checkpoint: refused now, not at the first `trm solve`."""
    assert main([*_reference_args(reference_dir), "--task", "sudoku", "--output", str(tmp_path / "o")]) == 2
    assert "task sudoku (given with --task) does not fit the checkpoint: a 4x4 sudoku has 6 tokens but the " \
           "checkpoint's vocabulary has 12" in capsys.readouterr().err
    assert main([*_reference_args(reference_dir), "--task", "maze", "--output", str(tmp_path / "o")]) == 2
    assert "a 4x4 maze has 6 tokens" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_multi_row_puzzle_table_needs_its_names(tmp_path, reference_dir, capsys):
    folder = reference_dir / "trm_small_mlp"
    args = ["--checkpoint", str(folder / "model.safetensors"), "--config", str(folder / "config.json")]
    assert main([*args, "--output", str(tmp_path / "o")]) == 2
    assert "has 5 rows but no puzzle names were found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    names = ["<blank>", "a", "b", "c", "d"]
    (tmp_path / "identifiers.json").write_text(json.dumps(names))
    assert main([*args, "--identifiers", str(tmp_path / "identifiers.json"), "--output", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "processor_config.json").read_text())["puzzle_identifiers"] == names


@pytest.mark.parametrize("content, expected", [
    ('["<blank>", "a", "b", "a", "b"]', "puzzle names must be unique (one per puzzle-embedding row); named more "
                                        "than once: 'a', 'b'"),
    ('["<blank>", "a", "b', "identifiers.json is not valid JSON (Unterminated string"),
    ("", "identifiers.json is not valid JSON (empty file)"),
])
def test_a_bad_identifiers_file_is_named(tmp_path, reference_dir, capsys, content, expected):
    folder = reference_dir / "trm_small_mlp"
    (tmp_path / "identifiers.json").write_text(content)
    assert main(["--checkpoint", str(folder / "model.safetensors"), "--config", str(folder / "config.json"),
                 "--identifiers", str(tmp_path / "identifiers.json"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and str(tmp_path / "identifiers.json") in err[0]


def test_malformed_checkpoint_and_config_files_are_named_in_one_line(tmp_path, reference_dir, capsys):
    """A safetensors file that is not one, a pickle in a checkpoint file, YAML with python tags: one line each,
    naming the file; the planted payload never runs."""
    import pickle

    marker = tmp_path / "PAYLOAD_RAN"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = reference_dir / "trm_small_mlp"
    (tmp_path / "fake.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "step_10").write_bytes(pickle.dumps({"weight": Payload()}))
    (tmp_path / "all.yaml").write_text(f"arch: !!python/object/apply:os.system ['touch {marker}']\n")
    cases = [
        (["--checkpoint", str(tmp_path / "fake.safetensors"), "--config", str(folder / "config.json")],
         f"{tmp_path / 'fake.safetensors'} is not a readable safetensors file"),
        (["--checkpoint", str(tmp_path / "step_10"), "--config", str(folder / "config.json")],
         f"{tmp_path / 'step_10'} holds more than tensors and would have to be unpickled"),
        (["--checkpoint", str(folder / "model.safetensors"), "--config", str(tmp_path / "all.yaml")],
         f"{tmp_path / 'all.yaml'} is not plain YAML: could not determine a constructor for the tag"),
    ]
    for args, expected in cases:
        assert trm_main(["convert", *args, "--output", str(tmp_path / "o")]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if "trm convert" in line]
        assert len(err) == 1 and expected in err[0], err
    assert not marker.exists() and not (tmp_path / "o").exists()
