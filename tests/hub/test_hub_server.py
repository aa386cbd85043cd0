"""The local Hub test server against the real, unmodified huggingface_hub / datasets / transformers clients."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import httpx2 as httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)


def git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def test_create_repo_conflicts_and_unknown_repos_are_not_found(hub_server):
    api = HfApi()
    url = api.create_repo("test-user/create-me")
    assert url == f"{hub_server.url}/test-user/create-me"
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo("test-user/create-me")
    assert conflict.value.response.status_code == 409
    api.create_repo("test-user/create-me", exist_ok=True)  # the client turns the 409 into a no-op

    # a new repo holds the Hub's initial commit: the default .gitattributes
    assert api.list_repo_files("test-user/create-me") == [".gitattributes"]
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("test-user/does-not-exist")
    with pytest.raises(RepositoryNotFoundError):  # models and datasets are separate namespaces
        api.dataset_info("test-user/create-me")
    with pytest.raises(RevisionNotFoundError):
        api.model_info("test-user/create-me", revision="no-such-branch")

    api.create_repo("test-user/secret", private=True)
    assert api.model_info("test-user/secret").private is True
    with pytest.raises(RepositoryNotFoundError):  # invisible without the token, as on the Hub
        HfApi(token=False).model_info("test-user/secret")


def test_upload_regular_and_lfs_files_then_download_with_etag_cache(hub_server, tmp_path):
    api = HfApi()
    repo_id = "test-user/upload"
    api.create_repo(repo_id)
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    config = b'{"hidden_size": 8}'
    (folder / "config.json").write_bytes(config)
    weights = os.urandom(3000)
    (folder / "sub" / "model.safetensors").write_bytes(weights)  # LFS by the default .gitattributes
    big_text = b"0123456789abcdef\n" * (11 * 1024 * 1024 // 17)  # > 10 MB: LFS even though it is text
    (folder / "big.txt").write_bytes(big_text)
    commit = api.upload_folder(folder_path=folder, repo_id=repo_id, commit_message="add files")
    assert commit.oid == api.model_info(repo_id).sha

    lfs_uploads = [path for method, path, _ in hub_server.requests if method == "PUT" and repo_id in path]
    assert len(lfs_uploads) == 2  # the two LFS files went through the LFS batch API, config.json inline
    entries = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True)}
    assert entries["config.json"].lfs is None and entries["config.json"].blob_id == git_blob_oid(config)
    assert entries["sub/model.safetensors"].lfs.sha256 == hashlib.sha256(weights).hexdigest()
    assert entries["big.txt"].lfs.size == len(big_text)
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "big.txt", "config.json", "sub/model.safetensors"]

    cache = tmp_path / "cache"
    path = hf_hub_download(repo_id, "sub/model.safetensors", cache_dir=cache)
    assert Path(path).read_bytes() == weights
    assert os.path.basename(os.path.dirname(path)) == "sub" and commit.oid in path  # snapshots/<commit>/sub/...
    # the blob is stored under its etag: the sha256 for LFS files, the git blob sha1 for regular ones
    assert os.path.basename(os.path.realpath(path)) == hashlib.sha256(weights).hexdigest()
    config_path = hf_hub_download(repo_id, "config.json", cache_dir=cache)
    assert os.path.basename(os.path.realpath(config_path)) == git_blob_oid(config)

    seen = len(hub_server.requests)
    assert hf_hub_download(repo_id, "sub/model.safetensors", cache_dir=cache) == path
    again = [method for method, path_, _ in hub_server.requests[seen:] if "/resolve/" in path_]
    assert again == ["HEAD"]  # etag unchanged -> served from the cache, no GET

    head = httpx.head(hub_server.file_url(repo_id, "sub/model.safetensors"))
    assert head.headers["X-Linked-Etag"] == f'"{hashlib.sha256(weights).hexdigest()}"'
    assert head.headers["X-Linked-Size"] == str(len(weights))
    assert head.headers["X-Repo-Commit"] == commit.oid
    ranged = httpx.get(hub_server.file_url(repo_id, "config.json"), headers={"Range": "bytes=2-7"})
    assert ranged.status_code == 206 and ranged.content == config[2:8]


def test_branches_revisions_and_commit_history(hub_server, tmp_path):
    api = HfApi()
    repo_id = "test-user/branches"
    api.create_repo(repo_id)
    first = api.upload_file(path_or_fileobj=b"main v1", path_in_repo="notes.txt", repo_id=repo_id)
    api.create_branch(repo_id, branch="dev")
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_branch(repo_id, branch="dev")
    assert conflict.value.response.status_code == 409
    dev = api.upload_file(path_or_fileobj=b"dev v2", path_in_repo="notes.txt", repo_id=repo_id, revision="dev")

    cache = tmp_path / "cache"
    def read(**kwargs) -> bytes:
        return Path(hf_hub_download(repo_id, "notes.txt", cache_dir=cache, **kwargs)).read_bytes()

    assert read() == b"main v1"
    assert read(revision="dev") == b"dev v2"
    assert read(revision=first.oid) == b"main v1"  # a commit sha is a revision too
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "notes.txt", revision="nope", cache_dir=cache)

    refs = api.list_repo_refs(repo_id)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": first.oid, "dev": dev.oid}
    titles = [c.title for c in api.list_repo_commits(repo_id, revision="dev")]
    assert titles == ["Upload notes.txt with huggingface_hub"] * 2 + ["initial commit"]
    api.create_tag(repo_id, tag="v1", revision=first.oid)
    assert read(revision="v1") == b"main v1"
    api.delete_branch(repo_id, branch="dev")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="dev")


def test_missing_files_bad_payloads_and_auth_are_rejected(hub_server, tmp_path):
    api = HfApi()
    repo_id = "test-user/strict"
    api.create_repo(repo_id)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "missing.json", cache_dir=tmp_path)
    with pytest.raises(EntryNotFoundError):
        api.delete_file("missing.json", repo_id=repo_id)

    auth = {"Authorization": f"Bearer {hub_server.token}"}
    commit_url = f"{hub_server.url}/api/models/{repo_id}/commit/main"
    bad = httpx.post(commit_url, content=b'{"key": "header", "value": {"summary": "x"}}\n{not json', headers=auth)
    assert bad.status_code == 400 and "NDJSON" in bad.json()["error"]
    no_header = httpx.post(commit_url, content=b'{"key": "file", "value": {"path": "a", "content": ""}}\n', headers=auth)
    assert no_header.status_code == 400
    escape = httpx.post(
        commit_url,
        content=b'{"key":"header","value":{"summary":"x"}}\n{"key":"file","value":{"path":"../a","content":""}}\n',
        headers=auth,
    )
    assert escape.status_code == 400
    lfs_without_upload = CommitOperationAdd(path_in_repo="w.bin", path_or_fileobj=b"\0" * 10)
    lfs_without_upload._upload_mode, lfs_without_upload._is_uploaded = "lfs", True  # pretend it was uploaded
    with pytest.raises(HfHubHTTPError, match="was not uploaded"):
        api.create_commit(repo_id, [lfs_without_upload], commit_message="x")

    anonymous = httpx.post(f"{hub_server.url}/api/repos/create", json={"name": "anon", "type": "model"})
    assert anonymous.status_code == 401
    wrong = HfApi(token="hf_wrong_token")
    with pytest.raises(HfHubHTTPError) as unauthorized:
        wrong.create_repo("test-user/nope")
    assert unauthorized.value.response.status_code == 401

    head = api.model_info(repo_id).sha
    api.upload_file(path_or_fileobj=b"a", path_in_repo="a.txt", repo_id=repo_id, parent_commit=head)
    with pytest.raises(HfHubHTTPError) as stale:  # the branch moved since `head`
        api.upload_file(path_or_fileobj=b"b", path_in_repo="b.txt", repo_id=repo_id, parent_commit=head)
    assert stale.value.response.status_code == 412
    assert all(hub_server.token not in path for _, path, _ in hub_server.requests)


def test_tree_listing_paginates_and_deletes_folders(hub_server):
    api = HfApi()
    repo_id = "test-user/many-files"
    api.create_repo(repo_id)
    operations = [CommitOperationAdd(f"shards/{i:03d}.txt", f"{i}".encode()) for i in range(60)]
    api.create_commit(repo_id, operations + [CommitOperationAdd("top.txt", b"t")], commit_message="many")
    seen = len(hub_server.requests)
    listed = list(api.list_repo_tree(repo_id, "shards", expand=True))  # 50 entries per expanded page
    assert [e.path for e in listed] == [f"shards/{i:03d}.txt" for i in range(60)]
    assert all(e.last_commit.title == "many" for e in listed)
    assert sum("/tree/" in path for _, path, _ in hub_server.requests[seen:]) == 2
    top = {e.path: type(e).__name__ for e in api.list_repo_tree(repo_id)}
    assert top == {"shards": "RepoFolder", ".gitattributes": "RepoFile", "top.txt": "RepoFile"}
    infos = api.get_paths_info(repo_id, ["top.txt", "shards", "absent.txt"])
    assert [(i.path, type(i).__name__) for i in infos] == [("top.txt", "RepoFile"), ("shards", "RepoFolder")]
    api.delete_folder("shards", repo_id=repo_id)
    assert api.list_repo_files(repo_id) == [".gitattributes", "top.txt"]


def test_datasets_push_to_hub_and_load_dataset_round_trip(hub_server):
    out = hub_server.run_python(
        """
