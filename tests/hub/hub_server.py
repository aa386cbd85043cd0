"""A local, in-memory Hugging Face Hub for tests.

`HubServer` speaks the subset of the Hub HTTP API that the unmodified `huggingface_hub`,
`transformers` and `datasets` clients use for model and dataset repos: repo create/info/delete,
preupload, the LFS batch API (basic transfer + verify), NDJSON commits, tree listing, paths-info,
file resolve (with the ETag / X-Repo-Commit / X-Linked-* headers the download cache relies on),
branches, tags, refs and commit history, and YAML validation.

Repositories are real git-like histories: every commit hashes a git tree of git blobs (LFS files
are stored as pointer blobs, exactly as git-lfs does), branches and tags point at commits, and a
revision is a branch, a tag or a full commit sha. The server is strict where the Hub is strict
(unknown repo/revision/file -> 404 with the `X-Error-Code` the client maps to the right exception,
existing repo/branch -> 409, malformed NDJSON -> 400, writes need the token, private repos are
invisible without it) so that a client flow passing here would not be rejected by the real Hub.

Xet storage is not implemented: run clients with `HF_HUB_DISABLE_XET=1` so they use LFS.
Tokens are compared, never logged: `requests` records only method, path and status.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # the Hub stores text files above 10 MB in LFS too
TREE_PAGE_SIZE, TREE_PAGE_SIZE_EXPANDED = 1000, 50
FRONT_MATTER = re.compile(r"^\s*---\s*\n(.*?)\n---\s*(\n|$)", re.DOTALL)

# What the Hub writes as the initial commit of every new repo.
LFS_PATTERNS = (
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
    "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb",
    "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*", "*.tar",
    "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
)
DEFAULT_GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS)


class HubError(Exception):
    """An HTTP error answered the way the Hub does (status, X-Error-Code, JSON body with `error`)."""

    def __init__(self, status: int, message: str, error_code: str | None = None, **body):
        super().__init__(message)
        self.status, self.message, self.error_code, self.body = status, message, error_code, body


def _git_hash(kind: str, payload: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(payload)}\0".encode() + payload).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class Blob:
    """A file in a commit: a regular git blob, or an LFS pointer blob (`lfs_sha256` set)."""

    oid: str  # git blob sha1 (of the pointer file for LFS files)
    size: int
    content: bytes | None = None  # regular files only; LFS content lives in the repo's LFS store
    lfs_sha256: str | None = None

    @property
    def pointer_size(self) -> int:
        return len(_lfs_pointer(self.lfs_sha256, self.size))


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    timestamp: float
    files: dict[str, Blob]  # full path -> blob: the whole tree at this commit
    tree_oid: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created: float
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit oid
    tags: dict[str, str] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)  # sha256 -> content

    def resolve(self, revision: str) -> Commit:
        oid = self.branches.get(revision) or self.tags.get(revision)
        if oid is None and re.fullmatch(r"[0-9a-f]{40}", revision) and revision in self.commits:
            oid = revision
        if oid is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return self.commits[oid]

    def read(self, blob: Blob) -> bytes:
        return self.lfs_objects[blob.lfs_sha256] if blob.lfs_sha256 else blob.content

    def history(self, commit: Commit):
        while commit is not None:
            yield commit
            commit = self.commits.get(commit.parent) if commit.parent else None


def _tree_oids(files: dict[str, Blob]) -> dict[str, str]:
    """Git tree sha1 of every directory ("" = root), hashed exactly like `git write-tree`."""
    children: dict[str, dict[str, tuple[str, str]]] = {"": {}}
    for path in files:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            children.setdefault("/".join(parts[:depth]), {})
    for path, blob in files.items():
        parent, _, name = path.rpartition("/")
        children[parent][name] = ("100644", blob.oid)
    oids: dict[str, str] = {}
    for directory in sorted(children, key=lambda d: (d.count("/") if d else -1), reverse=True):  # deepest first
        entries = children[directory]
        # git orders tree entries by name, directories compared as if they ended with "/"
        ordered = sorted(entries.items(), key=lambda item: item[0] + ("/" if item[1][0] == "40000" else ""))
        payload = b"".join(f"{mode} {name}\0".encode() + bytes.fromhex(oid) for name, (mode, oid) in ordered)
        oids[directory] = _git_hash("tree", payload)
        if directory:
            parent, _, name = directory.rpartition("/")
            children[parent][name] = ("40000", oids[directory])
    return oids


class HubStorage:
    """All repos of the server, guarded by one lock (commits are atomic like on the Hub)."""

    def __init__(self, user: str):
        self.user = user
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.RLock()

    def get(self, repo_type: str, repo_id: str, authorized: bool) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not authorized):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def create(self, repo_type: str, repo_id: str, private: bool, url: str) -> Repo:
        with self.lock:
            if (repo_type, repo_id) in self.repos:  # the Hub's 409 carries the repo url (create_repo(exist_ok=True) reads it)
                raise HubError(409, f"You already created this {repo_type} repo", url=url)
            repo = Repo(repo_type, repo_id, private, created=time.time())
            self.repos[(repo_type, repo_id)] = repo
            self.commit(repo, "main", "initial commit", "", [("file", ".gitattributes", DEFAULT_GITATTRIBUTES.encode())])
            return repo

    def commit(self, repo: Repo, branch: str, title: str, message: str, operations, parent_commit=None) -> Commit:
        """Apply `operations` ((kind, path, payload) tuples) on top of `branch` as one new commit."""
        with self.lock:
            parent = repo.commits.get(repo.branches.get(branch)) if repo.branches else None
            if repo.branches and parent is None:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if parent_commit is not None and (parent is None or parent.oid != parent_commit):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(parent.files) if parent else {}
            for kind, path, payload in operations:
                if kind == "file":
                    files[path] = Blob(_git_hash("blob", payload), len(payload), content=payload)
                elif kind == "lfsFile":
                    sha256, size = payload
                    if sha256 not in repo.lfs_objects:
                        raise HubError(400, f"LFS object {sha256} for {path!r} was not uploaded to this repo")
                    actual = len(repo.lfs_objects[sha256])
                    if size is not None and size != actual:
                        raise HubError(400, f"LFS object {sha256} for {path!r} has size {actual}, not {size}")
                    files[path] = Blob(_git_hash("blob", _lfs_pointer(sha256, actual)), actual, lfs_sha256=sha256)
                elif kind == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"File not found: {path}", "EntryNotFound")
                elif kind == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    doomed = [p for p in files if p.startswith(prefix)]
                    if not doomed:
                        raise HubError(404, f"Folder not found: {path}", "EntryNotFound")
                    for p in doomed:
                        del files[p]
            for path in files:  # git cannot hold "a" as both a file and a directory
                parts = path.split("/")
                for depth in range(1, len(parts)):
                    if "/".join(parts[:depth]) in files:
                        raise HubError(400, f"{'/'.join(parts[:depth])!r} is a file, cannot add {path!r} below it")
            tree_oid = _tree_oids(files)[""]
            timestamp = time.time()
            signature = f"{self.user} <{self.user}@users.noreply.huggingface.co> {int(timestamp)} +0000"
            body = f"tree {tree_oid}\n" + (f"parent {parent.oid}\n" if parent else "")
            body += f"author {signature}\ncommitter {signature}\n\n{title}\n" + (f"\n{message}\n" if message else "")
            oid = _git_hash("commit", body.encode())
            while oid in repo.commits:  # identical content within one second: still a distinct commit
                body += "\n"
                oid = _git_hash("commit", body.encode())
            commit = Commit(oid, parent.oid if parent else None, title, message, timestamp, files, tree_oid)
            repo.commits[oid] = commit
            repo.branches[branch] = oid
            return commit


def _card_data(repo: Repo, commit: Commit) -> dict | None:
    """The YAML front matter of README.md, as the Hub exposes it in `cardData`."""
    blob = commit.files.get("README.md")
    if blob is None:
        return None
    match = FRONT_MATTER.match(repo.read(blob).decode("utf-8", "replace"))
    if not match:
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _gitattributes_lfs_patterns(repo: Repo, commit: Commit) -> list[str]:
    blob = commit.files.get(".gitattributes")
    if blob is None:
        return []
    patterns = []
    for line in repo.read(blob).decode("utf-8", "replace").splitlines():
        tokens = line.split()
        if len(tokens) >= 2 and not tokens[0].startswith("#") and "filter=lfs" in tokens[1:]:
            patterns.append(tokens[0])
    return patterns


def _matches(pattern: str, path: str) -> bool:
    if "/" not in pattern:  # gitattributes: a pattern without a slash matches the basename at any depth
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)
    return fnmatch.fnmatchcase(path, pattern.replace("**/", "*"))


def _validate_path(path) -> str:
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        raise HubError(400, f"Invalid path in repo: {path!r}")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts) or parts[0] == ".git":
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


class HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the httpx clients expect
    server: HubServer

    # ---------------------------------------------------------------- plumbing
    def log_message(self, format, *args):  # silence stderr: `requests` keeps a token-free log
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _dispatch(self, method: str):
        self.method = method
        split = urlsplit(self.path)
        self.query = parse_qs(split.query)
        self.body = self._read_body() if method in ("POST", "PUT", "DELETE") else b""
        self.response_status = None  # set by send_response
        try:
            self.route(method, [unquote(s) for s in split.path.strip("/").split("/")], split.path)
        except HubError as error:
            headers = {"X-Error-Message": error.message}
            if error.error_code:
                headers["X-Error-Code"] = error.error_code
            self.send_json({"error": error.message, **error.body}, status=error.status, headers=headers)
        except Exception as error:  # noqa: BLE001 - a server bug: answer 500 and let the test fixture fail loudly
            self.server.errors.append(f"{method} {split.path}: {error!r}")
            self.send_json({"error": f"test server error: {error!r}"}, status=500)
        finally:
            if self.response_status is None:  # no response was sent
                self.server.requests.append((method, split.path, 500))

    def send_response(self, code, message=None):
        # Recorded before the status line goes out, so a client never sees a response that `requests` lacks.
        self.response_status = code
        self.server.requests.append((getattr(self, "command", None), urlsplit(getattr(self, "path", "")).path, code))
        super().send_response(code, message)

    def send_bytes(self, payload: bytes, status: int = 200, headers: dict | None = None, content_type=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/octet-stream")
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.method != "HEAD":
            self.wfile.write(payload)

    def send_json(self, data, status: int = 200, headers: dict | None = None):
        self.send_bytes(json.dumps(data).encode(), status, headers, content_type="application/json; charset=utf-8")

    def json_body(self):
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as error:
            raise HubError(400, f"Invalid JSON body: {error}") from None

    @property
    def base_url(self) -> str:
        return self.server.url

    # ---------------------------------------------------------------- auth
    @property
    def authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), self.server.token):
            raise HubError(401, "Invalid credentials in Authorization header")
        return True

    def require_write(self):
        if not self.authorized:
            raise HubError(401, "You must be authenticated to access this resource (no token given)")

    # ---------------------------------------------------------------- routing
    def route(self, method: str, parts: list[str], raw_path: str):
        storage = self.server.storage
        if parts[:2] == ["api", "whoami-v2"] and method == "GET":
            return self.whoami()
        if parts[:2] == ["api", "agent-harnesses"] and method == "GET":  # client telemetry registry: keep it empty
            return self.send_json({"standardEnvVars": [], "harnesses": {}})
        if parts[:3] == ["api", "repos", "create"] and method == "POST":
            return self.create_repo()
        if parts[:3] == ["api", "repos", "delete"] and method == "DELETE":
            return self.delete_repo()
        if parts[:2] == ["api", "validate-yaml"] and method == "POST":
            return self.validate_yaml()
        if parts[0] == "api" and len(parts) >= 4 and parts[1] in REPO_TYPES:
            repo_type, repo_id = REPO_TYPES[parts[1]], f"{parts[2]}/{parts[3]}"
            action, rest = (parts[4] if len(parts) > 4 else None), parts[5:]
            if action is None and method == "GET":
                return self.repo_info(storage.get(repo_type, repo_id, self.authorized), None)
            # raw segments keep "%2F" of quoted revisions/paths distinguishable from real slashes
            raw_rest = [unquote(s) for s in raw_path.strip("/").split("/")[5:]]
            handlers = {
                ("revision", "GET"): lambda repo: self.repo_info(repo, raw_rest[0] if raw_rest else ""),
                ("preupload", "POST"): lambda repo: self.preupload(repo, "/".join(rest)),
                ("commit", "POST"): lambda repo: self.commit(repo, "/".join(rest)),
                ("tree", "GET"): lambda repo: self.tree(repo, raw_rest[0] if raw_rest else "", "/".join(raw_rest[1:])),
                ("paths-info", "POST"): lambda repo: self.paths_info(repo, "/".join(rest)),
                ("refs", "GET"): self.refs,
                ("commits", "GET"): lambda repo: self.commits(repo, "/".join(rest)),
                ("branch", "POST"): lambda repo: self.create_branch(repo, "/".join(rest)),
                ("branch", "DELETE"): lambda repo: self.delete_branch(repo, "/".join(rest)),
                ("tag", "POST"): lambda repo: self.create_tag(repo, "/".join(rest)),
                ("tag", "DELETE"): lambda repo: self.delete_tag(repo, "/".join(rest)),
                ("settings", "PUT"): self.update_settings,
            }
            handler = handlers.get((action, method))
            if handler is None:
                raise HubError(404, f"Not implemented by the test server: {method} {raw_path}")
            repo = storage.get(repo_type, repo_id, self.authorized)
            return handler(repo)
        # git-side routes: /[datasets/|spaces/]{namespace}/{name}/resolve/... and .../{name}.git/info/lfs/...
        repo_type = "model"
        if parts[0] in ("datasets", "spaces") and len(parts) > 3:
            repo_type, parts = REPO_TYPES[parts[0]], parts[1:]
        if len(parts) >= 5 and parts[1].endswith(".git") and parts[2:5] == ["info", "lfs", "objects"]:
            repo_id = f"{parts[0]}/{parts[1][: -len('.git')]}"
            if parts[5:] == ["batch"] and method == "POST":
                return self.lfs_batch(storage.get(repo_type, repo_id, self.authorized))
            if parts[5:] == ["verify"] and method == "POST":
                return self.lfs_verify(storage.get(repo_type, repo_id, self.authorized))
            if len(parts) == 6 and method == "PUT":
                return self.lfs_upload(repo_type, repo_id, parts[5])
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            repo = storage.get(repo_type, f"{parts[0]}/{parts[1]}", self.authorized)
            return self.resolve(repo, parts[3], "/".join(parts[4:]))
        raise HubError(404, f"Not implemented by the test server: {method} {raw_path}")

    # ---------------------------------------------------------------- account & repos
    def whoami(self):
        if not self.authorized:
            raise HubError(401, "Invalid username or password.")
        user = self.server.storage.user
        self.send_json({
            "type": "user", "id": hashlib.sha1(user.encode()).hexdigest()[:24], "name": user,
            "fullname": user, "orgs": [], "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": "write"}},
        })

    def create_repo(self):
        self.require_write()
        payload = self.json_body()
        name, organization = payload.get("name"), payload.get("organization")
        repo_type = payload.get("type") or "model"
        if repo_type not in URL_PREFIX or not isinstance(name, str):
            raise HubError(400, f"Invalid repo type {repo_type!r} or name {name!r}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", name) or ".." in name or name.endswith(".git"):
            raise HubError(400, f"Invalid repo name {name!r}")
        repo_id = f"{organization or self.server.storage.user}/{name}"
        private = payload.get("visibility", "public") == "private" or bool(payload.get("private"))
        url = f"{self.base_url}/{URL_PREFIX[repo_type]}{repo_id}"
        self.server.storage.create(repo_type, repo_id, private, url)
        self.send_json({"url": url, "name": repo_id, "id": repo_id})

    def delete_repo(self):
        self.require_write()
        payload = self.json_body()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or self.server.storage.user}/{payload.get('name')}"
        with self.server.storage.lock:
            self.server.storage.get(repo_type, repo_id, True)
            del self.server.storage.repos[(repo_type, repo_id)]
        self.send_json({})

    def update_settings(self, repo: Repo):
        self.require_write()
        payload = self.json_body()
        if "private" in payload:
            repo.private = bool(payload["private"])
        if "visibility" in payload:
            repo.private = payload["visibility"] == "private"
        self.send_json({"private": repo.private})

    def validate_yaml(self):
        """Validate the YAML front matter of a README.md (the client sends the whole file)."""
        match = FRONT_MATTER.match(self.json_body().get("content") or "")
        if match is None:
            return self.send_json({"errors": [], "warnings": [{"message": "Empty or missing yaml metadata in repo card"}]})
        try:
            data = yaml.safe_load(match.group(1))
        except yaml.YAMLError as error:
            return self.send_json({"errors": [{"message": f"Invalid YAML: {error}"}], "warnings": []}, status=400)
        if data is not None and not isinstance(data, dict):
            return self.send_json({"errors": [{"message": "Metadata must be a YAML mapping"}], "warnings": []}, status=400)
        self.send_json({"errors": [], "warnings": []})

    def repo_info(self, repo: Repo, revision: str | None):
        commit = repo.resolve(revision or "main")
        card = _card_data(repo, commit)
        blobs = self.query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sibling = {"rfilename": path}
            if blobs:
                sibling.update(size=blob.size, blobId=blob.oid)
                if blob.lfs_sha256:
                    sibling["lfs"] = {"size": blob.size, "sha256": blob.lfs_sha256, "pointerSize": blob.pointer_size}
            siblings.append(sibling)
        info = {
            "_id": hashlib.sha1(f"{repo.repo_type}/{repo.repo_id}".encode()).hexdigest()[:24],
            "id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": commit.oid,
            "lastModified": _iso(commit.timestamp), "createdAt": _iso(repo.created), "private": repo.private,
            "gated": False, "disabled": False, "downloads": 0, "likes": 0,
            "tags": list((card or {}).get("tags") or []), "siblings": siblings,
            "usedStorage": sum(b.size for b in commit.files.values()),
        }
        if card is not None:
            info["cardData"] = card
            if repo.repo_type == "model":
                info.update({k: card[k] for k in ("library_name", "pipeline_tag", "model-index") if k in card})
        self.send_json(info)

    # ---------------------------------------------------------------- uploads
    def preupload(self, repo: Repo, revision: str):
        self.require_write()
        commit = repo.resolve(revision)
        payload = self.json_body()
        files = payload.get("files")
        if not isinstance(files, list):
            raise HubError(400, "preupload: 'files' must be a list")
        lfs_patterns = _gitattributes_lfs_patterns(repo, commit)
        ignore_patterns = [
            line.strip() for line in (payload.get("gitIgnore") or "").splitlines() if line.strip() and not line.startswith("#")
        ]
        answer = []
        for entry in files:
            path = _validate_path(entry.get("path"))
            sample = base64.b64decode(entry.get("sample") or "")
            size = int(entry.get("size", 0))
            existing = commit.files.get(path)
            is_lfs = (
                size >= LFS_SIZE_THRESHOLD
                or b"\x00" in sample  # binary content goes to LFS even without a matching pattern
                or any(_matches(pattern, path) for pattern in lfs_patterns)
                or (existing is not None and existing.lfs_sha256 is not None)
            )
            remote_oid = None if existing is None else (existing.lfs_sha256 or existing.oid)
            answer.append({
                "path": path, "uploadMode": "lfs" if is_lfs else "regular",
                "shouldIgnore": any(_matches(pattern, path) for pattern in ignore_patterns), "oid": remote_oid,
            })
        self.send_json({"files": answer, "commitOid": commit.oid})

    def _signature(self, repo_type: str, repo_id: str, oid: str) -> str:
        return hmac.new(self.server.secret, f"{repo_type}/{repo_id}/{oid}".encode(), hashlib.sha256).hexdigest()

    def lfs_batch(self, repo: Repo):
        self.require_write()
        payload = self.json_body()
        if payload.get("operation") != "upload" or not isinstance(payload.get("objects"), list):
            raise HubError(400, "LFS batch: only the 'upload' operation with a list of objects is supported")
        if "basic" not in (payload.get("transfers") or ["basic"]):
            raise HubError(400, "LFS batch: the test server only offers the 'basic' transfer")
        git_url = f"{self.base_url}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}.git/info/lfs/objects"
        objects = []
        for obj in payload["objects"]:
            oid, size = obj.get("oid"), obj.get("size")
            if not (isinstance(oid, str) and re.fullmatch(r"[0-9a-f]{64}", oid) and isinstance(size, int)):
                objects.append({"oid": str(oid), "size": size if isinstance(size, int) else 0,
                                "error": {"code": 422, "message": "oid must be a sha256 hex digest, size an int"}})
                continue
            answer = {"oid": oid, "size": size, "authenticated": True}
            if oid not in repo.lfs_objects:  # already stored objects get no actions: the client skips them
                signed = f"{git_url}/{oid}?size={size}&signature={self._signature(repo.repo_type, repo.repo_id, oid)}"
                answer["actions"] = {
                    "upload": {"href": signed, "header": {}},
                    "verify": {"href": f"{git_url}/verify", "header": {}},
                }
            objects.append(answer)
        self.send_json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def lfs_upload(self, repo_type: str, repo_id: str, oid: str):
        # a pre-signed URL (like the Hub's S3 links): no token, the signature authorizes it
        signature = self.query.get("signature", [""])[0]
        if not hmac.compare_digest(signature, self._signature(repo_type, repo_id, oid)):
            raise HubError(403, "Invalid signature for LFS upload")
        expected_size = int(self.query.get("size", ["-1"])[0])
        if len(self.body) != expected_size or hashlib.sha256(self.body).hexdigest() != oid:
            raise HubError(400, f"LFS upload does not match oid {oid} / size {expected_size}")
        repo = self.server.storage.get(repo_type, repo_id, True)
        with self.server.storage.lock:
            repo.lfs_objects[oid] = self.body
        self.send_bytes(b"", status=200)

    def lfs_verify(self, repo: Repo):
        self.require_write()
        payload = self.json_body()
        content = repo.lfs_objects.get(payload.get("oid"))
        if content is None or len(content) != payload.get("size"):
            raise HubError(404, f"LFS object {payload.get('oid')} not found or of the wrong size")
        self.send_json({"success": True})

    def commit(self, repo: Repo, revision: str):
        self.require_write()
        if self.query.get("create_pr", ["0"])[0] in ("1", "true"):
            raise HubError(400, "Pull requests are not supported by the test server")
        lines = [line for line in self.body.splitlines() if line.strip()]
        try:
            items = [json.loads(line) for line in lines]
        except json.JSONDecodeError as error:
            raise HubError(400, f"Invalid NDJSON commit payload: {error}") from None
        if not items or not isinstance(items[0], dict) or items[0].get("key") != "header":
            raise HubError(400, "Invalid commit payload: the first line must be the 'header'")
        header = items[0].get("value") or {}
        summary = header.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise HubError(400, "Invalid commit payload: the header needs a non-empty 'summary'")
        operations = []
        for item in items[1:]:
            key, value = (item.get("key"), item.get("value")) if isinstance(item, dict) else (None, None)
            if not isinstance(value, dict):
                raise HubError(400, f"Invalid commit payload line: {item!r}")
            path = _validate_path(value.get("path"))
            if key == "file":
                content = value.get("content", "")
                if value.get("encoding") == "base64":
                    try:
                        content = base64.b64decode(content, validate=True)
                    except ValueError:
                        raise HubError(400, f"Invalid base64 content for {path!r}") from None
                else:
                    content = content.encode()
                operations.append(("file", path, content))
            elif key == "lfsFile":
                if value.get("algo", "sha256") != "sha256" or not isinstance(value.get("oid"), str):
                    raise HubError(400, f"Invalid lfsFile entry for {path!r}")
                operations.append(("lfsFile", path, (value["oid"], value.get("size"))))
            elif key in ("deletedFile", "deletedFolder"):
                operations.append((key, path, None))
            else:
                raise HubError(400, f"Unknown commit operation {key!r}")
        repo.resolve(revision)  # unknown revision -> RevisionNotFound
        if revision not in repo.branches:
            raise HubError(400, f"Can only commit to a branch, {revision!r} is not one")
        commit = self.server.storage.commit(
            repo, revision, summary, header.get("description") or "", operations, header.get("parentCommit")
        )
        self.send_json({
            "success": True, "commitOid": commit.oid, "hookOutput": "", "pullRequestUrl": None,
            "commitUrl": f"{self.base_url}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}/commit/{commit.oid}",
        })

    # ---------------------------------------------------------------- reads
    def _entry(self, repo: Repo, commit: Commit, path: str, tree_oids: dict[str, str], expand: bool) -> dict:
        blob = commit.files.get(path)
        if blob is None:
            entry = {"type": "directory", "oid": tree_oids[path], "size": 0, "path": path}
        else:
            entry = {"type": "file", "oid": blob.oid, "size": blob.size, "path": path}
            if blob.lfs_sha256:
                entry["lfs"] = {"oid": blob.lfs_sha256, "size": blob.size, "pointerSize": blob.pointer_size}
        if expand:
            last = self._last_commit(repo, commit, path, entry["oid"])
            entry["lastCommit"] = {"id": last.oid, "title": last.title, "date": _iso(last.timestamp)}
        return entry

    def _last_commit(self, repo: Repo, commit: Commit, path: str, oid: str) -> Commit:
        last = commit
        for ancestor in repo.history(commit):
            blob = ancestor.files.get(path)
            current = blob.oid if blob else _tree_oids(ancestor.files).get(path)
            if current != oid:
                break
            last = ancestor
        return last

    def tree(self, repo: Repo, revision: str, path: str):
        commit = repo.resolve(revision)
        tree_oids = _tree_oids(commit.files)
        path = path.strip("/")
        if path and path not in tree_oids:
            raise HubError(404, f"Directory not found: {path}", "EntryNotFound")
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        expand = self.query.get("expand", ["false"])[0].lower() in ("1", "true")
        prefix = path + "/" if path else ""
        names = set()
        for candidate in list(commit.files) + [d for d in tree_oids if d]:
            if candidate.startswith(prefix) and (recursive or "/" not in candidate[len(prefix):]):
                names.add(candidate)
        ordered = sorted(names, key=lambda p: (p.count("/"), p not in tree_oids, p))  # folders first per level
        page_size = TREE_PAGE_SIZE_EXPANDED if expand else TREE_PAGE_SIZE
        start = int(self.query.get("cursor", ["0"])[0] or 0)
        page = ordered[start : start + page_size]
        headers = {}
        if start + page_size < len(ordered):
            url = f"{self.base_url}{urlsplit(self.path).path}?recursive={recursive}&expand={expand}&cursor={start + page_size}"
            headers["Link"] = f'<{url}>; rel="next"'
        self.send_json([self._entry(repo, commit, p, tree_oids, expand) for p in page], headers=headers)

    def paths_info(self, repo: Repo, revision: str):
        commit = repo.resolve(revision)
        form = parse_qs(self.body.decode())
        if "paths" not in form and self.headers.get("Content-Type", "").startswith("application/json"):
            form = {k: v if isinstance(v, list) else [str(v)] for k, v in self.json_body().items()}
        expand = (form.get("expand") or ["false"])[0].lower() in ("1", "true")
        tree_oids = _tree_oids(commit.files)
        entries = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in commit.files or (path and path in tree_oids):
                entries.append(self._entry(repo, commit, path, tree_oids, expand))
        self.send_json(entries)

    def resolve(self, repo: Repo, revision: str, path: str):
        commit = repo.resolve(revision)
        blob = commit.files.get(path)
        if blob is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        content = repo.read(blob)
        headers = {"X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes", "ETag": f'"{blob.lfs_sha256 or blob.oid}"'}
        if blob.lfs_sha256:
            # what the Hub sends for LFS files: the sha256 as the linked etag and the real size
            headers.update({"X-Linked-Etag": f'"{blob.lfs_sha256}"', "X-Linked-Size": blob.size})
        status, byte_range = 200, self.headers.get("Range")
        if byte_range:
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", byte_range.strip())
            if not match or not (match.group(1) or match.group(2)):
                raise HubError(416, f"Invalid Range header {byte_range!r}")
            if match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2)), len(content) - 1) if match.group(2) else len(content) - 1
            else:  # suffix range: the last N bytes
                start, end = max(len(content) - int(match.group(2)), 0), len(content) - 1
            if start >= len(content) and len(content) > 0:
                headers["Content-Range"] = f"bytes */{len(content)}"
                raise HubError(416, f"Range {byte_range!r} not satisfiable for {len(content)} bytes")
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            content, status = content[start : end + 1], 206
        self.send_bytes(content, status=status, headers=headers)

    # ---------------------------------------------------------------- refs
    def refs(self, repo: Repo):
        def ref(kind, name, oid):
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}

        self.send_json({
            "branches": [ref("heads", n, o) for n, o in sorted(repo.branches.items())],
            "tags": [ref("tags", n, o) for n, o in sorted(repo.tags.items())],
            "converts": [], "pullRequests": [],
        })

    def commits(self, repo: Repo, revision: str):
        user = self.server.storage.user
        self.send_json([
            {"id": c.oid, "title": c.title, "message": c.message, "date": _iso(c.timestamp),
             "authors": [{"user": user}]}
            for c in repo.history(repo.resolve(revision))
        ])

    @staticmethod
    def _check_ref_name(name: str):
        if not name or name.startswith("refs/") or ".." in name or name.endswith("/") or re.search(r"[\s~^:?*\[\\]", name):
            raise HubError(400, f"Invalid reference name {name!r}")

    def _create_ref(self, repo: Repo, refs: dict, kind: str, name: str, revision: str):
        """Point the new ref ``refs/<kind>/<name>`` (``refs``: the repo's branches or tags) at ``revision``."""
        self._check_ref_name(name)
        with self.server.storage.lock:
            if name in refs:
                raise HubError(409, f"Reference already exists: refs/{kind}/{name}")
            refs[name] = repo.resolve(revision).oid
        self.send_json({})

    def create_branch(self, repo: Repo, branch: str):
        self.require_write()
        self._create_ref(repo, repo.branches, "heads", branch, self.json_body().get("startingPoint") or "main")

    def delete_branch(self, repo: Repo, branch: str):
        self.require_write()
        with self.server.storage.lock:
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if branch == "main":
                raise HubError(403, "Cannot delete the default branch")
            del repo.branches[branch]
        self.send_json({})

    def create_tag(self, repo: Repo, revision: str):
        self.require_write()
        self._create_ref(repo, repo.tags, "tags", self.json_body().get("tag") or "", revision)

    def delete_tag(self, repo: Repo, tag: str):
        self.require_write()
        with self.server.storage.lock:
            if repo.tags.pop(tag, None) is None:
                raise HubError(404, f"Invalid rev id: {tag}", "RevisionNotFound")
        self.send_json({})


class HubServer(ThreadingHTTPServer):
    """`with HubServer(token) as hub:` serves on 127.0.0.1:<free port> from a daemon thread."""

    daemon_threads = True

    def __init__(self, token: str, user: str = "test-user", host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), HubRequestHandler)
        self.token, self.storage = token, HubStorage(user)
        self.secret = secrets.token_bytes(32)
        self.url = f"http://{host}:{self.server_address[1]}"
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status): never headers, so never tokens
        self.errors: list[str] = []  # unexpected exceptions (500s): a test seeing one must fail
        self._thread: threading.Thread | None = None

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def file_url(self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model") -> str:
        return f"{self.url}/{URL_PREFIX[repo_type]}{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"


# Top-level packages of this project: a "fresh process" that loads a pushed model must not find them.
PROJECT_PACKAGES = ("modeling_trm", "hub_datasets", "training", "model_cards")

_BLOCK_IMPORTS = """\
import sys
BLOCKED = {blocked!r}
class _BlockProjectPackages:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is deliberately not importable in this process")
        return None
sys.meta_path.insert(0, _BlockProjectPackages())
sys.path[:] = [p for p in sys.path if p and not p.startswith({repo_root!r})]
for _name in BLOCKED:  # prove it before the test's code runs
    try:
        __import__(_name)
    except ImportError:
        continue
    raise SystemExit(f"{{_name}} must not be importable in this process")
"""


class LocalHub:
    """What the `hub_server` fixture yields: the server plus the client environment of one test.

    `huggingface_hub.constants` (and `transformers` / `datasets`, which copy from it) read
    `HF_ENDPOINT` and friends when first imported, so clients of the server run in a subprocess
    started with `env` (`run_python`). The fixture also points an already imported
    `huggingface_hub` at the server, which is enough for in-process `HfApi` uploads.
    """

    def __init__(self, server: HubServer, home):
        self.server, self.home = server, home
        self.url, self.token = server.url, server.token
        self.env = {
            "HF_ENDPOINT": server.url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_TOKEN": server.token,
            "HF_HUB_OFFLINE": "0",
            "HF_DATASETS_OFFLINE": "0",
            "TRANSFORMERS_OFFLINE": "0",
            "HF_HOME": str(home / "hf_home"),
            "HF_HUB_CACHE": str(home / "hub_cache"),
            "HF_DATASETS_CACHE": str(home / "datasets_cache"),
            "HF_MODULES_CACHE": str(home / "modules_cache"),
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        return self.server.requests

    def file_url(self, *args, **kwargs) -> str:
        return self.server.file_url(*args, **kwargs)

    def run_python(self, code: str, *, isolated: bool = False, timeout: float = 120, cwd=None, env=None):
        """Run `code` in a fresh interpreter talking to this server; return its stdout, raise on failure.

        `isolated=True` runs `python -I` with the project's packages made unimportable (no repo on
        `sys.path`, and the editable-install finder defeated by a `sys.meta_path` blocker), as on a
        machine that only has `transformers` installed.
        """
        import os
        import subprocess
        import sys
        from pathlib import Path

        args = [sys.executable]
        if isolated:
            repo_root = str(Path(__file__).resolve().parents[1])
            code = _BLOCK_IMPORTS.format(blocked=PROJECT_PACKAGES, repo_root=repo_root) + code
            args.append("-I")
        full_env = {**os.environ, **self.env, **(env or {})}
        result = subprocess.run(
            [*args, "-c", code], env=full_env, cwd=cwd or self.home, capture_output=True, text=True, timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"subprocess failed (exit {result.returncode})\n--- stdout ---\n{result.stdout[-4000:]}"
                f"\n--- stderr ---\n{result.stderr[-8000:]}"
            )
        return result.stdout
