"""Augmentations: official dihedral/ARC conventions, exact inverses, validity preserved, string forms."""

import json

import numpy as np
import pytest

from hub_datasets.augment import (
    DIHEDRAL_INVERSE,
    apply,
    apply_sudoku_transforms,
    dihedral_transform,
    invert,
    invert_sudoku_transforms,
    parse,
    random_sudoku_transforms,
)
from hub_datasets.sudoku import generate_sudoku, sudoku_errors


@pytest.fixture(scope="module")
def functions(reference_dir):
    return json.loads((reference_dir / "functions" / "data_functions.json").read_text())


def test_dihedral_transforms_and_inverse_table_match_the_official_examples(functions):
    grid = np.array(functions["grid_3x4"])
    for t in range(8):
        np.testing.assert_array_equal(dihedral_transform(grid, t), np.array(functions["dihedral"][str(t)]))
        np.testing.assert_array_equal(dihedral_transform(dihedral_transform(grid, t), DIHEDRAL_INVERSE[t]), grid)
    assert list(DIHEDRAL_INVERSE) == functions["dihedral_inverse_table"]
    batch = np.stack([grid, grid + 12])  # batched over a leading axis
    np.testing.assert_array_equal(dihedral_transform(batch, 7)[1], dihedral_transform(grid + 12, 7))


def test_official_arc_variant_name_is_applied_and_inverted(functions):
    example = functions["inverse_aug_example"]
    suffix = example["name"].split("|||", 1)[1]
    original = np.array(example["original_grid"], np.uint8)
    augmented = np.array(example["augmented_grid(perm then dihedral t3)"], np.uint8)
    np.testing.assert_array_equal(apply(suffix, original), augmented)
    np.testing.assert_array_equal(invert(suffix, augmented), np.array(example["inverse_applied"]))


def test_every_arc_augmentation_string_inverts_exactly_on_batches():
    rng = np.random.default_rng(0)
    grids = rng.integers(0, 10, (5, 4, 7)).astype(np.uint8)
    for t in range(8):
        colour_map = np.concatenate([[0], rng.permutation(np.arange(1, 10))])
        text = f"t{t}|||{''.join(map(str, colour_map))}|||o3,4"
        aug = parse(text)
        assert aug.offset == (3, 4) and aug.colour_map[0] == 0
        out = apply(text, grids)
        assert out.shape == ((5, 7, 4) if t in (1, 3, 6, 7) else (5, 4, 7))
        assert ((out == 0) == (dihedral_transform(grids, t) == 0)).all()  # colour 0 stays fixed
        np.testing.assert_array_equal(invert(text, out), grids)
        np.testing.assert_array_equal(invert(f"t{t}", apply(f"t{t}", grids)), grids)  # maze form


def test_sudoku_symmetries_keep_puzzles_valid_and_invert_exactly_for_every_size():
    for size in (4, 6, 9):
        records = generate_sudoku(6, size=size, seed=size)
        rng = np.random.default_rng(1)
        transforms = random_sudoku_transforms(rng, 6 * 50, size)
        questions = np.repeat(records.questions, 50, axis=0)
        answers = np.repeat(records.answers, 50, axis=0)
        new_q, new_a = apply_sudoku_transforms(questions, transforms), apply_sudoku_transforms(answers, transforms)
        assert all(e is None for e in sudoku_errors(new_q, new_a)), f"size {size}: a transform broke a rule"
        assert ((new_q == 0).sum((1, 2)) == (questions == 0).sum((1, 2))).all()
        np.testing.assert_array_equal(invert_sudoku_transforms(new_q, transforms), questions)
        np.testing.assert_array_equal(invert_sudoku_transforms(new_a, transforms), answers)
        assert len({a.tobytes() for a in new_a}) > (250 if size == 9 else 100)  # the draws really differ (4x4 has 288 grids)
        if size == 6:  # 2x3 boxes: a transpose would turn them into 3x2, so it is never drawn
            assert not transforms.transpose.any()
        # the string form round-trips through parse/apply/invert
        for k, text in enumerate(transforms[:5].to_strings()):
            np.testing.assert_array_equal(apply(text, answers[k]), new_a[k])
            np.testing.assert_array_equal(invert(text, new_a[k]), answers[k])


def test_bad_augmentation_strings_are_rejected_with_the_expected_forms():
    for text in ("t9", "x1", "t1|||0123", "T2|r0|c0|d0", "t1|||0712945368|||q1,2"):
        with pytest.raises(ValueError, match="cannot parse augmentation"):
            parse(text)
    assert parse("") == parse("t0")
