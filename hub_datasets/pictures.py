"""Matplotlib (Agg) pictures of puzzles: sudoku, maze and ARC grids, and rows of refinement steps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from modeling_trm.processing_trm import SUDOKU_BOX_SHAPES

# The usual ARC palette (colours 0..9).
ARC_COLOURS = ["#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B",
               "#7FDBFF", "#870C25"]
# Maze codes "# SGo": wall, open, start, goal, path.
MAZE_COLOURS = ["#303030", "#FFFFFF", "#2ECC40", "#FF4136", "#0074D9"]


CHANGED_COLOUR = "#FFD54F"  # cells that changed since the previous refinement step
WRONG_COLOUR, WRONG_BACKGROUND = "#D32F2F", "#FFCDD2"  # cells that break the puzzle's rules


def draw_grid(ax, grid: np.ndarray, task: str, given: np.ndarray | None = None, title: str | None = None,
              changed: np.ndarray | None = None, wrong: np.ndarray | None = None,
              previous: np.ndarray | None = None) -> None:
    """Draw one grid on ``ax``. ``task``: ``"sudoku"`` (0 = blank; digits in ``given`` cells bold),
    ``"maze"`` (codes into ``"# SGo"``) or ``"arc"`` (colours 0..9). ``changed`` (bool, grid-shaped):
    cells to highlight (sudoku: a yellow background, maze/ARC: a yellow frame); ``wrong`` (bool): cells
    that break a rule, in red (sudoku: red digit on a red background, maze/ARC: a red frame);
    ``previous`` (sudoku): the grid before this step, its digit shown small in the corner of changed cells."""
    grid = np.asarray(grid)
    rows, cols = grid.shape
    changed, wrong = (np.zeros(grid.shape, bool) if mask is None else np.asarray(mask, bool) for mask in (changed, wrong))
    for name, mask in (("changed", changed), ("wrong", wrong)):
        if mask.shape != grid.shape:
            raise ValueError(f"{name} has shape {mask.shape}, the grid {grid.shape}")
    if task == "sudoku":
        background = np.where(wrong, 2, changed.astype(int))  # a broken rule outranks a change
        ax.imshow(background, cmap=ListedColormap(["white", CHANGED_COLOUR, WRONG_BACKGROUND]), vmin=0, vmax=2)
        box_rows, box_cols = SUDOKU_BOX_SHAPES[rows]
        for r in range(rows):
            for c in range(cols):
                is_given = given is not None and given[r, c] > 0
                if grid[r, c]:
                    colour = "black" if is_given or given is None else "#0074D9"
                    ax.text(c, r, str(grid[r, c]), ha="center", va="center", fontsize=max(6, 120 // rows),
                            color=WRONG_COLOUR if wrong[r, c] and not is_given else colour,
                            fontweight="bold" if is_given else "normal")
                if previous is not None and changed[r, c] and previous[r, c]:  # what the step replaced
                    ax.text(c - 0.42, r - 0.42, str(previous[r, c]), ha="left", va="top",
                            fontsize=max(4, 48 // rows), color="#757575")
        for k in range(rows + 1):
            ax.axhline(k - 0.5, color="black", lw=2 if k % box_rows == 0 else 0.5)
        for k in range(cols + 1):
            ax.axvline(k - 0.5, color="black", lw=2 if k % box_cols == 0 else 0.5)
    elif task == "maze":
        ax.imshow(grid, cmap=ListedColormap(MAZE_COLOURS), vmin=0, vmax=4, interpolation="nearest")
    elif task == "arc":
        ax.imshow(grid, cmap=ListedColormap(ARC_COLOURS), vmin=0, vmax=9, interpolation="nearest")
        ax.set_xticks(np.arange(-0.5, cols), minor=True)
        ax.set_yticks(np.arange(-0.5, rows), minor=True)
        ax.grid(which="minor", color="#555555", lw=0.5)
    else:
        raise ValueError(f"task must be 'sudoku', 'maze' or 'arc', got {task!r}")
    if task != "sudoku":
        for mask, colour in ((changed & ~wrong, CHANGED_COLOUR), (wrong, WRONG_COLOUR)):
            for r, c in np.argwhere(mask):
                ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor=colour,
                                           lw=max(1.0, 24 / max(rows, cols))))
    ax.set_xticks([], minor=False)
    ax.set_yticks([], minor=False)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if title:
        ax.set_title(title, fontsize=9)


def plot_grids(grids: list[np.ndarray], task: str, titles: list[str] | None = None,
               given: np.ndarray | None = None, path: str | Path | None = None, panel_size: float = 2.2):
    """A row of grids (e.g. question, refinement steps, answer) as one figure; saved as PNG if ``path``."""
    figure, axes = plt.subplots(1, len(grids), figsize=(panel_size * len(grids), panel_size + 0.3), squeeze=False)
    for i, (ax, grid) in enumerate(zip(axes[0], grids)):
        draw_grid(ax, grid, task, given=given, title=titles[i] if titles else None)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=80)
        plt.close(figure)
    return figure


def plot_arc_task(pairs: list[tuple[np.ndarray, np.ndarray]], title: str | None = None,
                  path: str | Path | None = None, panel_size: float = 1.8):
    """ARC pairs as a 2-row figure (inputs on top, outputs below)."""
    figure, axes = plt.subplots(2, len(pairs), figsize=(panel_size * len(pairs), 2 * panel_size + 0.4), squeeze=False)
    for i, (grid_in, grid_out) in enumerate(pairs):
        draw_grid(axes[0, i], grid_in, "arc", title=f"input {i + 1}")
        draw_grid(axes[1, i], grid_out, "arc", title=f"output {i + 1}")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=80)
        plt.close(figure)
    return figure


def grid_image(grid: np.ndarray, task: str, given: np.ndarray | None = None, title: str | None = None,
               changed: np.ndarray | None = None, wrong: np.ndarray | None = None,
               previous: np.ndarray | None = None, size: float = 3.2, dpi: int = 100):
    """One grid drawn by `draw_grid` as a ``PIL.Image`` (RGB), e.g. a frame of a refinement animation."""
    figure, ax = plt.subplots(figsize=(size, size + (0.35 if title else 0)), dpi=dpi)
    draw_grid(ax, grid, task, given=given, title=title, changed=changed, wrong=wrong, previous=previous)
    figure.tight_layout()
    return figure_image(figure)


def figure_image(figure):
    """A matplotlib figure as a ``PIL.Image`` (RGB); the figure is closed."""
    from PIL import Image

    figure.canvas.draw()
    image = Image.fromarray(np.asarray(figure.canvas.buffer_rgba())[..., :3].copy())
    plt.close(figure)
    return image


def save_animation(frames: list, path: str | Path, frame_ms: int = 700, last_frame_ms: int = 2000) -> Path:
    """Frames (``PIL.Image``) as an animated GIF or PNG (by ``path``'s suffix), looping, written atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".png"):
        raise ValueError(f"{path}: an animation is written as .gif or .png (APNG), not {path.suffix!r}")
    if not frames:
        raise ValueError("no frames to animate")
    durations = [frame_ms] * (len(frames) - 1) + [last_frame_ms]
    temporary = path.with_name(f".{path.name}.tmp")
    frames[0].save(temporary, format=suffix[1:].upper(), save_all=True, append_images=frames[1:],
                   duration=durations, loop=0)
    temporary.replace(path)
    return path
