"""`training.pretrained.shipped_models`: the model folders shipped with the package, which `trm demo` serves."""

from __future__ import annotations

from training.pretrained import PRETRAINED_DIR, shipped_models


def test_shipped_models_are_the_subfolders_with_a_config(tmp_path):
    assert shipped_models(tmp_path / "missing") == {}
    assert shipped_models(tmp_path) == {}  # none shipped yet
    for name in ("sudoku9x9", "maze", "sudoku6x6"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    (tmp_path / "half-copied").mkdir()  # no config.json: not a model
    (tmp_path / "notes.md").write_text("")
    assert shipped_models(tmp_path) == {name: tmp_path / name for name in ("maze", "sudoku6x6", "sudoku9x9")}


def test_the_package_folder_is_read_whether_or_not_models_are_shipped():
    assert PRETRAINED_DIR.name == "pretrained" and (PRETRAINED_DIR / "__init__.py").is_file()
    assert all((folder / "config.json").is_file() for folder in shipped_models().values())


def test_a_shipped_model_name_stands_for_its_folder_on_the_command_line(tmp_path, monkeypatch):
    from training import cli

    shipped = tmp_path / "shipped" / "sudoku9x9"
    shipped.mkdir(parents=True)
    (shipped / "config.json").write_text("{}")
    monkeypatch.setattr("training.pretrained.shipped_models", lambda: {"sudoku9x9": shipped})
    monkeypatch.chdir(tmp_path)
    assert cli.with_shipped_model(["sudoku9x9", "--max-steps", "16"]) == [str(shipped), "--max-steps", "16"]
    # a Hub repo id, an option and an unknown name are left to the command
    for argv in (["user/sudoku9x9"], ["--help"], ["sudoku7x7"], []):
        assert cli.with_shipped_model(argv) == argv
    (tmp_path / "sudoku9x9").mkdir()  # a folder of that name here wins over the shipped model
    assert cli.with_shipped_model(["sudoku9x9"]) == ["sudoku9x9"]
