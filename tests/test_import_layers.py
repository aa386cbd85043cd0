"""The packages import only downwards: modeling_trm <- hub_datasets <- model_cards <- training.

`modeling_trm` is the bottom (its remote-code files travel with saved models and import only each other);
the `trm` command, which dispatches to every package, and the apps around `solve` (`trm solve`, `trm demo`,
the refinement animations) live at the top (`training`). No exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["modeling_trm", "hub_datasets", "model_cards", "training"]  # each may import those before it


def _imported_packages(path: Path) -> set[str]:
    """Packages a file imports (anywhere in it), names as ``importlib`` strings ("training.train:main"), or
    reaches into by folder name (``Path(...) / "model_cards"``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # "training.train:main"
            head = node.value.replace(":", ".").split(".")[0]
            if head in LAYERS and len(node.value) > len(head) and node.value[len(head)] in ".:":
                found.add(head)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant):
            if node.right.value in LAYERS:  # a path into another package's folder
                found.add(node.right.value)
    return found


def test_every_package_imports_only_the_packages_below_it():
    upward = {}
    for level, package in enumerate(LAYERS):
        above = set(LAYERS[level + 1 :])
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            name = path.relative_to(REPO_ROOT).as_posix()
            wrong = _imported_packages(path) & above
            if wrong:
                upward[name] = sorted(wrong)
    assert upward == {}


def test_the_trm_command_is_the_top_package_and_the_model_card_is_found_by_entry_point():
    import tomllib

    from modeling_trm.solving_trm import MODEL_CARD_ENTRY_POINTS

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["trm"] == "training.cli:main"
    # `model.push_to_hub` renders the package's card without importing the package above it
    assert project["entry-points"][MODEL_CARD_ENTRY_POINTS] == {"render": "model_cards.render:render_model_card"}
