"""`training.publish`: checking a model folder and pushing it (`trm push`) to the local Hub server."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from huggingface_hub import HfApi

import modeling_trm
from training.publish import IncompleteModelFolderError, check_model_folder, push_model_folder

REMOTE_CODE = ["configuration_trm.py", "modeling_trm.py", "pipeline_trm.py", "processing_trm.py", "solving_trm.py"]


def write_model_folder(path, with_eval=True):
    """A tiny model folder as save_pretrained + processor.save_pretrained + a hand-written card leave it."""
    from modeling_trm import PuzzleProcessor, TRMConfig, TRMForPuzzleSolving

    config = TRMConfig(vocab_size=6, seq_len=16, hidden_size=16, num_attention_heads=2, expansion=2, num_layers=1,
                       num_recursions=1, num_latent_updates=1, max_supervision_steps=2, puzzle_embedding_dim=0)
    TRMForPuzzleSolving(config).save_pretrained(path)
    PuzzleProcessor("sudoku", grid_size=4).save_pretrained(path)
    (path / "README.md").write_text("---\nlibrary_name: transformers\ntags: [trm]\n---\n# Tiny TRM\n")
    if with_eval:
        (path / "eval_results.json").write_text(json.dumps({"exact_accuracy": 0.5, "dataset": "test-user/sudoku4",
                                                            "split": "test", "halting": "fixed", "max_steps": 2}))
    return path


def test_incomplete_folders_are_rejected_naming_every_missing_piece(tmp_path):
    with pytest.raises(IncompleteModelFolderError, match="does not exist"):
        check_model_folder(tmp_path / "nowhere")

    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "config.json").write_text(json.dumps({"model_type": "trm"}))
    with pytest.raises(IncompleteModelFolderError) as bare:
        check_model_folder(tmp_path / "bare")
    for missing in ("'AutoConfig'", "'AutoModel'", "model.safetensors", "processor_config.json",
                    "solve_config.json", "README.md"):
        assert missing in str(bare.value)

    # remote code: the modules auto_map names *and* the siblings they import must all be there
    folder = write_model_folder(tmp_path / "model")
    (folder / "solving_trm.py").unlink()
    (folder / "processing_trm.py").unlink()
    with pytest.raises(IncompleteModelFolderError) as code:
        check_model_folder(folder)
    assert "solving_trm.py" in str(code.value) and "processing_trm.py" in str(code.value)
    assert "modeling_trm.py" not in str(code.value)

    # a code file that is a link leading nowhere (a shipped folder copied with `cp -r`) is named as such
    folder = write_model_folder(tmp_path / "copied")
    (folder / "solving_trm.py").unlink()
    (folder / "solving_trm.py").symlink_to("../../modeling_trm/solving_trm.py")
    with pytest.raises(IncompleteModelFolderError, match=r"solving_trm\.py \(a link to \.\./\.\./modeling_trm/solving_trm"
                                                         r"\.py, which is not there: copy such folders with `cp -rL`\)"):
        check_model_folder(folder)

    # and the module of a pipeline named in config.json's custom_pipelines, which the pipeline loads by itself
    folder = write_model_folder(tmp_path / "other-pipeline")
    config = json.loads((folder / "config.json").read_text())
    config["custom_pipelines"]["puzzle-solving"]["impl"] = "puzzle_pipeline.PuzzleSolvingPipeline"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(IncompleteModelFolderError, match=r"puzzle_pipeline\.py"):
        check_model_folder(folder)

    sharded = write_model_folder(tmp_path / "sharded")
    (sharded / "model.safetensors").unlink()
    weight_map = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (sharded / "model-00001-of-00002.safetensors").write_bytes(b"x")
    with pytest.raises(IncompleteModelFolderError, match=r"model-00002-of-00002\.safetensors"):
        check_model_folder(sharded)


def test_push_creates_the_repo_uploads_the_folder_and_pushes_branches(hub_server, tmp_path, caplog):
    folder = write_model_folder(tmp_path / "tiny-trm")
    (folder / "checkpoint-10").mkdir()
    (folder / "checkpoint-10" / "optimizer.pt").write_bytes(b"training state, not published")
    api = HfApi()

    commit = push_model_folder(folder, "test-user/tiny-trm", commit_message="first model")
    assert commit.oid == api.model_info("test-user/tiny-trm").sha
    published = REMOTE_CODE + ["README.md", "config.json", "eval_results.json", "model.safetensors",
                               "processor_config.json", "solve_config.json"]
    assert sorted(api.list_repo_files("test-user/tiny-trm")) == sorted([".gitattributes", *published])
    assert api.list_repo_commits("test-user/tiny-trm")[0].title == "first model"
    # the card is rendered for the repo (not the local folder's name) in the same commit; the local one is kept
    card = api.model_info("test-user/tiny-trm").card_data
    assert card.model_name == "test-user/tiny-trm" and card.datasets == ["test-user/sudoku4"]
    assert card.eval_results[0].metric_value == 0.5
    assert (card.license, card.pipeline_tag) == ("mit", "other") and "puzzle-solving" in card.tags
    assert (folder / "README.md").read_text().endswith("# Tiny TRM\n")
    kept = push_model_folder(folder, "test-user/kept-card", render_card=False)
    assert kept.oid and api.model_info("test-user/kept-card").card_data["tags"] == ["trm"]

    (folder / "solve_config.json").write_text(json.dumps({"halting": "adaptive"}))
    dev = push_model_folder(folder, "test-user/tiny-trm", revision="dev")  # branch created from main
    refs = {branch.name: branch.target_commit for branch in api.list_repo_refs("test-user/tiny-trm").branches}
    assert refs == {"main": commit.oid, "dev": dev.oid}

    def download(revision):
        path = api.hf_hub_download("test-user/tiny-trm", "solve_config.json", revision=revision, cache_dir=tmp_path / "c")
        return json.loads(Path(path).read_text())

    assert download("main")["halting"] == "fixed" and download("dev") == {"halting": "adaptive"}

    push_model_folder(write_model_folder(tmp_path / "private"), "test-user/private-trm", private=True)
    assert api.model_info("test-user/private-trm").private is True

    (folder / "README.md").unlink()
    with pytest.raises(IncompleteModelFolderError, match="README.md"):
        push_model_folder(folder, "test-user/never-created")
    with pytest.raises(Exception, match="Repository Not Found"):  # checked before anything is sent
        api.model_info("test-user/never-created")


def test_push_without_a_token_fails_before_contacting_the_hub(hub_server, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    seen = len(hub_server.requests)
    with pytest.raises(PermissionError, match="HF_TOKEN"):
        push_model_folder(write_model_folder(tmp_path / "m"), "test-user/no-token")
    assert hub_server.requests[seen:] == []


def test_trm_push_cli_never_prints_or_logs_the_token(hub_server, tmp_path, caplog, capsys):
    folder = write_model_folder(tmp_path / "cli-model", with_eval=False)
    # in a subprocess, with huggingface_hub's own debug logging switched on
    out = hub_server.run_python(
        "import logging, sys\n"
        "sys.stderr = sys.stdout\n"  # one stream to search: warnings, logs, progress, errors
        "logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)\n"
        "from training.cli import main\n"
        f"sys.exit(main(['push', {str(folder)!r}, 'test-user/cli-model', '--revision', 'exp', '--private']))\n",
        env={"HF_HUB_VERBOSITY": "debug"},
    )
    assert "pushed" in out and "test-user/cli-model@exp" in out
    assert "no eval_results.json" in out  # the warning about the card without scores
    assert hub_server.token not in out
    info = HfApi().model_info("test-user/cli-model", revision="exp")
    assert info.private is True and "processing_trm.py" in [s.rfilename for s in info.siblings]

    # in process, everything the logging system and stdout/stderr saw
    with caplog.at_level(logging.DEBUG):
        push_model_folder(folder, "test-user/cli-model", token=hub_server.token)
    captured = capsys.readouterr()
    assert hub_server.token not in caplog.text + captured.out + captured.err
    assert all(hub_server.token not in path for _, path, _ in hub_server.requests)


def test_model_push_to_hub_from_python_renders_the_package_card(hub_server, tmp_path):
    """The usual Hugging Face habit, `model.push_to_hub(repo)`, gives the card `trm push` gives (not
    transformers' empty default), with the model-index of the folder the model was loaded from."""
    import yaml

    folder = write_model_folder(tmp_path / "trm-sudoku4")
    (folder / "training_config.yaml").write_text(yaml.safe_dump({"lr": 1e-3, "global_batch_size": 8}))
    # a fresh process: transformers reads HF_ENDPOINT (the local Hub) when first imported
    hub_server.run_python("from modeling_trm import TRMForPuzzleSolving\n"
                          f"TRMForPuzzleSolving.from_pretrained({str(folder)!r}).push_to_hub('test-user/py-push')\n",
                          cwd=tmp_path)

    api = HfApi()
    card = api.model_info("test-user/py-push").card_data
    assert card.model_name == "test-user/py-push" and card.eval_results[0].metric_type == "exact_accuracy"
    assert (card.license, card.pipeline_tag, card.datasets) == ("mit", "other", ["test-user/sudoku4"])
    files = set(api.list_repo_files("test-user/py-push"))
    assert {"README.md", "eval_results.json", "training_config.yaml", "processor_config.json",
            "solve_config.json", "pipeline_trm.py"} <= files
    readme = Path(api.hf_hub_download("test-user/py-push", "README.md", cache_dir=tmp_path / "c")).read_text()
    assert "Model Card for Model ID" not in readme and 'from_pretrained("test-user/py-push"' in readme
    assert "# 16 characters (4x4)" in readme


def test_a_truncated_file_in_the_folder_is_named(tmp_path):
    folder = write_model_folder(tmp_path / "model")
    (folder / "processor_config.json").write_text("")
    with pytest.raises(ValueError, match=f"^{folder / 'processor_config.json'} is not valid JSON \\(empty file\\)$"):
        check_model_folder(folder)


def test_a_shipped_model_folder_is_published_with_its_code_as_files(hub_server, tmp_path):
    """The shipped folders hold their remote code as links into modeling_trm/; the Hub repo gets the files."""
    from training.pretrained import shipped_models

    folder = shipped_models()["sudoku6x6"]
    push_model_folder(folder, "test-user/sudoku6x6", render_card=False)
    api = HfApi()
    assert set(REMOTE_CODE) <= set(api.list_repo_files("test-user/sudoku6x6"))
    for name in REMOTE_CODE:
        published = api.hf_hub_download("test-user/sudoku6x6", name, cache_dir=tmp_path / "c")
        assert Path(published).read_bytes() == (Path(modeling_trm.__file__).parent / name).read_bytes(), name
