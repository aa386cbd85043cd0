#!/usr/bin/env bash
# Prepares benchmarks/gpu_check.py for a GPU machine that cannot reach the internet: copies the
# Sudoku-Extreme-format CSVs and the wheels of the Python packages such a machine's image may lack
# (datasets and its two pure-Python dependencies missing from a PyTorch image) into .gpu_check/,
# which is git-ignored: copy it to the GPU machine with the checkout. Run it where pip can reach PyPI.
#
#   benchmarks/gpu_check_prepare.sh SUDOKU_FOLDER [PYTHON_VERSION]
#
# SUDOKU_FOLDER holds train.csv[.gz] and test.csv[.gz] in the Sudoku-Extreme format; PYTHON_VERSION is
# the GPU machine's Python (default 3.12). The command to run there is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=${1:?usage: benchmarks/gpu_check_prepare.sh SUDOKU_FOLDER [PYTHON_VERSION]}
python_version=${2:-3.12}
rm -rf .gpu_check && mkdir -p .gpu_check/sudoku .gpu_check/wheels
for split in train test; do
    found=$(ls "$source_dir/$split.csv" "$source_dir/$split.csv.gz" 2>/dev/null | head -1) ||
        true
    [ -n "$found" ] || { echo "no $split.csv or $split.csv.gz in $source_dir" >&2; exit 1; }
    cp "$found" .gpu_check/sudoku/
done
python -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu_check/wheels "datasets==5.2.0" "dill==0.4.1" "multiprocess==0.70.19"
du -sh .gpu_check
cat <<'COMMAND'
Copy the checkout with .gpu_check/ to the GPU machine, then run there, from the repository root:
mkdir -p benchmarks/results/gpu && python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu_check/wheels/*.whl && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 && python3 benchmarks/gpu_check.py --out benchmarks/results/gpu --sudoku-source .gpu_check/sudoku 2>&1 | tee benchmarks/results/gpu/log.txt
COMMAND
