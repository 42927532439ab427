#!/usr/bin/env bash
# The main job on the embedded examples, from a fresh checkout: install
# cuepy, then run the quick benchmark (the seed's table: ModuleDefinition vs
# compiled Module, plus cuepy's flattened, cached and render-cache paths and
# the plain-Go anchor) and print the table, the ratios and the goals.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" bench
echo "+ cuepy bench --quick $*"
.venv/bin/cuepy bench --quick "$@"
