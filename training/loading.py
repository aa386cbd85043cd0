"""Load a saved model for ``trm solve`` / ``trm eval`` / ``trm demo``, naming what is wrong instead of guessing.

``AutoModel.from_pretrained`` only warns when the weights leave parameters at their random
initialisation (a config with a layer more than the checkpoint), and reports a missing folder as
"Repo id must be in the form ...". A command that answers puzzles must not run a partly random model,
nor run code shipped with a checkpoint (``trust_remote_code`` stays off: this package provides the
classes).
"""

from __future__ import annotations

from pathlib import Path

from hub_datasets.hub_access import is_connection_error, local_folder_or_repo_id, unreachable_hub_error
from modeling_trm.solving_trm import check_weights_cover_config


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
    check_weights_cover_config(info, model_path)
    return model
