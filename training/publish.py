"""Publish a saved model folder to the Hugging Face Hub (`trm push`).

The folder is what `save_pretrained` + the model card writer produce: weights, `config.json` (with
the `auto_map` that makes it loadable with `trust_remote_code=True`), the remote-code modules it
names, the processor config, `solve_config.json`, the card `README.md` and, once evaluated,
`eval_results.json`. It is checked before anything is sent, so an incomplete model never reaches
the Hub. The token comes from the usual `huggingface_hub` sources (`HF_TOKEN`, `hf auth login`) or
the `token` argument, and is never printed or logged.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from pathlib import Path

from huggingface_hub import HfApi, get_token

from hub_datasets.hub_access import check_hub_reachable, naming_hub_failures
from modeling_trm.folders import read_json_file

logger = logging.getLogger(__name__)

PROCESSOR_CONFIG_NAMES = ("processor_config.json", "preprocessor_config.json")
# Training state that may sit in an output folder but is not part of the published model.
TRAINING_STATE_PATTERNS = ["checkpoint-*/**", "checkpoints/**", "runs/**", "logs/**", "*.pt", "*.pth", ".*", "**/.*"]
_RELATIVE_IMPORT = re.compile(r"^\s*from\s+\.(\w+)\s+import\s", re.MULTILINE)


class IncompleteModelFolderError(ValueError):
    """The model folder lacks files a Hub user needs to load and run the model."""


def _remote_code_modules(model_dir: Path, auto_map: dict) -> set[str]:
    """File names of the modules named in `auto_map`, plus the sibling modules they import."""
    pending = {ref.split("--")[-1].rsplit(".", 1)[0] + ".py" for ref in _flatten(auto_map.values())}
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        seen.add(name)
        path = model_dir / name
        if path.is_file():
            pending |= {f"{module}.py" for module in _RELATIVE_IMPORT.findall(path.read_text())} - seen
    return seen


def _flatten(values):
    for value in values:
        if isinstance(value, (list, tuple)):
            yield from (v for v in value if v)  # e.g. AutoTokenizer: [slow, fast]
        elif value:
            yield value


def check_model_folder(model_dir: str | Path) -> None:
    """Raise `IncompleteModelFolderError` naming every missing piece of a publishable model folder."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise IncompleteModelFolderError(f"model folder {str(model_dir)!r} does not exist or is not a directory")
    missing: list[str] = []

    config_path = model_dir / "config.json"
    auto_map: dict = {}
    if not config_path.is_file():
        missing.append("config.json (the model config; write it with model.save_pretrained)")
    else:
        config = read_json_file(config_path)
        auto_map = config.get("auto_map") or {}
        for auto_class in ("AutoConfig", "AutoModel"):
            if auto_class not in auto_map:
                missing.append(f"config.json 'auto_map' entry {auto_class!r} (needed for trust_remote_code loading)")
        # `pipeline(task, model=repo, trust_remote_code=True)` loads the pipeline class from its module too
        auto_map = {**auto_map, **{f"pipeline {task}": spec.get("impl")
                                   for task, spec in (config.get("custom_pipelines") or {}).items()}}

    index_path = model_dir / "model.safetensors.index.json"
    if index_path.is_file():
        shards = sorted(set(read_json_file(index_path)["weight_map"].values()))
        missing += [f"{shard} (weight shard listed in model.safetensors.index.json)" for shard in shards
                    if not (model_dir / shard).is_file()]
    elif not (model_dir / "model.safetensors").is_file():
        missing.append("model.safetensors (the weights; write them with model.save_pretrained)")

    processor_configs = [name for name in PROCESSOR_CONFIG_NAMES if (model_dir / name).is_file()]
    if not processor_configs:
        missing.append(f"{PROCESSOR_CONFIG_NAMES[0]} (the processor; write it with processor.save_pretrained)")
    for name in processor_configs:
        auto_map = {**auto_map, **(read_json_file(model_dir / name).get("auto_map") or {})}

    if not (model_dir / "solve_config.json").is_file():
        missing.append("solve_config.json (the solve settings; written by model.save_pretrained)")
    if not (model_dir / "README.md").is_file():
        missing.append("README.md (the model card; render it with `trm card`)")
    for name in sorted(_remote_code_modules(model_dir, auto_map)):
        path = model_dir / name
        if path.is_symlink() and not path.exists():  # e.g. a shipped folder copied without its links' targets
            missing.append(f"{name} (a link to {os.readlink(path)}, which is not there: copy such folders with `cp -rL`)")
        elif not path.is_file():
            missing.append(f"{name} (remote code named in config.json or the processor config)")

    if missing:
        raise IncompleteModelFolderError(
            f"model folder {str(model_dir)!r} is incomplete, missing:\n" + "\n".join(f"  - {m}" for m in missing)
        )
    if not (model_dir / "eval_results.json").is_file():
        logger.warning("%s has no eval_results.json: the model card will have no model-index scores", model_dir)


