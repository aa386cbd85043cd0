"""Reading and writing the package's folders: files named when unreadable, staged writes, a full disk, run locks.

JSON and YAML files (configs, metadata, results) that are truncated, empty or not what they claim are
named in one line, not in the parser's traceback.

Every folder the package writes (a converted model, a dataset, a checkpoint, a final model) is first
written to a hidden staging sibling and renamed into place, so a kill leaves the previous folder whole.
The helpers here name such stages after the process that owns them (``.NAME.tmp-PID``), so two runs never
share one and a later run can tell a stage whose writer is gone (and delete it) from one still being
written. A write that fails on a full disk removes its partial files and says which disk is full.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path

# ------------------------------------------------------------------------------------- reading files


def _read_text_file(path: Path, kind: str, parse, parse_error: type[Exception], reason):
    """``parse`` of the text of ``path``; a binary file or a ``parse_error`` is named in one line."""
    try:
        return parse(Path(path).read_text())
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a {kind} text file") from None
    except parse_error as err:
        raise ValueError(f"{path} is not {reason(err)}") from None


def read_json_file(path: Path):
    """JSON from ``path``; a truncated, empty or non-JSON file is named in one line."""
    return _read_text_file(path, "JSON", json.loads, json.JSONDecodeError,
                           lambda err: f"valid JSON ({'empty file' if not err.doc.strip() else err})")


def read_yaml_file(path: Path):
    """Plain YAML (``yaml.safe_load``) from ``path``; tags that would build Python objects are refused, named."""
    import yaml  # here: the model classes do not need it

    def reason(err) -> str:
        problem = getattr(err, "problem", None) or str(err).strip().splitlines()[0]
        line = f" (line {err.problem_mark.line + 1})" if getattr(err, "problem_mark", None) else ""
        return f"plain YAML: {problem}{line}"

    return _read_text_file(path, "YAML", yaml.safe_load, yaml.YAMLError, reason)


# ------------------------------------------------------------------------------------- staged writes


def stage_path(path: Path, kind: str = "tmp") -> Path:
    """The hidden sibling ``.NAME.<kind>-PID`` in which this process writes (or sets aside) ``path``."""
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}")


def process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True


def remove_stale_stages(path: Path) -> list[Path]:
    """Delete the ``.NAME.tmp-PID`` / ``.NAME.old-PID`` siblings of ``path`` left by processes that are gone
    (an interrupted build or conversion); stages of a live process are kept. Returns what was removed."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(tmp|old)-(\d+)$")
    removed = []
    if not path.parent.is_dir():
        return removed
    for sibling in path.parent.iterdir():
        match = pattern.match(sibling.name)
        if match and int(match.group(2)) != os.getpid() and not process_is_alive(int(match.group(2))):
            shutil.rmtree(sibling, ignore_errors=True) if sibling.is_dir() else sibling.unlink(missing_ok=True)
            removed.append(sibling)
    return removed


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to the file ``path`` through its stage: a kill mid-write leaves the previous file whole,
    never a truncated one (a results file, a log that a later run reads back)."""
    path = Path(path)
    stage = stage_path(path)
    try:
        stage.write_text(text)
        os.replace(stage, path)
    except BaseException:
        stage.unlink(missing_ok=True)
        raise


def replace_folder(new: Path, path: Path) -> None:
    """Rename the finished folder ``new`` to ``path``; a previous ``path`` is moved aside first and
    deleted only once the new one is in place."""
    old = stage_path(path, "old")
    if path.exists():
        os.replace(path, old)
    os.replace(new, path)
    shutil.rmtree(old, ignore_errors=True)


def non_empty(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


# ------------------------------------------------------------------------------------- a full disk


def _mount_point(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def is_disk_full(error: BaseException, partial: Path | None = None) -> bool:
    """Whether ``error`` (raised while writing ``partial``) is a full disk. torch's zip writer reports one
    as ``RuntimeError: [enforce fail at inline_container.cc...]`` without an errno, so the free space
    decides too: less free than what was already written."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "No space left on device" in str(error):
        return True
    if isinstance(error, RuntimeError) and partial is not None:
        with contextlib.suppress(OSError):
            return shutil.disk_usage(_mount_point(partial)).free <= max(_tree_size(partial), 1 << 20)
    return False


def disk_full_error(folder: Path, what: str, kept: str | None = None) -> OSError:
    """The one-line error for a write into ``folder`` that ran out of space (its partial files removed)."""
    mount = _mount_point(folder)
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(mount).free
        mount = f"{mount} ({free / 2**20:,.0f} MiB free)"
    message = f"no space left on the disk {mount} holding {folder}: {what} was not saved (its partial files were removed)"
    error = OSError(message + (f"; {kept}" if kept else ""))
    error.errno = errno.ENOSPC  # set after: OSError(errno, text) would print "[Errno 28]" before the text
    return error


@contextlib.contextmanager
def removed_on_failure(partial: Path, folder: Path, what: str, kept: str | None = None):
    """Write ``partial`` inside the block; if the block fails, delete ``partial`` and, when the disk is full,
    raise `disk_full_error` instead of the writer's own error."""
    try:
        yield partial
    except BaseException as error:
        full = not isinstance(error, KeyboardInterrupt) and is_disk_full(error, partial)
        shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink(missing_ok=True)
        if full:
            raise disk_full_error(folder, what, kept) from error
        raise


# ------------------------------------------------------------------------------------- one run per folder


class FolderLock:
    """``FOLDER/.trm.lock``: created exclusively by the process that writes FOLDER, holding its pid and host.

    A second process is refused while the first is alive; a lock whose process is gone (same host, pid
    not running) is stale and taken over. A lock from another host cannot be checked and is never taken
    over: the message says which file to delete once that run is known to be over.
    """

    NAME = ".trm.lock"

    def __init__(self, folder: str | Path, purpose: str = "trm train"):
        self.folder, self.purpose = Path(folder), purpose
        self.path = self.folder / self.NAME
        self.held = False

    def acquire(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": self.purpose,
                  "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._remove_if_stale()  # raises while its owner runs
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            self.held = True
            return self
        raise FileExistsError(f"cannot lock {self.path}: it keeps reappearing")

    def _remove_if_stale(self) -> None:
        try:
            owner = json.loads(self.path.read_text() or "{}")
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return  # released meanwhile: try again
        except (OSError, ValueError):
            owner, age = {}, 0.0
        pid, host = owner.get("pid"), owner.get("host")
        if not owner and age < 10:  # just created, its owner is still writing it
            raise FileExistsError(f"{self.folder} is in use by another run (lock {self.path} was just created)")
        if host == socket.gethostname() and isinstance(pid, int) and (pid == os.getpid() or process_is_alive(pid)):
            raise FileExistsError(
                f"{self.folder} is in use by another {owner.get('purpose', 'run')} (pid {pid}, started "
                f"{owner.get('started', '?')}): wait for it to end or choose another folder"
            )
        if host != socket.gethostname() and host is not None:
            raise FileExistsError(
                f"{self.folder} is locked by a {owner.get('purpose', 'run')} on host {host} (pid {pid}, started "
                f"{owner.get('started', '?')}); if that run is over, delete {self.path}"
            )
        # same host and the process is gone (or an unreadable lock): a crashed run's lock
        print(f"note: removing the stale lock {self.path} (pid {pid} is not running)")
        self.path.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
