"""benchmarks/in_place_inference.py: both settings give the same answers, and the switch is left on."""

from __future__ import annotations

import json

from benchmark_scripts import load_benchmark

in_place = load_benchmark("in_place_inference")


def test_both_settings_answer_alike_and_the_switch_is_restored(tmp_path):
    import modeling_trm.modeling_trm as modeling

    output = tmp_path / "result.json"
    assert in_place.main(["--models", "TRM-MLP-6x6", "--dtypes", "float32", "--trials", "2", "--threads", "1",
                          "--output", str(output)]) == 0
    (row,) = json.loads(output.read_text())["rows"]
    assert row["same_predictions"] is True
    assert len(row["trials"]["in_place"]) == len(row["trials"]["autograd_path"]) == 2
    assert row["speedup"] == row["best_seconds"]["autograd_path"] / row["best_seconds"]["in_place"]
    assert modeling.IN_PLACE_INFERENCE is True
