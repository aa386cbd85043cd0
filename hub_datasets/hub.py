"""Save, load and push built puzzle datasets (local folders and Hub dataset repos)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import datasets
from datasets import DatasetDict

from modeling_trm.folders import (
    non_empty,
    remove_stale_stages,
    removed_on_failure,
    replace_folder,
    stage_path,
)

from .card import render_dataset_card
from .hub_access import check_hub_reachable, local_folder_or_repo_id, naming_hub_failures
from .metadata import METADATA_FILENAME, PuzzleDatasetMetadata


def save_puzzle_dataset(dd: DatasetDict, metadata: PuzzleDatasetMetadata, path: str | Path,
                        overwrite: bool = False) -> Path:
    """``dd.save_to_disk(path)`` plus ``puzzle_dataset.json`` and the card (``README.md``);
    ``datasets.load_from_disk(path)`` reads the data back.

    Atomic: everything is written to a temporary sibling folder that is renamed into place, so a kill
    mid-save leaves the previous folder whole. A previous puzzle dataset at ``path`` is replaced; any
    other non-empty folder (a model, your files) is refused unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"--output {path} is a file, not a folder")
    if non_empty(path) and not (path / METADATA_FILENAME).is_file() and not overwrite:
        raise FileExistsError(
            f"--output {path} is a non-empty folder that is not a puzzle dataset (no {METADATA_FILENAME}); "
            "choose another folder or pass --overwrite to replace its contents"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_stages(path)  # left by a build that was killed while saving
    tmp = stage_path(path)
    shutil.rmtree(tmp, ignore_errors=True)
    with removed_on_failure(tmp, path.parent, f"the dataset {path.name}",
                            kept="the previous dataset there is unchanged" if path.exists() else None):
        dd.save_to_disk(str(tmp))
        metadata.save(tmp)
        render_dataset_card(metadata).save(tmp / "README.md")
    replace_folder(tmp, path)
    return path


def _is_local(path_or_repo: str | Path) -> bool:
    return Path(path_or_repo).is_dir()


def load_puzzle_dataset(path_or_repo: str | Path, revision: str | None = None) -> DatasetDict:
    """A folder written by ``save_puzzle_dataset`` or a Hub dataset repo written by ``push_puzzle_dataset``."""
    if _is_local(path_or_repo):
        return datasets.load_from_disk(str(path_or_repo))
    repo_id = local_folder_or_repo_id(str(path_or_repo), "dataset")
    with naming_hub_failures(f"load the dataset {repo_id!r}"):
        return datasets.load_dataset(repo_id, revision=revision)


def load_dataset_metadata(path_or_repo: str | Path, revision: str | None = None) -> PuzzleDatasetMetadata:
    if _is_local(path_or_repo):
        path = Path(path_or_repo) / METADATA_FILENAME
        if not path.is_file():
            raise FileNotFoundError(f"{path_or_repo} has no {METADATA_FILENAME}: not a puzzle dataset folder")
        return PuzzleDatasetMetadata.load(path)
    from huggingface_hub import hf_hub_download

    repo_id = local_folder_or_repo_id(str(path_or_repo), "dataset")
    with naming_hub_failures(f"load the dataset {repo_id!r}"):
        path = hf_hub_download(repo_id, METADATA_FILENAME, repo_type="dataset", revision=revision)
    return PuzzleDatasetMetadata.load(path)


def push_puzzle_dataset(dd: DatasetDict, metadata: PuzzleDatasetMetadata, repo_id: str, private: bool = False,
                        token: str | None = None, revision: str | None = None,
                        commit_message: str | None = None, saved: str | None = None) -> str:
    """Upload the data (``DatasetDict.push_to_hub``: parquet + features), then ``puzzle_dataset.json``
    and the card in one commit; the card keeps the ``configs``/``dataset_info`` YAML that
    ``push_to_hub`` wrote, so ``datasets.load_dataset(repo_id)`` still finds splits and features. An
    unreachable endpoint is one `HubUnreachableError` line that names it and, with ``saved``, the local copy."""
    check_hub_reachable(f"upload the dataset to {repo_id!r}", saved)
    with naming_hub_failures(f"upload the dataset to {repo_id!r}", saved):
        return _push(dd, metadata, repo_id, private, token, revision, commit_message)


def _push(dd, metadata, repo_id, private, token, revision, commit_message) -> str:
    import dataclasses

    from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi

    metadata = dataclasses.replace(metadata, hub_id=repo_id)  # a copy downloaded later knows where it came from
    dd.push_to_hub(repo_id, private=private, token=token, revision=revision,
                   commit_message=commit_message or f"Upload {metadata.recipe} data")
    hub_card = DatasetCard.load(repo_id, repo_type="dataset", token=token) if revision is None else \
        DatasetCard(HfApi(token=token).hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=revision))
    pushed = {k: v for k, v in hub_card.data.to_dict().items() if k in ("configs", "dataset_info")}
    card = render_dataset_card(metadata, repo_id=repo_id, extra_card_data=pushed)
    operations = [
        CommitOperationAdd(METADATA_FILENAME, io.BytesIO(_metadata_bytes(metadata))),
        CommitOperationAdd("README.md", io.BytesIO(str(card).encode())),
    ]
    info = HfApi(token=token).create_commit(repo_id, operations, repo_type="dataset", revision=revision,
                                            commit_message=f"Add {METADATA_FILENAME} and dataset card")
    return info.commit_url


def _metadata_bytes(metadata: PuzzleDatasetMetadata) -> bytes:
    import json

    return json.dumps(metadata.to_dict()).encode()
