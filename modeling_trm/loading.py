"""Load a saved model for ``trm solve`` / ``trm eval``, naming what is wrong instead of guessing.

``AutoModel.from_pretrained`` only warns when the weights leave parameters at their random
initialisation (a config with a layer more than the checkpoint), and reports a missing folder as
"Repo id must be in the form ...". A command that answers puzzles must not run a partly random model,
nor run code shipped with a checkpoint (``trust_remote_code`` stays off: this package provides the
classes).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path


def looks_like_a_path(name: str) -> bool:
    """A Hub repo id is ``name`` or ``owner/name``; anything else (``./x``, ``/x``, ``a/b/c``) is a folder."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def load_model_for_solving(model_path: str, revision: str | None = None, **config_overrides):
    """`AutoModel.from_pretrained` that refuses a missing folder, a folder without ``config.json``, and
    weights that do not cover the config's parameters exactly; Hub failures become one-line errors.
    ``config_overrides`` (e.g. ``forward_dtype``) go to ``from_pretrained``; fine-tuning loads its base
    model here too."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
    from transformers import AutoModel

    import modeling_trm  # noqa: F401  (registers the TRM/HRM classes with the Auto API)

    model_path = local_folder_or_repo_id(model_path, "model")
    path = Path(model_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{model_path} has no config.json, so it is not a saved model folder "
                "(`trm convert` turns an official checkpoint into one)"
            )
        model_path = str(path)
    try:
        model, info = AutoModel.from_pretrained(model_path, revision=revision, output_loading_info=True,
                                                **config_overrides)
    except RepositoryNotFoundError:
        raise FileNotFoundError(f"{model_path!r} is neither a local folder nor a model repo on the Hub") from None
    except (HfHubHTTPError, OSError, ValueError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        if is_connection_error(error):
            raise unreachable_hub_error(f"load the model {model_path!r}", error,
                                        "give a local model folder, or check the network and HF_ENDPOINT") from None
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        hint = " (check the network and HF_ENDPOINT, or give a local folder)" if "connect" in reason else ""
        raise OSError(f"cannot load model {model_path!r}: {reason}{hint}") from None
    problems = {kind: sorted(keys) for kind in ("missing_keys", "unexpected_keys", "mismatched_keys")
                if (keys := info.get(kind))}
    if problems:
        listed = "; ".join(f"{kind.replace('_', ' ')}: {', '.join(map(str, keys[:6]))}"
                           f"{f' (+{len(keys) - 6} more)' if len(keys) > 6 else ''}" for kind, keys in problems.items())
        raise ValueError(f"the weights in {model_path} do not match its config.json ({listed}); a model with "
                         "randomly initialised parts would give wrong answers")
    return model


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


# ------------------------------------------------------------------------------------- files


def read_json_file(path: Path):
    """JSON from ``path``; a truncated, empty or non-JSON file is named in one line."""
    try:
        return json.loads(Path(path).read_text())
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a JSON text file") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({'empty file' if not err.doc.strip() else err})") from None


def read_yaml_file(path: Path):
    """Plain YAML (``yaml.safe_load``) from ``path``; tags that would build Python objects are refused, named."""
    import yaml  # here: the model classes do not need it

    try:
        return yaml.safe_load(Path(path).read_text())
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a YAML text file") from None
    except yaml.YAMLError as err:
        reason = getattr(err, "problem", None) or str(err).strip().splitlines()[0]
        raise ValueError(f"{path} is not plain YAML: {reason}"
                         + (f" (line {err.problem_mark.line + 1})" if getattr(err, "problem_mark", None) else "")) from None


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
