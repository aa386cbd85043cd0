"""Invertible puzzle augmentations, vectorised over batches of grids, each with a string form.

The string form is what the ``augmentation`` column stores; ``parse`` turns it back into an
``Augmentation`` and ``apply`` / ``invert`` use it on a grid (or a batch of same-shape grids):

* ``""``                                identity
* ``"t3"``                              dihedral transform 3 (maze)
* ``"t3|||0712945368"``                 ARC: colour map (index = old colour, 0 fixed) then dihedral 3
                                         (exactly the suffix of the official variant name)
* ``"t3|||0712945368|||o2,5"``          ... then placed at row 2, column 5 of the 30x30 canvas
                                         (ARC train rows only; the offset is undone by cropping)
* ``"T1|r210543876|c012345678|d0123456789"``  sudoku: transpose, then new cell (i, j) = old cell
                                         (r[i], c[j]), then digit d -> map[d] (0 = blank fixed)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeling_trm.processing_trm import SUDOKU_BOX_SHAPES

ARC_SEPARATOR = "|||"
# Official dihedral ids (dataset/common.py): 0 identity, 1 rot90 (counter-clockwise), 2 rot180,
# 3 rot270, 4 left-right flip, 5 up-down flip, 6 transpose, 7 anti-transpose (fliplr(rot90)).
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)


def dihedral_transform(grids: np.ndarray, transform_id: int) -> np.ndarray:
    """Dihedral transform ``transform_id`` of the last two axes (a grid or a batch of grids)."""
    axes = (-2, -1)
    if transform_id == 0:
        return grids
    if transform_id in (1, 2, 3):
        return np.rot90(grids, k=transform_id, axes=axes)
    if transform_id == 4:
        return np.flip(grids, axis=-1)
    if transform_id == 5:
        return np.flip(grids, axis=-2)
    if transform_id == 6:
        return np.swapaxes(grids, -2, -1)
    if transform_id == 7:
        return np.flip(np.rot90(grids, k=1, axes=axes), axis=-1)
    raise ValueError(f"dihedral transform id must be in 0..7, got {transform_id}")


def inverse_dihedral_transform(grids: np.ndarray, transform_id: int) -> np.ndarray:
    return dihedral_transform(grids, DIHEDRAL_INVERSE[transform_id])


def map_colours(grids: np.ndarray, colour_maps: np.ndarray) -> np.ndarray:
    """``colour_maps[b][grids[b]]`` for a batch ``[B, ...]`` (or one map ``[10]`` for everything)."""
    colour_maps = np.asarray(colour_maps)
    if colour_maps.ndim == 1:
        return colour_maps[grids]
    flat = grids.reshape(len(grids), -1)
    return np.take_along_axis(colour_maps, flat.astype(np.intp), axis=1).reshape(grids.shape)


# ------------------------------------------------------------------------------------- sudoku


@dataclass(frozen=True)
class SudokuTransforms:
    """A batch of B sudoku symmetries: ``transpose`` [B] bool, ``row_perm``/``col_perm`` [B, n],
    ``digit_map`` [B, n+1] (``digit_map[:, 0] == 0``)."""

    transpose: np.ndarray
    row_perm: np.ndarray
    col_perm: np.ndarray
    digit_map: np.ndarray

    def __len__(self) -> int:
        return len(self.transpose)

    def __getitem__(self, index) -> SudokuTransforms:
        return SudokuTransforms(self.transpose[index], self.row_perm[index], self.col_perm[index],
                                self.digit_map[index])

    def to_chars(self) -> np.ndarray:
        """The string forms as a ``[B, L]`` uint8 character array (builds a million strings at numpy
        speed); ``to_strings`` decodes it."""
        count = len(self)
        ascii_digits = lambda a: a.astype(np.uint8) + ord("0")
        label = lambda text: np.broadcast_to(np.frombuffer(text.encode(), np.uint8), (count, len(text)))
        return np.concatenate([label("T"), ascii_digits(self.transpose[:, None]), label("|r"),
                               ascii_digits(self.row_perm), label("|c"), ascii_digits(self.col_perm),
                               label("|d"), ascii_digits(self.digit_map)], axis=1)

    def to_strings(self) -> list[str]:
        return [row.tobytes().decode() for row in self.to_chars()]


def random_sudoku_transforms(rng: np.random.Generator, count: int, size: int = 9) -> SudokuTransforms:
    """``count`` random symmetries of a size-``size`` sudoku (the official augmentation: digit
    relabelling, band/row and stack/column shuffles, transpose with probability 1/2 where boxes are
    square), drawn with vectorised numpy from ``rng``."""
    box_rows, box_cols = SUDOKU_BOX_SHAPES[size]
    permutations = lambda *shape: np.argsort(rng.random(shape), axis=-1)  # uniform, one per row

    def line_perms(block: int) -> np.ndarray:  # permute blocks of `block` lines and lines inside each
        blocks, inner = permutations(count, size // block), permutations(count, size // block, block)
        return (blocks[:, :, None] * block + inner).reshape(count, size)

    transpose = rng.random(count) < 0.5 if box_rows == box_cols else np.zeros(count, bool)
    row_perm, col_perm = line_perms(box_rows), line_perms(box_cols)
    digit_map = np.concatenate([np.zeros((count, 1), np.int64), permutations(count, size) + 1], axis=1)
    return SudokuTransforms(transpose, row_perm, col_perm, digit_map)


def _gather(grids: np.ndarray, cell_index: np.ndarray, value_map: np.ndarray) -> np.ndarray:
    """``value_map[b][grids[b].flat[cell_index[b]]]`` for every b, as two flat ``np.take``s."""
    count, cells = cell_index.shape
    flat = np.take(grids.reshape(-1), cell_index + (np.arange(count) * cells)[:, None])
    values = value_map.shape[1]
    return np.take(value_map.reshape(-1), flat + (np.arange(count) * values)[:, None]).astype(grids.dtype)


def _chunked(function, grids: np.ndarray, transforms: SudokuTransforms, chunk: int = 1 << 16) -> np.ndarray:
    out = np.empty_like(grids)
    for start in range(0, len(grids), chunk):
        out[start:start + chunk] = function(grids[start:start + chunk], transforms[start:start + chunk])
    return out


def apply_sudoku_transforms(grids: np.ndarray, transforms: SudokuTransforms) -> np.ndarray:
    """Apply transform b to grid b; ``grids`` is ``[B, n, n]`` with 0 = blank. New cell (i, j) is old
    cell (r[i], c[j]) of the (optionally transposed) grid, then digits are relabelled."""

    def function(grids, t):
        size = grids.shape[-1]
        r, c = t.row_perm[:, :, None], t.col_perm[:, None, :]
        cell_index = np.where(t.transpose[:, None, None], c * size + r, r * size + c).reshape(len(grids), -1)
        return _gather(grids, cell_index, t.digit_map).reshape(grids.shape)

    return _chunked(function, grids, transforms)


def invert_sudoku_transforms(grids: np.ndarray, transforms: SudokuTransforms) -> np.ndarray:
    def function(grids, t):
        size = grids.shape[-1]
        count = len(grids)
        undo_digits = np.argsort(t.digit_map, axis=1)
        relabelled = _gather(grids, np.broadcast_to(np.arange(size * size), (count, size * size)), undo_digits)
        r = np.argsort(t.row_perm, axis=1)
        c = np.argsort(t.col_perm, axis=1)
        # old cell (a, b) = new cell (r[a], c[b]), or (r[b], c[a]) if the grid was transposed
        straight = r[:, :, None] * size + c[:, None, :]
        transposed = r[:, None, :] * size + c[:, :, None]
        cell_index = np.where(t.transpose[:, None, None], transposed, straight).reshape(count, -1)
        values = t.digit_map.shape[1]  # n + 1, or more where the grids hold tokens (training.retries)
        identity = np.broadcast_to(np.arange(values), (count, values))
        return _gather(relabelled, cell_index, identity).reshape(grids.shape)

    return _chunked(function, grids, transforms)


# ------------------------------------------------------------------------------------------ ARC


def arc_variant_suffix(transform_id: int, colour_map: np.ndarray) -> str:
    return f"t{transform_id}{ARC_SEPARATOR}{''.join(str(int(c)) for c in colour_map)}"


# ---------------------------------------------------------------------------- string form


@dataclass(frozen=True)
class Augmentation:
    """One parsed ``augmentation`` string. Order of application: sudoku symmetry (``transpose``,
    ``row_perm``, ``col_perm`` then ``digit_map``) or colour map then dihedral, then offset."""

    dihedral: int = 0
    colour_map: tuple[int, ...] | None = None  # ARC (index = old colour)
    transpose: bool = False  # sudoku fields
    row_perm: tuple[int, ...] | None = None
    col_perm: tuple[int, ...] | None = None
    digit_map: tuple[int, ...] | None = None
    offset: tuple[int, int] = (0, 0)  # ARC canvas position (train rows only)

    @property
    def is_sudoku(self) -> bool:
        return self.row_perm is not None

    def _sudoku(self, batch: int) -> SudokuTransforms:
        return SudokuTransforms(np.full(batch, self.transpose), np.tile(self.row_perm, (batch, 1)),
                                np.tile(self.col_perm, (batch, 1)), np.tile(self.digit_map, (batch, 1)))


def parse(augmentation: str) -> Augmentation:
    """Parse the ``augmentation`` column (or the suffix of an official ARC variant name)."""
    text = augmentation
    try:
        if text == "":
            return Augmentation()
        if text.startswith("T"):
            t, r, c, d = text.split("|")
            assert t[1:] in ("0", "1") and r[0] == "r" and c[0] == "c" and d[0] == "d"
            return Augmentation(transpose=t[1:] == "1", row_perm=tuple(map(int, r[1:])),
                                col_perm=tuple(map(int, c[1:])), digit_map=tuple(map(int, d[1:])))
        parts = text.split(ARC_SEPARATOR)
        assert parts[0][0] == "t" and len(parts) <= 3
        dihedral = int(parts[0][1:])
        assert 0 <= dihedral < 8
        colour_map = tuple(map(int, parts[1])) if len(parts) > 1 else None
        assert colour_map is None or sorted(colour_map) == list(range(10))
        offset = (0, 0)
        if len(parts) == 3:
            assert parts[2][0] == "o"
            row, col = parts[2][1:].split(",")
            offset = (int(row), int(col))
        return Augmentation(dihedral=dihedral, colour_map=colour_map, offset=offset)
    except (AssertionError, ValueError, IndexError):
        raise ValueError(
            f"cannot parse augmentation {augmentation!r}: expected '', 't<0-7>', "
            "'t<0-7>|||<10-digit colour map>[|||o<row>,<col>]' or 'T<0|1>|r<perm>|c<perm>|d<digit map>'"
        ) from None


def _parsed_and_batched(augmentation: str | Augmentation, grids) -> tuple[Augmentation, np.ndarray, bool]:
    """What ``apply`` and ``invert`` work on: the parsed augmentation, the grids as a batch ``[B, H, W]``,
    and whether ``grids`` was a single grid ``[H, W]`` (to return one)."""
    aug = parse(augmentation) if isinstance(augmentation, str) else augmentation
    batch = np.asarray(grids)
    single = batch.ndim == 2
    return aug, batch[None] if single else batch, single


def apply(augmentation: str | Augmentation, grids: np.ndarray) -> np.ndarray:
    """Apply an augmentation to a grid ``[H, W]`` or a batch ``[B, H, W]`` (the offset, a canvas
    property, is not applied here: see ``modeling_trm.processing_trm.arc_canvas``)."""
    aug, batch, single = _parsed_and_batched(augmentation, grids)
    if aug.is_sudoku:
        out = apply_sudoku_transforms(batch, aug._sudoku(len(batch)))
    else:
        mapped = map_colours(batch, np.array(aug.colour_map, batch.dtype)) if aug.colour_map else batch
        out = np.ascontiguousarray(dihedral_transform(mapped, aug.dihedral))
    return out[0] if single else out


def invert(augmentation: str | Augmentation, grids: np.ndarray) -> np.ndarray:
    """Exact inverse of ``apply``: dihedral first, then colours (the official evaluator's order)."""
    aug, batch, single = _parsed_and_batched(augmentation, grids)
    if aug.is_sudoku:
        out = invert_sudoku_transforms(batch, aug._sudoku(len(batch)))
    else:
        out = np.ascontiguousarray(inverse_dihedral_transform(batch, aug.dihedral))
        if aug.colour_map:
            out = map_colours(out, np.argsort(aug.colour_map).astype(batch.dtype))
    return out[0] if single else out