def push_model_folder(
    model_dir: str | Path,
    repo_id: str,
    revision: str | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    render_card: bool = True,
) -> str:
    """Upload a complete model folder to the Hub model repo `repo_id`; return the commit URL.

    The repo is created if needed (`private` only applies to a new repo). With `revision`, the files
    go to that branch, created from `main` if it does not exist yet. The returned string is a
    `huggingface_hub.CommitInfo` (its `.oid` is the commit sha). The card is rendered for `repo_id`
    (its model-index name and usage snippet name the repo, not the local folder) from the folder's
    files, in the same commit; the local README.md is left as it is. `render_card=False` uploads the
    folder's README.md unchanged (a hand-edited card).
    """
    model_dir = Path(model_dir)
    check_model_folder(model_dir)
    token = token or get_token()
    if not token:
        raise PermissionError(
            "no Hugging Face token found: set HF_TOKEN, run `hf auth login`, or pass token=... to push_model_folder"
        )
    # The model folder is complete and stays where it is: the one-line error says so, and how to retry.
    saved = f"the model is saved in {model_dir}; upload it later with `trm push {model_dir} {repo_id}`"
    check_hub_reachable(f"upload {model_dir} to {repo_id!r}", saved)
    api = HfApi(token=token)
    with naming_hub_failures(f"upload {model_dir} to {repo_id!r}", saved):
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision is not None and revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        if render_card:
            from huggingface_hub import CommitOperationAdd
            from huggingface_hub.utils import filter_repo_objects

            from model_cards.render import render_model_card

            card = render_model_card(model_dir, repo_id=repo_id, save=False)
            files = [path.relative_to(model_dir).as_posix() for path in sorted(model_dir.rglob("*")) if path.is_file()]
            operations = [CommitOperationAdd(name, str(model_dir / name))
                          for name in filter_repo_objects(files, ignore_patterns=TRAINING_STATE_PATTERNS)
                          if name != "README.md"]
            operations.append(CommitOperationAdd("README.md", str(card).encode()))
            commit = api.create_commit(repo_id, operations, repo_type="model", revision=revision,
                                       commit_message=commit_message or f"Upload {model_dir.name}")
        else:
            commit = api.upload_folder(
                folder_path=model_dir,
                repo_id=repo_id,
                repo_type="model",
                revision=revision,
                commit_message=commit_message or f"Upload {model_dir.name}",
                ignore_patterns=TRAINING_STATE_PATTERNS,
            )
    logger.info("pushed %s to %s (revision %s): %s", model_dir, repo_id, revision or "main", commit)
    return commit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="trm push",
        description="Upload a model folder (weights, config, processor, solve config, remote code, card) to the Hub. "
        "The token comes from HF_TOKEN or `hf auth login`.",
    )
    parser.add_argument("model_dir", help="folder written by `trm train` / save_pretrained, with README.md")
    parser.add_argument("repo_id", help="Hub model repo, e.g. your-name/trm-sudoku")
    parser.add_argument("--revision", help="branch to push to (created from main if missing); default: main")
    parser.add_argument("--private", action="store_true", help="create the repo as private (new repos only)")
    parser.add_argument("--commit-message", help="commit message; default: 'Upload <folder name>'")
    parser.add_argument("--keep-card", action="store_true",
                        help="upload the folder's README.md as it is (default: render the card for REPO_ID)")
    args = parser.parse_args(argv)
    try:
        commit = push_model_folder(
            args.model_dir, args.repo_id, revision=args.revision, private=args.private,
            commit_message=args.commit_message, render_card=not args.keep_card,
        )
    except (IncompleteModelFolderError, PermissionError) as error:
        parser.exit(2, f"trm push: error: {error}\n")
    print(f"pushed {args.model_dir} to {args.repo_id}@{args.revision or 'main'}: {commit}")
    return 0
