"""`trm convert`: official checkpoints (files and run folders) -> save_pretrained folders."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file

from modeling_trm.cli import main as trm_main
from modeling_trm.convert_original_checkpoint import convert_official_state_dict, infer_arch, main
from modeling_trm.modeling_hrm import HRMForPuzzleSolving
from modeling_trm.modeling_trm import TRMForPuzzleSolving


def _reference(reference_dir, name):
    folder = reference_dir / name
    return load_file(folder / "model.safetensors"), json.loads((folder / "config.json").read_text()), \
        load_file(folder / "expected.safetensors")


@pytest.mark.parametrize("name, model_class", [("trm_small_att", TRMForPuzzleSolving),
                                               ("trm_small_mlp", TRMForPuzzleSolving),
                                               ("hrm_small", HRMForPuzzleSolving)])
def test_cli_converts_reference_checkpoints(tmp_path, reference_dir, name, model_class):
    folder = reference_dir / name
    out = tmp_path / "converted"
    assert main(["--checkpoint", str(folder / "model.safetensors"), "--config", str(folder / "config.json"),
                 "--output", str(out)]) == 0
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
                     "--config", str(folder / "config.json"), "--output", str(out)]) == 0
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
                 "--seq-len", "16"]) == 0


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
