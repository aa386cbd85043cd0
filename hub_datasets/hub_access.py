"""Reaching the Hub: a local folder or a repo id, and one line naming the endpoint when it cannot be reached.

``huggingface_hub`` reports a missing local folder as "Repo id must be in the form ..." and a network failure
after retries, wrapped by transformers and datasets in their own words. Loading datasets and models and
uploading them name instead what was meant and what was kept.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def looks_like_a_path(name: str) -> bool:
    """A Hub repo id is ``name`` or ``owner/name``; anything else (``./x``, ``/x``, ``a/b/c``) is a folder."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def local_folder_or_repo_id(name: str, what: str = "folder") -> str:
    """``name`` itself when it is a local folder or can only be a Hub repo id; a name that is a path (``./x``,
    ``/x``, ``a/b/c``, or ``a/b`` where ``a`` is a local folder) but no folder is refused here, instead of
    failing later as an invalid repo id or, after retries, as a connection problem."""
    path = Path(name).expanduser()
    if path.is_dir():
        return name
    if path.exists():
        raise NotADirectoryError(f"{what} {name} is a file, not a folder")
    first = Path(name).parts[0] if Path(name).parts else ""
    if looks_like_a_path(name) or not _can_be_repo_id(name):
        raise FileNotFoundError(f"no such folder: {name} (and it is not a Hub repo id)")
    if "/" in name and Path(first).is_dir():
        raise FileNotFoundError(f"no such folder: {name} (read as a path because {first}/ is a local folder)")
    return name


def _can_be_repo_id(name: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


# ------------------------------------------------------------------------------------- an unreachable Hub


class HubUnreachableError(ConnectionError):
    """The Hub endpoint (``HF_ENDPOINT``) could not be reached; the message names it and what was kept."""


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def is_connection_error(error: BaseException) -> bool:
    """A network failure anywhere in ``error``'s chain (huggingface_hub wraps httpx's, transformers and
    datasets wrap those again, each in its own words)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        name = type(error).__name__
        if isinstance(error, (ConnectionError, TimeoutError)) or "Connect" in name or "Timeout" in name \
                or name == "OfflineModeIsEnabled":
            return True
        error = error.__cause__ or error.__context__
    return False


def _reason(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:  # the innermost says what happened
        error = error.__cause__ or error.__context__
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def unreachable_hub_error(action: str, error: BaseException | None = None, saved: str | None = None) -> HubUnreachableError:
    reason = f" ({_reason(error)})" if error is not None else ""
    return HubUnreachableError(f"cannot reach the Hub at {hub_endpoint()} (HF_ENDPOINT) to {action}{reason}"
                               + (f"; {saved}" if saved else ""))


@contextlib.contextmanager
def naming_hub_failures(action: str, saved: str | None = None):
    """Turn a network failure inside the block into one `HubUnreachableError` line naming the endpoint,
    what was being done and, with ``saved``, where the local result is."""
    try:
        yield
    except HubUnreachableError:
        raise
    except Exception as error:
        if is_connection_error(error):
            raise unreachable_hub_error(action, error, saved) from None
        raise


def check_hub_reachable(action: str, saved: str | None = None, timeout: float = 10.0) -> None:
    """Fail at once, in one line, when nothing answers at the Hub endpoint (before an upload, whose client
    would otherwise retry with back-off for a minute and then print its own traceback)."""
    from urllib.parse import urlsplit

    parts = urlsplit(hub_endpoint())
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as error:
        raise unreachable_hub_error(action, error, saved) from None
