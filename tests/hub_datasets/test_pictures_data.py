"""Pictures: PNGs of sudoku, maze and ARC grids and of a row of refinement steps."""

import numpy as np
import pytest
from matplotlib.image import imread

from hub_datasets.pictures import ARC_COLOURS, plot_arc_task, plot_grids
from hub_datasets.sudoku import generate_sudoku


def test_refinement_row_and_arc_task_are_written_as_png(tmp_path):
    records = generate_sudoku(1, size=4, seed=0)
    steps = [records.questions[0], records.answers[0], records.answers[0]]
    plot_grids(steps, "sudoku", titles=["question", "step 1", "step 2"], given=records.questions[0],
               path=tmp_path / "steps.png")
    image = imread(tmp_path / "steps.png")
    assert image.shape[1] > 2.5 * image.shape[0]  # three panels side by side
    grid = np.arange(10, dtype=np.uint8).reshape(2, 5)
    plot_arc_task([(grid, grid.T)], path=tmp_path / "arc.png")
    pixels = imread(tmp_path / "arc.png")[..., :3].reshape(-1, 3)
    blue = np.array([int(ARC_COLOURS[1][i:i + 2], 16) / 255 for i in (1, 3, 5)])
    assert (np.abs(pixels - blue).max(axis=1) < 0.02).any()  # ARC colour 1 is drawn in its palette colour
    with pytest.raises(ValueError, match="task must be"):
        plot_grids([grid], "chess")