import json
from datasets import Dataset, DatasetDict, Features, Sequence, Value, load_dataset
from huggingface_hub import hf_hub_download
features = Features({"inputs": Sequence(Value("uint8"), length=3), "name": Value("string")})
dd = DatasetDict(
    train=Dataset.from_dict({"inputs": [[1, 2, 3], [4, 5, 6]], "name": ["a", "b"]}, features=features),
    test=Dataset.from_dict({"inputs": [[7, 8, 9]], "name": ["c"]}, features=features),
)
dd.push_to_hub("test-user/tiny-dataset")
loaded = load_dataset("test-user/tiny-dataset")
card = open(hf_hub_download("test-user/tiny-dataset", "README.md", repo_type="dataset")).read()
print(json.dumps({split: loaded[split].to_dict() for split in loaded}))
print(json.dumps({"features_equal": loaded["train"].features == features, "card": card}))
"""
    )
    rows, meta = (json.loads(line) for line in out.strip().splitlines()[-2:])
    assert rows == {"train": {"inputs": [[1, 2, 3], [4, 5, 6]], "name": ["a", "b"]},
                    "test": {"inputs": [[7, 8, 9]], "name": ["c"]}}
    assert meta["features_equal"] is True
    assert meta["card"].startswith("---\n") and "dataset_info:" in meta["card"] and "configs:" in meta["card"]
    assert any(m == "POST" and "/datasets/test-user/tiny-dataset.git/info/lfs" in p for m, p, _ in hub_server.requests)


def test_transformers_push_to_hub_and_from_pretrained_round_trip(hub_server):
    out = hub_server.run_python(
        """
import torch
from transformers import AutoModel, BertConfig, BertModel
torch.manual_seed(0)
model = BertModel(BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=32, max_position_embeddings=16)).eval()
model.push_to_hub("test-user/tiny-bert")
loaded = AutoModel.from_pretrained("test-user/tiny-bert")
ids = torch.tensor([[1, 2, 3, 4]])
same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
print(type(loaded).__name__, same, torch.equal(model(ids).last_hidden_state, loaded(ids).last_hidden_state))
"""
    )
    assert out.strip().splitlines()[-1] == "BertModel True True"
    assert HfApi().list_repo_files("test-user/tiny-bert") == [".gitattributes", "README.md", "config.json", "model.safetensors"]
